//! The Redis wire protocol as `redis-server` reads it (`processInlineBuffer`,
//! `processMultibulkBuffer` and `sdssplitargs` of Redis 7.0), sans-IO, and the
//! RESP2 replies it writes.
//!
//! [`parse`] looks at the start of a buffer and answers a whole command (its
//! arguments and the bytes it used), [`Parsed::Incomplete`], or the protocol
//! error Redis itself would answer before closing. It is restartable: nothing
//! is kept between calls, so the answer never depends on how the peer split its
//! writes. A request is one array of bulk strings (or one inline line): a
//! nested array is refused as Redis refuses it (`expected '$', got '*'`), so
//! nesting is capped at one level.
//!
//! Hostile-input guarantees: no input panics; nothing is copied out of the
//! buffer until a whole command is there, and a command is refused (with
//! Redis's own `invalid multibulk length` / `invalid bulk length`) as soon as
//! its declared shape passes [`Caps`], so the bytes a reader must buffer for
//! one command never exceed [`Caps::buffer`].

/// Longest inline command or count line Redis buffers without a newline (`PROTO_INLINE_MAX_SIZE`).
pub const INLINE_MAX: usize = 64 * 1024;
/// Most arguments an unauthenticated client may announce (Redis 6.0.16+).
pub const UNAUTH_MAX_ARGS: i64 = 10;
/// Longest argument an unauthenticated client may announce (Redis 6.0.16+).
pub const UNAUTH_MAX_BULK: i64 = 16 * 1024;

/// What one command may be (Redis's own limits are 512 MiB per argument and
/// `INT_MAX` arguments; a decoy needs far less).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Most arguments of one command.
    pub max_args: usize,
    /// Longest argument.
    pub max_bulk: usize,
    /// Most argument bytes of one command, all arguments together.
    pub max_command: usize,
}

/// The caps the service runs with.
pub const CAPS: Caps = Caps {
    max_args: 4096,
    max_bulk: 4 * 1024 * 1024,
    max_command: 8 * 1024 * 1024,
};

impl Caps {
    /// Most bytes a reader ever needs to buffer to see one command whole
    /// (its arguments, their headers and terminators, or one inline line).
    pub const fn buffer(&self) -> usize {
        // Each argument's header is at most `$` + 20 digits + CRLF, plus CRLF after the data.
        let headers = self.max_args.saturating_mul(26).saturating_add(32);
        let body = self.max_command.saturating_add(headers);
        if body > INLINE_MAX + 2 {
            body
        } else {
            INLINE_MAX + 2
        }
    }
}

/// A protocol error: Redis answers `-ERR Protocol error: …` and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtoError {
    /// An inline line longer than [`INLINE_MAX`].
    TooBigInline,
    /// An inline line with a quote that does not close (or closes against a word).
    UnbalancedQuotes,
    /// No CR within [`INLINE_MAX`] bytes of a `*` count.
    TooBigMbulkCount,
    /// A count that is not a number (or is past the caps).
    InvalidMultibulkLength,
    /// More than [`UNAUTH_MAX_ARGS`] arguments before AUTH.
    UnauthMultibulkLength,
    /// No CR within [`INLINE_MAX`] bytes of a `$` header.
    TooBigBulkCount,
    /// Something else where a `$` header must be (a nested array is one).
    ExpectedDollar(u8),
    /// A bulk length that is not a number, negative, or past the caps.
    InvalidBulkLength,
    /// An argument longer than [`UNAUTH_MAX_BULK`] before AUTH.
    UnauthBulkLength,
}

impl ProtoError {
    /// The error line Redis sends (without `-` and CRLF).
    pub fn reply(&self) -> String {
        let what = match self {
            ProtoError::TooBigInline => "too big inline request".to_owned(),
            ProtoError::UnbalancedQuotes => "unbalanced quotes in request".to_owned(),
            ProtoError::TooBigMbulkCount => "too big mbulk count string".to_owned(),
            ProtoError::InvalidMultibulkLength => "invalid multibulk length".to_owned(),
            ProtoError::UnauthMultibulkLength => "unauthenticated multibulk length".to_owned(),
            ProtoError::TooBigBulkCount => "too big bulk count string".to_owned(),
            ProtoError::ExpectedDollar(b) => format!("expected '$', got '{}'", char::from(*b)),
            ProtoError::InvalidBulkLength => "invalid bulk length".to_owned(),
            ProtoError::UnauthBulkLength => "unauthenticated bulk length".to_owned(),
        };
        format!("ERR Protocol error: {what}")
    }

