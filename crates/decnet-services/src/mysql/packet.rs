//! MySQL packet framing, sans-IO: a 3-byte little-endian payload length, a
//! sequence number, then the payload. [`Framer`] is fed the client's bytes and
//! hands out whole frames; [`Cursor`] reads a payload's fields and
//! [`put_lenenc_int`]/[`put_lenenc_bytes`] write them.
//!
//! Hostile-input guarantees: no input panics; a frame announcing more than the
//! framer's cap is refused from its header, before its payload is buffered, so
//! the framer never holds more than the cap, the header and one read; a
//! multi-packet payload (a length of `0xFFFFFF`) is refused as too large, since
//! every cap a decoy uses is far below 16 MiB.

/// Bytes of a packet header.
pub const HEADER_LEN: usize = 4;
/// Largest payload one packet carries; a payload of this length continues in the next.
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;

/// One packet from the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// Its sequence number.
    pub seq: u8,
    /// Its payload.
    pub payload: Vec<u8>,
}

/// Why the framer refuses the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// A packet announced a payload above the cap.
    TooLarge {
        /// Its announced length.
        len: usize,
        /// Its sequence number.
        seq: u8,
    },
}

/// Splits the client's bytes into frames, holding at most one partial frame.
#[derive(Debug, Clone)]
pub struct Framer {
    cap: usize,
    buf: Vec<u8>,
}

impl Framer {
    /// A framer refusing payloads longer than `cap` (itself capped below [`MAX_PAYLOAD`]).
    pub fn new(cap: usize) -> Framer {
        Framer {
            cap: cap.min(MAX_PAYLOAD - 1),
            buf: Vec::new(),
        }
    }

    /// The cap on a payload.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Bytes held (a partial frame, or frames not yet taken).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether [`next_frame`](Self::next_frame) can hand out a frame without more input.
    pub fn wants_input(&self) -> bool {
        !matches!(self.peek(), Peek::Whole(_) | Peek::TooLarge(_))
    }

    /// Adds the client's next bytes.
    pub fn push(&mut self, input: &[u8]) {
        self.buf.extend_from_slice(input);
    }

    /// The next whole frame, `Ok(None)` when more input is needed.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        match self.peek() {
            Peek::Partial => Ok(None),
            Peek::TooLarge(len) => Err(FrameError::TooLarge {
                len,
                seq: self.buf.get(3).copied().unwrap_or(0),
            }),
            Peek::Whole(len) => {
                let seq = self.buf.get(3).copied().unwrap_or(0);
                let payload = self
                    .buf
                    .get(HEADER_LEN..HEADER_LEN + len)
                    .map(<[u8]>::to_vec)
                    .unwrap_or_default();
                self.buf.drain(..(HEADER_LEN + len).min(self.buf.len()));
                Ok(Some(Frame { seq, payload }))
            }
        }
    }

    fn peek(&self) -> Peek {
        let Some(h) = self.buf.get(..HEADER_LEN) else {
            return Peek::Partial;
        };
        let len = h
            .iter()
            .take(3)
            .rev()
            .fold(0usize, |n, &b| (n << 8) | usize::from(b));
        if len > self.cap {
            return Peek::TooLarge(len);
        }
        if self.buf.len() < HEADER_LEN + len {
            return Peek::Partial;
        }
        Peek::Whole(len)
    }
}

enum Peek {
    Partial,
    Whole(usize),
    TooLarge(usize),
}

/// One packet as sent: header and payload (the payload must fit one packet).
pub fn frame(seq: u8, payload: &[u8]) -> Vec<u8> {
    let len = payload.len().min(MAX_PAYLOAD - 1);
    let mut out = Vec::with_capacity(HEADER_LEN + len);
    out.extend_from_slice(&le3(u32::try_from(len).unwrap_or(0)));
    out.push(seq);
    out.extend_from_slice(payload.get(..len).unwrap_or(payload));
    out
}

/// The low three bytes of `n`, little-endian.
fn le3(n: u32) -> [u8; 3] {
    let [a, b, c, _] = n.to_le_bytes();
    [a, b, c]
}

