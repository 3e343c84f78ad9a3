//! BER as LDAP uses it (RFC 4511 §5.1), sans-IO: single-byte tags, definite
//! lengths only (an indefinite length is an error, as in liblber), lengths of
//! at most four bytes, and a cap on nesting and on the elements one message
//! may hold. [`frame`] tells a stream reader how long the next message is
//! before any of it is decoded, so an announced length past the cap is
//! refused without buffering it.
//!
//! Hostile input: every function here returns an error or `Incomplete` for
//! any bytes and never panics or allocates more than the input's size.

/// Universal tags LDAP uses.
pub mod tag {
    /// BOOLEAN.
    pub const BOOLEAN: u8 = 0x01;
    /// INTEGER.
    pub const INTEGER: u8 = 0x02;
    /// OCTET STRING.
    pub const OCTET_STRING: u8 = 0x04;
    /// ENUMERATED.
    pub const ENUMERATED: u8 = 0x0a;
    /// SEQUENCE (constructed).
    pub const SEQUENCE: u8 = 0x30;
    /// SET (constructed).
    pub const SET: u8 = 0x31;
}

/// Deepest nesting of constructed elements [`Reader`] descends into.
pub const MAX_DEPTH: usize = 1100;
/// Most elements [`Reader`] reads out of one message.
pub const MAX_ELEMENTS: usize = 50_000;

/// Why bytes are not BER LDAP accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BerError {
    /// More bytes are needed.
    #[error("incomplete element")]
    Incomplete,
    /// A multi-byte (high) tag number.
    #[error("multi-byte tag")]
    LongTag,
    /// The indefinite length form (0x80), which LDAP forbids.
    #[error("indefinite length")]
    Indefinite,
    /// A length of more than four bytes (or 0xff).
    #[error("length of {0} bytes")]
    LongLength(u8),
    /// An element runs past the end of the one holding it.
    #[error("element overruns its container")]
    Overrun,
    /// A different tag was expected.
    #[error("expected tag {expected:#04x}, found {found:#04x}")]
    Unexpected {
        /// The tag looked for.
        expected: u8,
        /// The tag found.
        found: u8,
    },
    /// An INTEGER or ENUMERATED that is empty or too wide for 64 bits.
    #[error("bad integer")]
    BadInteger,
    /// Constructed elements nested past [`MAX_DEPTH`].
    #[error("nested too deeply")]
    TooDeep,
    /// More than [`MAX_ELEMENTS`] elements in one message.
    #[error("too many elements")]
    TooMany,
}

/// What a stream reader learns from the head of its buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet to know the length.
    Incomplete,
    /// The first element is `header + len` bytes long.
    Sized {
        /// Bytes of tag and length.
        header: usize,
        /// Bytes of content.
        len: usize,
    },
}

/// Reads the tag and length of the first element of `buf`.
pub fn frame(buf: &[u8]) -> Result<Frame, BerError> {
    match header(buf) {
        Ok((_, header, len)) => Ok(Frame::Sized { header, len }),
        Err(BerError::Incomplete) => Ok(Frame::Incomplete),
        Err(e) => Err(e),
    }
}

/// `(tag, header length, content length)` of the element `buf` starts with.
pub fn header(buf: &[u8]) -> Result<(u8, usize, usize), BerError> {
    let mut it = buf.iter().copied();
    let t = it.next().ok_or(BerError::Incomplete)?;
    if t & 0x1f == 0x1f {
        return Err(BerError::LongTag);
    }
    let first = it.next().ok_or(BerError::Incomplete)?;
    if first < 0x80 {
        return Ok((t, 2, usize::from(first)));
    }
    let n = first & 0x7f;
    if n == 0 {
        return Err(BerError::Indefinite);
    }
    if n > 4 {
        return Err(BerError::LongLength(n));
    }
    let mut len = 0usize;
    for _ in 0..n {
        len = (len << 8) | usize::from(it.next().ok_or(BerError::Incomplete)?);
    }
    Ok((t, 2 + usize::from(n), len))
}

