//! RFC 5424 syslog form of an event, in the layout SIEM rules written for
//! DECNET already parse, and a parser for it that handles SD escapes properly.
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME - MSGID [relay@55555 k="v" …] MSG`

use std::fmt::Write as _;

use chrono::SecondsFormat;

use crate::event::{Event, EventType};

/// The SD-ID every DECNET line carries (private enterprise number 55555).
pub const SD_ID: &str = "relay@55555";
/// Longest line the parser accepts; longer input is refused, not truncated.
pub const MAX_LINE: usize = 64 * 1024;

/// Why a line is not a DECNET RFC 5424 line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyslogError {
    /// The line is longer than [`MAX_LINE`].
    #[error("syslog line is {0} bytes, over the {MAX_LINE}-byte limit")]
    TooLong(usize),
    /// The header is missing or malformed.
    #[error("malformed RFC 5424 header: {0}")]
    Header(&'static str),
    /// The structured data is malformed.
    #[error("malformed structured data at byte {0}")]
    StructuredData(usize),
}

/// One parsed line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogRecord {
    /// Priority value.
    pub pri: u8,
    /// Timestamp as written.
    pub timestamp: String,
    /// HOSTNAME (the decky).
    pub hostname: String,
    /// APP-NAME (the service).
    pub app_name: String,
    /// PROCID (`-` for our own lines).
    pub procid: String,
    /// MSGID (the event type).
    pub msgid: String,
    /// Params of the `relay@55555` element, in order, unescaped. Other SD elements are skipped.
    pub params: Vec<(String, String)>,
    /// Free-text message, if any.
    pub msg: Option<String>,
}

impl SyslogRecord {
    /// First value of a param.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// PRI for an event: local0 with info, or warning for errors and limits.
pub fn priority(t: EventType) -> u8 {
    match t {
        EventType::ProtocolError | EventType::LimitExceeded => 132,
        _ => 134,
    }
}

/// Escapes a PARAM-VALUE: RFC 5424's `\\`, `\"`, `\]`, and every control character
/// as `\uXXXX`, so one event is always one line: a captured username holding a
/// newline cannot forge a second record in a SIEM. Because `\\` is always escaped,
/// `\u` only ever comes from this encoding and [`parse_line`] decodes it exactly.
fn escape_into(out: &mut String, v: &str) {
    for c in v.chars() {
        if matches!(c, '\\' | '"' | ']') {
            out.push('\\');
            out.push(c);
        } else if c.is_control() {
            let _ = write!(out, "\\u{:04x}", u32::from(c));
        } else {
            out.push(c);
        }
    }
}

/// SD-NAME: printable US-ASCII without `=`, space, `]`, `"`; at most 32 characters.
fn sd_name(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_graphic() && !matches!(c, '=' | ']' | '"'))
        .take(32)
        .collect()
}

fn header_token(s: &str, max: usize) -> String {
    let t: String = s
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if t.is_empty() {
        "-".to_owned()
    } else {
        t
    }
}

