//! A small, capped MIME walk over a received message: its Subject and the
//! attachments it carries (file name, decoded size, SHA-256), for the
//! `mail_received` event. The message itself is kept whole as an artifact; this
//! only summarises it.
//!
//! Hostile-input guarantees: no input panics; nesting is followed at most
//! [`MAX_DEPTH`] levels and at most [`MAX_PARTS`] parts are looked at; header
//! values kept are at most [`MAX_HEADER`] bytes.

use base64::Engine as _;
use sha2::{Digest as _, Sha256};

/// Deepest multipart nesting followed.
pub const MAX_DEPTH: usize = 8;
/// Most parts looked at in one message.
pub const MAX_PARTS: usize = 64;
/// Longest header value kept.
pub const MAX_HEADER: usize = 998;

/// One attachment of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Its file name (`filename=` or `name=`).
    pub filename: String,
    /// Its declared content type.
    pub content_type: String,
    /// Decoded size in bytes.
    pub size: usize,
    /// SHA-256 of the decoded bytes.
    pub sha256: String,
}

/// What the walk found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// The Subject header, as sent (unfolded).
    pub subject: Option<String>,
    /// The From header.
    pub from_header: Option<String>,
    /// The Message-ID header.
    pub message_id: Option<String>,
    /// Attachments, in order.
    pub attachments: Vec<Attachment>,
}

/// Walks `message` (headers, blank line, body).
pub fn summarise(message: &[u8]) -> Summary {
    let (headers, body) = split_head(message);
    let mut s = Summary {
        subject: header(headers, "subject"),
        from_header: header(headers, "from"),
        message_id: header(headers, "message-id"),
        attachments: Vec::new(),
    };
    let mut parts = 0usize;
    walk(headers, body, 0, &mut parts, &mut s.attachments);
    s
}

fn walk(headers: &[u8], body: &[u8], depth: usize, parts: &mut usize, out: &mut Vec<Attachment>) {
    *parts += 1;
    if *parts > MAX_PARTS || depth > MAX_DEPTH {
        return;
    }
    let ctype = header(headers, "content-type").unwrap_or_default();
    let lower = ctype.to_ascii_lowercase();
    if lower.starts_with("multipart/") {
        if let Some(boundary) = param(&ctype, "boundary") {
            for (h, b) in split_parts(body, boundary.as_bytes()) {
                walk(h, b, depth + 1, parts, out);
            }
        }
        return;
    }
    let disposition = header(headers, "content-disposition").unwrap_or_default();
    let filename = param(&disposition, "filename").or_else(|| param(&ctype, "name"));
    let attached = disposition.to_ascii_lowercase().starts_with("attachment");
    if filename.is_none() && !attached {
        return;
    }
    let encoding = header(headers, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let data = decode(body, encoding.trim());
    out.push(Attachment {
        filename: filename.unwrap_or_default(),
        content_type: lower
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_owned(),
        size: data.len(),
        sha256: hex::encode(Sha256::digest(&data)),
    });
}

/// Headers and body: split at the first empty line (CRLF or LF).
fn split_head(m: &[u8]) -> (&[u8], &[u8]) {
    let mut at = 0usize;
    while at < m.len() {
        let end = m
            .get(at..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
            .map_or(m.len(), |p| at + p + 1);
        let line = m.get(at..end).unwrap_or(&[]);
        if line == b"\r\n" || line == b"\n" {
            return (m.get(..at).unwrap_or(&[]), m.get(end..).unwrap_or(&[]));
        }
        at = end;
    }
    (m, &[])
}

/// The unfolded value of the first header `name` (lower-case).
fn header(headers: &[u8], name: &str) -> Option<String> {
    let text = String::from_utf8_lossy(headers);
    let mut value: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if let Some(v) = value.as_mut() {
            if line.starts_with([' ', '\t']) {
                if v.len() < MAX_HEADER {
                    v.push(' ');
                    v.push_str(line.trim());
                }
                continue;
            }
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.trim().eq_ignore_ascii_case(name) {
                value = Some(v.trim().to_owned());
            }
        }
    }
    value.map(|mut v| {
        let mut cut = MAX_HEADER.min(v.len());
        while !v.is_char_boundary(cut) {
            cut -= 1;
        }
        v.truncate(cut);
        v
    })
}

/// A parameter of a header value (`boundary="x"`, `filename=a.pdf`).
fn param(value: &str, name: &str) -> Option<String> {
    for piece in value.split(';').skip(1) {
        let Some((k, v)) = piece.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case(name) {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(v);
            return Some(v.to_owned());
        }
    }
    None
}

/// The parts of a multipart body: between `--boundary` lines, up to `--boundary--`.
fn split_parts<'a>(body: &'a [u8], boundary: &[u8]) -> Vec<(&'a [u8], &'a [u8])> {
    let mut delim = b"--".to_vec();
    delim.extend_from_slice(boundary);
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut at = 0usize;
    while at < body.len() && out.len() < MAX_PARTS {
        let end = body
            .get(at..)
            .and_then(|r| r.iter().position(|&b| b == b'\n'))
            .map_or(body.len(), |p| at + p + 1);
        let line = body.get(at..end).unwrap_or(&[]);
        let trimmed = trim_eol(line);
        if trimmed.starts_with(&delim) {
            if let Some(s) = start {
                // The line break before the delimiter belongs to it.
                let part = trim_eol(body.get(s..at).unwrap_or(&[]));
                out.push(split_head(part));
            }
            if trimmed.get(delim.len()..) == Some(b"--") {
                break;
            }
            start = Some(end);
        }
        at = end;
    }
    out
}

