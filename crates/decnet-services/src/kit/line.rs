//! The capped line reader every line protocol (ftp, smtp, imap, pop3, telnet, redis
//! inline commands, sip …) reads its commands with, shaped like the bus's `frame.rs`.
//!
//! [`LineDecoder`] is a sans-IO decoder: given a buffer it finds one line under a
//! [`LineRule`] (a maximum length and an end-of-line rule) and answers
//! [`Decoded::Line`], [`Decoded::Incomplete`] or [`Decoded::TooLong`], deciding each only
//! once the bytes prove it, so the answer never depends on how the peer split its writes.
//! [`LineReader`] drives it over a stream and never buffers more than
//! [`LineRule::cap`] bytes (the maximum plus two terminator bytes), however long the
//! line or however many lines are pipelined. `tokio`'s `read_line`, `read_until`,
//! `lines` and `split` are banned in `clippy.toml` because they grow one line without
//! bound; use this instead.
//!
//! Hostile-input guarantees: no input panics, no line handed out is longer than
//! [`LineRule::max`] or contains its terminator, and the reader's buffer stays within
//! the cap. There is no timeout inside: the stream is normally a [`crate::Conn`], which
//! carries the idle deadline; [`LineReader::read_line_within`] adds a tighter one
//! (pre-authentication, greeting) where a protocol has it.

use std::io;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// Terminator bytes a line may need beyond [`LineRule::max`] (`\r\n`).
const TERMINATOR_SLACK: usize = 2;

/// Which bytes end a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eol {
    /// Only `\r\n` (SMTP, IMAP, POP3, FTP as the RFCs say); a bare `\r` or `\n` is
    /// part of the line, for the protocol to judge.
    Crlf,
    /// `\n`, with one `\r` before it dropped when present (what most real servers
    /// accept, and what netcat and scripts send).
    Lf,
    /// Any of `\r\n`, `\r\0`, `\r` or `\n` (telnet NVT input, where clients send CR
    /// NUL or CR LF and raw clients send either byte alone). A `\r` ends the line at
    /// once; a `\n` or NUL right after it is dropped, even when it arrives later.
    Any,
}

/// How lines of one protocol are found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineRule {
    /// Longest line, not counting its terminator.
    pub max: usize,
    /// What ends a line.
    pub eol: Eol,
}

impl LineRule {
    /// A rule of `max` bytes per line ending as `eol` says.
    pub const fn new(max: usize, eol: Eol) -> LineRule {
        LineRule { max, eol }
    }

    /// Most bytes a [`LineReader`] under this rule ever buffers.
    pub const fn cap(&self) -> usize {
        self.max.saturating_add(TERMINATOR_SLACK)
    }
}

/// What [`LineDecoder::decode`] found at the start of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A whole line (without its terminator) and how many bytes it used, terminator
    /// included.
    Line {
        /// The line's bytes.
        line: &'a [u8],
        /// Bytes to drop from the buffer.
        consumed: usize,
    },
    /// No terminator yet, and the line may still fit: read more.
    Incomplete,
    /// The line is longer than the rule allows, whatever comes next. Nothing is
    /// consumed; [`LineDecoder::discard`] skips the rest of the line.
    TooLong {
        /// The rule's maximum.
        limit: usize,
    },
}

/// How far [`LineDecoder::discard`] got through an oversize line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discard {
    /// The line ended; drop `consumed` bytes and decode the next line.
    Done {
        /// Bytes to drop, terminator included.
        consumed: usize,
    },
    /// The line goes on; drop `consumed` bytes and read more.
    More {
        /// Bytes to drop.
        consumed: usize,
    },
}

/// Finds lines in a buffer under one rule. Sans-IO: the only state it keeps is
/// whether a `\r` ended the last line under [`Eol::Any`], so that a `\n` or NUL
/// arriving after it in a later read is dropped as part of that terminator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineDecoder {
    rule: LineRule,
    after_cr: bool,
}

