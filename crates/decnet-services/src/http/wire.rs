//! The decoy's own HTTP/1 request parser: a request head and its body framing,
//! sans-IO and bounded, refusing what nginx or Apache refuse for the reason
//! they refuse it (the front end turns a [`Refusal`] into that server's page).
//!
//! The rules were measured against Debian's nginx 1.22 and Apache 2.4 side by
//! side: nginx skips header lines it cannot parse and answers `HTTP/1.2` as 1.1
//! but refuses `HTTP/2.0` and above with 505; Apache (`HttpProtocolOptions
//! Strict`) refuses bare LF, repeated spaces and `HTTP/1.10`, serves `HTTP/9.9`
//! as 1.1 and folds continuation lines.
//!
//! Hostile-input guarantees: [`parse_head`] looks at no more than the bytes it
//! is given, never panics, keeps nothing larger than the head, and answers
//! [`Parsed::Partial`] only while the head is still within [`Rules`]'s limits;
//! [`Chunked`] likewise decodes any bytes without panicking and without
//! buffering more than one chunk-size line.

use super::apps::Flavor;

/// The request's protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// No version on the request line (`GET /`): the answer is the bare body.
    Http09,
    /// `HTTP/major.minor` as sent.
    Http {
        /// Major version.
        major: u16,
        /// Minor version.
        minor: u16,
    },
}

impl Version {
    /// HTTP/1.1 or later: keep-alive by default, `Host` required.
    pub fn at_least_11(self) -> bool {
        match self {
            Version::Http09 => false,
            Version::Http { major, minor } => major > 1 || (major == 1 && minor >= 1),
        }
    }

    /// As written on a request line (`HTTP/1.0`; `HTTP/0.9` for none).
    pub fn text(self) -> String {
        match self {
            Version::Http09 => "HTTP/0.9".into(),
            Version::Http { major, minor } => format!("HTTP/{major}.{minor}"),
        }
    }
}

/// How the body of a request is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// One request header as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Name as the client spelled it (lossy UTF-8).
    pub name: String,
    /// Value without surrounding whitespace, exact bytes.
    pub value: Vec<u8>,
    /// A line nginx skips (`ignore_invalid_headers`): kept for the record, never read.
    pub ignored: bool,
}

/// A complete, accepted request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// Method as sent.
    pub method: String,
    /// Request target as sent (lossy UTF-8).
    pub target: String,
    /// Protocol version.
    pub version: Version,
    /// Headers in order.
    pub headers: Vec<Header>,
    /// Body framing.
    pub framing: Framing,
    /// Bytes of the input the head took, leading blank lines included.
    pub len: usize,
}

impl Head {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|h| !h.ignored && h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The path of the target, without query (the authority of an absolute URI dropped).
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        let t = match absolute_authority(t) {
            Some((_, rest)) => rest,
            None => t,
        };
        let path = t.split(['?', '#']).next().unwrap_or_default();
        if path.is_empty() {
            "/"
        } else {
            path
        }
    }

    /// The query string, if any.
    pub fn query(&self) -> Option<&str> {
        let t = self.target.split('#').next().unwrap_or_default();
        t.split_once('?').map(|(_, q)| q)
    }

    /// The `Host` header, or the authority of an absolute target.
    pub fn host(&self) -> Option<String> {
        match absolute_authority(&self.target) {
            Some((authority, _)) => Some(authority.to_owned()),
            None => self
                .header("host")
                .map(|h| String::from_utf8_lossy(h).into_owned()),
        }
    }
}

/// `http://authority/rest` split into its authority and the rest.
fn absolute_authority(target: &str) -> Option<(&str, &str)> {
    let lower = target
        .get(..8)
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let after = if lower.starts_with("http://") {
        target.get(7..)?
    } else if lower.starts_with("https://") {
        target.get(8..)?
    } else {
        return None;
    };
    let end = after.find(['/', '?']).unwrap_or(after.len());
    Some((after.get(..end)?, after.get(end..)?))
}

/// The refusal detail of an HTTP/1.1 request without `Host` (Go says so in its answer).
pub const NO_HOST: &str = "no Host header";

