//! The MongoDB wire protocol: the 16-byte header, OP_MSG (sections, flag
//! bits, CRC-32C checksum), legacy OP_QUERY, OP_COMPRESSED's envelope, and
//! the replies (OP_MSG, OP_REPLY). Sans-IO parsing and framing, then one
//! connection's messages read under caps and deadlines.
//!
//! Hostile-input guarantees: a declared length outside mongod's bounds
//! (16 to `maxMessageSizeBytes`) is refused before anything is buffered, a
//! message above the caller's cap is refused without reading it, and the
//! parsers never panic (every read is bounds-checked).

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::bson::{self, BsonError, Document};

/// Bytes of the message header.
pub const HEADER_LEN: usize = 16;
/// mongod's `maxMessageSizeBytes`: a longer declared length ends the connection.
pub const MAX_MESSAGE_SIZE: usize = 48_000_000;

/// OP_REPLY.
pub const OP_REPLY: i32 = 1;
/// OP_UPDATE (removed in 6.0).
pub const OP_UPDATE: i32 = 2001;
/// OP_INSERT (removed in 6.0).
pub const OP_INSERT: i32 = 2002;
/// OP_QUERY: only the handshake is still answered.
pub const OP_QUERY: i32 = 2004;
/// OP_GET_MORE (removed in 6.0).
pub const OP_GET_MORE: i32 = 2005;
/// OP_DELETE (removed in 6.0).
pub const OP_DELETE: i32 = 2006;
/// OP_KILL_CURSORS (removed in 6.0).
pub const OP_KILL_CURSORS: i32 = 2007;
/// OP_COMPRESSED.
pub const OP_COMPRESSED: i32 = 2012;
/// OP_MSG.
pub const OP_MSG: i32 = 2013;

/// OP_MSG flag: a CRC-32C of the message ends it.
pub const FLAG_CHECKSUM: u32 = 1;
/// OP_MSG flag: the sender will not wait for a reply.
pub const FLAG_MORE_TO_COME: u32 = 1 << 1;
/// OP_MSG flag: the client accepts exhaust replies.
pub const FLAG_EXHAUST_ALLOWED: u32 = 1 << 16;
/// OP_REPLY's `AwaitCapable`, which mongod sets on every reply.
pub const REPLY_AWAIT_CAPABLE: i32 = 8;
/// OP_REPLY's `QueryFailure`.
pub const REPLY_QUERY_FAILURE: i32 = 2;

/// A message header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Total length, header included.
    pub length: i32,
    /// The sender's id for this message.
    pub request_id: i32,
    /// The request this answers (0 from clients).
    pub response_to: i32,
    /// The opcode.
    pub op_code: i32,
}

impl Header {
    /// Reads the first 16 bytes.
    pub fn parse(b: &[u8]) -> Option<Header> {
        let f = |i: usize| -> Option<i32> {
            let s = b.get(i..i + 4)?;
            Some(i32::from_le_bytes([
                *s.first()?,
                *s.get(1)?,
                *s.get(2)?,
                *s.get(3)?,
            ]))
        };
        Some(Header {
            length: f(0)?,
            request_id: f(4)?,
            response_to: f(8)?,
            op_code: f(12)?,
        })
    }
}

/// Why a message is refused (the connection then closes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The message ends before a field it needs.
    #[error("message truncated")]
    Truncated,
    /// A section, document or string is malformed.
    #[error("bad BSON: {0}")]
    Bson(#[from] BsonError),
    /// OP_MSG required flag bits we do not know (mongod's IllegalOpMsgFlag).
    #[error("illegal OP_MSG flags 0x{0:08x}")]
    IllegalFlags(u32),
    /// OP_MSG checksum does not match its contents.
    #[error("OP_MSG checksum does not match contents")]
    Checksum,
    /// An OP_MSG section kind other than 0 and 1.
    #[error("unknown OP_MSG section kind {0}")]
    SectionKind(u8),
    /// An OP_MSG without exactly one body section.
    #[error("OP_MSG needs exactly one body section, found {0}")]
    Bodies(usize),
    /// A document sequence whose size does not fit its contents.
    #[error("bad document sequence")]
    Sequence,
}