    /// The `reason` of the `protocol_error` event (what Redis logs).
    pub fn reason(&self) -> &'static str {
        match self {
            ProtoError::TooBigInline => "too big inline request",
            ProtoError::UnbalancedQuotes => "unbalanced quotes in inline request",
            ProtoError::TooBigMbulkCount => "too big mbulk count string",
            ProtoError::InvalidMultibulkLength => "invalid mbulk count",
            ProtoError::UnauthMultibulkLength => "unauth mbulk count",
            ProtoError::TooBigBulkCount => "too big bulk count string",
            ProtoError::ExpectedDollar(_) => "expected $ but got something else",
            ProtoError::InvalidBulkLength => "invalid bulk length",
            ProtoError::UnauthBulkLength => "unauth bulk length",
        }
    }
}

/// How the command was framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A RESP array of bulk strings.
    Multibulk,
    /// One inline line (what telnet, netcat and scanners send).
    Inline,
}

/// What [`parse`] found at the start of a buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A whole command. `args` is empty for a blank line or an empty array,
    /// which Redis skips without answering.
    Command {
        /// The arguments, the command name first.
        args: Vec<Vec<u8>>,
        /// Bytes to drop from the buffer.
        consumed: usize,
        /// How it was framed.
        framing: Framing,
    },
    /// Not whole yet: read more.
    Incomplete,
    /// Redis would answer this error and close.
    Error(ProtoError),
}

/// The first `c` in `buf`, searched as C's `strchr` does: a NUL ends the search.
fn strchr(buf: &[u8], c: u8) -> Option<usize> {
    for (i, &b) in buf.iter().enumerate() {
        if b == c {
            return Some(i);
        }
        if b == 0 {
            return None;
        }
    }
    None
}

/// Redis's `string2ll`: an optional `-`, then digits without a leading zero
/// (a lone `0` aside), fitting an `i64`; nothing else.
fn string2ll(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some(_) => (false, s),
        None => return None,
    };
    match digits {
        [] => return None,
        [b'0'] if !neg => return Some(0),
        [b'0', ..] => return None,
        _ => {}
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        v = if neg {
            v.checked_mul(10)?.checked_sub(digit)?
        } else {
            v.checked_mul(10)?.checked_add(digit)?
        };
    }
    Some(v)
}

/// Parses the command at the start of `buf` as Redis would; `authed` is
/// whether the client may skip the pre-AUTH limits (no `requirepass`, or AUTH done).
pub fn parse(buf: &[u8], authed: bool, caps: &Caps) -> Parsed {
    match buf.first() {
        None => Parsed::Incomplete,
        Some(b'*') => multibulk(buf, authed, caps),
        Some(_) => inline(buf),
    }
}

fn inline(buf: &[u8]) -> Parsed {
    let Some(nl) = strchr(buf, b'\n') else {
        if buf.len() > INLINE_MAX {
            return Parsed::Error(ProtoError::TooBigInline);
        }
        return Parsed::Incomplete;
    };
    if nl > INLINE_MAX {
        return Parsed::Error(ProtoError::TooBigInline);
    }
    let line = buf.get(..nl).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match split_args(line) {
        Some(args) => Parsed::Command {
            args,
            consumed: nl + 1,
            framing: Framing::Inline,
        },
        None => Parsed::Error(ProtoError::UnbalancedQuotes),
    }
}

