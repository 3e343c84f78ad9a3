//! Reading an SMTP peer: command lines through the kit's [`LineDecoder`] (so a line
//! is decided exactly as every other line protocol decides it) and message content
//! (DATA, BDAT) through [`DataDecoder`], over one buffer, so bytes a client pipelined
//! after a command are never lost between the two.
//!
//! Hostile-input guarantees: the buffer never holds more than [`BUF_CAP`] bytes; a
//! message keeps at most the cap its caller gives and counts the rest; no input
//! panics. Every read is a capped read from the stream, which (a [`crate::Conn`])
//! carries the idle deadline.

use std::io;

use bytes::{Buf as _, BufMut as _, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt as _};

use crate::kit::line::{Decoded, Discard, Eol, LineDecoder, LineRule};

/// Postfix's `line_length_limit`: longer command lines are refused.
pub const COMMAND_MAX: usize = 2048;
/// Most bytes buffered at once.
pub const BUF_CAP: usize = 8 * 1024;

/// The command-line rule: CRLF-terminated as the RFC says, with a bare LF
/// tolerated as Postfix tolerates it.
pub const RULE: LineRule = LineRule::new(COMMAND_MAX, Eol::Lf);

/// One command line, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// A line without its terminator.
    Line(Bytes),
    /// A line over [`COMMAND_MAX`], skipped up to its end.
    TooLong,
    /// The peer closed the connection (a partial line is dropped).
    Eof,
}

/// A message's content as read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Content {
    /// The bytes kept (dot-unstuffed), at most the caller's cap.
    pub kept: Vec<u8>,
    /// Bytes the message had in all.
    pub size: u64,
    /// Whether the cap cut what was kept.
    pub truncated: bool,
    /// False when the peer closed before the end of the message.
    pub complete: bool,
}