/// A parsed OP_MSG.
#[derive(Debug, Clone, PartialEq)]
pub struct OpMsg {
    /// Flag bits as sent.
    pub flags: u32,
    /// The kind-0 body (the command).
    pub body: Document,
    /// Kind-1 document sequences: identifier and documents.
    pub sequences: Vec<(String, Vec<Document>)>,
}

/// A parsed OP_QUERY.
#[derive(Debug, Clone, PartialEq)]
pub struct OpQuery {
    /// Flags.
    pub flags: i32,
    /// `db.collection` (`admin.$cmd` for a command).
    pub collection: String,
    /// Documents to skip.
    pub skip: i32,
    /// Documents to return.
    pub n_return: i32,
    /// The query (the command for `$cmd`).
    pub query: Document,
}

/// An OP_COMPRESSED envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    /// The opcode of the wrapped message.
    pub original_op: i32,
    /// Its size once decompressed (body only).
    pub uncompressed_size: i32,
    /// 0 noop, 1 snappy, 2 zlib, 3 zstd.
    pub compressor: u8,
    /// The compressed body.
    pub data: Vec<u8>,
}

/// What one message asks.
#[derive(Debug, Clone, PartialEq)]
pub enum Request {
    /// OP_MSG.
    Msg(OpMsg),
    /// OP_QUERY.
    Query(OpQuery),
    /// OP_COMPRESSED.
    Compressed(Compressed),
    /// Any other opcode (the legacy writes, OP_GET_MORE, unknown ones).
    Other(i32),
}

/// The bytes after a 16-byte header.
struct Cur<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        let end = self.pos.checked_add(n).ok_or(WireError::Truncated)?;
        let s = self.b.get(self.pos..end).ok_or(WireError::Truncated)?;
        self.pos = end;
        Ok(s)
    }
    fn i32(&mut self) -> Result<i32, WireError> {
        let s = self.take(4)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(s);
        Ok(i32::from_le_bytes(a))
    }
    fn u8(&mut self) -> Result<u8, WireError> {
        self.take(1)?.first().copied().ok_or(WireError::Truncated)
    }
    fn cstring(&mut self) -> Result<String, WireError> {
        let rest = self.b.get(self.pos..).ok_or(WireError::Truncated)?;
        let n = rest
            .iter()
            .position(|c| *c == 0)
            .ok_or(WireError::Truncated)?;
        let s = String::from_utf8_lossy(self.take(n)?).into_owned();
        self.take(1)?;
        Ok(s)
    }
    fn document(&mut self) -> Result<Document, WireError> {
        let rest = self.b.get(self.pos..).ok_or(WireError::Truncated)?;
        let (d, n) = bson::read_document(rest)?;
        self.pos += n;
        Ok(d)
    }
    fn rest(&self) -> &'a [u8] {
        self.b.get(self.pos..).unwrap_or_default()
    }
}

/// CRC-32C (Castagnoli), as OP_MSG's checksum.
pub fn crc32c(data: &[u8]) -> u32 {
    // A const fn cannot use `get_mut`; `i` stays below 256.
    #[allow(clippy::indexing_slicing)]
    const fn table() -> [u32; 256] {
        let mut t = [0u32; 256];
        let mut i = 0;
        while i < 256 {
            let mut c = i as u32;
            let mut k = 0;
            while k < 8 {
                c = if c & 1 != 0 {
                    (c >> 1) ^ 0x82f6_3b78
                } else {
                    c >> 1
                };
                k += 1;
            }
            t[i] = c;
            i += 1;
        }
        t
    }
    static TABLE: [u32; 256] = table();
    let mut crc = !0u32;
    for b in data {
        let idx = usize::from((crc as u8) ^ b);
        crc = (crc >> 8) ^ TABLE.get(idx).copied().unwrap_or(0);
    }
    !crc
}

