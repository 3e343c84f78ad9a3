//! The wire frame (DESIGN §8): an ASCII header line `VERB[ arg]\n`, a 4-byte big-endian
//! body length, then the body (a JSON object, or nothing).
//!
//! [`decode`] is a pure parser over a byte buffer: it returns [`Decoded::Incomplete`] until a
//! whole frame is there and rejects a frame as soon as its bytes prove it bad (an oversize
//! length is refused before the body is read). [`FrameReader`] drives it over a stream with
//! a bounded buffer. There is no error reply on the wire: any [`FrameError`] closes the
//! connection.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use serde_json::{Map, Value};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::pattern::{validate_pattern, validate_topic};

/// Longest header line, not counting its `\n` (a `\r` before it counts).
pub const MAX_HEADER: usize = 4096;
/// Largest body.
pub const MAX_BODY: usize = 1024 * 1024;

/// Protocol verbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Client names itself (for logs).
    Hello,
    /// Client subscribes to a pattern.
    Sub,
    /// Client drops a pattern.
    Unsub,
    /// Client publishes on a topic.
    Pub,
    /// Broker delivers an event.
    Evt,
    /// Either side says goodbye.
    Bye,
}

impl Verb {
    /// The verb as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Hello => "HELLO",
            Verb::Sub => "SUB",
            Verb::Unsub => "UNSUB",
            Verb::Pub => "PUB",
            Verb::Evt => "EVT",
            Verb::Bye => "BYE",
        }
    }

    fn parse(s: &str) -> Option<Verb> {
        Some(match s {
            "HELLO" => Verb::Hello,
            "SUB" => Verb::Sub,
            "UNSUB" => Verb::Unsub,
            "PUB" => Verb::Pub,
            "EVT" => Verb::Evt,
            "BYE" => Verb::Bye,
            _ => return None,
        })
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `HELLO <name>`.
    Hello {
        /// The client's name.
        name: String,
    },
    /// `SUB <pattern>`.
    Sub {
        /// A valid pattern.
        pattern: String,
    },
    /// `UNSUB <pattern>`.
    Unsub {
        /// A valid pattern.
        pattern: String,
    },
    /// `PUB <topic>` with an envelope body (an empty body reads as `{}`).
    Pub {
        /// A valid topic.
        topic: String,
        /// The body object.
        body: Map<String, Value>,
    },
    /// `EVT <topic>` with an envelope body (an empty body reads as `{}`).
    Evt {
        /// A valid topic.
        topic: String,
        /// The body object.
        body: Map<String, Value>,
    },
    /// `BYE`.
    Bye,
}

/// Why bytes are not a frame. Every one of these closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// No `\n` within [`MAX_HEADER`] bytes.
    #[error("header line longer than {MAX_HEADER} bytes")]
    HeaderTooLong,
    /// The header is empty, not printable ASCII, or has a stray `\r`.
    #[error("malformed header line")]
    BadHeader,
    /// The verb is not one of the six.
    #[error("unknown verb {0:?}")]
    UnknownVerb(String),
    /// A verb that needs an argument came without one.
    #[error("{} needs an argument", .0.as_str())]
    MissingArg(Verb),
    /// `BYE` came with an argument.
    #[error("{} takes no argument", .0.as_str())]
    UnexpectedArg(Verb),
    /// The argument is not a valid topic or pattern.
    #[error("invalid topic or pattern {0:?}")]
    BadArg(String),
    /// The announced body length exceeds [`MAX_BODY`].
    #[error("body of {0} bytes exceeds {MAX_BODY}")]
    BodyTooLarge(u32),
    /// A verb without a body carried one.
    #[error("{} carries no body", .0.as_str())]
    UnexpectedBody(Verb),
    /// The body is not a JSON object.
    #[error("body is not a JSON object")]
    BodyNotObject,
    /// The stream ended inside a frame.
    #[error("connection closed mid-frame")]
    EofMidFrame,
}

/// Outcome of [`decode`] on a buffer.
#[derive(Debug, PartialEq)]
pub enum Decoded {
    /// More bytes are needed.
    Incomplete,
    /// A frame and how many bytes it used.
    Frame(Frame, usize),
}

/// One frame's parts, borrowed from the buffer: the header checked, the body not yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Split<'a> {
    /// The verb.
    pub(crate) verb: Verb,
    /// The trimmed argument (maybe empty), not yet validated.
    pub(crate) arg: &'a str,
    /// The body bytes.
    pub(crate) body: &'a [u8],
    /// Bytes the whole frame takes.
    pub(crate) end: usize,
}