/// Appends a length-encoded integer.
pub fn put_lenenc_int(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=250 => out.push(n as u8),
        251..=0xFFFF => {
            out.push(0xfc);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xfd);
            out.extend_from_slice(&le3(n as u32));
        }
        _ => {
            out.push(0xfe);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

/// Appends a length-encoded string.
pub fn put_lenenc_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_lenenc_int(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads a payload's fields front to back; every read past the end is `None`.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    rest: &'a [u8],
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `b`.
    pub fn new(b: &'a [u8]) -> Cursor<'a> {
        Cursor { rest: b }
    }

    /// What is left.
    pub fn rest(&self) -> &'a [u8] {
        self.rest
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.rest.is_empty()
    }

    /// The next `n` bytes.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = self.rest.split_at_checked(n)?;
        self.rest = b;
        Some(a)
    }

    /// One byte.
    pub fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    /// A little-endian u16.
    pub fn u16(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_le_bytes(b.try_into().ok()?))
    }

    /// A little-endian u32.
    pub fn u32(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_le_bytes(b.try_into().ok()?))
    }

    /// A little-endian integer of `n` (at most 8) bytes.
    fn uint(&mut self, n: usize) -> Option<u64> {
        let b = self.take(n)?;
        Some(b.iter().rev().fold(0u64, |v, &x| (v << 8) | u64::from(x)))
    }

    /// A length-encoded integer (`0xfb`, NULL, is `None` too).
    pub fn lenenc_int(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=250 => Some(u64::from(n)),
            0xfc => self.uint(2),
            0xfd => self.uint(3),
            0xfe => self.uint(8),
            _ => None,
        }
    }

    /// A length-encoded string.
    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc_int()?).ok()?;
        self.take(n)
    }

    /// A NUL-terminated string (without the NUL); the rest when no NUL follows.
    pub fn nul_bytes(&mut self) -> &'a [u8] {
        match self.rest.iter().position(|&b| b == 0) {
            Some(i) => {
                let (a, b) = self.rest.split_at(i);
                self.rest = b.get(1..).unwrap_or(&[]);
                a
            }
            None => std::mem::take(&mut self.rest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn frames_come_out_whole_however_the_bytes_are_split() {
        let mut f = Framer::new(1024);
        let mut wire = frame(1, b"hello");
        wire.extend(frame(2, b""));
        f.push(&wire[..6]);
        assert_eq!(f.next_frame(), Ok(None));
        f.push(&wire[6..]);
        assert_eq!(
            f.next_frame(),
            Ok(Some(Frame {
                seq: 1,
                payload: b"hello".to_vec()
            }))
        );
        assert_eq!(
            f.next_frame(),
            Ok(Some(Frame {
                seq: 2,
                payload: Vec::new()
            }))
        );
        assert_eq!(f.next_frame(), Ok(None));
        assert_eq!(f.buffered(), 0);
    }

    #[test]
    fn an_oversize_header_is_refused_before_its_payload_arrives() {
        let mut f = Framer::new(100);
        f.push(&[0x65, 0, 0, 0]);
        assert_eq!(
            f.next_frame(),
            Err(FrameError::TooLarge { len: 101, seq: 0 })
        );
        let mut f = Framer::new(usize::MAX);
        f.push(&[0xff, 0xff, 0xff, 0]);
        assert_eq!(
            f.next_frame(),
            Err(FrameError::TooLarge {
                len: MAX_PAYLOAD,
                seq: 0
            })
        );
    }

    #[test]
    fn lenenc_round_trips_at_every_width() {
        for n in [
            0u64,
            250,
            251,
            0xffff,
            0x1_0000,
            0xff_ffff,
            0x100_0000,
            u64::MAX,
        ] {
            let mut b = Vec::new();
            put_lenenc_int(&mut b, n);
            assert_eq!(Cursor::new(&b).lenenc_int(), Some(n), "{n}");
        }
        let mut c = Cursor::new(&[0xfb]);
        assert_eq!(c.lenenc_int(), None);
        let mut c = Cursor::new(b"ab\0cd");
        assert_eq!(c.nul_bytes(), b"ab");
        assert_eq!(c.nul_bytes(), b"cd");
        assert_eq!(c.nul_bytes(), b"");
        assert_eq!(Cursor::new(&[0xfc, 1]).lenenc_int(), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_the_buffer_stays_under_the_cap(
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
            cap in 0usize..512,
        ) {
            let mut f = Framer::new(cap);
            for c in &chunks {
                // As the service does: no more input while a frame (or a refusal) is waiting.
                while !f.wants_input() {
                    match f.next_frame() {
                        Ok(Some(fr)) => prop_assert!(fr.payload.len() <= cap),
                        Ok(None) => break,
                        Err(FrameError::TooLarge { len, .. }) => {
                            prop_assert!(len > cap);
                            return Ok(());
                        }
                    }
                }
                f.push(c);
                prop_assert!(f.buffered() <= cap + HEADER_LEN + c.len());
            }
            let mut c = Cursor::new(chunks.first().map_or(&[][..], Vec::as_slice));
            while !c.is_empty() {
                let _ = c.lenenc_bytes();
                let _ = c.nul_bytes();
            }
        }
    }
}