/// Parses a whole message (header included).
pub fn parse(msg: &[u8]) -> Result<(Header, Request), WireError> {
    let h = Header::parse(msg).ok_or(WireError::Truncated)?;
    let body = msg.get(HEADER_LEN..).ok_or(WireError::Truncated)?;
    let req = match h.op_code {
        OP_MSG => Request::Msg(parse_msg(msg, body)?),
        OP_QUERY => Request::Query(parse_query(body)?),
        OP_COMPRESSED => {
            let mut c = Cur { b: body, pos: 0 };
            let original_op = c.i32()?;
            let uncompressed_size = c.i32()?;
            let compressor = c.u8()?;
            Request::Compressed(Compressed {
                original_op,
                uncompressed_size,
                compressor,
                data: c.rest().to_vec(),
            })
        }
        other => Request::Other(other),
    };
    Ok((h, req))
}

fn parse_msg(msg: &[u8], body: &[u8]) -> Result<OpMsg, WireError> {
    let mut c = Cur { b: body, pos: 0 };
    let flags = u32::from_le_bytes({
        let mut a = [0u8; 4];
        a.copy_from_slice(c.take(4)?);
        a
    });
    // Bits 0-15 are required: an unknown one must be refused.
    if flags & 0xffff & !(FLAG_CHECKSUM | FLAG_MORE_TO_COME) != 0 {
        return Err(WireError::IllegalFlags(flags));
    }
    let mut sections = c.rest();
    if flags & FLAG_CHECKSUM != 0 {
        let n = sections.len().checked_sub(4).ok_or(WireError::Truncated)?;
        let (s, sum) = sections.split_at(n);
        let covered = msg
            .get(..msg.len().saturating_sub(4))
            .ok_or(WireError::Truncated)?;
        let mut a = [0u8; 4];
        a.copy_from_slice(sum);
        if u32::from_le_bytes(a) != crc32c(covered) {
            return Err(WireError::Checksum);
        }
        sections = s;
    }
    let mut c = Cur {
        b: sections,
        pos: 0,
    };
    let mut bodies = Vec::new();
    let mut sequences = Vec::new();
    while c.pos < sections.len() {
        match c.u8()? {
            0 => bodies.push(c.document()?),
            1 => {
                let size = c.i32()?;
                let size = usize::try_from(size)
                    .ok()
                    .filter(|s| *s >= 5)
                    .ok_or(WireError::Sequence)?;
                let bytes = c.take(size - 4)?;
                let mut s = Cur { b: bytes, pos: 0 };
                let id = s.cstring()?;
                let mut docs = Vec::new();
                while s.pos < bytes.len() {
                    docs.push(s.document()?);
                }
                sequences.push((id, docs));
            }
            k => return Err(WireError::SectionKind(k)),
        }
    }
    if bodies.len() != 1 {
        return Err(WireError::Bodies(bodies.len()));
    }
    let body = bodies.pop().ok_or(WireError::Bodies(0))?;
    Ok(OpMsg {
        flags,
        body,
        sequences,
    })
}

fn parse_query(body: &[u8]) -> Result<OpQuery, WireError> {
    let mut c = Cur { b: body, pos: 0 };
    let flags = c.i32()?;
    let collection = c.cstring()?;
    let skip = c.i32()?;
    let n_return = c.i32()?;
    let query = c.document()?;
    // An optional returnFieldsSelector may follow; it changes nothing a command does.
    if c.pos < body.len() {
        c.document()?;
    }
    Ok(OpQuery {
        flags,
        collection,
        skip,
        n_return,
        query,
    })
}

fn header(out: &mut Vec<u8>, request_id: i32, response_to: i32, op: i32) {
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&request_id.to_le_bytes());
    out.extend_from_slice(&response_to.to_le_bytes());
    out.extend_from_slice(&op.to_le_bytes());
}