impl LineDecoder {
    /// A decoder for `rule`.
    pub const fn new(rule: LineRule) -> LineDecoder {
        LineDecoder {
            rule,
            after_cr: false,
        }
    }

    /// The rule it decodes under.
    pub const fn rule(&self) -> LineRule {
        self.rule
    }

    /// Bytes at the start of `buf` that belong to the previous line's terminator.
    pub fn pending_skip(&self, buf: &[u8]) -> usize {
        usize::from(self.after_cr && matches!(buf.first(), Some(b'\n' | b'\0')))
    }

    /// Like [`pending_skip`](Self::pending_skip), and settles it: once `buf` holds a
    /// byte, the previous terminator is complete.
    pub fn take_skip(&mut self, buf: &[u8]) -> usize {
        let skip = self.pending_skip(buf);
        if !buf.is_empty() {
            self.after_cr = false;
        }
        skip
    }

    /// The first line of `buf`; call again on what remains after `consumed`.
    pub fn decode<'a>(&mut self, buf: &'a [u8]) -> Decoded<'a> {
        if buf.is_empty() {
            return Decoded::Incomplete;
        }
        let skip = self.pending_skip(buf);
        let body = buf.get(skip..).unwrap_or_default();
        let max = self.rule.max;
        let found = match self.rule.eol {
            Eol::Lf => find_lf(body, max),
            Eol::Crlf => find_crlf(body, max),
            Eol::Any => find_any(body, max),
        };
        match found {
            Found::Line { len, term, cr_open } => {
                self.after_cr = cr_open;
                let line = body.get(..len).unwrap_or_default();
                Decoded::Line {
                    line,
                    consumed: skip + len + term,
                }
            }
            Found::Incomplete => Decoded::Incomplete,
            Found::TooLong => Decoded::TooLong { limit: max },
        }
    }

    /// Skips the start of an oversize line (after [`Decoded::TooLong`]) without
    /// keeping it: call on each buffer until [`Discard::Done`].
    pub fn discard(&mut self, buf: &[u8]) -> Discard {
        if buf.is_empty() {
            return Discard::More { consumed: 0 };
        }
        let skip = self.pending_skip(buf);
        self.after_cr = false;
        let body = buf.get(skip..).unwrap_or_default();
        let done = |at: usize| Discard::Done {
            consumed: skip + at,
        };
        match self.rule.eol {
            Eol::Lf => match body.iter().position(|&b| b == b'\n') {
                Some(i) => done(i + 1),
                None => Discard::More {
                    consumed: buf.len(),
                },
            },
            Eol::Crlf => match body.windows(2).position(|w| w == b"\r\n") {
                Some(i) => done(i + 2),
                // A trailing `\r` may be the start of the terminator: keep it.
                None => Discard::More {
                    consumed: skip + body.len() - usize::from(body.last() == Some(&b'\r')),
                },
            },
            Eol::Any => match body.iter().position(|&b| b == b'\r' || b == b'\n') {
                Some(i) => {
                    let (term, cr_open) = any_terminator(body, i);
                    self.after_cr = cr_open;
                    done(i + term)
                }
                None => Discard::More {
                    consumed: buf.len(),
                },
            },
        }
    }
}

/// A line's extent inside the body (after any skipped byte).
enum Found {
    Line {
        len: usize,
        term: usize,
        cr_open: bool,
    },
    Incomplete,
    TooLong,
}

fn find_lf(body: &[u8], max: usize) -> Found {
    let window = body.get(..max.saturating_add(2)).unwrap_or(body);
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let cr = usize::from(i > 0 && body.get(i - 1) == Some(&b'\r'));
            let len = i - cr;
            if len > max {
                Found::TooLong
            } else {
                Found::Line {
                    len,
                    term: cr + 1,
                    cr_open: false,
                }
            }
        }
        None if body.len() >= max.saturating_add(2) => Found::TooLong,
        None => Found::Incomplete,
    }
}