/// Formats an event as one RFC 5424 line (no trailing newline).
pub fn format_event(e: &Event) -> String {
    let mut params: Vec<(String, String)> = Vec::with_capacity(e.fields.len() + 10);
    params.push(("src_ip".into(), e.src_ip.to_string()));
    params.push(("src_port".into(), e.src_port.to_string()));
    params.push(("dst_ip".into(), e.dst_ip.to_string()));
    params.push(("dst_port".into(), e.dst_port.to_string()));
    params.push(("event_id".into(), e.id.to_string()));
    if let Some(sid) = e.session_id {
        params.push(("session_id".into(), sid.to_string()));
    }
    for (k, v) in &e.fields {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => String::new(),
            other => other.to_string(),
        };
        params.push((k.clone(), v));
    }
    if let Some(c) = &e.credential {
        params.push(("principal".into(), c.principal.clone()));
        if let Some(p) = &c.secret_printable {
            params.push(("secret_printable".into(), p.clone()));
        }
        params.push(("secret_b64".into(), c.secret_b64.clone()));
        params.push(("secret_kind".into(), c.secret_kind.as_str().into()));
        if let Some(r) = &c.realm {
            params.push(("realm".into(), r.clone()));
        }
    }

    let mut line = String::with_capacity(256);
    let _ = write!(
        line,
        "<{}>1 {} {} {} - {} [{}",
        priority(e.event_type),
        e.ts.to_rfc3339_opts(SecondsFormat::Micros, false),
        header_token(&e.decky, 255),
        header_token(&e.service, 48),
        e.event_type.as_str(),
        SD_ID
    );
    for (k, v) in params {
        let name = sd_name(&k);
        if name.is_empty() {
            continue;
        }
        line.push(' ');
        line.push_str(&name);
        line.push_str("=\"");
        escape_into(&mut line, &v);
        line.push('"');
    }
    line.push(']');
    line
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn token(&mut self, what: &'static str) -> Result<&'a str, SyslogError> {
        let rest = self.s.get(self.pos..).ok_or(SyslogError::Header(what))?;
        let end = rest.find(' ').ok_or(SyslogError::Header(what))?;
        if end == 0 {
            return Err(SyslogError::Header(what));
        }
        self.pos += end + 1;
        Ok(&rest[..end])
    }
    fn peek(&self) -> Option<char> {
        self.s.get(self.pos..).and_then(|r| r.chars().next())
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }
}

/// Parses one line of the DECNET RFC 5424 layout.
pub fn parse_line(line: &str) -> Result<SyslogRecord, SyslogError> {
    if line.len() > MAX_LINE {
        return Err(SyslogError::TooLong(line.len()));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let rest = line.strip_prefix('<').ok_or(SyslogError::Header("PRI"))?;
    let close = rest.find('>').ok_or(SyslogError::Header("PRI"))?;
    let pri: u8 = rest[..close]
        .parse()
        .map_err(|_| SyslogError::Header("PRI"))?;
    if pri > 191 {
        return Err(SyslogError::Header("PRI"));
    }
    let mut c = Cursor {
        s: line,
        pos: close + 2,
    };
    if c.token("VERSION")? != "1" {
        return Err(SyslogError::Header("VERSION"));
    }
    let timestamp = c.token("TIMESTAMP")?.to_owned();
    let hostname = c.token("HOSTNAME")?.to_owned();
    let app_name = c.token("APP-NAME")?.to_owned();
    let procid = c.token("PROCID")?.to_owned();
    // MSGID may be the last header token when SD is NIL and there is no MSG.
    let msgid = match c.token("MSGID") {
        Ok(t) => t.to_owned(),
        Err(_) => return Err(SyslogError::Header("MSGID")),
    };

    let mut params = Vec::new();
    match c.peek() {
        Some('-') => {
            c.bump();
        }
        Some('[') => {
            while c.peek() == Some('[') {
                c.bump();
                let id = sd_token(&mut c, &[' ', ']'])?;
                let keep = id == SD_ID;
                loop {
                    match c.bump() {
                        Some(']') => break,
                        Some(' ') => {
                            let name = sd_token(&mut c, &['='])?;
                            if c.bump() != Some('=') || c.bump() != Some('"') {
                                return Err(SyslogError::StructuredData(c.pos));
                            }
                            let value = sd_value(&mut c)?;
                            if keep {
                                params.push((name.to_owned(), value));
                            }
                        }
                        _ => return Err(SyslogError::StructuredData(c.pos)),
                    }
                }
            }
        }
        _ => return Err(SyslogError::StructuredData(c.pos)),
    }
    let msg = match c.s.get(c.pos..) {
        None | Some("") => None,
        Some(r) => Some(r.strip_prefix(' ').unwrap_or(r).to_owned()),
    };
    Ok(SyslogRecord {
        pri,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        params,
        msg,
    })
}

fn sd_token<'a>(c: &mut Cursor<'a>, stops: &[char]) -> Result<&'a str, SyslogError> {
    let start = c.pos;
    while let Some(ch) = c.peek() {
        if stops.contains(&ch) {
            break;
        }
        if !ch.is_ascii_graphic() || ch == '"' {
            return Err(SyslogError::StructuredData(c.pos));
        }
        c.bump();
    }
    if c.pos == start || c.peek().is_none() {
        return Err(SyslogError::StructuredData(c.pos));
    }
    Ok(&c.s[start..c.pos])
}