/// Finds the first frame of `buf` and checks its header line and length; `None` means
/// more bytes are needed.
pub(crate) fn split(buf: &[u8]) -> Result<Option<Split<'_>>, FrameError> {
    let scan = buf.get(..buf.len().min(MAX_HEADER + 1)).unwrap_or(buf);
    let Some(nl) = scan.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_HEADER {
            Err(FrameError::HeaderTooLong)
        } else {
            Ok(None)
        };
    };
    let line = buf.get(..nl).ok_or(FrameError::BadHeader)?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    if line.is_empty() || !line.iter().all(|&b| (0x20..0x7f).contains(&b)) {
        return Err(FrameError::BadHeader);
    }
    // Printable ASCII, so this cannot fail.
    let line = std::str::from_utf8(line).map_err(|_| FrameError::BadHeader)?;
    let (verb_s, arg) = match line.split_once(' ') {
        Some((v, a)) => (v, a.trim()),
        None => (line, ""),
    };
    let verb = Verb::parse(verb_s).ok_or_else(|| FrameError::UnknownVerb(verb_s.to_owned()))?;

    let len_at = nl + 1;
    let Some(len_bytes) = buf.get(len_at..len_at + 4) else {
        return Ok(None);
    };
    let mut lb = [0u8; 4];
    lb.copy_from_slice(len_bytes);
    let body_len = u32::from_be_bytes(lb);
    if body_len as usize > MAX_BODY {
        return Err(FrameError::BodyTooLarge(body_len));
    }
    let body_at = len_at + 4;
    let end = body_at + body_len as usize;
    let Some(body) = buf.get(body_at..end) else {
        return Ok(None);
    };
    Ok(Some(Split {
        verb,
        arg,
        body,
        end,
    }))
}

/// Parses the first frame of `buf`.
pub fn decode(buf: &[u8]) -> Result<Decoded, FrameError> {
    match split(buf)? {
        None => Ok(Decoded::Incomplete),
        Some(parts) => Ok(Decoded::Frame(build(parts)?, parts.end)),
    }
}

/// Checks a split frame's argument and body and builds the [`Frame`].
pub(crate) fn build(parts: Split<'_>) -> Result<Frame, FrameError> {
    let Split {
        verb, arg, body, ..
    } = parts;
    let need_arg = |verb| {
        if arg.is_empty() {
            Err(FrameError::MissingArg(verb))
        } else {
            Ok(arg.to_owned())
        }
    };
    let no_body = |verb| {
        if body.is_empty() {
            Ok(())
        } else {
            Err(FrameError::UnexpectedBody(verb))
        }
    };
    let frame = match verb {
        Verb::Hello => {
            no_body(verb)?;
            Frame::Hello {
                name: need_arg(verb)?,
            }
        }
        Verb::Sub | Verb::Unsub => {
            no_body(verb)?;
            let pattern = need_arg(verb)?;
            validate_pattern(&pattern).map_err(|_| FrameError::BadArg(pattern.clone()))?;
            if verb == Verb::Sub {
                Frame::Sub { pattern }
            } else {
                Frame::Unsub { pattern }
            }
        }
        Verb::Pub | Verb::Evt => {
            let topic = need_arg(verb)?;
            validate_topic(&topic).map_err(|_| FrameError::BadArg(topic.clone()))?;
            let body = if body.is_empty() {
                Map::new()
            } else {
                match serde_json::from_slice::<Value>(body) {
                    Ok(Value::Object(m)) => m,
                    _ => return Err(FrameError::BodyNotObject),
                }
            };
            if verb == Verb::Pub {
                Frame::Pub { topic, body }
            } else {
                Frame::Evt { topic, body }
            }
        }
        Verb::Bye => {
            no_body(verb)?;
            if !arg.is_empty() {
                return Err(FrameError::UnexpectedArg(verb));
            }
            Frame::Bye
        }
    };
    Ok(frame)
}

/// Appends one frame with a raw body to `out`. `arg` must not contain `\r` or `\n`
/// (callers pass validated topics, patterns and names).
pub fn encode_raw(verb: Verb, arg: &str, body: &[u8], out: &mut BytesMut) {
    out.reserve(verb.as_str().len() + arg.len() + 6 + body.len());
    out.put_slice(verb.as_str().as_bytes());
    if !arg.is_empty() {
        out.put_u8(b' ');
        out.put_slice(arg.as_bytes());
    }
    out.put_u8(b'\n');
    // Bodies are built by this crate from bounded inputs; the broker never emits an
    // oversize one because it only re-encodes what it accepted.
    out.put_u32(u32::try_from(body.len()).unwrap_or(u32::MAX));
    out.put_slice(body);
}

/// One frame with a raw body, as bytes.
pub fn encode_bytes(verb: Verb, arg: &str, body: &[u8]) -> Bytes {
    let mut out = BytesMut::new();
    encode_raw(verb, arg, body, &mut out);
    out.freeze()
}