/// Why a head was refused, in the server's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// 400 with the server's plain page.
    BadRequest,
    /// 414: the request line is over the limit.
    UriTooLong,
    /// 400 for one header line over the limit (nginx's "Request Header Or Cookie Too Large").
    HeaderTooLarge,
    /// 400 for more header lines than Apache's `LimitRequestFields`.
    TooManyHeaders,
    /// 505 (nginx, for `HTTP/2.0` and later).
    VersionNotSupported,
    /// 501 (nginx, for a transfer coding it does not know).
    NotImplemented,
}

impl Refusal {
    /// The status the server answers with.
    pub fn status(self) -> u16 {
        match self {
            Refusal::BadRequest | Refusal::HeaderTooLarge | Refusal::TooManyHeaders => 400,
            Refusal::UriTooLong => 414,
            Refusal::VersionNotSupported => 505,
            Refusal::NotImplemented => 501,
        }
    }
}

/// The outcome of [`parse_head`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not complete yet; within the limits.
    Partial,
    /// Nothing but blank lines so far (they are skipped, as both servers do).
    Blank,
    /// A complete head.
    Complete(Head),
    /// Refused, with a short reason for the `protocol_error` event.
    Refused(Refusal, &'static str),
}

/// One server's parsing rules and limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Longest request line (nginx's 8k buffer, Apache's `LimitRequestLine`).
    pub line_max: usize,
    /// Longest header line (nginx's 8k buffer, Apache's `LimitRequestFieldSize`).
    pub field_max: usize,
    /// Largest whole head (nginx's 4 × 8k; bounds memory for Apache too).
    pub head_max: usize,
    /// Most header lines (Apache's `LimitRequestFields`).
    pub fields_max: usize,
    /// Apache's `HttpProtocolOptions Strict` (CRLF only, single spaces, one-digit versions).
    pub strict: bool,
    /// A request line without a version is served as HTTP/0.9 (nginx, Apache);
    /// Go and Netty refuse it.
    pub http09: bool,
}

impl Rules {
    /// The rules of the server a flavor copies.
    pub fn of(flavor: Flavor) -> Rules {
        match flavor {
            Flavor::Nginx => Rules {
                line_max: 8192,
                field_max: 8192,
                head_max: 32 * 1024,
                fields_max: 1000,
                strict: false,
                http09: true,
            },
            Flavor::Apache => Rules {
                line_max: 8190,
                field_max: 8190,
                head_max: 64 * 1024,
                fields_max: 100,
                strict: true,
                http09: true,
            },
        }
    }

    /// Go's `net/http` server: `DefaultMaxHeaderBytes` (1 MiB, plus the 4096
    /// bytes of slack Go allows) bounds the whole head, no field count limit
    /// beyond that, bare LF taken, no HTTP/0.9.
    pub fn go() -> Rules {
        Rules {
            line_max: (1 << 20) + 4096,
            field_max: (1 << 20) + 4096,
            head_max: (1 << 20) + 4096,
            fields_max: 10_000,
            strict: false,
            http09: false,
        }
    }