/// A cursor over the contents of one element, sharing the message's budget.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
    depth: usize,
    budget: std::rc::Rc<std::cell::Cell<usize>>,
}

impl<'a> Reader<'a> {
    /// A reader over a whole message's bytes.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader {
            buf,
            depth: 0,
            budget: std::rc::Rc::new(std::cell::Cell::new(MAX_ELEMENTS)),
        }
    }

    /// What is left to read.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.buf.first().copied()
    }

    /// Reads the next element: its tag and content.
    pub fn any(&mut self) -> Result<(u8, &'a [u8]), BerError> {
        let left = self.budget.get();
        if left == 0 {
            return Err(BerError::TooMany);
        }
        self.budget.set(left - 1);
        let (t, h, len) = header(self.buf).map_err(|e| match e {
            BerError::Incomplete => BerError::Overrun,
            e => e,
        })?;
        let end = h.checked_add(len).ok_or(BerError::Overrun)?;
        let content = self.buf.get(h..end).ok_or(BerError::Overrun)?;
        self.buf = self.buf.get(end..).unwrap_or_default();
        Ok((t, content))
    }

    /// Reads the next element, which must have tag `t`.
    pub fn expect(&mut self, t: u8) -> Result<&'a [u8], BerError> {
        let (found, c) = self.any()?;
        if found != t {
            return Err(BerError::Unexpected { expected: t, found });
        }
        Ok(c)
    }

    /// A reader over the next element's content, one level deeper.
    pub fn enter(&mut self, t: u8) -> Result<Reader<'a>, BerError> {
        let c = self.expect(t)?;
        self.child(c)
    }

    /// A reader over `content` (of an element just read), one level deeper.
    pub fn child(&self, content: &'a [u8]) -> Result<Reader<'a>, BerError> {
        if self.depth + 1 > MAX_DEPTH {
            return Err(BerError::TooDeep);
        }
        Ok(Reader {
            buf: content,
            depth: self.depth + 1,
            budget: self.budget.clone(),
        })
    }

    /// How deep this reader is.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// An INTEGER (or any integer-shaped element of tag `t`).
    pub fn int(&mut self, t: u8) -> Result<i64, BerError> {
        decode_int(self.expect(t)?)
    }

    /// An OCTET STRING (or any primitive of tag `t`).
    pub fn octets(&mut self, t: u8) -> Result<&'a [u8], BerError> {
        self.expect(t)
    }

    /// A BOOLEAN: any nonzero byte is true.
    pub fn boolean(&mut self) -> Result<bool, BerError> {
        match self.expect(tag::BOOLEAN)? {
            [b] => Ok(*b != 0),
            _ => Err(BerError::BadInteger),
        }
    }
}

/// A two's-complement big-endian integer of one to eight bytes.
pub fn decode_int(c: &[u8]) -> Result<i64, BerError> {
    if c.is_empty() || c.len() > 8 {
        return Err(BerError::BadInteger);
    }
    let neg = c.first().is_some_and(|b| b & 0x80 != 0);
    let mut v: i64 = if neg { -1 } else { 0 };
    for b in c {
        v = (v << 8) | i64::from(*b);
    }
    Ok(v)
}

/// How the writer encodes lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lengths {
    /// The shortest form, as liblber writes (OpenLDAP).
    #[default]
    Minimal,
    /// Constructed elements with four length bytes (`0x84 …`), primitives
    /// minimal, as Active Directory writes.
    Wide,
}

/// Builds BER: nested elements are closed in order, lengths patched in.
#[derive(Debug, Default)]
pub struct Writer {
    out: Vec<u8>,
    open: Vec<(u8, usize)>,
    lengths: Lengths,
}

