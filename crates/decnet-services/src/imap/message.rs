//! What FETCH shows of one bait message: its MIME parts, ENVELOPE,
//! BODYSTRUCTURE and body sections, computed from the stored RFC 5322 bytes
//! as Dovecot's parser would see them (one level of multipart, which is what
//! the bait world writes; a deeper part is shown as a leaf).

/// A message split into header, body and (for a multipart) its parts.
#[derive(Debug, Clone)]
pub struct Parsed<'a> {
    /// The header block, the blank line included.
    pub header: &'a [u8],
    /// Everything after the blank line.
    pub text: &'a [u8],
    /// Parts of a multipart body (each with its own header and text).
    pub parts: Vec<Part<'a>>,
}

/// One MIME part.
#[derive(Debug, Clone)]
pub struct Part<'a> {
    /// The part's header block, blank line included.
    pub header: &'a [u8],
    /// The part's body.
    pub text: &'a [u8],
}

/// Splits at the first blank line (the header keeps it).
fn split(raw: &[u8]) -> (&[u8], &[u8]) {
    match raw.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (
            raw.get(..i + 4).unwrap_or_default(),
            raw.get(i + 4..).unwrap_or_default(),
        ),
        None => (raw, &[]),
    }
}

/// The unfolded header fields, in order.
pub fn fields(header: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(header);
    let mut out: Vec<(String, String)> = Vec::new();
    for line in text.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = out.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

fn field<'f>(fields: &'f [(String, String)], name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A `Content-Type`-like value: the type and its parameters.
fn content_value(v: &str) -> (String, Vec<(String, String)>) {
    let mut pieces = v.split(';');
    let head = pieces.next().unwrap_or_default().trim().to_owned();
    let params = pieces
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        .collect();
    (head, params)
}

impl<'a> Parsed<'a> {
    /// Parses `raw`.
    pub fn of(raw: &'a [u8]) -> Parsed<'a> {
        let (header, text) = split(raw);
        let f = fields(header);
        let (ctype, params) = content_value(field(&f, "content-type").unwrap_or("text/plain"));
        let mut parts = Vec::new();
        if ctype.to_ascii_lowercase().starts_with("multipart/") {
            if let Some((_, b)) = params
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            {
                let delim = format!("--{b}");
                let mut rest = text;
                // Skip the preamble up to the first delimiter line.
                while let Some(at) = find(rest, delim.as_bytes()) {
                    let after = rest.get(at + delim.len()..).unwrap_or_default();
                    if after.starts_with(b"--") {
                        break;
                    }
                    let after = after.strip_prefix(b"\r\n").unwrap_or(after);
                    let end = find(after, format!("\r\n{delim}").as_bytes()).unwrap_or(after.len());
                    let body = after.get(..end).unwrap_or_default();
                    let (ph, pt) = split(body);
                    parts.push(Part {
                        header: ph,
                        text: pt,
                    });
                    rest = after.get(end + 2..).unwrap_or_default();
                    if parts.len() >= 64 {
                        break;
                    }
                }
            }
        }
        Parsed {
            header,
            text,
            parts,
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// IMAP `quoted` (or NIL for none), escaping `"` and `\`.
pub fn quote(s: Option<&str>) -> String {
    match s {
        None => "NIL".to_owned(),
        Some(s) => {
            let mut out = String::with_capacity(s.len() + 2);
            out.push('"');
            for c in s.chars().filter(|c| !c.is_control()) {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
            out
        }
    }
}

/// An IMAP literal of `data`.
pub fn literal(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{{{}}}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out
}

/// `(("Name" NIL "local" "domain"))` of an address header.
fn addresses(v: Option<&str>) -> String {
    let Some(v) = v else {
        return "NIL".to_owned();
    };
    let mut out = String::from("(");
    for a in v.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        let (name, addr) = match (a.find('<'), a.rfind('>')) {
            (Some(l), Some(r)) if l < r => (
                Some(a.get(..l).unwrap_or_default().trim().trim_matches('"')),
                a.get(l + 1..r).unwrap_or_default(),
            ),
            _ => (None, a),
        };
        let (local, domain) = addr.split_once('@').unwrap_or((addr, ""));
        out.push_str(&format!(
            "({} NIL {} {})",
            quote(name.filter(|n| !n.is_empty())),
            quote(Some(local)),
            quote(Some(domain))
        ));
    }
    out.push(')');
    out
}

/// The ENVELOPE of a message.
pub fn envelope(raw: &[u8]) -> String {
    let (header, _) = split(raw);
    let f = fields(header);
    let from = field(&f, "from");
    let sender = field(&f, "sender").or(from);
    let reply_to = field(&f, "reply-to").or(from);
    format!(
        "({} {} {} {} {} {} {} {} {} {})",
        quote(field(&f, "date")),
        quote(field(&f, "subject")),
        addresses(from),
        addresses(sender),
        addresses(reply_to),
        addresses(field(&f, "to")),
        addresses(field(&f, "cc")),
        addresses(field(&f, "bcc")),
        quote(field(&f, "in-reply-to")),
        quote(field(&f, "message-id")),
    )
}

fn line_count(b: &[u8]) -> usize {
    b.windows(2).filter(|w| w == b"\r\n").count()
}

fn params_list(params: &[(String, String)]) -> String {
    if params.is_empty() {
        return "NIL".to_owned();
    }
    let inner: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{} {}",
                quote(Some(&k.to_ascii_lowercase())),
                quote(Some(v))
            )
        })
        .collect();
    format!("({})", inner.join(" "))
}

/// The structure of one leaf (a single-part message or one part).
fn leaf(header: &[u8], text: &[u8], extended: bool) -> String {
    let f = fields(header);
    let (ctype, params) = content_value(field(&f, "content-type").unwrap_or("text/plain"));
    let (ty, sub) = ctype.split_once('/').unwrap_or(("text", "plain"));
    let encoding = field(&f, "content-transfer-encoding").unwrap_or("7bit");
    let mut s = format!(
        "({} {} {} NIL NIL {} {}",
        quote(Some(ty)),
        quote(Some(sub)),
        params_list(&params),
        quote(Some(encoding)),
        text.len()
    );
    if ty.eq_ignore_ascii_case("text") {
        s.push_str(&format!(" {}", line_count(text)));
    }
    if extended {
        let disposition = match field(&f, "content-disposition") {
            Some(d) => {
                let (kind, dp) = content_value(d);
                format!("({} {})", quote(Some(&kind)), params_list(&dp))
            }
            None => "NIL".to_owned(),
        };
        s.push_str(&format!(" NIL {disposition} NIL NIL"));
    }
    s.push(')');
    s
}

/// BODYSTRUCTURE (`extended`) or BODY of a message.
pub fn structure(raw: &[u8], extended: bool) -> String {
    let p = Parsed::of(raw);
    if p.parts.is_empty() {
        return leaf(p.header, p.text, extended);
    }
    let f = fields(p.header);
    let (ctype, params) = content_value(field(&f, "content-type").unwrap_or_default());
    let sub = ctype.split_once('/').map_or("mixed", |(_, s)| s);
    let mut s = String::from("(");
    for part in &p.parts {
        s.push_str(&leaf(part.header, part.text, extended));
    }
    s.push_str(&format!(" {}", quote(Some(sub))));
    if extended {
        s.push_str(&format!(" {} NIL NIL NIL", params_list(&params)));
    }
    s.push(')');
    s
}

/// The bytes of a body section (`""`, `HEADER`, `TEXT`, `HEADER.FIELDS (…)`,
/// `HEADER.FIELDS.NOT (…)`, `1`, `1.MIME`, …), or `None` for one the message lacks.
pub fn section(raw: &[u8], spec: &str) -> Option<Vec<u8>> {
    let p = Parsed::of(raw);
    let upper = spec.to_ascii_uppercase();
    let (part, rest) = match upper.split_once('.') {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) => {
            (Some(n.to_owned()), rest.to_owned())
        }
        _ if upper.chars().all(|c| c.is_ascii_digit()) && !upper.is_empty() => {
            (Some(upper.clone()), String::new())
        }
        _ => (None, upper.clone()),
    };
    let (header, text) = match part {
        None => (p.header, p.text),
        Some(n) => {
            let n: usize = n.parse().ok()?;
            if p.parts.is_empty() {
                // A single-part message's part 1 is its body.
                if n != 1 {
                    return None;
                }
                if rest.is_empty() {
                    return Some(p.text.to_vec());
                }
                (p.header, p.text)
            } else {
                let part = p.parts.get(n.checked_sub(1)?)?;
                if rest.is_empty() {
                    return Some(part.text.to_vec());
                }
                if rest == "MIME" {
                    return Some(part.header.to_vec());
                }
                (part.header, part.text)
            }
        }
    };
    if rest.is_empty() {
        let mut all = header.to_vec();
        all.extend_from_slice(text);
        return Some(all);
    }
    if rest == "HEADER" {
        return Some(header.to_vec());
    }
    if rest == "TEXT" {
        return Some(text.to_vec());
    }
    let (not, list) = if let Some(l) = rest.strip_prefix("HEADER.FIELDS.NOT") {
        (true, l)
    } else if let Some(l) = rest.strip_prefix("HEADER.FIELDS") {
        (false, l)
    } else {
        return None;
    };
    let wanted: Vec<&str> = list
        .trim()
        .trim_start_matches('(')
        .trim_end_matches(')')
        .split_whitespace()
        .collect();
    Some(header_fields(header, &wanted, not))
}

/// The raw header lines (continuations included) whose names are (or are not) in `wanted`.
fn header_fields(header: &[u8], wanted: &[&str], not: bool) -> Vec<u8> {
    let text = String::from_utf8_lossy(header);
    let mut out = String::new();
    let mut keep = false;
    for line in text.split("\r\n") {
        if line.is_empty() {
            continue;
        }
        if !line.starts_with([' ', '\t']) {
            let name = line.split(':').next().unwrap_or_default().trim();
            keep = wanted.iter().any(|w| w.eq_ignore_ascii_case(name)) != not;
        }
        if keep {
            out.push_str(line);
            out.push_str("\r\n");
        }
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &[u8] = b"From: Ann Lee <ann@corp.example>\r\nTo: Bob <bob@corp.example>\r\nSubject: Invoice\r\nMessage-ID: <x1@corp.example>\r\nContent-Type: multipart/mixed; boundary=\"B1\"\r\n\r\nThis is a multi-part message in MIME format.\r\n\r\n--B1\r\nContent-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\nHello\r\nthere\r\n\r\n--B1\r\nContent-Type: application/pdf; name=\"a.pdf\"\r\nContent-Disposition: attachment; filename=\"a.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--B1--\r\n";

    #[test]
    fn multipart_structure_names_the_attachment() {
        let s = structure(MULTI, true);
        assert_eq!(
            s,
            "((\"text\" \"plain\" (\"charset\" \"UTF-8\") NIL NIL \"7bit\" 14 2 NIL NIL NIL NIL)(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 8 NIL (\"attachment\" (\"filename\" \"a.pdf\")) NIL NIL) \"mixed\" (\"boundary\" \"B1\") NIL NIL NIL)"
        );
        assert_eq!(section(MULTI, "1").unwrap(), b"Hello\r\nthere\r\n");
        assert_eq!(section(MULTI, "2").unwrap(), b"JVBERi0=");
        assert!(section(MULTI, "3").is_none());
        assert_eq!(section(MULTI, "").unwrap(), MULTI);
    }

    #[test]
    fn envelope_and_header_fields() {
        assert_eq!(
            envelope(MULTI),
            "(NIL \"Invoice\" ((\"Ann Lee\" NIL \"ann\" \"corp.example\")) ((\"Ann Lee\" NIL \"ann\" \"corp.example\")) ((\"Ann Lee\" NIL \"ann\" \"corp.example\")) ((\"Bob\" NIL \"bob\" \"corp.example\")) NIL NIL NIL \"<x1@corp.example>\")"
        );
        assert_eq!(
            section(MULTI, "HEADER.FIELDS (SUBJECT to)").unwrap(),
            b"To: Bob <bob@corp.example>\r\nSubject: Invoice\r\n\r\n"
        );
    }
}