/// After a backslash: `uXXXX` naming a control character (what [`escape_into`]
/// writes), consumed; anything else is left for the caller to keep as text.
fn escaped_control(c: &mut Cursor<'_>) -> Option<char> {
    let hex = c.s.get(c.pos + 1..c.pos + 5)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let ch = char::from_u32(u32::from_str_radix(hex, 16).ok()?).filter(|ch| ch.is_control())?;
    for _ in 0..5 {
        c.bump();
    }
    Some(ch)
}

fn sd_value(c: &mut Cursor<'_>) -> Result<String, SyslogError> {
    let mut out = String::new();
    loop {
        match c.bump() {
            None => return Err(SyslogError::StructuredData(c.pos)),
            Some('"') => return Ok(out),
            Some('\\') => match c.peek() {
                Some(e @ ('"' | '\\' | ']')) => {
                    c.bump();
                    out.push(e);
                }
                Some('u') => match escaped_control(c) {
                    Some(ch) => out.push(ch),
                    None => out.push('\\'),
                },
                // RFC 5424: a backslash before anything else is kept as is.
                _ => out.push('\\'),
            },
            Some(ch) => out.push(ch),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Credential, SecretKind};

    fn event() -> Event {
        let mut e = Event::now(
            "decky-01",
            "http",
            EventType::HttpRequest,
            "198.51.100.7:40000".parse().unwrap(),
            "127.42.0.10:80".parse().unwrap(),
        );
        e.fields.insert("path".into(), r#"/a"b]c\d"#.into());
        e.fields.insert("status".into(), 200.into());
        e
    }

    #[test]
    fn layout_matches_the_documented_form() {
        let line = format_event(&event());
        assert!(line.starts_with("<134>1 "), "{line}");
        let parts: Vec<&str> = line.splitn(7, ' ').collect();
        assert_eq!(parts[2], "decky-01");
        assert_eq!(parts[3], "http");
        assert_eq!(parts[4], "-");
        assert_eq!(parts[5], "http_request");
        assert!(parts[1].ends_with("+00:00"), "{}", parts[1]);
        assert_eq!(parts[1].len(), "2026-11-24T22:37:31.123456+00:00".len());
        assert!(parts[6].starts_with("[relay@55555 src_ip=\"198.51.100.7\" src_port=\"40000\""));
        assert!(line.contains(r#"path="/a\"b\]c\\d""#), "{line}");
    }

    #[test]
    fn parse_unescapes_what_format_escaped() {
        let e = event();
        let rec = parse_line(&format_event(&e)).unwrap();
        assert_eq!(rec.pri, 134);
        assert_eq!(rec.hostname, "decky-01");
        assert_eq!(rec.msgid, "http_request");
        assert_eq!(rec.param("path"), Some(r#"/a"b]c\d"#));
        assert_eq!(rec.param("status"), Some("200"));
        assert_eq!(rec.param("src_ip"), Some("198.51.100.7"));
        assert_eq!(rec.msg, None);
    }

    #[test]
    fn credentials_are_flattened() {
        let mut e = event();
        e.event_type = EventType::LimitExceeded;
        e.credential = Some(Credential::new("admin", b"pw", SecretKind::HttpBasic));
        let rec = parse_line(&format_event(&e)).unwrap();
        assert_eq!(rec.pri, 132);
        assert_eq!(rec.param("principal"), Some("admin"));
        assert_eq!(rec.param("secret_printable"), Some("pw"));
        assert_eq!(rec.param("secret_b64"), Some("cHc="));
        assert_eq!(rec.param("secret_kind"), Some("http_basic"));
    }

    #[test]
    fn foreign_lines_parse() {
        let rec = parse_line(
            r#"<134>1 2026-01-02T03:04:05.000001+00:00 web1 sshd 4242 auth [timeQuality tzKnown="1"][relay@55555 user="r\]t"] Failed password"#,
        )
        .unwrap();
        assert_eq!(rec.procid, "4242");
        assert_eq!(rec.params, vec![("user".into(), "r]t".into())]);
        assert_eq!(rec.msg.as_deref(), Some("Failed password"));
        let rec = parse_line("<134>1 2026-01-02T03:04:05Z h a - m - hello world").unwrap();
        assert!(rec.params.is_empty());
        assert_eq!(rec.msg.as_deref(), Some("hello world"));
    }

    #[test]
    fn malformed_lines_are_errors() {
        for bad in [
            "",
            "<>1 a b c d e -",
            "<999>1 a b c d e -",
            "<134>2 a b c d e -",
            "<134>1 a b c d e [relay@55555 k=\"unterminated]",
            "<134>1 a b c d e [relay@55555 k=v]",
            "<134>1 a b c d e x",
        ] {
            assert!(parse_line(bad).is_err(), "accepted {bad:?}");
        }
        assert!(matches!(
            parse_line(&"x".repeat(MAX_LINE + 1)),
            Err(SyslogError::TooLong(_))
        ));
    }

    #[test]
    fn a_newline_in_a_username_cannot_forge_a_second_record() {
        let forged = "x\n<134>1 2026-01-01T00:00:00.000000+00:00 decky-01 ssh - login_success [relay@55555 principal=\"admin\"]";
        let mut e = event();
        e.credential = Some(Credential::new(forged, b"pw", SecretKind::Password));
        let line = format_event(&e);
        assert_eq!(line.lines().count(), 1, "{line}");
        assert!(line.contains("x\\u000a<134>1"), "{line}");
        let rec = parse_line(&line).unwrap();
        assert_eq!(rec.param("principal"), Some(forged));
        assert_eq!(rec.msgid, e.event_type.as_str());
    }

    #[test]
    fn a_typed_backslash_u_stays_text() {
        let mut e = event();
        e.fields.clear();
        e.fields.insert("cmd".into(), "echo \\u000a".into());
        let rec = parse_line(&format_event(&e)).unwrap();
        assert_eq!(rec.param("cmd"), Some("echo \\u000a"));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(s in "\\PC*") {
            let _ = parse_line(&s);
        }

        #[test]
        fn any_value_round_trips_on_one_line(v in proptest::prelude::any::<String>(), k in "[a-z_]{1,20}") {
            let k = format!("f_{k}");
            let mut e = event();
            e.fields.clear();
            e.fields.insert(k.clone(), v.clone().into());
            e.credential = Some(Credential::new(v.clone(), b"pw", SecretKind::Password));
            let line = format_event(&e);
            proptest::prop_assert!(!line.chars().any(char::is_control), "{line:?}");
            let rec = parse_line(&line).unwrap();
            proptest::prop_assert_eq!(rec.param(&k), Some(v.as_str()));
            proptest::prop_assert_eq!(rec.param("principal"), Some(v.as_str()));
        }

        #[test]
        fn arbitrary_values_round_trip(v in "\\PC{0,40}", k in "[a-z_]{1,20}") {
            let k = format!("f_{k}");
            let mut e = event();
            e.fields.clear();
            e.fields.insert(k.clone(), v.clone().into());
            let rec = parse_line(&format_event(&e)).unwrap();
            proptest::prop_assert_eq!(rec.param(&k), Some(v.as_str()));
        }
    }
}
