//! The IMAP command reader and parser (RFC 3501 §9, RFC 7888 `LITERAL+`).
//!
//! Two sans-IO halves. [`Assembler`] turns a byte stream into whole commands:
//! lines ending in CRLF, with any literal `{n}` / `{n+}` at a line's end
//! followed by its `n` raw bytes and the rest of the command; it answers
//! [`Step::Continue`] when a synchronising literal needs the server's `+ OK`.
//! [`parse`] turns one whole command into a tag, a verb and a tree of
//! [`Value`]s. Every FETCH item (`BODY.PEEK[HEADER.FIELDS (FROM)]<0.100>`) is
//! one atom, brackets and all.
//!
//! Hostile-input guarantees: no input panics; a command (its lines, literal
//! markers and literal bytes together) never grows past the assembler's cap,
//! since a literal is refused as soon as its announced size would cross it;
//! lists nest at most [`MAX_DEPTH`] deep, so parsing cannot exhaust the stack.

use bytes::{Buf, Bytes, BytesMut};

/// Deepest list nesting accepted (real clients nest two or three levels).
pub const MAX_DEPTH: usize = 16;

/// What [`Assembler::step`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read more bytes.
    Incomplete,
    /// A synchronising literal was announced and fits: send `+ OK` and read on.
    Continue,
    /// One whole command, literals inlined as sent.
    Command(Bytes),
    /// The command is longer than the cap; what was read of it is dropped and
    /// the connection should end (Dovecot disconnects on an oversize command).
    TooLong,
}

/// Collects the bytes of one command at a time, never more than its cap.
#[derive(Debug)]
pub struct Assembler {
    cap: usize,
    acc: BytesMut,
    /// Literal bytes still to come before the command goes on.
    literal: usize,
}

impl Assembler {
    /// An assembler of commands of at most `cap` bytes.
    pub fn new(cap: usize) -> Assembler {
        Assembler {
            cap,
            acc: BytesMut::new(),
            literal: 0,
        }
    }

    /// Bytes the caller may read into its buffer next without the command
    /// passing the cap (at least one, so a stalled peer is noticed).
    pub fn room(&self, buffered: usize) -> usize {
        self.cap
            .saturating_add(2)
            .saturating_sub(self.acc.len().saturating_add(buffered))
            .max(1)
    }

    /// Bytes of the command being collected.
    pub fn collected(&self) -> usize {
        self.acc.len()
    }

    /// Takes what it can from `buf` (consumed bytes are removed).
    pub fn step(&mut self, buf: &mut BytesMut) -> Step {
        loop {
            if self.literal > 0 {
                let n = self.literal.min(buf.len());
                if n == 0 {
                    return Step::Incomplete;
                }
                self.acc.extend_from_slice(buf.get(..n).unwrap_or_default());
                buf.advance(n);
                self.literal -= n;
                continue;
            }
            let room = self.cap.saturating_sub(self.acc.len());
            let window = buf.get(..room.saturating_add(2)).unwrap_or(buf);
            let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
                if buf.len() >= room.saturating_add(2) {
                    self.reset();
                    buf.clear();
                    return Step::TooLong;
                }
                return Step::Incomplete;
            };
            let line = buf.split_to(end + 2);
            let body = line.get(..end).unwrap_or_default();
            match literal_marker(body) {
                Some((n, sync)) => {
                    if self.acc.len() + line.len() + n > self.cap {
                        self.reset();
                        return Step::TooLong;
                    }
                    self.acc.extend_from_slice(&line);
                    self.literal = n;
                    if sync {
                        return Step::Continue;
                    }
                }
                None => {
                    self.acc.extend_from_slice(body);
                    return Step::Command(self.acc.split().freeze());
                }
            }
        }
    }

    fn reset(&mut self) {
        self.acc.clear();
        self.literal = 0;
    }
}