fn find_crlf(body: &[u8], max: usize) -> Found {
    let window = body.get(..max.saturating_add(2)).unwrap_or(body);
    match window.windows(2).position(|w| w == b"\r\n") {
        // Inside the window, so at most `max` bytes precede it.
        Some(len) => Found::Line {
            len,
            term: 2,
            cr_open: false,
        },
        None if body.len() >= max.saturating_add(2) => Found::TooLong,
        None => Found::Incomplete,
    }
}

fn find_any(body: &[u8], max: usize) -> Found {
    let window = body.get(..max.saturating_add(1)).unwrap_or(body);
    match window.iter().position(|&b| b == b'\r' || b == b'\n') {
        Some(len) => {
            let (term, cr_open) = any_terminator(body, len);
            Found::Line { len, term, cr_open }
        }
        None if body.len() > max => Found::TooLong,
        None => Found::Incomplete,
    }
}

/// Length of the [`Eol::Any`] terminator starting at `at`, and whether it is a `\r`
/// whose companion byte has not arrived yet.
fn any_terminator(body: &[u8], at: usize) -> (usize, bool) {
    if body.get(at) != Some(&b'\r') {
        return (1, false);
    }
    match body.get(at + 1) {
        Some(b'\n' | b'\0') => (2, false),
        Some(_) => (1, false),
        None => (1, true),
    }
}

/// What the peer does when a line exceeds the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnTooLong {
    /// The reader drops the rest of the line up to its terminator, then returns
    /// [`LineOutcome::TooLong`]; the next call reads the next line. For protocols
    /// whose real server answers `500 line too long` and carries on (postfix, vsftpd).
    Discard,
    /// The reader returns [`LineOutcome::TooLong`] as soon as the line is proven too
    /// long and keeps returning it: the caller is expected to answer and end the
    /// connection. For protocols whose real server hangs up.
    Stop,
}

/// What [`LineReader::read_line`] read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineOutcome {
    /// One line, without its terminator.
    Line(Bytes),
    /// A line longer than [`LineRule::max`] (see [`OnTooLong`] for what was consumed).
    TooLong {
        /// The rule's maximum.
        limit: usize,
    },
    /// The stream ended cleanly between lines.
    Eof,
    /// The stream ended inside a line: these bytes came without a terminator.
    EofMidLine(Bytes),
}

/// Reads lines from a stream under a [`LineRule`], buffering at most
/// [`LineRule::cap`] bytes.
///
/// [`read_line`](Self::read_line) is cancel-safe: bytes read and a discard in progress
/// are kept in the reader, so a line read raced against a deadline or shutdown and
/// dropped loses nothing.
#[derive(Debug)]
pub struct LineReader<S> {
    stream: S,
    buf: BytesMut,
    decoder: LineDecoder,
    on_too_long: OnTooLong,
    discarding: bool,
    stopped: bool,
}

impl<S: AsyncRead + Unpin> LineReader<S> {
    /// A reader that discards oversize lines and carries on ([`OnTooLong::Discard`]).
    pub fn new(stream: S, rule: LineRule) -> LineReader<S> {
        LineReader::with_policy(stream, rule, OnTooLong::Discard)
    }

    /// A reader with an explicit oversize-line policy.
    pub fn with_policy(stream: S, rule: LineRule, on_too_long: OnTooLong) -> LineReader<S> {
        LineReader {
            stream,
            buf: BytesMut::with_capacity(rule.cap()),
            decoder: LineDecoder::new(rule),
            on_too_long,
            discarding: false,
            stopped: false,
        }
    }