fn push_len(out: &mut Vec<u8>, len: usize, wide: bool) {
    let len32 = u32::try_from(len).unwrap_or(u32::MAX);
    if wide {
        out.push(0x84);
        out.extend_from_slice(&len32.to_be_bytes());
    } else if len < 0x80 {
        out.push(len32.to_be_bytes()[3]);
    } else {
        let bytes = len32.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let rest = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | u8::try_from(rest.len()).unwrap_or(4));
        out.extend_from_slice(rest);
    }
}

impl Writer {
    /// A writer with the given length style.
    pub fn new(lengths: Lengths) -> Writer {
        Writer {
            out: Vec::new(),
            open: Vec::new(),
            lengths,
        }
    }

    /// A primitive element.
    pub fn prim(&mut self, t: u8, content: &[u8]) -> &mut Writer {
        self.out.push(t);
        push_len(&mut self.out, content.len(), false);
        self.out.extend_from_slice(content);
        self
    }

    /// An OCTET STRING.
    pub fn octets(&mut self, s: impl AsRef<[u8]>) -> &mut Writer {
        self.prim(tag::OCTET_STRING, s.as_ref())
    }

    /// An integer of tag `t` (INTEGER, ENUMERATED or a context tag), minimal.
    pub fn int(&mut self, t: u8, v: i64) -> &mut Writer {
        let b = v.to_be_bytes();
        let mut start = 0;
        while start < 7 {
            let (cur, next) = (b.get(start), b.get(start + 1));
            match (cur, next) {
                (Some(0), Some(n)) if n & 0x80 == 0 => start += 1,
                (Some(0xff), Some(n)) if n & 0x80 != 0 => start += 1,
                _ => break,
            }
        }
        self.prim(t, b.get(start..).unwrap_or_default())
    }

    /// A BOOLEAN (0xff for true, as liblber).
    pub fn boolean(&mut self, v: bool) -> &mut Writer {
        self.prim(tag::BOOLEAN, &[if v { 0xff } else { 0 }])
    }

    /// Opens a constructed element; [`close`](Self::close) ends it.
    pub fn open(&mut self, t: u8) -> &mut Writer {
        self.out.push(t);
        self.open.push((t, self.out.len()));
        self
    }

    /// Closes the innermost open element.
    pub fn close(&mut self) -> &mut Writer {
        if let Some((_, at)) = self.open.pop() {
            let content = self.out.split_off(at);
            push_len(&mut self.out, content.len(), self.lengths == Lengths::Wide);
            self.out.extend_from_slice(&content);
        }
        self
    }

