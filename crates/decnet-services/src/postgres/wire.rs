//! The PostgreSQL frontend/backend protocol (v3) on the wire, sans-IO:
//! [`decode_startup`] reads the length-prefixed packet a connection opens
//! with (a StartupMessage, SSLRequest, GSSENCRequest or CancelRequest),
//! [`decode_message`] the tagged messages after it, and the `encode` helpers
//! write the backend's messages.
//!
//! Hostile-input guarantees: no input panics; a startup packet longer than
//! [`MAX_STARTUP_LEN`] (the real server's `MAX_STARTUP_PACKET_LENGTH`) or
//! shorter than its 8-byte header, and a message longer than the cap the
//! caller passes, is an error before any byte of its body is buffered, so a
//! decoder never holds more than the cap plus one read.

/// The real server's `MAX_STARTUP_PACKET_LENGTH`.
pub const MAX_STARTUP_LEN: usize = 10_000;
/// The real server's `PG_MAX_AUTH_TOKEN_LENGTH`: the cap on a password or SASL message.
pub const MAX_AUTH_LEN: usize = 65_535;
/// Cap on a query message (the real server allows 1 GB; nobody types that).
pub const MAX_QUERY_LEN: usize = 1 << 20;

/// `CancelRequest`'s code (1234.5678).
pub const CANCEL_CODE: u32 = 80_877_102;
/// `SSLRequest`'s code (1234.5679).
pub const SSL_CODE: u32 = 80_877_103;
/// `GSSENCRequest`'s code (1234.5680).
pub const GSS_CODE: u32 = 80_877_104;

/// The first packet of a connection (or the one after an SSL/GSS answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Startup {
    /// SSLRequest: the server answers `S` or `N`.
    Ssl,
    /// GSSENCRequest: the server answers `G` or `N`.
    Gss,
    /// CancelRequest for a backend.
    Cancel {
        /// Backend process id.
        pid: u32,
        /// Its secret key.
        key: u32,
    },
    /// A StartupMessage (or anything else with a version number).
    Version {
        /// Protocol major version.
        major: u16,
        /// Protocol minor version.
        minor: u16,
        /// The bytes after the version: the parameter list as sent.
        body: Vec<u8>,
    },
}

impl Startup {
    /// The raw protocol code (`major << 16 | minor`, or the request code).
    pub fn code(&self) -> u32 {
        match self {
            Startup::Ssl => SSL_CODE,
            Startup::Gss => GSS_CODE,
            Startup::Cancel { .. } => CANCEL_CODE,
            Startup::Version { major, minor, .. } => u32::from(*major) << 16 | u32::from(*minor),
        }
    }
}

/// A tagged frontend message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Its type byte (`Q`, `p`, `X`, …).
    pub tag: u8,
    /// Its body (without the length).
    pub body: Vec<u8>,
}

/// What a decode step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// More bytes are needed: at least this many in total.
    Incomplete(usize),
    /// A complete item and the bytes it took.
    Done(T, usize),
}

/// Why bytes are not a packet the server takes. The real server closes
/// without answering on each (it logs them only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// A startup packet length below 8 or above [`MAX_STARTUP_LEN`].
    #[error("invalid length of startup packet")]
    StartupLength(u32),
    /// A CancelRequest that is not 16 bytes long.
    #[error("invalid length of cancel request")]
    CancelLength(u32),
    /// A message length below 4 (it counts itself).
    #[error("invalid message length")]
    MessageLength {
        /// The message's tag.
        tag: u8,
        /// The length it claimed.
        len: u32,
    },
    /// A message longer than the caller's cap.
    #[error("message too long")]
    TooLong {
        /// The message's tag.
        tag: u8,
        /// The length it claimed.
        len: u32,
    },
}