fn finish(mut out: Vec<u8>) -> Vec<u8> {
    let len = i32::try_from(out.len()).unwrap_or(i32::MAX).to_le_bytes();
    if let Some(s) = out.get_mut(..4) {
        s.copy_from_slice(&len);
    }
    out
}

/// An OP_MSG reply with one body section and no checksum (as mongod answers).
pub fn op_msg(request_id: i32, response_to: i32, flags: u32, body: &Document) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    header(&mut out, request_id, response_to, OP_MSG);
    out.extend_from_slice(&flags.to_le_bytes());
    out.push(0);
    body.write(&mut out);
    finish(out)
}

/// An OP_MSG request (for tests, fuzzing and clients of our own).
pub fn op_msg_request(request_id: i32, flags: u32, body: &Document) -> Vec<u8> {
    let mut m = op_msg(request_id, 0, flags & !FLAG_CHECKSUM, body);
    if flags & FLAG_CHECKSUM != 0 {
        let f = (flags).to_le_bytes();
        if let Some(s) = m.get_mut(HEADER_LEN..HEADER_LEN + 4) {
            s.copy_from_slice(&f);
        }
        let len = m.len() + 4;
        if let Some(s) = m.get_mut(..4) {
            s.copy_from_slice(&i32::try_from(len).unwrap_or(i32::MAX).to_le_bytes());
        }
        let sum = crc32c(&m);
        m.extend_from_slice(&sum.to_le_bytes());
    }
    m
}

/// An OP_QUERY request.
pub fn op_query_request(request_id: i32, collection: &str, query: &Document) -> Vec<u8> {
    let mut out = Vec::new();
    header(&mut out, request_id, 0, OP_QUERY);
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(collection.as_bytes());
    out.push(0);
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&(-1i32).to_le_bytes());
    query.write(&mut out);
    finish(out)
}

/// An OP_REPLY carrying `docs` (no cursor).
pub fn op_reply(request_id: i32, response_to: i32, flags: i32, docs: &[Document]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    header(&mut out, request_id, response_to, OP_REPLY);
    out.extend_from_slice(&flags.to_le_bytes());
    out.extend_from_slice(&0i64.to_le_bytes());
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&i32::try_from(docs.len()).unwrap_or(0).to_le_bytes());
    for d in docs {
        d.write(&mut out);
    }
    finish(out)
}

/// What the framer found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A whole message (header included).
    Message(Vec<u8>),
    /// Not enough bytes yet.
    Incomplete,
    /// The header is `GET `: a browser on the driver port.
    Http,
    /// A declared length outside 16..=48 000 000: mongod drops the connection.
    BadLength(i32),
    /// A message longer than the cap (its declared length).
    TooLarge(usize),
}

/// Splits a byte stream into messages, buffering at most one message up to `cap`.
#[derive(Debug)]
pub struct Framer {
    buf: Vec<u8>,
    cap: usize,
}

impl Framer {
    /// A framer taking messages of at most `cap` bytes.
    pub fn new(cap: usize) -> Framer {
        Framer {
            buf: Vec::new(),
            cap,
        }
    }

    /// Changes the cap (larger once a client has logged in).
    pub fn set_cap(&mut self, cap: usize) {
        self.cap = cap;
    }

    /// Bytes buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// How many more bytes the next frame needs (at least one).
    pub fn wanted(&self) -> usize {
        match self.buf.get(..4).and_then(|l| <[u8; 4]>::try_from(l).ok()) {
            Some(l) => {
                let n = i32::from_le_bytes(l);
                usize::try_from(n)
                    .unwrap_or(HEADER_LEN)
                    .max(HEADER_LEN)
                    .saturating_sub(self.buf.len())
                    .max(1)
            }
            None => HEADER_LEN - self.buf.len(),
        }
    }

    /// Adds bytes read from the peer.
    pub fn push(&mut self, b: &[u8]) {
        self.buf.extend_from_slice(b);
    }