    /// Netty's `HttpRequestDecoder` as Elasticsearch configures it:
    /// `http.max_initial_line_length` 4kb, `http.max_header_size` 16kb, no HTTP/0.9.
    pub fn netty() -> Rules {
        Rules {
            line_max: 4096,
            field_max: 16 * 1024,
            head_max: 16 * 1024,
            fields_max: 1000,
            strict: false,
            http09: false,
        }
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn method_ok(m: &[u8], rules: &Rules) -> bool {
    if rules.strict {
        m.iter().all(|b| is_tchar(*b))
    } else {
        // nginx takes upper-case letters, '_' and '-' only.
        m.iter()
            .all(|b| b.is_ascii_uppercase() || *b == b'_' || *b == b'-')
    }
}

/// Finds the next line in `buf` from `at`: (line without its end, index after it).
fn next_line<'a>(buf: &'a [u8], at: usize, rules: &Rules) -> Option<Result<(&'a [u8], usize), ()>> {
    let rest = buf.get(at..)?;
    let lf = rest.iter().position(|b| *b == b'\n')?;
    let line = rest.get(..lf)?;
    let line = match line.strip_suffix(b"\r") {
        Some(l) => l,
        None if rules.strict => return Some(Err(())),
        None => line,
    };
    Some(Ok((line, at + lf + 1)))
}

/// Parses a request head from the start of `buf`.
pub fn parse_head(buf: &[u8], rules: &Rules) -> Parsed {
    // Blank lines before the request line are skipped by both servers.
    let start = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    if start == buf.len() {
        return Parsed::Blank;
    }
    let (line, mut at) = match next_line(buf, start, rules) {
        None => {
            let pending = buf.get(start..).unwrap_or_default();
            return partial_line(pending, rules);
        }
        Some(Err(())) => return Parsed::Refused(Refusal::BadRequest, "bare LF"),
        Some(Ok(found)) => found,
    };
    if line.len() > rules.line_max {
        return Parsed::Refused(Refusal::UriTooLong, "request line too long");
    }
    let (method, target, version) = match request_line(line, rules) {
        Ok(parts) => parts,
        Err(refusal) => return refusal,
    };
    let mut head = Head {
        method,
        target,
        version,
        headers: Vec::new(),
        framing: Framing::None,
        len: at,
    };
    if version == Version::Http09 {
        return Parsed::Complete(head);
    }
    let mut lines = 0usize;
    loop {
        if at > rules.head_max {
            return Parsed::Refused(Refusal::HeaderTooLarge, "request head too large");
        }
        let (line, next) = match next_line(buf, at, rules) {
            None => {
                let pending = buf.get(at..).unwrap_or_default().len();
                if pending > rules.field_max {
                    return Parsed::Refused(Refusal::HeaderTooLarge, "header line too long");
                }
                if buf.len() > rules.head_max {
                    return Parsed::Refused(Refusal::HeaderTooLarge, "request head too large");
                }
                return Parsed::Partial;
            }
            Some(Err(())) => return Parsed::Refused(Refusal::BadRequest, "bare LF"),
            Some(Ok(found)) => found,
        };
        at = next;
        if line.is_empty() {
            break;
        }
        if line.len() > rules.field_max {
            return Parsed::Refused(Refusal::HeaderTooLarge, "header line too long");
        }
        lines += 1;
        if lines > rules.fields_max {
            return Parsed::Refused(Refusal::TooManyHeaders, "too many header lines");
        }
        if let Err(refusal) = header_line(line, rules, &mut head.headers) {
            return refusal;
        }
    }
    head.len = at;
    match check_head(&mut head) {
        Ok(()) => Parsed::Complete(head),
        Err(refusal) => refusal,
    }
}

/// A request line still without its end: refused as soon as its method is
/// impossible (garbage gets its 400 at once, as from the real servers), or
/// once it is over the limit.
fn partial_line(pending: &[u8], rules: &Rules) -> Parsed {
    let method = pending.split(|b| *b == b' ').next().unwrap_or_default();
    if !method_ok(method, rules) {
        return Parsed::Refused(Refusal::BadRequest, "invalid method");
    }
    if pending.len() > rules.line_max {
        return Parsed::Refused(Refusal::UriTooLong, "request line too long");
    }
    Parsed::Partial
}

type RequestLine = (String, String, Version);

fn request_line(line: &[u8], rules: &Rules) -> Result<RequestLine, Parsed> {
    let bad = |why| Err(Parsed::Refused(Refusal::BadRequest, why));
    let parts: Vec<&[u8]> = if rules.strict {
        line.split(|b| *b == b' ').collect()
    } else {
        line.split(|b| *b == b' ')
            .filter(|p| !p.is_empty())
            .collect()
    };
    let (method, target, version) = match parts.as_slice() {
        [m, t] => (*m, *t, None),
        [m, t, v] => (*m, *t, Some(*v)),
        _ => return bad("malformed request line"),
    };
    if method.is_empty() || !method_ok(method, rules) {
        return bad("invalid method");
    }
    let absolute = target.len() > 7
        && (target
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"http://"))
            || target
                .get(..8)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"https://")));
    let target_ok = (target.first() == Some(&b'/') || absolute || target == b"*")
        && !target.iter().any(|b| b.is_ascii_control());
    if !target_ok {
        return bad("invalid request target");
    }
    let version = match version {
        None if !rules.http09 => return bad("request line without a version"),
        None => {
            // Apache serves HTTP/0.9 to GET only.
            if rules.strict && method != b"GET" {
                return bad("HTTP/0.9 request other than GET");
            }
            Version::Http09
        }
        Some(v) => match parse_version(v, rules) {
            Some(v) => v,
            None => return bad("invalid HTTP version"),
        },
    };
    if let Version::Http { major, .. } = version {
        if major == 0 {
            return bad("invalid HTTP version");
        }
        if major > 1 && !rules.strict {
            return Err(Parsed::Refused(
                Refusal::VersionNotSupported,
                "unsupported HTTP version",
            ));
        }
    }
    Ok((
        String::from_utf8_lossy(method).into_owned(),
        String::from_utf8_lossy(target).into_owned(),
        version,
    ))
}