    /// The next line, or why there is none.
    pub async fn read_line(&mut self) -> io::Result<LineOutcome> {
        if self.stopped {
            return Ok(LineOutcome::TooLong {
                limit: self.decoder.rule().max,
            });
        }
        loop {
            if self.discarding {
                match self.decoder.discard(&self.buf) {
                    Discard::Done { consumed } => {
                        self.buf.advance(consumed);
                        self.discarding = false;
                        return Ok(self.too_long());
                    }
                    Discard::More { consumed } => self.buf.advance(consumed),
                }
            } else {
                // With the previous terminator's tail gone, every line starts at 0.
                let skip = self.decoder.take_skip(&self.buf);
                self.buf.advance(skip);
                match self.decoder.decode(&self.buf) {
                    Decoded::Line { line, consumed } => {
                        let len = line.len();
                        let mut taken = self.buf.split_to(consumed);
                        taken.truncate(len);
                        return Ok(LineOutcome::Line(taken.freeze()));
                    }
                    Decoded::TooLong { .. } => match self.on_too_long {
                        OnTooLong::Discard => {
                            self.discarding = true;
                            continue;
                        }
                        OnTooLong::Stop => {
                            self.stopped = true;
                            return Ok(self.too_long());
                        }
                    },
                    Decoded::Incomplete => {}
                }
            }
            if self.fill().await? == 0 {
                return Ok(self.at_eof());
            }
        }
    }

    /// [`read_line`](Self::read_line) under a deadline tighter than the connection's
    /// idle one (a pre-authentication or greeting deadline); `None` once it passes,
    /// with nothing lost: a later call resumes the same line.
    pub async fn read_line_within(&mut self, deadline: Instant) -> io::Result<Option<LineOutcome>> {
        match tokio::time::timeout_at(deadline, self.read_line()).await {
            Ok(outcome) => outcome.map(Some),
            Err(_elapsed) => Ok(None),
        }
    }

    fn too_long(&self) -> LineOutcome {
        LineOutcome::TooLong {
            limit: self.decoder.rule().max,
        }
    }

    fn at_eof(&mut self) -> LineOutcome {
        if self.discarding {
            // The oversize line ended with the stream.
            self.discarding = false;
            self.buf.clear();
            return self.too_long();
        }
        let skip = self.decoder.take_skip(&self.buf);
        self.buf.advance(skip);
        if self.buf.is_empty() {
            LineOutcome::Eof
        } else {
            LineOutcome::EofMidLine(self.buf.split().freeze())
        }
    }

    /// Reads once, never past the cap; 0 at the end of the stream.
    async fn fill(&mut self) -> io::Result<usize> {
        // The decoder answered Incomplete or asked to discard, both of which leave
        // the buffer below the cap, so there is always room for one byte.
        let room = self
            .decoder
            .rule()
            .cap()
            .saturating_sub(self.buf.len())
            .max(1);
        self.buf.reserve(room);
        let mut limited = (&mut self.buf).limit(room);
        self.stream.read_buf(&mut limited).await
    }
}