fn multibulk(buf: &[u8], authed: bool, caps: &Caps) -> Parsed {
    let Some(cr) = strchr(buf, b'\r') else {
        if buf.len() > INLINE_MAX {
            return Parsed::Error(ProtoError::TooBigMbulkCount);
        }
        return Parsed::Incomplete;
    };
    // Redis wants one byte after the CR (it does not check that it is LF).
    if cr + 2 > buf.len() {
        return Parsed::Incomplete;
    }
    let count = match string2ll(buf.get(1..cr).unwrap_or_default()) {
        Some(n) if n <= i64::from(i32::MAX) => n,
        _ => return Parsed::Error(ProtoError::InvalidMultibulkLength),
    };
    if count > UNAUTH_MAX_ARGS && !authed {
        return Parsed::Error(ProtoError::UnauthMultibulkLength);
    }
    let mut pos = cr + 2;
    if count <= 0 {
        return Parsed::Command {
            args: Vec::new(),
            consumed: pos,
            framing: Framing::Multibulk,
        };
    }
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    if count > caps.max_args {
        return Parsed::Error(ProtoError::InvalidMultibulkLength);
    }
    // First pass: check every header and find the end, copying nothing.
    let mut spans: Vec<(usize, usize)> = Vec::with_capacity(count.min(64));
    let mut total = 0usize;
    for _ in 0..count {
        let rest = buf.get(pos..).unwrap_or_default();
        let Some(cr) = strchr(rest, b'\r') else {
            if rest.len() > INLINE_MAX {
                return Parsed::Error(ProtoError::TooBigBulkCount);
            }
            return Parsed::Incomplete;
        };
        if cr + 2 > rest.len() {
            return Parsed::Incomplete;
        }
        match rest.first() {
            Some(b'$') => {}
            Some(&b) => return Parsed::Error(ProtoError::ExpectedDollar(b)),
            None => return Parsed::Incomplete,
        }
        let len = match string2ll(rest.get(1..cr).unwrap_or_default()) {
            Some(n) if n >= 0 => n,
            _ => return Parsed::Error(ProtoError::InvalidBulkLength),
        };
        if len > UNAUTH_MAX_BULK && !authed {
            return Parsed::Error(ProtoError::UnauthBulkLength);
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        total = total.saturating_add(len);
        if len > caps.max_bulk || total > caps.max_command {
            return Parsed::Error(ProtoError::InvalidBulkLength);
        }
        let start = pos + cr + 2;
        // The data, then two bytes Redis skips without looking at them.
        let end = start.saturating_add(len);
        if end.saturating_add(2) > buf.len() {
            return Parsed::Incomplete;
        }
        spans.push((start, end));
        pos = end + 2;
    }
    let args = spans
        .into_iter()
        .map(|(s, e)| buf.get(s..e).unwrap_or_default().to_vec())
        .collect();
    Parsed::Command {
        args,
        consumed: pos,
        framing: Framing::Multibulk,
    }
}

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs`: words split on blanks, `"…"` with `\n \r \t \b \a \xHH`
/// escapes, `'…'` with `\'`; a closing quote must be followed by a blank or
/// the end. `None` for unbalanced quotes. (Also how `redis-cli` splits its input.)
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0usize;
    loop {
        while p < line.len() && is_space(at(p)) {
            p += 1;
        }
        if p >= line.len() || at(p) == 0 {
            return Some(args);
        }
        let (mut inq, mut insq, mut done) = (false, false, false);
        let mut cur = Vec::new();
        while !done {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 3;
                    } else {
                        cur.push(b'x');
                        p += 1;
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        o => o,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    o => cur.push(o),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        args.push(cur);
    }
}

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `+OK`.
    Simple(String),
    /// `-ERR …` (the text after `-`).
    Error(String),
    /// `:1`.
    Int(i64),
    /// `$3\r\nfoo`.
    Bulk(Vec<u8>),
    /// `$-1`.
    Nil,
    /// `*N` and its elements.
    Array(Vec<Reply>),
    /// `*-1`.
    NilArray,
    /// Bytes written as they are (a RESP3 map for HELLO 3).
    Raw(Vec<u8>),
}

impl Reply {
    /// `+OK`.
    pub fn ok() -> Reply {
        Reply::Simple("OK".to_owned())
    }

    /// An error line; CR and LF in it become spaces, as Redis makes them.
    pub fn err(text: impl Into<String>) -> Reply {
        Reply::Error(text.into().replace(['\r', '\n'], " "))
    }

    /// A bulk string of text.
    pub fn bulk(s: impl AsRef<[u8]>) -> Reply {
        Reply::Bulk(s.as_ref().to_vec())
    }