fn parse_version(v: &[u8], rules: &Rules) -> Option<Version> {
    let rest = v.strip_prefix(b"HTTP/")?;
    let dot = rest.iter().position(|b| *b == b'.')?;
    let (major, minor) = (rest.get(..dot)?, rest.get(dot + 1..)?);
    let digits = |d: &[u8]| {
        let max = if rules.strict { 1 } else { 3 };
        !d.is_empty() && d.len() <= max && d.iter().all(u8::is_ascii_digit)
    };
    if !digits(major) || !digits(minor) {
        return None;
    }
    let num = |d: &[u8]| std::str::from_utf8(d).ok()?.parse::<u16>().ok();
    Some(Version::Http {
        major: num(major)?,
        minor: num(minor)?,
    })
}

fn header_line(line: &[u8], rules: &Rules, headers: &mut Vec<Header>) -> Result<(), Parsed> {
    let bad = |why| Err(Parsed::Refused(Refusal::BadRequest, why));
    if matches!(line.first(), Some(b' ' | b'\t')) {
        // Apache folds a continuation line into the header before it; nginx refuses it.
        return match (rules.strict, headers.last_mut()) {
            (true, Some(last)) => {
                last.value.push(b' ');
                last.value.extend_from_slice(trim(line));
                Ok(())
            }
            _ => bad("folded header line"),
        };
    }
    if line.contains(&0) {
        return bad("NUL in a header line");
    }
    let Some(colon) = line.iter().position(|b| *b == b':') else {
        // nginx's `ignore_invalid_headers` skips it; Apache refuses it.
        if rules.strict {
            return bad("header line without a colon");
        }
        headers.push(Header {
            name: String::from_utf8_lossy(line).into_owned(),
            value: Vec::new(),
            ignored: true,
        });
        return Ok(());
    };
    let name = line.get(..colon).unwrap_or_default();
    if name.last().is_some_and(|b| *b == b' ' || *b == b'\t') {
        return bad("whitespace before a header's colon");
    }
    // nginx takes letters, digits and '-' (underscores_in_headers off); Apache any token.
    let name_ok = if rules.strict {
        name.iter().all(|b| is_tchar(*b))
    } else {
        name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
    };
    if rules.strict && (name.is_empty() || !name_ok) {
        return bad("invalid header name");
    }
    headers.push(Header {
        name: String::from_utf8_lossy(name).into_owned(),
        value: trim(line.get(colon + 1..).unwrap_or_default()).to_vec(),
        ignored: name.is_empty() || !name_ok,
    });
    Ok(())
}