impl<S> LineReader<S> {
    /// The stream, for writing replies.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// The stream, to look at (peer address, limits).
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// Bytes read from the stream but not yet handed out as a line.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The stream and the bytes read past the last line, to hand the stream to TLS
    /// after STARTTLS (or to another codec).
    ///
    /// For STARTTLS the leftover must be empty: bytes pipelined after the STARTTLS
    /// command were sent in plaintext, and a server that feeds them to the TLS layer
    /// or runs them after the handshake lets a man in the middle inject commands
    /// (CVE-2011-0411). Refuse a non-empty leftover as a protocol error and end the
    /// connection, as postfix does.
    pub fn into_parts(mut self) -> (S, Bytes) {
        let skip = self.decoder.take_skip(&self.buf);
        self.buf.advance(skip);
        (self.stream, self.buf.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;
    use tokio::io::{AsyncWriteExt, ReadBuf};

    fn lines_of(rule: LineRule, input: &[u8]) -> Vec<Result<Vec<u8>, usize>> {
        let mut d = LineDecoder::new(rule);
        let mut buf = input;
        let mut out = Vec::new();
        loop {
            match d.decode(buf) {
                Decoded::Line { line, consumed } => {
                    out.push(Ok(line.to_vec()));
                    buf = &buf[consumed..];
                }
                Decoded::TooLong { limit } => {
                    out.push(Err(limit));
                    // A whole input: what the discard cannot finish ends it.
                    match d.discard(buf) {
                        Discard::Done { consumed } => buf = &buf[consumed..],
                        Discard::More { .. } => return out,
                    }
                }
                Decoded::Incomplete => return out,
            }
        }
    }

    fn ok(s: &[u8]) -> Result<Vec<u8>, usize> {
        Ok(s.to_vec())
    }

    #[test]
    fn lf_tolerates_one_cr_and_keeps_others() {
        let rule = LineRule::new(8, Eol::Lf);
        assert_eq!(
            lines_of(rule, b"USER a\r\nPASS b\n\n\r\r\nx"),
            vec![ok(b"USER a"), ok(b"PASS b"), ok(b""), ok(b"\r")]
        );
    }

    #[test]
    fn crlf_is_strict() {
        let rule = LineRule::new(16, Eol::Crlf);
        assert_eq!(
            lines_of(rule, b"EHLO a\nb\r\nMAIL\r\r\n\r\n"),
            vec![ok(b"EHLO a\nb"), ok(b"MAIL\r"), ok(b"")]
        );
    }

    #[test]
    fn any_takes_each_telnet_terminator_once() {
        let rule = LineRule::new(8, Eol::Any);
        assert_eq!(
            lines_of(rule, b"a\r\nb\r\0c\rd\ne\r\r\n"),
            vec![ok(b"a"), ok(b"b"), ok(b"c"), ok(b"d"), ok(b"e"), ok(b"")]
        );
    }

    #[test]
    fn any_drops_the_lf_of_a_cr_that_ended_the_previous_buffer() {
        let mut d = LineDecoder::new(LineRule::new(8, Eol::Any));
        assert_eq!(
            d.decode(b"ls\r"),
            Decoded::Line {
                line: b"ls",
                consumed: 3
            }
        );
        assert_eq!(d.decode(b""), Decoded::Incomplete);
        assert_eq!(
            d.decode(b"\npwd\r\n"),
            Decoded::Line {
                line: b"pwd",
                consumed: 6
            }
        );
        assert_eq!(
            d.decode(b"\n"),
            Decoded::Line {
                line: b"",
                consumed: 1
            }
        );
    }

    #[test]
    fn the_limit_is_exact_and_too_long_is_decided_when_proven() {
        for eol in [Eol::Lf, Eol::Crlf, Eol::Any] {
            let rule = LineRule::new(4, eol);
            let term: &[u8] = if eol == Eol::Crlf { b"\r\n" } else { b"\n" };
            let fits = [b"abcd".as_slice(), term].concat();
            assert_eq!(lines_of(rule, &fits), vec![ok(b"abcd")], "{eol:?}");
            let over = [b"abcde".as_slice(), term].concat();
            assert_eq!(
                LineDecoder::new(rule).decode(&over),
                Decoded::TooLong { limit: 4 },
                "{eol:?}"
            );
            // A prefix that could still end in time is incomplete, not too long.
            assert_eq!(LineDecoder::new(rule).decode(b"abcd"), Decoded::Incomplete);
        }
        // Lf and Crlf wait for the byte after max: it may be the `\r` of `\r\n`.
        let lf = LineRule::new(4, Eol::Lf);
        assert_eq!(LineDecoder::new(lf).decode(b"abcd\r"), Decoded::Incomplete);
        assert_eq!(
            LineDecoder::new(lf).decode(b"abcdef"),
            Decoded::TooLong { limit: 4 }
        );
        let any = LineRule::new(4, Eol::Any);
        assert_eq!(
            LineDecoder::new(any).decode(b"abcde"),
            Decoded::TooLong { limit: 4 }
        );
    }

    #[test]
    fn discard_skips_to_the_end_of_the_oversize_line() {
        let rule = LineRule::new(3, Eol::Crlf);
        assert_eq!(
            lines_of(rule, b"toolong\r\nok\r\n"),
            vec![Err(3), ok(b"ok")]
        );
        // A `\r` at the end of a buffer is kept: it may start the terminator.
        let mut d = LineDecoder::new(rule);
        assert_eq!(d.discard(b"xxxx\r"), Discard::More { consumed: 4 });
        assert_eq!(d.discard(b"\r\nok"), Discard::Done { consumed: 2 });
    }

    /// A stream that hands out the given chunks, one per read, and remembers the
    /// largest read it was asked for.
    struct Chunks {
        chunks: VecDeque<Vec<u8>>,
        largest_ask: usize,
    }

    impl Chunks {
        fn new(chunks: Vec<Vec<u8>>) -> Chunks {
            Chunks {
                chunks: chunks.into_iter().filter(|c| !c.is_empty()).collect(),
                largest_ask: 0,
            }
        }
    }

    impl AsyncRead for Chunks {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            self.largest_ask = self.largest_ask.max(buf.remaining());
            if let Some(front) = self.chunks.front_mut() {
                let n = front.len().min(buf.remaining());
                buf.put_slice(&front[..n]);
                front.drain(..n);
                if front.is_empty() {
                    self.chunks.pop_front();
                }
            }
            Poll::Ready(Ok(()))
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Every outcome up to the end, checking the cap after each one.
    async fn read_all<S: AsyncRead + Unpin>(r: &mut LineReader<S>) -> Vec<LineOutcome> {
        let mut out = Vec::new();
        loop {
            let o = r.read_line().await.unwrap();
            assert!(r.buffered() <= r.decoder.rule().cap());
            let end = matches!(o, LineOutcome::Eof) || r.stopped;
            out.push(o);
            if end {
                return out;
            }
        }
    }

    /// What a reader must produce, written without the decoder: split at terminators,
    /// then judge lengths.
    fn model(rule: LineRule, input: &[u8], policy: OnTooLong) -> Vec<LineOutcome> {
        let mut out = Vec::new();
        let mut rest = input;
        let too_long = LineOutcome::TooLong { limit: rule.max };
        loop {
            let found = match rule.eol {
                Eol::Lf => rest.iter().position(|&b| b == b'\n').map(|i| {
                    let len = if i > 0 && rest[i - 1] == b'\r' {
                        i - 1
                    } else {
                        i
                    };
                    (len, i + 1)
                }),
                Eol::Crlf => rest
                    .windows(2)
                    .position(|w| w == b"\r\n")
                    .map(|i| (i, i + 2)),
                Eol::Any => rest
                    .iter()
                    .position(|&b| b == b'\r' || b == b'\n')
                    .map(|i| {
                        let two =
                            rest[i] == b'\r' && matches!(rest.get(i + 1), Some(b'\n' | b'\0'));
                        (i, i + 1 + usize::from(two))
                    }),
            };
            let Some((len, used)) = found else {
                let proven = match rule.eol {
                    Eol::Lf | Eol::Crlf => rule.max + 2,
                    Eol::Any => rule.max + 1,
                };
                if rest.len() >= proven {
                    out.push(too_long.clone());
                    if policy == OnTooLong::Stop {
                        return out;
                    }
                } else if !rest.is_empty() {
                    out.push(LineOutcome::EofMidLine(Bytes::copy_from_slice(rest)));
                }
                out.push(LineOutcome::Eof);
                return out;
            };
            if len > rule.max {
                out.push(too_long.clone());
                if policy == OnTooLong::Stop {
                    return out;
                }
            } else {
                out.push(LineOutcome::Line(Bytes::copy_from_slice(&rest[..len])));
            }
            rest = &rest[used..];
        }
    }

    #[tokio::test]
    async fn eof_cases() {
        let rule = LineRule::new(16, Eol::Lf);
        let mut r = LineReader::new(Chunks::new(vec![b"QUIT\n".to_vec()]), rule);
        assert_eq!(
            r.read_line().await.unwrap(),
            LineOutcome::Line("QUIT".into())
        );
        assert_eq!(r.read_line().await.unwrap(), LineOutcome::Eof);
        let mut r = LineReader::new(Chunks::new(vec![b"QU".to_vec(), b"IT".to_vec()]), rule);
        assert_eq!(
            r.read_line().await.unwrap(),
            LineOutcome::EofMidLine("QUIT".into())
        );
        assert_eq!(r.read_line().await.unwrap(), LineOutcome::Eof);
        // A telnet CR at the very end leaves nothing behind.
        let any = LineRule::new(16, Eol::Any);
        let mut r = LineReader::new(Chunks::new(vec![b"ls\r".to_vec(), b"\0".to_vec()]), any);
        assert_eq!(r.read_line().await.unwrap(), LineOutcome::Line("ls".into()));
        assert_eq!(r.read_line().await.unwrap(), LineOutcome::Eof);
    }

    #[tokio::test]
    async fn too_long_is_discarded_or_stops_as_chosen() {
        let rule = LineRule::new(4, Eol::Crlf);
        let input = b"AAAAAAAAAAAAAAAAAAAA\r\nNOOP\r\n".to_vec();
        let mut r = LineReader::new(Chunks::new(vec![input.clone()]), rule);
        assert_eq!(
            read_all(&mut r).await,
            vec![
                LineOutcome::TooLong { limit: 4 },
                LineOutcome::Line("NOOP".into()),
                LineOutcome::Eof
            ]
        );
        let mut r = LineReader::with_policy(Chunks::new(vec![input]), rule, OnTooLong::Stop);
        assert_eq!(
            r.read_line().await.unwrap(),
            LineOutcome::TooLong { limit: 4 }
        );
        // Nothing past the proof was read, and the reader stays stopped.
        assert_eq!(r.get_ref().chunks.iter().map(Vec::len).sum::<usize>(), 22);
        assert_eq!(
            r.read_line().await.unwrap(),
            LineOutcome::TooLong { limit: 4 }
        );
    }

    #[tokio::test]
    async fn a_huge_line_is_read_within_the_cap() {
        let rule = LineRule::new(64, Eol::Lf);
        let mut huge = vec![b'x'; 1 << 20];
        huge.extend_from_slice(b"\nafter\n");
        let mut r = LineReader::new(Chunks::new(vec![huge]), rule);
        assert_eq!(
            read_all(&mut r).await,
            vec![
                LineOutcome::TooLong { limit: 64 },
                LineOutcome::Line("after".into()),
                LineOutcome::Eof
            ]
        );
        assert!(r.get_ref().largest_ask <= rule.cap());
    }

    #[tokio::test]
    async fn into_parts_hands_back_pipelined_bytes() {
        let rule = LineRule::new(512, Eol::Crlf);
        let mut r = LineReader::new(
            Chunks::new(vec![b"STARTTLS\r\nMAIL FROM:<x>\r\n".to_vec()]),
            rule,
        );
        assert_eq!(
            r.read_line().await.unwrap(),
            LineOutcome::Line("STARTTLS".into())
        );
        let (_stream, leftover) = r.into_parts();
        assert_eq!(&leftover[..], b"MAIL FROM:<x>\r\n");
    }

    #[tokio::test(start_paused = true)]
    async fn read_line_within_gives_up_at_the_deadline_and_loses_nothing() {
        let (mut peer, ours) = tokio::io::duplex(64);
        let mut r = LineReader::new(ours, LineRule::new(64, Eol::Lf));
        peer.write_all(b"USER ro").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        assert_eq!(r.read_line_within(deadline).await.unwrap(), None);
        assert!(Instant::now() >= deadline);
        peer.write_all(b"ot\n").await.unwrap();
        let later = Instant::now() + Duration::from_secs(30);
        assert_eq!(
            r.read_line_within(later).await.unwrap(),
            Some(LineOutcome::Line("USER root".into()))
        );
    }

    #[tokio::test]
    async fn reads_through_a_conn_and_writes_replies_through_get_mut() {
        use crate::conn::Conn;
        use decnet_core::config::model::Limits;
        use tokio::io::AsyncReadExt;
        let (a, mut peer) = tokio::io::duplex(1024);
        let addr = "127.0.0.1:1".parse().unwrap();
        let conn = Conn::new(Box::new(a), addr, addr, &Limits::DEFAULT);
        let mut r = LineReader::new(conn, LineRule::new(64, Eol::Crlf));
        peer.write_all(b"NOOP\r\n").await.unwrap();
        assert_eq!(
            r.read_line().await.unwrap(),
            LineOutcome::Line("NOOP".into())
        );
        r.get_mut().write_all(b"250 OK\r\n").await.unwrap();
        let mut reply = [0u8; 8];
        peer.read_exact(&mut reply).await.unwrap();
        assert_eq!(&reply, b"250 OK\r\n");
    }

    fn arb_rule() -> impl Strategy<Value = LineRule> {
        (
            0usize..12,
            prop_oneof![Just(Eol::Lf), Just(Eol::Crlf), Just(Eol::Any)],
        )
            .prop_map(|(max, eol)| LineRule::new(max, eol))
    }

    /// Bytes rich in terminators, so lines of every length and kind appear.
    fn arb_input() -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(
            prop_oneof![
                4 => Just(b'a'),
                2 => Just(b'\r'),
                2 => Just(b'\n'),
                1 => Just(b'\0'),
                1 => any::<u8>(),
            ],
            0..80,
        )
    }

    fn split_at(input: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut at = 0;
        for c in cuts {
            out.push(input[at..c].to_vec());
            at = c;
        }
        out.push(input[at..].to_vec());
        out
    }

    proptest! {
        #[test]
        fn any_split_reads_the_same_lines_as_the_model(
            rule in arb_rule(),
            input in arb_input(),
            cuts in prop::collection::vec(any::<usize>(), 0..20),
            stop in any::<bool>(),
        ) {
            let policy = if stop { OnTooLong::Stop } else { OnTooLong::Discard };
            let (whole, split, asks) = block_on(async {
                let mut r = LineReader::with_policy(Chunks::new(vec![input.clone()]), rule, policy);
                let whole = read_all(&mut r).await;
                let mut s = LineReader::with_policy(Chunks::new(split_at(&input, &cuts)), rule, policy);
                let split = read_all(&mut s).await;
                (whole, split, r.get_ref().largest_ask.max(s.get_ref().largest_ask))
            });
            prop_assert_eq!(&split, &whole);
            prop_assert_eq!(&whole, &model(rule, &input, policy));
            prop_assert!(asks <= rule.cap());
            for o in &whole {
                if let LineOutcome::Line(l) = o {
                    prop_assert!(l.len() <= rule.max);
                }
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic_the_decoder(
            rule in arb_rule(),
            bytes in prop::collection::vec(any::<u8>(), 0..256),
        ) {
            let mut d = LineDecoder::new(rule);
            match d.decode(&bytes) {
                Decoded::Line { line, consumed } => {
                    prop_assert!(consumed <= bytes.len());
                    prop_assert!(line.len() <= rule.max);
                }
                Decoded::TooLong { limit } => prop_assert_eq!(limit, rule.max),
                Decoded::Incomplete => prop_assert!(bytes.len() < rule.cap()),
            }
            match d.discard(&bytes) {
                Discard::Done { consumed } | Discard::More { consumed } => {
                    prop_assert!(consumed <= bytes.len());
                }
            }
        }
    }
}