fn trim_eol(b: &[u8]) -> &[u8] {
    let b = b.strip_suffix(b"\n").unwrap_or(b);
    b.strip_suffix(b"\r").unwrap_or(b)
}

fn decode(body: &[u8], encoding: &str) -> Vec<u8> {
    match encoding {
        "base64" => {
            let clean: Vec<u8> = body
                .iter()
                .copied()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(&clean)
                .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(&clean))
                .unwrap_or(clean)
        }
        "quoted-printable" => quoted_printable(body),
        _ => body.to_vec(),
    }
}

fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0usize;
    while let Some(&b) = body.get(i) {
        if b != b'=' {
            out.push(b);
            i += 1;
            continue;
        }
        match (body.get(i + 1), body.get(i + 2)) {
            (Some(b'\r'), Some(b'\n')) => i += 3,
            (Some(b'\n'), _) => i += 2,
            (Some(&h), Some(&l)) => match hex::decode([h, l]) {
                Ok(v) => {
                    out.extend_from_slice(&v);
                    i += 3;
                }
                Err(_) => {
                    out.push(b);
                    i += 1;
                }
            },
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_multipart_message_yields_its_subject_and_attachment() {
        let m = b"From: a@b\r\nSubject: Invoice\r\n  March\r\nMIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"XyZ\"\r\n\r\n\
preamble\r\n--XyZ\r\nContent-Type: text/plain\r\n\r\nhello\r\n\
--XyZ\r\nContent-Type: application/octet-stream; name=\"x.bin\"\r\n\
Content-Disposition: attachment; filename=\"x.bin\"\r\n\
Content-Transfer-Encoding: BASE64\r\n\r\naGVsbG8g\r\nd29ybGQ=\r\n--XyZ--\r\n";
        let s = summarise(m);
        assert_eq!(s.subject.as_deref(), Some("Invoice March"));
        assert_eq!(s.attachments.len(), 1);
        let a = &s.attachments[0];
        assert_eq!(a.filename, "x.bin");
        assert_eq!(a.size, 11);
        assert_eq!(a.sha256, hex::encode(Sha256::digest(b"hello world")));
    }

    #[test]
    fn quoted_printable_decodes_soft_breaks_and_escapes() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc="), b"a=bc=");
    }

    proptest! {
        #[test]
        fn arbitrary_messages_never_panic(m in proptest::collection::vec(any::<u8>(), 0..2000)) {
            let s = summarise(&m);
            prop_assert!(s.attachments.len() <= MAX_PARTS);
        }

        #[test]
        fn nested_multiparts_never_panic(depth in 0usize..20, tail in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut m = Vec::new();
            for i in 0..depth {
                m.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n").as_bytes());
            }
            m.extend_from_slice(&tail);
            let _ = summarise(&m);
        }
    }
}