fn trim(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// Whole-head checks: `Host` and body framing.
fn check_head(head: &mut Head) -> Result<(), Parsed> {
    let bad = |why| Err(Parsed::Refused(Refusal::BadRequest, why));
    let hosts: Vec<&[u8]> = head
        .headers
        .iter()
        .filter(|h| !h.ignored && h.name.eq_ignore_ascii_case("host"))
        .map(|h| h.value.as_slice())
        .collect();
    match hosts.as_slice() {
        [] if head.version.at_least_11() => return bad(NO_HOST),
        [] => {}
        [host] => {
            if !host_ok(host) {
                return bad("invalid Host header");
            }
        }
        _ => return bad("more than one Host header"),
    }
    let mut length: Option<u64> = None;
    let mut chunked = false;
    for h in head.headers.iter().filter(|h| !h.ignored) {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(&h.value)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (v, length) {
                (None, _) => return bad("invalid Content-Length"),
                (Some(_), Some(_)) => return bad("more than one Content-Length"),
                (Some(v), None) => length = Some(v),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if !h.value.eq_ignore_ascii_case(b"chunked") || chunked {
                return Err(Parsed::Refused(
                    Refusal::NotImplemented,
                    "unsupported Transfer-Encoding",
                ));
            }
            chunked = true;
        }
    }
    head.framing = match (chunked, length) {
        (true, Some(_)) => return bad("both Content-Length and Transfer-Encoding"),
        (true, None) => Framing::Chunked,
        (false, Some(0) | None) => Framing::None,
        (false, Some(n)) => Framing::Length(n),
    };
    Ok(())
}

/// Host names as nginx's `ngx_http_validate_host` takes them.
fn host_ok(host: &[u8]) -> bool {
    !host.is_empty()
        && host.first() != Some(&b'.')
        && !host.windows(2).any(|w| w == b"..")
        && !host
            .iter()
            .any(|b| matches!(b, b'/' | b'\\' | b' ' | b'"') || b.is_ascii_control())
}

/// Incremental `chunked` body decoder.
#[derive(Debug, Clone, Default)]
pub struct Chunked {
    state: ChunkState,
    /// The chunk-size line read so far.
    line: Vec<u8>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum ChunkState {
    /// Reading a chunk-size line.
    #[default]
    Size,
    /// Inside chunk data, this many bytes left.
    Data(u64),
    /// After chunk data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
    /// The body is complete.
    Done,
}

/// A chunked body broke the coding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid chunked body")]
pub struct ChunkError;

/// Longest chunk-size or trailer line kept.
const CHUNK_LINE_MAX: usize = 4096;

impl Chunked {
    /// Whether the last chunk and the trailer have been read.
    pub fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes from `input`, handing body bytes to `out`; returns how many input
    /// bytes were used (all of them unless the body ended inside `input`).
    pub fn feed(&mut self, input: &[u8], out: &mut dyn FnMut(&[u8])) -> Result<usize, ChunkError> {
        let mut i = 0usize;
        while i < input.len() {
            let rest = input.get(i..).unwrap_or_default();
            match self.state {
                ChunkState::Done => return Ok(i),
                ChunkState::Data(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    out(rest.get(..take).unwrap_or_default());
                    i += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::Size | ChunkState::DataEnd | ChunkState::Trailer => {
                    let Some(&b) = rest.first() else { break };
                    i += 1;
                    if b != b'\n' {
                        if self.line.len() >= CHUNK_LINE_MAX {
                            return Err(ChunkError);
                        }
                        self.line.push(b);
                        continue;
                    }
                    let line = std::mem::take(&mut self.line);
                    let line = line.strip_suffix(b"\r").unwrap_or(&line);
                    self.state = match self.state {
                        ChunkState::DataEnd if line.is_empty() => ChunkState::Size,
                        ChunkState::DataEnd => return Err(ChunkError),
                        ChunkState::Trailer if line.is_empty() => ChunkState::Done,
                        ChunkState::Trailer => ChunkState::Trailer,
                        _ => match chunk_size(line)? {
                            0 => ChunkState::Trailer,
                            n => ChunkState::Data(n),
                        },
                    };
                }
            }
        }
        Ok(i)
    }
}

fn chunk_size(line: &[u8]) -> Result<u64, ChunkError> {
    let digits = line.split(|b| *b == b';').next().unwrap_or_default();
    let digits = trim(digits);
    if digits.is_empty() || digits.len() > 15 {
        return Err(ChunkError);
    }
    let text = std::str::from_utf8(digits).map_err(|_| ChunkError)?;
    u64::from_str_radix(text, 16).map_err(|_| ChunkError)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NGINX: Rules = Rules {
        line_max: 8192,
        field_max: 8192,
        head_max: 32 * 1024,
        fields_max: 1000,
        strict: false,
        http09: true,
    };

    fn apache() -> Rules {
        Rules::of(Flavor::Apache)
    }

    fn refused(p: Parsed) -> Option<Refusal> {
        match p {
            Parsed::Refused(r, _) => Some(r),
            _ => None,
        }
    }

    fn complete(p: Parsed) -> Head {
        match p {
            Parsed::Complete(h) => h,
            other => panic!("not complete: {other:?}"),
        }
    }

    #[test]
    fn a_plain_get_is_parsed_with_its_headers_in_order() {
        let h = complete(parse_head(
            b"\r\nGET /a/b?x=1 HTTP/1.1\r\nHost: web\r\nX-Test:  one \r\n\r\nrest",
            &NGINX,
        ));
        assert_eq!(h.method, "GET");
        assert_eq!(h.path(), "/a/b");
        assert_eq!(h.query(), Some("x=1"));
        assert_eq!(h.version, Version::Http { major: 1, minor: 1 });
        assert_eq!(h.headers[1].name, "X-Test");
        assert_eq!(h.headers[1].value, b"one");
        assert_eq!(h.host().as_deref(), Some("web"));
        assert_eq!(h.framing, Framing::None);
        assert_eq!(h.len, 53);
    }

    #[test]
    fn versions_are_answered_as_each_server_does() {
        let nine = complete(parse_head(b"GET /\r\n", &NGINX));
        assert_eq!(nine.version, Version::Http09);
        assert_eq!(
            complete(parse_head(b"GET / HTTP/1.0\r\n\r\n", &NGINX)).version,
            Version::Http { major: 1, minor: 0 }
        );
        // 1.1 needs a Host, 1.0 does not.
        assert_eq!(
            refused(parse_head(b"GET / HTTP/1.1\r\n\r\n", &NGINX)),
            Some(Refusal::BadRequest)
        );
        assert_eq!(
            refused(parse_head(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", &NGINX)),
            Some(Refusal::VersionNotSupported)
        );
        assert!(matches!(
            parse_head(b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", &apache()),
            Parsed::Complete(_)
        ));
        assert!(matches!(
            parse_head(b"GET / HTTP/1.10\r\nHost: x\r\n\r\n", &NGINX),
            Parsed::Complete(_)
        ));
        assert_eq!(
            refused(parse_head(b"GET / HTTP/1.10\r\nHost: x\r\n\r\n", &apache())),
            Some(Refusal::BadRequest)
        );
        assert_eq!(
            refused(parse_head(b"POST /\r\n", &apache())),
            Some(Refusal::BadRequest)
        );
        assert_eq!(
            refused(parse_head(b"GET / FOO/1.1\r\n\r\n", &NGINX)),
            Some(Refusal::BadRequest)
        );
    }

    #[test]
    fn methods_and_garbage() {
        assert_eq!(
            refused(parse_head(b"get / HTTP/1.1\r\nHost: x\r\n\r\n", &NGINX)),
            Some(Refusal::BadRequest)
        );
        // Apache takes any token and answers 501 for what it does not know.
        assert_eq!(
            complete(parse_head(b"get / HTTP/1.1\r\nHost: x\r\n\r\n", &apache())).method,
            "get"
        );
        // Garbage is refused before its line ends.
        assert_eq!(
            refused(parse_head(b"\x16\x03\x01\x02\x00", &NGINX)),
            Some(Refusal::BadRequest)
        );
        assert_eq!(parse_head(b"GE", &NGINX), Parsed::Partial);
        assert_eq!(parse_head(b"\r\n\r\n", &NGINX), Parsed::Blank);
        assert_eq!(
            refused(parse_head(b"GET x HTTP/1.1\r\nHost: x\r\n\r\n", &NGINX)),
            Some(Refusal::BadRequest)
        );
    }

    #[test]
    fn limits_give_the_servers_refusals() {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9000)
        );
        for rules in [NGINX, apache()] {
            assert_eq!(
                refused(parse_head(big.as_bytes(), &rules)),
                Some(Refusal::HeaderTooLarge)
            );
            // Refused before the line ends too.
            let cut = big.get(..8300).unwrap();
            assert_eq!(
                refused(parse_head(cut.as_bytes(), &rules)),
                Some(Refusal::HeaderTooLarge)
            );
        }
        let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
        assert_eq!(
            refused(parse_head(long.as_bytes(), &NGINX)),
            Some(Refusal::UriTooLong)
        );
        let many: String = (0..101).map(|i| format!("X-{i}: 1\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n");
        assert_eq!(
            refused(parse_head(many.as_bytes(), &apache())),
            Some(Refusal::TooManyHeaders)
        );
        assert!(matches!(
            parse_head(many.as_bytes(), &NGINX),
            Parsed::Complete(_)
        ));
    }

    #[test]
    fn header_lines_nginx_skips_apache_refuses() {
        let odd = b"GET / HTTP/1.1\r\nHost: x\r\nBadHeader\r\nX.Y: 1\r\n\r\n";
        let h = complete(parse_head(odd, &NGINX));
        let read: Vec<&str> = h
            .headers
            .iter()
            .filter(|h| !h.ignored)
            .map(|h| h.name.as_str())
            .collect();
        assert_eq!(read, ["Host"]);
        // Skipped lines are still kept for the record.
        assert_eq!(h.headers.len(), 3);
        assert_eq!(
            refused(parse_head(odd, &apache())),
            Some(Refusal::BadRequest)
        );
        let fold = b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  more\r\n\r\n";
        assert_eq!(refused(parse_head(fold, &NGINX)), Some(Refusal::BadRequest));
        let h = complete(parse_head(fold, &apache()));
        assert_eq!(h.header("x-a"), Some(&b"1 more"[..]));
        for both in [
            &b"GET / HTTP/1.1\r\nHost: x\r\nX-A : 1\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost:\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        ] {
            assert_eq!(
                refused(parse_head(both, &NGINX)),
                Some(Refusal::BadRequest),
                "{}",
                String::from_utf8_lossy(both)
            );
        }
        let lf = b"GET / HTTP/1.1\nHost: x\n\n";
        assert!(matches!(parse_head(lf, &NGINX), Parsed::Complete(_)));
        assert_eq!(
            refused(parse_head(lf, &apache())),
            Some(Refusal::BadRequest)
        );
        let spaces = b"GET  /  HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(matches!(parse_head(spaces, &NGINX), Parsed::Complete(_)));
        assert_eq!(
            refused(parse_head(spaces, &apache())),
            Some(Refusal::BadRequest)
        );
        assert_eq!(
            refused(parse_head(
                b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
                &NGINX
            )),
            Some(Refusal::NotImplemented)
        );
    }

    #[test]
    fn bodies_are_framed() {
        let h = complete(parse_head(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n",
            &NGINX,
        ));
        assert_eq!(h.framing, Framing::Length(5));
        let h = complete(parse_head(
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n",
            &NGINX,
        ));
        assert_eq!(h.framing, Framing::Chunked);
        let abs = complete(parse_head(
            b"GET http://Other:8080/p?q HTTP/1.1\r\nHost: y\r\n\r\n",
            &NGINX,
        ));
        assert_eq!(abs.host().as_deref(), Some("Other:8080"));
        assert_eq!(abs.path(), "/p");
    }

    #[test]
    fn chunked_bodies_decode_across_reads() {
        let wire = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        for split in 0..wire.len() {
            let mut c = Chunked::default();
            let mut body = Vec::new();
            let (a, b) = wire.split_at(split);
            let used_a = c.feed(a, &mut |d| body.extend_from_slice(d)).unwrap();
            let rest = if c.done() {
                [&a[used_a..], b].concat()
            } else {
                assert_eq!(used_a, a.len());
                let used_b = c.feed(b, &mut |d| body.extend_from_slice(d)).unwrap();
                b[used_b..].to_vec()
            };
            assert!(c.done(), "split at {split}");
            assert_eq!(body, b"hello world");
            assert_eq!(rest, b"NEXT");
        }
        let mut c = Chunked::default();
        assert!(c.feed(b"zz\r\n", &mut |_| {}).is_err());
        let mut c = Chunked::default();
        assert!(c.feed(b"2\r\nabX\r\n", &mut |_| {}).is_err());
    }

    proptest! {
        #[test]
        fn heads_never_panic_and_stay_in_bounds(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
            for rules in [NGINX, apache()] {
                if let Parsed::Complete(h) = parse_head(&bytes, &rules) {
                    prop_assert!(h.len <= bytes.len());
                    let _ = (h.path(), h.query(), h.host());
                }
            }
            let mut c = Chunked::default();
            if let Ok(used) = c.feed(&bytes, &mut |_| {}) {
                prop_assert!(used <= bytes.len());
            }
        }

        #[test]
        fn any_well_formed_get_parses(path in "/[a-zA-Z0-9._~/-]{0,64}", host in "[a-z][a-z0-9-]{0,30}", value in "[ -~]{0,64}") {
            let req = format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nX-V: {value}\r\n\r\n");
            for rules in [NGINX, apache()] {
                let h = complete(parse_head(req.as_bytes(), &rules));
                prop_assert_eq!(h.len, req.len());
                prop_assert_eq!(h.header("x-v").map(<[u8]>::to_vec), Some(value.trim().as_bytes().to_vec()));
            }
        }
    }
}