impl WireError {
    /// A short reason for the `protocol_error` event.
    pub fn reason(&self) -> &'static str {
        match self {
            WireError::StartupLength(_) => "invalid_startup_length",
            WireError::CancelLength(_) => "invalid_cancel_length",
            WireError::MessageLength { .. } => "invalid_message_length",
            WireError::TooLong { .. } => "message_too_long",
        }
    }
}

/// The big-endian `u32` at `at`, if the bytes are there.
pub fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([
        *s.first()?,
        *s.get(1)?,
        *s.get(2)?,
        *s.get(3)?,
    ]))
}

/// Decodes a startup packet from the start of `buf`.
pub fn decode_startup(buf: &[u8]) -> Result<Decoded<Startup>, WireError> {
    let Some(len) = be32(buf, 0) else {
        return Ok(Decoded::Incomplete(4));
    };
    let n = usize::try_from(len).unwrap_or(usize::MAX);
    if !(8..=MAX_STARTUP_LEN).contains(&n) {
        return Err(WireError::StartupLength(len));
    }
    let Some(packet) = buf.get(..n) else {
        return Ok(Decoded::Incomplete(n));
    };
    let code = be32(packet, 4).unwrap_or(0);
    let body = packet.get(8..).unwrap_or(&[]);
    let s = match code {
        SSL_CODE => Startup::Ssl,
        GSS_CODE => Startup::Gss,
        CANCEL_CODE => {
            if n != 16 {
                return Err(WireError::CancelLength(len));
            }
            Startup::Cancel {
                pid: be32(body, 0).unwrap_or(0),
                key: be32(body, 4).unwrap_or(0),
            }
        }
        _ => Startup::Version {
            major: u16::try_from(code >> 16).unwrap_or(0),
            minor: u16::try_from(code & 0xffff).unwrap_or(0),
            body: body.to_vec(),
        },
    };
    Ok(Decoded::Done(s, n))
}

/// Decodes a tagged message from the start of `buf`, refusing one longer than `cap`.
pub fn decode_message(buf: &[u8], cap: usize) -> Result<Decoded<Message>, WireError> {
    let Some(&tag) = buf.first() else {
        return Ok(Decoded::Incomplete(5));
    };
    let Some(len) = be32(buf, 1) else {
        return Ok(Decoded::Incomplete(5));
    };
    if len < 4 {
        return Err(WireError::MessageLength { tag, len });
    }
    let n = usize::try_from(len).unwrap_or(usize::MAX);
    if n - 4 > cap {
        return Err(WireError::TooLong { tag, len });
    }
    let total = n + 1;
    let Some(body) = buf.get(5..total) else {
        return Ok(Decoded::Incomplete(total));
    };
    Ok(Decoded::Done(
        Message {
            tag,
            body: body.to_vec(),
        },
        total,
    ))
}

/// Why a StartupMessage's parameter list is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// The list does not end with the terminating NUL right at the end.
    NoTerminator,
}

/// A StartupMessage's parameters, exactly as the real server's
/// `ProcessStartupPacket` reads them: name/value pairs of NUL-terminated
/// strings up to an empty name, where the walk must stop on the packet's last
/// byte. Like the server (which appends a NUL to what it read), the value of
/// that last byte is never looked at, and a name without a value there ends
/// the list.
pub fn parse_params(body: &[u8]) -> Result<Vec<(String, String)>, Layout> {
    let len = body.len();
    // The string at `at`, ending at a NUL or at the packet's end.
    let string = |at: usize| -> &[u8] {
        let tail = body.get(at..).unwrap_or(&[]);
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        tail.get(..end).unwrap_or(&[])
    };
    let mut out = Vec::new();
    let mut offset = 0usize;
    while offset < len {
        let name = string(offset);
        if name.is_empty() {
            break;
        }
        let valoffset = offset + name.len() + 1;
        if valoffset >= len {
            break;
        }
        let value = string(valoffset);
        offset = valoffset + value.len() + 1;
        out.push((
            String::from_utf8_lossy(name).into_owned(),
            String::from_utf8_lossy(value).into_owned(),
        ));
    }
    if len == 0 || offset != len - 1 {
        return Err(Layout::NoTerminator);
    }
    Ok(out)
}