    /// An array of bulk strings.
    pub fn bulks<I, S>(items: I) -> Reply
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        Reply::Array(items.into_iter().map(Reply::bulk).collect())
    }

    /// Whether it is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }

    /// Appends the wire form to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Reply::Simple(s) => {
                out.push(b'+');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Error(s) => {
                out.push(b'-');
                out.extend_from_slice(s.as_bytes());
                out.extend_from_slice(b"\r\n");
            }
            Reply::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
            Reply::Bulk(b) => {
                out.extend_from_slice(format!("${}\r\n", b.len()).as_bytes());
                out.extend_from_slice(b);
                out.extend_from_slice(b"\r\n");
            }
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::Array(items) => {
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for i in items {
                    i.encode(out);
                }
            }
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Raw(b) => out.extend_from_slice(b),
        }
    }

    /// The wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

/// An argument as `MONITOR` and `redis-cli` show it: bare when it is plain
/// printable text without blanks or quotes, else double-quoted with escapes.
pub fn repr(arg: &[u8]) -> String {
    let plain = !arg.is_empty()
        && arg
            .iter()
            .all(|&b| b.is_ascii_graphic() && b != b'"' && b != b'\'' && b != b'\\');
    if plain {
        return String::from_utf8_lossy(arg).into_owned();
    }
    let mut s = String::with_capacity(arg.len() + 2);
    s.push('"');
    for &b in arg {
        match b {
            b'\\' => s.push_str("\\\\"),
            b'"' => s.push_str("\\\""),
            b'\n' => s.push_str("\\n"),
            b'\r' => s.push_str("\\r"),
            b'\t' => s.push_str("\\t"),
            0x07 => s.push_str("\\a"),
            0x08 => s.push_str("\\b"),
            b if b.is_ascii_graphic() || b == b' ' => s.push(char::from(b)),
            b => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;
    use proptest::prelude::*;

    fn cmd(buf: &[u8]) -> (Vec<Vec<u8>>, usize) {
        match parse(buf, true, &CAPS) {
            Parsed::Command { args, consumed, .. } => (args, consumed),
            other => panic!("not a command: {other:?}"),
        }
    }

    fn err(buf: &[u8], authed: bool) -> String {
        match parse(buf, authed, &CAPS) {
            Parsed::Error(e) => e.reply(),
            other => panic!("not an error: {other:?}"),
        }
    }

    #[test]
    fn multibulk_and_inline_commands() {
        let (args, n) = cmd(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n");
        assert_eq!(args, vec![b"GET".to_vec(), b"k".to_vec()]);
        assert_eq!(n, 20);
        let (args, n) = cmd(b"set a \"b\\x41\\n\" 'it\\'s'\r\n");
        assert_eq!(
            args,
            vec![
                b"set".to_vec(),
                b"a".to_vec(),
                b"bA\n".to_vec(),
                b"it's".to_vec()
            ]
        );
        assert_eq!(n, 25);
        // The two bytes after a bulk are skipped unread, as Redis does.
        let (args, _) = cmd(b"*1\r\n$4\r\nPINGxx");
        assert_eq!(args, vec![b"PING".to_vec()]);
        assert_eq!(cmd(b"\r\n").0, Vec::<Vec<u8>>::new());
        assert_eq!(cmd(b"*0\r\n").0, Vec::<Vec<u8>>::new());
        assert_eq!(cmd(b"*-1\r\n").0, Vec::<Vec<u8>>::new());
    }

    #[test]
    fn partial_input_waits() {
        let whole = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        for cut in 0..whole.len() {
            assert_eq!(
                parse(&whole[..cut], true, &CAPS),
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
        assert_eq!(parse(b"PING", true, &CAPS), Parsed::Incomplete);
        // A NUL ends the search for the newline, as strchr does.
        assert_eq!(
            parse(b"\x16\x03\x01\x00\n", true, &CAPS),
            Parsed::Incomplete
        );
    }

    #[test]
    fn protocol_errors_read_as_redis_writes_them() {
        assert_eq!(
            err(b"*x\r\n", true),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*1\r\n*1\r\n", true),
            "ERR Protocol error: expected '$', got '*'"
        );
        assert_eq!(
            err(b"*1\r\n$-1\r\n", true),
            "ERR Protocol error: invalid bulk length"
        );
        assert_eq!(
            err(b"ECHO \"abc\r\n", true),
            "ERR Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(b"ECHO \"a\"b\r\n", true),
            "ERR Protocol error: unbalanced quotes in request"
        );
        assert_eq!(
            err(b"*11\r\n", false),
            "ERR Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(
            err(b"*1\r\n$16385\r\n", false),
            "ERR Protocol error: unauthenticated bulk length"
        );
        assert_eq!(
            err(&vec![b'a'; INLINE_MAX + 1], true),
            "ERR Protocol error: too big inline request"
        );
        let mut big = b"*".to_vec();
        big.extend(vec![b'1'; INLINE_MAX + 1]);
        assert_eq!(
            err(&big, true),
            "ERR Protocol error: too big mbulk count string"
        );
        assert_eq!(
            err(b"*01\r\n", true),
            "ERR Protocol error: invalid multibulk length"
        );
        assert_eq!(
            err(b"*2147483648\r\n", true),
            "ERR Protocol error: invalid multibulk length"
        );
    }

    #[test]
    fn caps_refuse_before_buffering() {
        let caps = Caps {
            max_args: 3,
            max_bulk: 10,
            max_command: 15,
        };
        assert_eq!(
            parse(b"*4\r\n", true, &caps),
            Parsed::Error(ProtoError::InvalidMultibulkLength)
        );
        assert_eq!(
            parse(b"*1\r\n$11\r\n", true, &caps),
            Parsed::Error(ProtoError::InvalidBulkLength)
        );
        assert_eq!(
            parse(b"*2\r\n$10\r\n0123456789\r\n$6\r\n", true, &caps),
            Parsed::Error(ProtoError::InvalidBulkLength)
        );
    }

    #[test]
    fn repr_quotes_as_monitor_does() {
        assert_eq!(repr(b"dir"), "dir");
        assert_eq!(repr(b"/root/.ssh"), "/root/.ssh");
        assert_eq!(repr(b"\n\nssh-rsa AAA\n\n"), "\"\\n\\nssh-rsa AAA\\n\\n\"");
        assert_eq!(repr(b""), "\"\"");
        assert_eq!(repr(b"a\x00\"b"), "\"a\\x00\\\"b\"");
    }

    #[test]
    fn replies_encode_as_resp2() {
        let r = Reply::Array(vec![
            Reply::bulk("a"),
            Reply::Int(-2),
            Reply::Nil,
            Reply::ok(),
        ]);
        assert_eq!(r.to_bytes(), b"*4\r\n$1\r\na\r\n:-2\r\n$-1\r\n+OK\r\n");
        assert_eq!(Reply::err("ERR a\r\nb").to_bytes(), b"-ERR a  b\r\n");
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_and_stay_within_the_caps(
            data in proptest::collection::vec(any::<u8>(), 0..4096),
            authed in any::<bool>(),
        ) {
            let caps = Caps { max_args: 8, max_bulk: 64, max_command: 128 };
            let mut buf = data.as_slice();
            while !buf.is_empty() {
                match parse(buf, authed, &caps) {
                    Parsed::Command { args, consumed, .. } => {
                        prop_assert!(consumed > 0 && consumed <= buf.len());
                        let total: usize = args.iter().map(Vec::len).sum();
                        prop_assert!(args.len() <= caps.max_args.max(INLINE_MAX));
                        prop_assert!(total <= caps.max_command.max(INLINE_MAX));
                        buf = &buf[consumed..];
                    }
                    Parsed::Incomplete => {
                        prop_assert!(buf.len() <= caps.buffer());
                        break;
                    }
                    Parsed::Error(e) => {
                        prop_assert!(e.reply().starts_with("ERR Protocol error: "));
                        break;
                    }
                }
            }
        }

        #[test]
        fn any_split_gives_the_same_commands(
            args in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..20), 1..5),
            cut in any::<usize>(),
        ) {
            let mut wire = format!("*{}\r\n", args.len()).into_bytes();
            for a in &args {
                wire.extend(format!("${}\r\n", a.len()).as_bytes());
                wire.extend(a);
                wire.extend(b"\r\n");
            }
            let cut = cut % wire.len();
            prop_assert_eq!(parse(&wire[..cut], true, &CAPS), Parsed::Incomplete);
            let (got, n) = cmd(&wire);
            prop_assert_eq!(got, args);
            prop_assert_eq!(n, wire.len());
        }
    }
}