/// Encodes a [`Frame`].
pub fn encode(frame: &Frame) -> Bytes {
    let obj = |m: &Map<String, Value>| serde_json::to_vec(m).unwrap_or_default();
    match frame {
        Frame::Hello { name } => encode_bytes(Verb::Hello, name, b""),
        Frame::Sub { pattern } => encode_bytes(Verb::Sub, pattern, b""),
        Frame::Unsub { pattern } => encode_bytes(Verb::Unsub, pattern, b""),
        Frame::Pub { topic, body } => encode_bytes(Verb::Pub, topic, &obj(body)),
        Frame::Evt { topic, body } => encode_bytes(Verb::Evt, topic, &obj(body)),
        Frame::Bye => encode_bytes(Verb::Bye, "", b""),
    }
}

/// How much a reader asks the socket for at once: a burst of small frames costs one
/// read per chunk, not one per frame.
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// Why a [`FrameReader`] stopped.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The peer broke the protocol.
    #[error(transparent)]
    Protocol(#[from] FrameError),
    /// The socket failed.
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads frames from a stream; its buffer never holds more than one frame plus one read.
pub struct FrameReader<R> {
    inner: R,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// Wraps a stream.
    pub fn new(inner: R) -> Self {
        FrameReader {
            inner,
            buf: BytesMut::with_capacity(READ_CHUNK),
        }
    }

    /// The next frame; `Ok(None)` on a clean end of stream between frames.
    pub async fn next(&mut self) -> Result<Option<Frame>, ReadError> {
        loop {
            if let Decoded::Frame(frame, used) = decode(&self.buf)? {
                self.buf.advance(used);
                return Ok(Some(frame));
            }
            // `decode` refused anything oversize, so the buffer stays bounded.
            self.buf.reserve(READ_CHUNK);
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return if self.buf.is_empty() {
                    Ok(None)
                } else {
                    Err(FrameError::EofMidFrame.into())
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    fn one(bytes: &[u8]) -> Result<Frame, FrameError> {
        match decode(bytes)? {
            Decoded::Frame(f, used) => {
                assert_eq!(used, bytes.len());
                Ok(f)
            }
            Decoded::Incomplete => panic!("incomplete: {bytes:?}"),
        }
    }

    // Bytes as the Python client writes them (`"{verb} {args}".rstrip() + "\n"`, then
    // struct.pack(">I", len), then orjson).
    #[test]
    fn recorded_frames() {
        assert_eq!(
            one(b"HELLO ingester\n\0\0\0\0").unwrap(),
            Frame::Hello {
                name: "ingester".into()
            }
        );
        assert_eq!(
            one(b"SUB system.*.health\n\0\0\0\0").unwrap(),
            Frame::Sub {
                pattern: "system.*.health".into()
            }
        );
        assert_eq!(
            one(b"UNSUB topology.>\r\n\0\0\0\0").unwrap(),
            Frame::Unsub {
                pattern: "topology.>".into()
            }
        );
        assert_eq!(one(b"BYE\n\0\0\0\0").unwrap(), Frame::Bye);
        let body = br#"{"v":1,"id":"0123456789abcdef0123456789abcdef","topic":"attacker.observed","type":"observed","ts":1732000000.25,"payload":{"attacker_ip":"10.0.0.9"}}"#;
        let mut rec = b"PUB attacker.observed\n".to_vec();
        rec.extend_from_slice(&(body.len() as u32).to_be_bytes());
        rec.extend_from_slice(body);
        let Frame::Pub { topic, body } = one(&rec).unwrap() else {
            panic!()
        };
        assert_eq!(topic, "attacker.observed");
        assert_eq!(body["payload"], json!({"attacker_ip": "10.0.0.9"}));
        assert_eq!(
            one(b"EVT a.b\n\0\0\0\x02{}").unwrap(),
            Frame::Evt {
                topic: "a.b".into(),
                body: Map::new()
            }
        );
        // Empty body on PUB reads as an empty object; args are trimmed.
        assert_eq!(
            one(b"PUB  a.b  \n\0\0\0\0").unwrap(),
            Frame::Pub {
                topic: "a.b".into(),
                body: Map::new()
            }
        );
    }

    #[test]
    fn incomplete_until_whole() {
        let full = encode(&Frame::Pub {
            topic: "x.y".into(),
            body: obj(json!({"type": "t", "payload": {"k": [1, 2]}})),
        });
        for cut in 0..full.len() {
            assert_eq!(decode(&full[..cut]), Ok(Decoded::Incomplete), "cut {cut}");
        }
        assert!(matches!(decode(&full), Ok(Decoded::Frame(_, n)) if n == full.len()));
    }

    #[test]
    fn protocol_errors() {
        use FrameError::*;
        let cases: &[(&[u8], FrameError)] = &[
            (b"\n\0\0\0\0", BadHeader),
            (b"\r\n\0\0\0\0", BadHeader),
            (b"PUB a\rb\n\0\0\0\0", BadHeader),
            (b"PUB \xffa\n\0\0\0\0", BadHeader),
            (b"NOPE x\n\0\0\0\0", UnknownVerb("NOPE".into())),
            (b"pub a.b\n\0\0\0\0", UnknownVerb("pub".into())),
            (b"SUB\n\0\0\0\0", MissingArg(Verb::Sub)),
            (b"PUB \n\0\0\0\0", MissingArg(Verb::Pub)),
            (b"HELLO\n\0\0\0\0", MissingArg(Verb::Hello)),
            (b"BYE now\n\0\0\0\0", UnexpectedArg(Verb::Bye)),
            (b"SUB a.>.b\n\0\0\0\0", BadArg("a.>.b".into())),
            (b"PUB a.*\n\0\0\0\0", BadArg("a.*".into())),
            (b"PUB a b\n\0\0\0\0", BadArg("a b".into())),
            (
                b"PUB a\n\x00\x10\x00\x01",
                BodyTooLarge(MAX_BODY as u32 + 1),
            ),
            (b"PUB a\n\xff\xff\xff\xff", BodyTooLarge(u32::MAX)),
            (b"SUB a\n\0\0\0\x02{}", UnexpectedBody(Verb::Sub)),
            (b"PUB a\n\0\0\0\x02[]", BodyNotObject),
            (b"PUB a\n\0\0\0\x011", BodyNotObject),
            (b"PUB a\n\0\0\0\x02{x", BodyNotObject),
        ];
        for (bytes, want) in cases {
            assert_eq!(
                decode(bytes).as_ref(),
                Err(want),
                "{:?}",
                String::from_utf8_lossy(bytes)
            );
        }
        let long = vec![b'A'; MAX_HEADER + 1];
        assert_eq!(decode(&long), Err(HeaderTooLong));
        let mut ok = b"SUB ".to_vec();
        ok.extend(std::iter::repeat_n(b'a', MAX_HEADER - 4));
        ok.extend_from_slice(b"\n\0\0\0\0");
        assert!(matches!(decode(&ok), Ok(Decoded::Frame(..))));
    }

    #[tokio::test]
    async fn reader_eof_cases() {
        let mut r = FrameReader::new(&b"BYE\n\0\0\0\0"[..]);
        assert_eq!(r.next().await.unwrap(), Some(Frame::Bye));
        assert!(r.next().await.unwrap().is_none());
        let mut r = FrameReader::new(&b"BYE\n\0\0"[..]);
        assert!(matches!(
            r.next().await,
            Err(ReadError::Protocol(FrameError::EofMidFrame))
        ));
    }

    fn arb_frame() -> impl Strategy<Value = Frame> {
        let tok = "[a-z0-9_-]{1,5}";
        let topic = prop::collection::vec(tok, 1..4).prop_map(|v| v.join("."));
        let body = prop::collection::btree_map("[a-z]{1,4}", any::<i64>(), 0..4).prop_map(|m| {
            m.into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect::<Map<_, _>>()
        });
        prop_oneof![
            "[!-~]{1,20}".prop_map(|name| Frame::Hello { name }),
            topic.clone().prop_map(|pattern| Frame::Sub { pattern }),
            topic.clone().prop_map(|pattern| Frame::Unsub { pattern }),
            (topic.clone(), body.clone()).prop_map(|(topic, body)| Frame::Pub { topic, body }),
            (topic, body).prop_map(|(topic, body)| Frame::Evt { topic, body }),
            Just(Frame::Bye),
        ]
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(Decoded::Frame(_, used)) = decode(&bytes) {
                prop_assert!(used <= bytes.len());
            }
        }

        #[test]
        fn header_like_bytes_never_panic(head in "[A-Z]{0,6}( [ -~]{0,12})?\r?\n", len in 0u32..8, tail in prop::collection::vec(any::<u8>(), 0..12)) {
            let mut b = head.into_bytes();
            b.extend_from_slice(&len.to_be_bytes());
            b.extend_from_slice(&tail);
            let _ = decode(&b);
        }

        #[test]
        fn roundtrip_through_any_split(frames in prop::collection::vec(arb_frame(), 1..5), chunk in 1usize..40) {
            let mut wire = Vec::new();
            for f in &frames {
                wire.extend_from_slice(&encode(f));
            }
            let got = tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
                let (mut tx, rx) = tokio::io::duplex(64);
                let writer = async move {
                    use tokio::io::AsyncWriteExt;
                    for c in wire.chunks(chunk) {
                        tx.write_all(c).await.unwrap();
                    }
                };
                let reader = async move {
                    let mut r = FrameReader::new(rx);
                    let mut out = Vec::new();
                    while let Some(f) = r.next().await.unwrap() {
                        out.push(f);
                    }
                    out
                };
                tokio::join!(writer, reader).1
            });
            prop_assert_eq!(got, frames);
        }
    }
}