/// The first NUL-terminated string of `body` and what follows it.
pub fn cstr(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = body.iter().position(|&b| b == 0)?;
    let (s, rest) = body.split_at(end);
    Some((s, rest.get(1..).unwrap_or(&[])))
}

/// A backend message: tag, length, body.
pub fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    out.push(tag);
    let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// An `R` authentication request or result with its code and data.
pub fn auth(code: u32, data: &[u8]) -> Vec<u8> {
    let mut b = code.to_be_bytes().to_vec();
    b.extend_from_slice(data);
    message(b'R', &b)
}

/// An ErrorResponse (or NoticeResponse) with its fields in order.
pub fn error_response(fields: &[(u8, &str)]) -> Vec<u8> {
    let mut b = Vec::new();
    for (code, value) in fields {
        b.push(*code);
        b.extend_from_slice(value.as_bytes());
        b.push(0);
    }
    b.push(0);
    message(b'E', &b)
}

/// A ParameterStatus.
pub fn parameter_status(name: &str, value: &str) -> Vec<u8> {
    let mut b = Vec::with_capacity(name.len() + value.len() + 2);
    b.extend_from_slice(name.as_bytes());
    b.push(0);
    b.extend_from_slice(value.as_bytes());
    b.push(0);
    message(b'S', &b)
}

/// BackendKeyData.
pub fn backend_key_data(pid: u32, key: u32) -> Vec<u8> {
    let mut b = pid.to_be_bytes().to_vec();
    b.extend_from_slice(&key.to_be_bytes());
    message(b'K', &b)
}

/// ReadyForQuery with the transaction status (`I`, `T`, `E`).
pub fn ready_for_query(status: u8) -> Vec<u8> {
    message(b'Z', &[status])
}

/// NegotiateProtocolVersion: the newest minor the server speaks and the options it did not know.
pub fn negotiate_protocol_version(minor: u32, unknown: &[String]) -> Vec<u8> {
    let mut b = minor.to_be_bytes().to_vec();
    b.extend_from_slice(&u32::try_from(unknown.len()).unwrap_or(0).to_be_bytes());
    for o in unknown {
        b.extend_from_slice(o.as_bytes());
        b.push(0);
    }
    message(b'v', &b)
}

/// One column of a RowDescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column<'a> {
    /// Column name.
    pub name: &'a str,
    /// Type oid (25 text, 19 name, 23 int4, 16 bool).
    pub type_oid: u32,
    /// Type length (-1 variable).
    pub type_len: i16,
}

/// Type oid of `text`.
pub const TEXT: u32 = 25;
/// Type oid of `name`.
pub const NAME: u32 = 19;
/// Type oid of `int4`.
pub const INT4: u32 = 23;
/// Type oid of `bool`.
pub const BOOL: u32 = 16;