impl Content {
    fn push(&mut self, b: u8, cap: usize) {
        self.size += 1;
        if self.kept.len() < cap {
            self.kept.push(b);
        } else {
            self.truncated = true;
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    Bol,
    /// A `.` at the start of a line.
    Dot,
    /// `.` `\r` at the start of a line.
    DotCr,
    /// Inside a line.
    Mid,
}

/// The sans-IO DATA decoder: dot-unstuffing and the end-of-data line (`.` alone on a
/// line, ended by CRLF or, as Postfix before 3.9 accepts, a bare LF).
#[derive(Debug, Clone)]
pub struct DataDecoder {
    state: State,
    cap: usize,
    content: Content,
}

impl DataDecoder {
    /// A decoder that keeps at most `cap` bytes.
    pub fn new(cap: usize) -> DataDecoder {
        DataDecoder {
            state: State::Bol,
            cap,
            content: Content::default(),
        }
    }

    /// Feeds bytes; returns how many it used and whether the message ended there.
    pub fn feed(&mut self, input: &[u8]) -> (usize, bool) {
        for (i, &b) in input.iter().enumerate() {
            let cap = self.cap;
            let c = &mut self.content;
            self.state = match (self.state, b) {
                (State::Bol, b'.') => State::Dot,
                (State::Dot, b'\n') | (State::DotCr, b'\n') => {
                    self.content.complete = true;
                    return (i + 1, true);
                }
                (State::Dot, b'\r') => State::DotCr,
                (State::DotCr, b) => {
                    // `.` CR then something else: the dot was stuffing, the CR is content.
                    c.push(b'\r', cap);
                    c.push(b, cap);
                    if b == b'\n' {
                        State::Bol
                    } else {
                        State::Mid
                    }
                }
                (_, b) => {
                    c.push(b, cap);
                    if b == b'\n' {
                        State::Bol
                    } else {
                        State::Mid
                    }
                }
            };
        }
        (input.len(), false)
    }

    /// What was read.
    pub fn finish(self) -> Content {
        self.content
    }
}

/// An SMTP connection's read side (and its stream, for replies).
#[derive(Debug)]
pub struct Wire<S> {
    stream: S,
    buf: BytesMut,
    decoder: LineDecoder,
    discarding: bool,
}

impl<S: AsyncRead + Unpin> Wire<S> {
    /// Reads `stream`, first replaying `leftover`.
    pub fn new(stream: S, leftover: Bytes) -> Wire<S> {
        let mut buf = BytesMut::with_capacity(BUF_CAP);
        buf.extend_from_slice(leftover.get(..BUF_CAP.min(leftover.len())).unwrap_or(&[]));
        Wire {
            stream,
            buf,
            decoder: LineDecoder::new(RULE),
            discarding: false,
        }
    }

    /// The next command line.
    pub async fn line(&mut self) -> io::Result<Line> {
        loop {
            if self.discarding {
                match self.decoder.discard(&self.buf) {
                    Discard::Done { consumed } => {
                        self.buf.advance(consumed);
                        self.discarding = false;
                        return Ok(Line::TooLong);
                    }
                    Discard::More { consumed } => self.buf.advance(consumed),
                }
            } else {
                let skip = self.decoder.take_skip(&self.buf);
                self.buf.advance(skip);
                match self.decoder.decode(&self.buf) {
                    Decoded::Line { line, consumed } => {
                        let len = line.len();
                        let mut taken = self.buf.split_to(consumed);
                        taken.truncate(len);
                        return Ok(Line::Line(taken.freeze()));
                    }
                    Decoded::TooLong { .. } => {
                        self.discarding = true;
                        continue;
                    }
                    Decoded::Incomplete => {}
                }
            }
            if self.fill().await? == 0 {
                return Ok(Line::Eof);
            }
        }
    }

    /// Message content after `354`, up to the end-of-data line, keeping at most `cap` bytes.
    pub async fn data(&mut self, cap: usize) -> io::Result<Content> {
        let mut d = DataDecoder::new(cap);
        loop {
            let (used, done) = d.feed(&self.buf);
            self.buf.advance(used);
            if done || self.fill().await? == 0 {
                return Ok(d.finish());
            }
        }
    }

    /// Exactly `n` bytes of BDAT content appended to `into` up to `cap` kept bytes;
    /// false when the peer closed first.
    pub async fn chunk(&mut self, n: u64, cap: usize, into: &mut Content) -> io::Result<bool> {
        let mut left = n;
        while left > 0 {
            if self.buf.is_empty() && self.fill().await? == 0 {
                return Ok(false);
            }
            let take = usize::try_from(left)
                .unwrap_or(usize::MAX)
                .min(self.buf.len());
            for &b in self.buf.get(..take).unwrap_or(&[]) {
                into.push(b, cap);
            }
            self.buf.advance(take);
            left -= take as u64;
        }
        Ok(true)
    }

    /// Bytes read but not yet used.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The stream, for replies.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream and the bytes read past the last command (for STARTTLS, which
    /// must refuse any: CVE-2011-0411).
    pub fn into_parts(self) -> (S, Bytes) {
        (self.stream, self.buf.freeze())
    }

    async fn fill(&mut self) -> io::Result<usize> {
        let room = BUF_CAP.saturating_sub(self.buf.len()).max(1);
        self.buf.reserve(room);
        let mut limited = (&mut self.buf).limit(room);
        self.stream.read_buf(&mut limited).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio::io::AsyncWriteExt as _;

    fn decode_all(input: &[u8], cap: usize) -> (Content, usize) {
        let mut d = DataDecoder::new(cap);
        let (used, _) = d.feed(input);
        (d.finish(), used)
    }

    #[test]
    fn dots_are_unstuffed_and_the_end_line_ends() {
        let (c, used) = decode_all(b"Subject: x\r\n\r\n..hidden\r\n.\r\nQUIT\r\n", 1000);
        assert!(c.complete);
        assert_eq!(c.kept, b"Subject: x\r\n\r\n.hidden\r\n");
        assert_eq!(used, 27);
        // A bare LF ends lines too; a dot inside a line is content.
        let (c, _) = decode_all(b"a.b\n.\n", 1000);
        assert_eq!((c.kept.as_slice(), c.complete), (&b"a.b\n"[..], true));
        // `.` CR x is stuffing followed by content.
        let (c, _) = decode_all(b".\rx\r\n.\r\n", 1000);
        assert_eq!(c.kept, b"\rx\r\n");
    }

    #[test]
    fn the_cap_cuts_what_is_kept_not_what_is_counted() {
        let (c, _) = decode_all(b"0123456789\r\n.\r\n", 4);
        assert_eq!(c.kept, b"0123");
        assert_eq!(c.size, 12);
        assert!(c.truncated && c.complete);
    }

    #[tokio::test]
    async fn pipelined_bytes_survive_the_switch_between_lines_and_data() {
        let (mut peer, ours) = tokio::io::duplex(1024);
        peer.write_all(b"DATA\r\nbody\r\n.\r\nQUIT\r\n")
            .await
            .unwrap();
        drop(peer);
        let mut w = Wire::new(ours, Bytes::new());
        assert_eq!(
            w.line().await.unwrap(),
            Line::Line(Bytes::from_static(b"DATA"))
        );
        let c = w.data(100).await.unwrap();
        assert_eq!(c.kept, b"body\r\n");
        assert_eq!(
            w.line().await.unwrap(),
            Line::Line(Bytes::from_static(b"QUIT"))
        );
        assert_eq!(w.line().await.unwrap(), Line::Eof);
    }

    #[tokio::test]
    async fn a_long_line_is_refused_and_the_next_one_read() {
        let (mut peer, ours) = tokio::io::duplex(64 * 1024);
        peer.write_all(&vec![b'A'; COMMAND_MAX + 10]).await.unwrap();
        peer.write_all(b"\r\nNOOP\r\n").await.unwrap();
        drop(peer);
        let mut w = Wire::new(ours, Bytes::new());
        assert_eq!(w.line().await.unwrap(), Line::TooLong);
        assert_eq!(
            w.line().await.unwrap(),
            Line::Line(Bytes::from_static(b"NOOP"))
        );
        assert!(w.buffered() <= BUF_CAP);
    }

    proptest! {
        #[test]
        fn any_split_of_a_message_decodes_the_same(body in proptest::collection::vec(any::<u8>(), 0..300), cut in 0usize..300) {
            let mut wire = body.clone();
            wire.extend_from_slice(b"\r\n.\r\n");
            let (whole, used) = decode_all(&wire, 10_000);
            let cut = cut.min(wire.len());
            let mut d = DataDecoder::new(10_000);
            let (a, done) = d.feed(&wire[..cut]);
            let b = if done { 0 } else { d.feed(&wire[cut..]).0 };
            prop_assert_eq!(a + b, used);
            prop_assert_eq!(d.finish(), whole);
        }
    }
}