    /// The next frame.
    pub fn next_frame(&mut self) -> Frame {
        let Some(h) = self.buf.get(..HEADER_LEN) else {
            return Frame::Incomplete;
        };
        if h.starts_with(b"GET ") {
            return Frame::Http;
        }
        let Some(hd) = Header::parse(h) else {
            return Frame::Incomplete;
        };
        let len = match usize::try_from(hd.length) {
            Ok(n) if (HEADER_LEN..=MAX_MESSAGE_SIZE).contains(&n) => n,
            _ => return Frame::BadLength(hd.length),
        };
        if len > self.cap {
            return Frame::TooLarge(len);
        }
        if self.buf.len() < len {
            return Frame::Incomplete;
        }
        let rest = self.buf.split_off(len);
        Frame::Message(std::mem::replace(&mut self.buf, rest))
    }
}

/// mongod's answer to an HTTP GET on the driver port.
pub const HTTP_RESPONSE: &[u8] = b"HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 84\r\n\r\nIt looks like you are trying to access MongoDB over HTTP on the native driver port.\n";

/// What reading the next message gave.
#[derive(Debug)]
pub enum Recv {
    /// A whole message.
    Message(Vec<u8>),
    /// The peer closed (or the connection failed), perhaps mid-message.
    Eof {
        /// Bytes of an unfinished message left in the buffer.
        partial: usize,
    },
    /// The deadline passed first.
    Deadline,
    /// The stream is not the wire protocol (see [`Frame`]).
    Refused(Frame),
    /// The connection's budget of message bytes is spent.
    Budget,
}