impl<'a> Column<'a> {
    /// A `text` column.
    pub fn text(name: &'a str) -> Column<'a> {
        Column {
            name,
            type_oid: TEXT,
            type_len: -1,
        }
    }
    /// A `name` column (64 bytes).
    pub fn name(name: &'a str) -> Column<'a> {
        Column {
            name,
            type_oid: NAME,
            type_len: 64,
        }
    }
    /// An `int4` column.
    pub fn int4(name: &'a str) -> Column<'a> {
        Column {
            name,
            type_oid: INT4,
            type_len: 4,
        }
    }
    /// A `bool` column.
    pub fn bool(name: &'a str) -> Column<'a> {
        Column {
            name,
            type_oid: BOOL,
            type_len: 1,
        }
    }
}

/// A RowDescription of computed columns (no table, text format).
pub fn row_description(cols: &[Column<'_>]) -> Vec<u8> {
    let mut b = u16::try_from(cols.len())
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    for c in cols {
        b.extend_from_slice(c.name.as_bytes());
        b.push(0);
        b.extend_from_slice(&0u32.to_be_bytes()); // table oid
        b.extend_from_slice(&0u16.to_be_bytes()); // column number
        b.extend_from_slice(&c.type_oid.to_be_bytes());
        b.extend_from_slice(&c.type_len.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes()); // type modifier
        b.extend_from_slice(&0u16.to_be_bytes()); // text format
    }
    message(b'T', &b)
}

/// A DataRow (`None` is SQL NULL).
pub fn data_row(values: &[Option<&str>]) -> Vec<u8> {
    let mut b = u16::try_from(values.len())
        .unwrap_or(0)
        .to_be_bytes()
        .to_vec();
    for v in values {
        match v {
            None => b.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(s) => {
                b.extend_from_slice(&i32::try_from(s.len()).unwrap_or(0).to_be_bytes());
                b.extend_from_slice(s.as_bytes());
            }
        }
    }
    message(b'D', &b)
}

/// CommandComplete with its tag (`SELECT 1`, `SET`).
pub fn command_complete(tag: &str) -> Vec<u8> {
    let mut b = tag.as_bytes().to_vec();
    b.push(0);
    message(b'C', &b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn startup(params: &[(&str, &str)], code: u32) -> Vec<u8> {
        let mut body = code.to_be_bytes().to_vec();
        for (k, v) in params {
            body.extend_from_slice(k.as_bytes());
            body.push(0);
            body.extend_from_slice(v.as_bytes());
            body.push(0);
        }
        body.push(0);
        let mut out = u32::try_from(body.len() + 4)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        out.extend(body);
        out
    }

    #[test]
    fn a_startup_message_decodes_with_its_parameters() {
        let p = startup(&[("user", "app"), ("database", "appdb")], 196_608);
        for cut in 0..p.len() {
            assert!(matches!(
                decode_startup(&p[..cut]),
                Ok(Decoded::Incomplete(_))
            ));
        }
        let Ok(Decoded::Done(Startup::Version { major, minor, body }, n)) = decode_startup(&p)
        else {
            panic!("not decoded");
        };
        assert_eq!((major, minor, n), (3, 0, p.len()));
        assert_eq!(
            parse_params(&body).unwrap(),
            vec![
                ("user".to_owned(), "app".to_owned()),
                ("database".to_owned(), "appdb".to_owned())
            ]
        );
    }

    #[test]
    fn requests_and_bad_lengths() {
        let ssl = [0, 0, 0, 8, 4, 210, 22, 47];
        assert_eq!(decode_startup(&ssl), Ok(Decoded::Done(Startup::Ssl, 8)));
        let gss = [0, 0, 0, 8, 4, 210, 22, 48];
        assert_eq!(decode_startup(&gss), Ok(Decoded::Done(Startup::Gss, 8)));
        let mut cancel = vec![0, 0, 0, 16, 4, 210, 22, 46];
        cancel.extend_from_slice(&[0, 0, 0, 7, 0, 0, 0, 9]);
        assert_eq!(
            decode_startup(&cancel),
            Ok(Decoded::Done(Startup::Cancel { pid: 7, key: 9 }, 16))
        );
        assert_eq!(
            decode_startup(&[0, 0, 0, 4]),
            Err(WireError::StartupLength(4))
        );
        assert_eq!(
            decode_startup(&20_000u32.to_be_bytes()),
            Err(WireError::StartupLength(20_000))
        );
        // nmap's SMB probe reads as a version 65363.19778 startup packet.
        let smb = b"\0\0\0\xa4\xffSMBr\0\0\0\0";
        let mut smb = smb.to_vec();
        smb.resize(0xa4, 0);
        let Ok(Decoded::Done(Startup::Version { major, minor, .. }, _)) = decode_startup(&smb)
        else {
            panic!()
        };
        assert_eq!((major, minor), (65363, 19778));
    }

    #[test]
    fn parameter_lists_need_their_terminator_last() {
        // Each case as PostgreSQL 15.18 answers it.
        assert_eq!(parse_params(b"\0"), Ok(vec![]));
        let x = || vec![("user".to_owned(), "x".to_owned())];
        assert_eq!(parse_params(b"user\0x\0\0"), Ok(x()));
        // The terminator's own value is never read.
        assert_eq!(parse_params(b"user\0x\0y"), Ok(x()));
        for bad in [
            &b"user"[..],
            b"user\0",
            b"user\0x",
            b"user\0x\0",
            b"user\0x\0yy",
            b"user\0x\0y\0",
            b"user\0x\0y\0z",
            b"user\0x\0y\0z\0",
            b"user\0x\0\0junk",
            b"",
        ] {
            assert_eq!(parse_params(bad), Err(Layout::NoTerminator), "{bad:?}");
        }
    }

    #[test]
    fn messages_decode_and_the_cap_is_checked_before_buffering() {
        let m = message(b'p', b"secret\0");
        assert_eq!(
            decode_message(&m, 100),
            Ok(Decoded::Done(
                Message {
                    tag: b'p',
                    body: b"secret\0".to_vec()
                },
                m.len()
            ))
        );
        assert_eq!(decode_message(&m[..3], 100), Ok(Decoded::Incomplete(5)));
        assert_eq!(
            decode_message(&m[..6], 100),
            Ok(Decoded::Incomplete(m.len()))
        );
        let huge = [b'Q', 0x7f, 0xff, 0xff, 0xff];
        assert_eq!(
            decode_message(&huge, MAX_QUERY_LEN),
            Err(WireError::TooLong {
                tag: b'Q',
                len: 0x7fff_ffff
            })
        );
        assert_eq!(
            decode_message(&[b'Q', 0, 0, 0, 3], 10),
            Err(WireError::MessageLength { tag: b'Q', len: 3 })
        );
    }

    #[test]
    fn backend_messages_are_the_real_servers_bytes() {
        // Recorded from PostgreSQL 15.18 (`select 1`).
        assert_eq!(
            row_description(&[Column::int4("?column?")]),
            b"T\0\0\0\x21\x00\x01?column?\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x00"
        );
        assert_eq!(
            data_row(&[Some("1")]),
            b"D\0\0\0\x0b\x00\x01\x00\x00\x00\x011"
        );
        assert_eq!(command_complete("SELECT 1"), b"C\0\0\0\x0dSELECT 1\0");
        assert_eq!(auth(3, &[]), b"R\0\0\0\x08\0\0\0\x03");
        assert_eq!(
            negotiate_protocol_version(0, &["_pq_.foo".to_owned()]),
            b"v\x00\x00\x00\x15\x00\x00\x00\x00\x00\x00\x00\x01_pq_.foo\x00"
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_never_claim_past_the_cap(
            input in proptest::collection::vec(any::<u8>(), 0..2048),
            cap in 0usize..4096,
        ) {
            match decode_startup(&input) {
                Ok(Decoded::Done(s, n)) => {
                    prop_assert!(n <= input.len() && n <= MAX_STARTUP_LEN);
                    if let Startup::Version { body, .. } = s {
                        prop_assert!(body.len() <= MAX_STARTUP_LEN);
                        let _ = parse_params(&body);
                    }
                }
                Ok(Decoded::Incomplete(n)) => prop_assert!(n > input.len() && n <= MAX_STARTUP_LEN),
                Err(_) => {}
            }
            match decode_message(&input, cap) {
                Ok(Decoded::Done(m, n)) => {
                    prop_assert!(n <= input.len());
                    prop_assert!(m.body.len() <= cap);
                }
                Ok(Decoded::Incomplete(n)) => prop_assert!(n > input.len() && n <= cap + 5),
                Err(_) => {}
            }
        }
    }
}