/// The literal a line ends with: its size and whether it is synchronising.
fn literal_marker(line: &[u8]) -> Option<(usize, bool)> {
    let inner = line.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let spec = inner.get(open + 1..)?;
    let (digits, sync) = match spec.strip_suffix(b"+") {
        Some(d) => (d, false),
        None => (spec, true),
    };
    if digits.is_empty() || digits.len() > 10 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = std::str::from_utf8(digits).ok()?.parse::<usize>().ok()?;
    Some((n, sync))
}

/// One argument of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An atom (also `NIL`, numbers, sequence sets, flags, fetch items).
    Atom(String),
    /// A quoted string or a literal's bytes.
    Str(Vec<u8>),
    /// A parenthesised list.
    List(Vec<Value>),
}

impl Value {
    /// The value as text when it is an atom or a string (astring).
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Atom(a) => Some(a.clone()),
            Value::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            Value::List(_) => None,
        }
    }

    /// The value's bytes when it is an atom or a string.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Value::Atom(a) => Some(a.as_bytes().to_vec()),
            Value::Str(s) => Some(s.clone()),
            Value::List(_) => None,
        }
    }
}

/// A parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// Its tag as sent.
    pub tag: String,
    /// Its verb, upper-cased (`UID` is kept as a verb of its own).
    pub verb: String,
    /// Its arguments.
    pub args: Vec<Value>,
}

/// Why a command did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not even a tag (an empty line, or one starting with a space).
    NoTag,
    /// A tag but no verb; the tag is kept for the reply.
    NoVerb(String),
    /// A tag and a verb, arguments malformed.
    BadArgs {
        /// The command's tag.
        tag: String,
        /// Its verb.
        verb: String,
    },
}