    /// The bytes, every open element closed.
    pub fn finish(mut self) -> Vec<u8> {
        while !self.open.is_empty() {
            self.close();
        }
        self.out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nmaps_ldapv2_bind_frames_and_reads() {
        let b = b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x02\x04\0\x80\0";
        assert_eq!(frame(b), Ok(Frame::Sized { header: 2, len: 12 }));
        let mut r = Reader::new(b);
        let mut m = r.enter(tag::SEQUENCE).unwrap();
        assert_eq!(m.int(tag::INTEGER), Ok(1));
        let mut bind = m.enter(0x60).unwrap();
        assert_eq!(bind.int(tag::INTEGER), Ok(2));
        assert_eq!(bind.octets(tag::OCTET_STRING), Ok(&b""[..]));
        assert_eq!(bind.octets(0x80), Ok(&b""[..]));
        assert!(bind.is_empty() && m.is_empty() && r.is_empty());
    }

    #[test]
    fn wide_lengths_as_nmap_and_ad_write_them_are_read() {
        assert_eq!(
            frame(b"\x30\x84\x00\x00\x00\x2d\x02"),
            Ok(Frame::Sized { header: 6, len: 45 })
        );
        assert_eq!(frame(b"\x30\x84\x00"), Ok(Frame::Incomplete));
        assert_eq!(frame(b"\x30\x80"), Err(BerError::Indefinite));
        assert_eq!(frame(b"\x30\x85\0\0\0\0\0"), Err(BerError::LongLength(5)));
        assert_eq!(frame(b"\x7f\x01"), Err(BerError::LongTag));
    }

    #[test]
    fn writer_lengths_match_liblber_and_ad() {
        let mut w = Writer::new(Lengths::Minimal);
        w.open(0x30)
            .int(2, 1)
            .open(0x61)
            .int(0x0a, 49)
            .octets("")
            .octets("");
        assert_eq!(w.finish(), b"0\x0c\x02\x01\x01a\x07\n\x011\x04\x00\x04\x00");
        let mut w = Writer::new(Lengths::Wide);
        w.open(0x30)
            .int(2, 1)
            .open(0x61)
            .int(0x0a, 0)
            .octets("")
            .octets("");
        assert_eq!(
            w.finish(),
            b"0\x84\0\0\0\x10\x02\x01\x01a\x84\0\0\0\x07\n\x01\0\x04\0\x04\0"
        );
        let mut w = Writer::new(Lengths::Minimal);
        w.octets(vec![b'a'; 200]);
        assert_eq!(&w.finish()[..3], b"\x04\x81\xc8");
        let mut w = Writer::new(Lengths::Minimal);
        w.octets(vec![b'a'; 0x339]);
        assert_eq!(&w.finish()[..4], b"\x04\x82\x03\x39");
    }

    #[test]
    fn integers_are_minimal_twos_complement() {
        for (v, want) in [
            (0i64, &b"\x00"[..]),
            (127, b"\x7f"),
            (128, b"\x00\x80"),
            (256, b"\x01\x00"),
            (-1, b"\xff"),
            (-129, b"\xff\x7f"),
            (2_147_483_647, b"\x7f\xff\xff\xff"),
        ] {
            let mut w = Writer::new(Lengths::Minimal);
            w.int(2, v);
            let b = w.finish();
            assert_eq!(&b[2..], want, "{v}");
            assert_eq!(decode_int(want), Ok(v));
        }
    }

    #[test]
    fn nesting_past_the_cap_is_refused() {
        let mut b = vec![0x04, 0x00];
        for _ in 0..(MAX_DEPTH + 2) {
            let mut n = vec![0xa2, 0x84];
            n.extend_from_slice(&u32::try_from(b.len()).unwrap().to_be_bytes());
            n.extend_from_slice(&b);
            b = n;
        }
        fn walk(r: &mut Reader<'_>) -> Result<(), BerError> {
            while !r.is_empty() {
                let (t, c) = r.any()?;
                if t & 0x20 != 0 {
                    walk(&mut r.child(c)?)?;
                }
            }
            Ok(())
        }
        assert_eq!(walk(&mut Reader::new(&b)), Err(BerError::TooDeep));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = frame(&b);
            let mut r = Reader::new(&b);
            while let Ok((_, c)) = r.any() {
                let mut inner = r.child(c).unwrap();
                while inner.any().is_ok() {}
            }
        }

        #[test]
        fn written_elements_read_back(
            items in proptest::collection::vec((any::<i64>(), proptest::collection::vec(any::<u8>(), 0..300)), 0..20),
            wide in any::<bool>(),
        ) {
            let mut w = Writer::new(if wide { Lengths::Wide } else { Lengths::Minimal });
            w.open(tag::SEQUENCE);
            for (i, s) in &items {
                w.open(tag::SET).int(tag::INTEGER, *i).octets(s).close();
            }
            let bytes = w.finish();
            let Frame::Sized { header, len } = frame(&bytes).unwrap() else { panic!() };
            prop_assert_eq!(header + len, bytes.len());
            let mut r = Reader::new(&bytes);
            let mut seq = r.enter(tag::SEQUENCE).unwrap();
            for (i, s) in &items {
                let mut set = seq.enter(tag::SET).unwrap();
                prop_assert_eq!(set.int(tag::INTEGER).unwrap(), *i);
                prop_assert_eq!(set.octets(tag::OCTET_STRING).unwrap(), &s[..]);
                prop_assert!(set.is_empty());
            }
            prop_assert!(seq.is_empty() && r.is_empty());
        }
    }
}