/// One connection's messages.
#[derive(Debug)]
pub struct Wire<S> {
    stream: S,
    framer: Framer,
    budget: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Wire<S> {
    /// Messages over `stream`, each at most `cap` bytes, at most `budget` bytes in all.
    pub fn new(stream: S, cap: usize, budget: usize) -> Wire<S> {
        Wire {
            stream,
            framer: Framer::new(cap),
            budget,
        }
    }

    /// Changes the per-message cap.
    pub fn set_cap(&mut self, cap: usize) {
        self.framer.set_cap(cap);
    }

    /// The next message, waiting at most until `deadline` when one is given.
    pub async fn recv(&mut self, deadline: Option<Instant>) -> Recv {
        loop {
            match self.framer.next_frame() {
                Frame::Message(m) => {
                    if m.len() > self.budget {
                        return Recv::Budget;
                    }
                    self.budget -= m.len();
                    return Recv::Message(m);
                }
                Frame::Incomplete => {}
                other => return Recv::Refused(other),
            }
            // Read no further than this message: the next one is checked on its own.
            let mut buf = vec![0u8; self.framer.wanted().min(64 * 1024)];
            let read = match deadline {
                Some(d) => match tokio::time::timeout_at(d, self.stream.read(&mut buf)).await {
                    Ok(r) => r,
                    Err(_) => return Recv::Deadline,
                },
                None => self.stream.read(&mut buf).await,
            };
            match read {
                Ok(0) | Err(_) => {
                    return Recv::Eof {
                        partial: self.framer.buffered(),
                    }
                }
                Ok(n) => self.framer.push(buf.get(..n).unwrap_or_default()),
            }
        }
    }

    /// Sends bytes and flushes.
    pub async fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Closes the write side.
    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc32c_matches_the_rfc_3720_vector() {
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
    }

    #[test]
    fn op_msg_round_trips_with_and_without_checksum() {
        let body = Document::new().with("hello", 1i32).with("$db", "admin");
        for flags in [0, FLAG_CHECKSUM] {
            let m = op_msg_request(7, flags, &body);
            let (h, r) = parse(&m).unwrap();
            assert_eq!(h.op_code, OP_MSG);
            assert_eq!(h.length as usize, m.len());
            let Request::Msg(msg) = r else { panic!() };
            assert_eq!(msg.body, body);
            assert_eq!(msg.flags, flags);
        }
        let mut m = op_msg_request(7, FLAG_CHECKSUM, &body);
        let n = m.len();
        m[n - 1] ^= 1;
        assert_eq!(parse(&m), Err(WireError::Checksum));
    }

    #[test]
    fn document_sequences_are_read() {
        let body = Document::new().with("insert", "c").with("$db", "d");
        let mut m = op_msg(1, 0, 0, &body);
        let docs = [
            Document::new().with("a", 1i32),
            Document::new().with("b", 2i32),
        ];
        let mut seq = Vec::new();
        seq.extend_from_slice(b"documents\0");
        for d in &docs {
            d.write(&mut seq);
        }
        m.push(1);
        m.extend_from_slice(&((seq.len() + 4) as i32).to_le_bytes());
        m.extend_from_slice(&seq);
        let len = m.len() as i32;
        m[..4].copy_from_slice(&len.to_le_bytes());
        let (_, Request::Msg(msg)) = parse(&m).unwrap() else {
            panic!()
        };
        assert_eq!(msg.sequences, vec![("documents".to_owned(), docs.to_vec())]);
    }

    #[test]
    fn illegal_flags_and_two_bodies_are_refused() {
        let body = Document::new().with("ping", 1i32);
        let m = op_msg_request(1, 1 << 5, &body);
        assert!(matches!(parse(&m), Err(WireError::IllegalFlags(_))));
        let mut m = op_msg(1, 0, 0, &body);
        m.push(0);
        body.write(&mut m);
        assert_eq!(parse(&m), Err(WireError::Bodies(2)));
    }

    #[test]
    fn the_framer_refuses_bad_lengths_and_http() {
        let mut f = Framer::new(1024);
        f.push(&[0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(f.next_frame(), Frame::Incomplete);
        f.push(&[0; 12]);
        assert_eq!(f.next_frame(), Frame::BadLength(0x7fff_ffff));
        let mut f = Framer::new(1024);
        f.push(&4096i32.to_le_bytes());
        f.push(&[0; 12]);
        assert_eq!(f.next_frame(), Frame::TooLarge(4096));
        let mut f = Framer::new(1024);
        f.push(b"GET / HTTP/1.0\r\n\r\n");
        assert_eq!(f.next_frame(), Frame::Http);
        assert_eq!(
            HTTP_RESPONSE.len()
                - HTTP_RESPONSE
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .unwrap()
                - 4,
            84
        );
    }

    proptest! {
        #[test]
        fn arbitrary_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
            let _ = parse(&bytes);
            let mut f = Framer::new(256);
            f.push(&bytes);
            for _ in 0..8 {
                match f.next_frame() {
                    Frame::Message(m) => { prop_assert!(m.len() <= 256); let _ = parse(&m); }
                    _ => break,
                }
            }
        }

        #[test]
        fn op_msg_writer_then_parser_round_trips(
            keys in proptest::collection::vec("[a-z]{1,8}", 1..6),
            n in any::<i64>(),
            sum in any::<bool>(),
        ) {
            let mut body = Document::new();
            for k in &keys {
                body.push(k.clone(), n);
            }
            let m = op_msg_request(3, if sum { FLAG_CHECKSUM } else { 0 }, &body);
            let mut f = Framer::new(1 << 20);
            f.push(&m);
            let Frame::Message(back) = f.next_frame() else { panic!("one frame") };
            let (_, r) = parse(&back).unwrap();
            let Request::Msg(msg) = r else { panic!("an OP_MSG") };
            prop_assert_eq!(msg.body, body);
        }

        #[test]
        fn op_query_writer_then_parser_round_trips(coll in "[a-z]{1,8}\\.\\$cmd", n in any::<i32>()) {
            let q = Document::new().with("isMaster", n);
            let m = op_query_request(9, &coll, &q);
            let (h, r) = parse(&m).unwrap();
            prop_assert_eq!(h.request_id, 9);
            let Request::Query(oq) = r else { panic!("an OP_QUERY") };
            prop_assert_eq!(oq.collection, coll);
            prop_assert_eq!(oq.query, q);
        }
    }
}
