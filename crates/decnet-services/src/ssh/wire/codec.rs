//! SSH data types (RFC 4251 §5): a bounds-checked reader over attacker bytes
//! and writers that append to a `Vec<u8>`.

use super::WireError;

/// Reads SSH data types from a message; every read checks the bounds.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    /// Takes `n` bytes.
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if n > self.buf.len() {
            return Err(WireError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// A `byte`.
    pub fn u8(&mut self) -> Result<u8, WireError> {
        let b = self.take(1)?;
        b.first().copied().ok_or(WireError::Truncated)
    }

    /// A `boolean`.
    pub fn bool(&mut self) -> Result<bool, WireError> {
        Ok(self.u8()? != 0)
    }

    /// A `uint32`.
    pub fn u32(&mut self) -> Result<u32, WireError> {
        let b: [u8; 4] = self.take(4)?.try_into().map_err(|_| WireError::Truncated)?;
        Ok(u32::from_be_bytes(b))
    }

    /// A `string` as bytes.
    pub fn string(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.u32()? as usize;
        self.take(n)
    }

    /// A `string` that must be UTF-8 (user names, service and method names).
    pub fn utf8(&mut self) -> Result<&'a str, WireError> {
        std::str::from_utf8(self.string()?).map_err(|_| WireError::Malformed("string is not UTF-8"))
    }

    /// A `name-list`.
    pub fn name_list(&mut self) -> Result<&'a str, WireError> {
        let s = self.string()?;
        if !s.is_ascii() {
            return Err(WireError::Malformed("name-list is not ASCII"));
        }
        std::str::from_utf8(s).map_err(|_| WireError::Malformed("name-list is not ASCII"))
    }

    /// An `mpint`'s two's-complement bytes.
    pub fn mpint(&mut self) -> Result<&'a [u8], WireError> {
        self.string()
    }

    /// What is left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// Whether everything was read.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Appends a `byte`.
pub fn put_u8(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}

/// Appends a `boolean`.
pub fn put_bool(out: &mut Vec<u8>, v: bool) {
    out.push(u8::from(v));
}

/// Appends a `uint32`.
pub fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a `string`. Callers never hand more than 4 GiB.
pub fn put_string(out: &mut Vec<u8>, s: &[u8]) {
    put_u32(out, u32::try_from(s.len()).unwrap_or(u32::MAX));
    out.extend_from_slice(s);
}

/// Appends a `string` from text.
pub fn put_str(out: &mut Vec<u8>, s: &str) {
    put_string(out, s.as_bytes());
}

/// Appends an unsigned big-endian integer as an `mpint`: leading zeros
/// stripped, a zero byte added when the top bit is set.
pub fn put_mpint(out: &mut Vec<u8>, unsigned_be: &[u8]) {
    let start = unsigned_be
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(unsigned_be.len());
    let digits = unsigned_be.get(start..).unwrap_or(&[]);
    let pad = digits.first().is_some_and(|&b| b & 0x80 != 0);
    put_u32(
        out,
        u32::try_from(digits.len() + usize::from(pad)).unwrap_or(u32::MAX),
    );
    if pad {
        out.push(0);
    }
    out.extend_from_slice(digits);
}

/// An `mpint` of an unsigned big-endian integer, as its own buffer.
pub fn mpint(unsigned_be: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(unsigned_be.len() + 5);
    put_mpint(&mut v, unsigned_be);
    v
}

/// The unsigned magnitude of an `mpint`; negative values are refused.
pub fn mpint_unsigned(m: &[u8]) -> Result<&[u8], WireError> {
    match m.first() {
        Some(b) if b & 0x80 != 0 => Err(WireError::Malformed("negative mpint")),
        _ => Ok(m),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mpints_are_encoded_as_rfc_4251_shows() {
        // RFC 4251 §5's examples.
        assert_eq!(mpint(&[]), [0, 0, 0, 0]);
        assert_eq!(mpint(&[0]), [0, 0, 0, 0]);
        assert_eq!(
            mpint(&[0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7]),
            [0, 0, 0, 8, 0x09, 0xa3, 0x78, 0xf9, 0xb2, 0xe3, 0x32, 0xa7]
        );
        assert_eq!(mpint(&[0x80]), [0, 0, 0, 2, 0, 0x80]);
        assert_eq!(mpint(&[0, 0, 0x7f]), [0, 0, 0, 1, 0x7f]);
    }

    #[test]
    fn the_reader_refuses_lengths_past_the_end() {
        let mut r = Reader::new(&[0, 0, 0, 5, b'a', b'b']);
        assert!(matches!(r.string(), Err(WireError::Truncated)));
        let mut r = Reader::new(&[0, 0, 0, 2, b'a', b'b', 1]);
        assert_eq!(r.string().unwrap(), b"ab");
        assert!(r.bool().unwrap());
        assert!(r.is_empty());
        assert!(matches!(r.u8(), Err(WireError::Truncated)));
    }
}
