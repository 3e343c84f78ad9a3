//! Command lines of every line protocol come from attackers: under any rule, any bytes
//! split into any reads must give the same outcomes as one read, never a line longer
//! than the rule or holding its terminator, and never a buffer above the cap.
#![no_main]

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use decnet_services::kit::line::{Eol, LineOutcome, LineReader, LineRule, OnTooLong};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncRead, ReadBuf};

/// Hands out `data` in reads of at most `chunk` bytes.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Chunked<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = self.data.len().min(self.chunk).min(buf.remaining());
        let (head, rest) = self.data.split_at(n);
        buf.put_slice(head);
        self.data = rest;
        Poll::Ready(Ok(()))
    }
}

fn outcomes(rule: LineRule, policy: OnTooLong, data: &[u8], chunk: usize) -> Vec<LineOutcome> {
    let mut r = LineReader::with_policy(Chunked { data, chunk }, rule, policy);
    let mut out = Vec::new();
    // Each outcome but the last consumes at least one byte, so this bound is never hit
    // by a correct reader; it turns a reader that spins into a failure.
    for _ in 0..=data.len() + 1 {
        let o = futures::executor::block_on(r.read_line()).expect("in-memory reads cannot fail");
        assert!(r.buffered() <= rule.cap(), "buffered above the cap");
        let end = matches!(o, LineOutcome::Eof)
            || (policy == OnTooLong::Stop && matches!(o, LineOutcome::TooLong { .. }));
        out.push(o);
        if end {
            return out;
        }
    }
    panic!("reader did not reach the end of {} bytes", data.len());
}

fuzz_target!(|data: &[u8]| {
    let [shape, split, input @ ..] = data else {
        return;
    };
    let eol = match shape % 3 {
        0 => Eol::Lf,
        1 => Eol::Crlf,
        _ => Eol::Any,
    };
    let rule = LineRule::new(usize::from(shape >> 2), eol);
    let policy = if split & 0x80 == 0 {
        OnTooLong::Discard
    } else {
        OnTooLong::Stop
    };
    let chunk = usize::from(split & 0x7f) + 1;

    let whole = outcomes(rule, policy, input, usize::MAX);
    assert_eq!(outcomes(rule, policy, input, chunk), whole);
    assert_eq!(outcomes(rule, policy, input, 1), whole);
    for o in &whole {
        if let LineOutcome::Line(line) = o {
            assert!(line.len() <= rule.max);
            let holds_terminator = match eol {
                Eol::Lf => line.contains(&b'\n'),
                Eol::Crlf => line.windows(2).any(|w| w == b"\r\n"),
                Eol::Any => line.iter().any(|&b| b == b'\r' || b == b'\n'),
            };
            assert!(!holds_terminator, "line holds its terminator: {line:?}");
        }
    }
});