/// Parses one whole command (as [`Assembler`] hands it out).
pub fn parse(cmd: &[u8]) -> Result<Command, ParseError> {
    let mut p = Parser { s: cmd, at: 0 };
    let tag = p.word();
    if tag.is_empty()
        || tag.iter().any(|&b| {
            matches!(b, b'(' | b')' | b'{' | b'"' | b'*' | b'%' | b'+')
                || !(0x21..=0x7e).contains(&b)
        })
    {
        return Err(ParseError::NoTag);
    }
    let tag = String::from_utf8_lossy(tag).into_owned();
    if !p.eat(b' ') {
        return Err(ParseError::NoVerb(tag));
    }
    let verb = p.word();
    if verb.is_empty() || !verb.iter().all(u8::is_ascii_alphanumeric) {
        return Err(ParseError::NoVerb(tag));
    }
    let verb = String::from_utf8_lossy(verb).to_ascii_uppercase();
    let bad = |tag: &str, verb: &str| ParseError::BadArgs {
        tag: tag.to_owned(),
        verb: verb.to_owned(),
    };
    let mut args = Vec::new();
    while p.at < p.s.len() {
        if !p.eat(b' ') {
            return Err(bad(&tag, &verb));
        }
        match p.value(0) {
            Some(v) => args.push(v),
            None => return Err(bad(&tag, &verb)),
        }
    }
    Ok(Command { tag, verb, args })
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    /// Bytes up to the next space (the tag and the verb).
    fn word(&mut self) -> &'a [u8] {
        let start = self.at;
        while self.peek().is_some_and(|b| b != b' ') {
            self.at += 1;
        }
        self.s.get(start..self.at).unwrap_or_default()
    }

    fn value(&mut self, depth: usize) -> Option<Value> {
        match self.peek()? {
            b'(' => {
                if depth >= MAX_DEPTH {
                    return None;
                }
                self.at += 1;
                let mut items = Vec::new();
                loop {
                    if self.eat(b')') {
                        return Some(Value::List(items));
                    }
                    if !items.is_empty() && !self.eat(b' ') {
                        return None;
                    }
                    items.push(self.value(depth + 1)?);
                }
            }
            b'"' => self.quoted().map(Value::Str),
            b'{' => self.literal().map(Value::Str),
            _ => self.atom().map(Value::Atom),
        }
    }

    fn quoted(&mut self) -> Option<Vec<u8>> {
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.peek()? {
                b'"' => {
                    self.at += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.at += 1;
                    let c = self.peek()?;
                    if c != b'"' && c != b'\\' {
                        return None;
                    }
                    out.push(c);
                    self.at += 1;
                }
                b'\r' | b'\n' => return None,
                c => {
                    out.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Option<Vec<u8>> {
        let rest = self.s.get(self.at..)?;
        let close = rest.iter().position(|&b| b == b'}')?;
        let (n, _) = literal_marker(rest.get(..=close)?)?;
        let after = self.at + close + 1;
        if self.s.get(after..after + 2)? != b"\r\n" {
            return None;
        }
        let data = self.s.get(after + 2..after + 2 + n)?;
        self.at = after + 2 + n;
        Some(data.to_vec())
    }

    /// An atom; a `[` inside it runs to its matching `]` (spaces and lists
    /// included), so `BODY[HEADER.FIELDS (FROM TO)]<0.10>` is one atom.
    fn atom(&mut self) -> Option<String> {
        let start = self.at;
        let mut bracket = 0usize;
        while let Some(b) = self.peek() {
            match b {
                b'[' => bracket += 1,
                b']' if bracket > 0 => bracket -= 1,
                b'\r' | b'\n' | 0 => return None,
                b' ' | b'(' | b')' if bracket == 0 => break,
                b'"' | b'{' if bracket == 0 => return None,
                _ => {}
            }
            self.at += 1;
        }
        if bracket > 0 || self.at == start {
            return None;
        }
        Some(String::from_utf8_lossy(self.s.get(start..self.at)?).into_owned())
    }
}

/// A sequence set (`1:3,7,9:*`), as ranges with `*` resolved at use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqSet(Vec<(Bound, Bound)>);

/// One end of a sequence range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A number.
    N(u32),
    /// `*`: the largest number in use.
    Star,
}

impl SeqSet {
    /// Parses a sequence set; `None` when it is not one.
    pub fn parse(s: &str) -> Option<SeqSet> {
        let bound = |t: &str| -> Option<Bound> {
            if t == "*" {
                Some(Bound::Star)
            } else {
                t.parse::<u32>().ok().filter(|&n| n > 0).map(Bound::N)
            }
        };
        let mut out = Vec::new();
        for part in s.split(',') {
            let r = match part.split_once(':') {
                Some((a, b)) => (bound(a)?, bound(b)?),
                None => {
                    let b = bound(part)?;
                    (b, b)
                }
            };
            out.push(r);
            if out.len() > 1024 {
                return None;
            }
        }
        Some(SeqSet(out))
    }

    /// Whether `n` is in the set, with `*` standing for `max`.
    pub fn contains(&self, n: u32, max: u32) -> bool {
        let v = |b: Bound| match b {
            Bound::N(x) => x,
            Bound::Star => max,
        };
        self.0.iter().any(|&(a, b)| {
            let (lo, hi) = (v(a).min(v(b)), v(a).max(v(b)));
            (lo..=hi).contains(&n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn assemble(cap: usize, input: &[u8]) -> Vec<Step> {
        let mut a = Assembler::new(cap);
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        loop {
            let s = a.step(&mut buf);
            if s == Step::Incomplete {
                return out;
            }
            out.push(s);
        }
    }

    fn atom(s: &str) -> Value {
        Value::Atom(s.into())
    }

    #[test]
    fn recorded_thunderbird_login_and_fetch_parse() {
        // As Thunderbird 115 sends them.
        let c = parse(b"2 login \"alice@corp.example\" \"pa ss\\\"w\"").unwrap();
        assert_eq!(c.tag, "2");
        assert_eq!(c.verb, "LOGIN");
        assert_eq!(
            c.args,
            vec![
                Value::Str(b"alice@corp.example".to_vec()),
                Value::Str(b"pa ss\"w".to_vec())
            ]
        );
        let c = parse(b"8 UID fetch 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])").unwrap();
        assert_eq!(c.verb, "UID");
        assert_eq!(c.args[0], atom("fetch"));
        assert_eq!(c.args[1], atom("1:*"));
        let Value::List(items) = &c.args[2] else {
            panic!("a list")
        };
        assert_eq!(items.len(), 4);
        assert!(
            matches!(&items[3], Value::Atom(a) if a.starts_with("BODY.PEEK[HEADER.FIELDS (From") && a.ends_with("Reply-To)]"))
        );
    }

    #[test]
    fn literals_sync_and_non_sync_are_inlined() {
        // Python's imaplib sends a password with specials as a literal.
        let steps = assemble(
            1024,
            b"a001 LOGIN {5}\r\nalice {4+}\r\np\r\nw\r\na002 NOOP\r\n",
        );
        assert_eq!(steps[0], Step::Continue);
        let Step::Command(cmd) = &steps[1] else {
            panic!("{steps:?}")
        };
        assert_eq!(&cmd[..], b"a001 LOGIN {5}\r\nalice {4+}\r\np\r\nw");
        let c = parse(cmd).unwrap();
        assert_eq!(
            c.args,
            vec![
                Value::Str(b"alice".to_vec()),
                Value::Str(b"p\r\nw".to_vec())
            ]
        );
        assert_eq!(steps[2], Step::Command(Bytes::from_static(b"a002 NOOP")));
    }

    #[test]
    fn literals_count_against_the_cap() {
        assert_eq!(assemble(64, b"a LOGIN {100}\r\n"), vec![Step::TooLong]);
        assert_eq!(assemble(8, b"a NOOP and more\r\n"), vec![Step::TooLong]);
        assert_eq!(
            assemble(16, b"a NOOP\r\n"),
            vec![Step::Command(Bytes::from_static(b"a NOOP"))]
        );
    }

    #[test]
    fn malformed_commands_keep_their_tag_for_the_reply() {
        assert_eq!(parse(b""), Err(ParseError::NoTag));
        assert_eq!(parse(b" NOOP"), Err(ParseError::NoTag));
        assert_eq!(
            parse(b"GET / HTTP/1.0"),
            Err(ParseError::NoVerb("GET".into()))
        );
        assert_eq!(
            parse(b"a LOGIN \"open"),
            Err(ParseError::BadArgs {
                tag: "a".into(),
                verb: "LOGIN".into()
            })
        );
        let deep = format!("a X {}{}", "(".repeat(40), ")".repeat(40));
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn sequence_sets() {
        let s = SeqSet::parse("1:3,7,9:*").unwrap();
        assert!(s.contains(2, 12) && s.contains(7, 12) && s.contains(12, 12));
        assert!(!s.contains(5, 12));
        assert!(SeqSet::parse("*:4").unwrap().contains(5, 6));
        assert_eq!(SeqSet::parse("0"), None);
        assert_eq!(SeqSet::parse("1,,2"), None);
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic_nor_pass_the_cap(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            cap in 1usize..512,
            chunk in 1usize..64,
        ) {
            let mut a = Assembler::new(cap);
            let mut buf = BytesMut::new();
            for piece in data.chunks(chunk) {
                let room = a.room(buf.len());
                prop_assert!(room >= 1);
                buf.extend_from_slice(&piece[..piece.len().min(room)]);
                loop {
                    match a.step(&mut buf) {
                        Step::Incomplete => break,
                        Step::Command(c) => {
                            prop_assert!(c.len() <= cap);
                            let _ = parse(&c);
                        }
                        Step::Continue | Step::TooLong => {}
                    }
                    prop_assert!(a.collected() <= cap);
                }
                prop_assert!(a.collected() + buf.len() <= cap + 2);
            }
        }

        #[test]
        fn parse_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&data);
        }
    }
}
