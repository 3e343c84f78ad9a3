//! Raw HTTP probes a fingerprinter sends (nmap's http-* scripts, WhatWeb,
//! honeypot detectors): each answer's status line, `Server` header, header
//! name case and error page, against what nginx and Apache send. The error
//! page expectations were recorded from Debian's nginx 1.22.1 and Apache 2.4
//! on loopback.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::target::{Target, WebServer};
use crate::{AuditError, CheckResult, PROBE_TIMEOUT};

/// Every answer's status line is `HTTP/1.1`, whatever the request's version.
pub const STATUS_LINE: &str = "http.status-line-is-1.1";
/// `Server` equals the persona's server and release.
pub const SERVER_HEADER: &str = "http.server-header-matches-persona";
/// Header names are cased as the persona's server sends them.
pub const HEADER_CASE: &str = "http.header-name-case";
/// HTTP/1.1 without `Host` gets the server's 400.
pub const NO_HOST: &str = "http.missing-host-answer";
/// A 9 KB header line gets the server's oversize answer.
pub const BIG_HEADER: &str = "http.oversized-header-answer";
/// `HTTP/9.9` gets the server's answer to an unsupported version.
pub const BAD_VERSION: &str = "http.unsupported-version-answer";
/// A method with a character no token allows gets the server's 400.
pub const BAD_METHOD: &str = "http.bad-method-answer";

/// Largest answer read per probe.
const MAX_RESPONSE: usize = 1 << 20;

/// How nginx and Apache spell the header names they send.
const CANONICAL: &[&str] = &[
    "Server",
    "Date",
    "Content-Type",
    "Content-Length",
    "Last-Modified",
    "Connection",
    "ETag",
    "Accept-Ranges",
    "WWW-Authenticate",
    "Vary",
    "Location",
    "Transfer-Encoding",
    "Keep-Alive",
    "Allow",
    "Cache-Control",
    "Expires",
    "Content-Encoding",
    "Set-Cookie",
    "X-Powered-By",
];

/// One parsed answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Response {
    /// The status line.
    pub status_line: String,
    /// Status code (0 if the line had none).
    pub code: u16,
    /// Header names and values, in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body (lossy UTF-8).
    pub body: String,
}

impl Response {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses a whole answer (head and body as read).
    pub fn parse(raw: &[u8]) -> Option<Response> {
        let text = String::from_utf8_lossy(raw);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next()?.to_owned();
        let code = status_line
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.to_owned(), v.trim().to_owned()))
            .collect();
        Some(Response {
            status_line,
            code,
            headers,
            body: body.to_owned(),
        })
    }
}

/// Whether `raw` holds a whole answer: the head and `Content-Length` bytes of body.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default());
    let len = head.split("\r\n").find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    });
    len.is_some_and(|n| raw.len() >= end + 4 + n)
}

/// Sends `request` on a new connection and reads one answer.
pub async fn probe(addr: SocketAddr, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let run = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(request).await?;
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        while raw.len() < MAX_RESPONSE && !complete(&raw) {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        Ok(raw)
    };
    tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer before the timeout")
        })?
}

/// What the web listener announced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HttpSeen {
    /// Its `Server` header on `GET /`.
    pub server: Option<String>,
}

/// The probes, by check.
fn probes() -> Vec<(&'static str, Vec<u8>)> {
    let mut big = b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ".to_vec();
    big.extend(std::iter::repeat_n(b'a', 9 * 1024));
    big.extend_from_slice(b"\r\n\r\n");
    vec![
        ("get", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        (NO_HOST, b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        (BIG_HEADER, big),
        (
            BAD_VERSION,
            b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n".to_vec(),
        ),
        (
            BAD_METHOD,
            b"G@T / HTTP/1.1\r\nHost: localhost\r\n\r\n".to_vec(),
        ),
    ]
}

/// What an error page of `code` from this server looks like: `(title, body marks, content type)`.
fn error_page(kind: WebServer, server: &str, id: &str) -> Option<(u16, Vec<String>, &'static str)> {
    let (code, nginx_title, apache_line) = match id {
        NO_HOST | BAD_METHOD => (400, "400 Bad Request", ""),
        BIG_HEADER => (
            400,
            "400 Request Header Or Cookie Too Large",
            "Size of a request header field exceeds server limit.",
        ),
        BAD_VERSION => (505, "505 HTTP Version Not Supported", ""),
        _ => return None,
    };
    Some(match kind {
        WebServer::Nginx => (
            code,
            vec![
                format!("<head><title>{nginx_title}</title></head>"),
                format!("<hr><center>{server}</center>"),
            ],
            "text/html",
        ),
        WebServer::Apache => {
            let mut marks = vec![
                "<title>400 Bad Request</title>".to_owned(),
                "<h1>Bad Request</h1>".to_owned(),
                format!("<address>{server} Server at "),
            ];
            if !apache_line.is_empty() {
                marks.push(apache_line.to_owned());
            }
            (code, marks, "text/html; charset=iso-8859-1")
        }
        WebServer::Other => (code, vec![], ""),
    })
}

/// Runs the HTTP checks on one decky's plain listener.
pub async fn run(
    t: &Target,
    addr: SocketAddr,
    out: &mut Vec<CheckResult>,
) -> Result<HttpSeen, AuditError> {
    let server = t.server_header.clone().unwrap_or_default();
    let kind = WebServer::of(&server);
    let mut answers: Vec<(&'static str, Result<Response, String>)> = Vec::new();
    for (id, req) in probes() {
        let r = match probe(addr, &req).await {
            Ok(raw) => Response::parse(&raw).ok_or_else(|| {
                format!(
                    "not an HTTP answer: {:?}",
                    String::from_utf8_lossy(raw.get(..raw.len().min(120)).unwrap_or_default())
                )
            }),
            Err(e) if id == "get" => {
                return Err(AuditError::Unreachable {
                    decky: t.name.clone(),
                    listener: "http".into(),
                    addr,
                    source: e,
                })
            }
            Err(e) => Err(e.to_string()),
        };
        answers.push((id, r));
    }
    let get = answers.first().and_then(|(_, r)| r.as_ref().ok()).cloned();
    let seen = HttpSeen {
        server: get
            .as_ref()
            .and_then(|g| g.header("Server").map(str::to_owned)),
    };
    let ok: Vec<&Response> = answers
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    let bad_lines: Vec<&str> = ok
        .iter()
        .map(|r| r.status_line.as_str())
        .filter(|l| !l.starts_with("HTTP/1.1 "))
        .collect();
    out.push(if bad_lines.is_empty() {
        CheckResult::pass(STATUS_LINE)
    } else {
        CheckResult::tell(
            STATUS_LINE,
            "HTTP/1.1 <code> <reason> on every answer",
            bad_lines.join(" | "),
        )
    });
    out.push(match &seen.server {
        Some(s) => CheckResult::compare(SERVER_HEADER, &server, s),
        None => CheckResult::tell(SERVER_HEADER, server.clone(), "no Server header"),
    });
    let miscased: Vec<String> = ok
        .iter()
        .flat_map(|r| r.headers.iter().map(|(n, _)| n))
        .filter(|n| {
            CANONICAL
                .iter()
                .any(|c| c.eq_ignore_ascii_case(n) && c != n)
        })
        .cloned()
        .collect();
    out.push(if miscased.is_empty() {
        CheckResult::pass(HEADER_CASE)
    } else {
        CheckResult::tell(
            HEADER_CASE,
            format!("names cased as {}", CANONICAL.join(", ")),
            miscased.join(", "),
        )
    });
    for (id, r) in answers.iter().skip(1) {
        out.push(match r {
            Err(e) => CheckResult::tell(id, "an HTTP answer", e.clone()),
            // Apache serves an unsupported minor-less version as HTTP/1.1: the page `GET /` gets.
            Ok(r) if *id == BAD_VERSION && kind == WebServer::Apache => match &get {
                Some(g) => CheckResult::compare(
                    id,
                    &format!("status {}", g.code),
                    &format!("status {}", r.code),
                ),
                None => CheckResult::tell(id, "an answer to GET /", "none"),
            },
            Ok(r) => edge_check(id, kind, &server, r),
        });
    }
    Ok(seen)
}

fn edge_check(id: &'static str, kind: WebServer, server: &str, r: &Response) -> CheckResult {
    let Some((code, marks, ctype)) = error_page(kind, server, id) else {
        return CheckResult::skip(id, "no expectation for this probe");
    };
    let mut wrong = Vec::new();
    if r.code != code {
        wrong.push(format!("status {}", r.code));
    }
    if !ctype.is_empty() && r.header("Content-Type") != Some(ctype) {
        wrong.push(format!("Content-Type {:?}", r.header("Content-Type")));
    }
    for m in &marks {
        if !r.body.contains(m.as_str()) {
            wrong.push(format!("body without {m:?}"));
        }
    }
    if wrong.is_empty() {
        CheckResult::pass(id)
    } else {
        CheckResult::tell(
            id,
            format!(
                "status {code}, Content-Type {ctype:?}, body with {}",
                marks.join(" and ")
            ),
            wrong.join("; "),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Recorded from Debian 12's nginx 1.22.1 (`GET / HTTP/1.1` without Host).
    const NGINX_NO_HOST: &[u8] = b"HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\nDate: Wed, 02 Dec 2026 00:54:55 GMT\r\nContent-Type: text/html\r\nContent-Length: 157\r\nConnection: close\r\n\r\n<html>\r\n<head><title>400 Bad Request</title></head>\r\n<body>\r\n<center><h1>400 Bad Request</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n</body>\r\n</html>\r\n";
    /// Recorded from Debian 12's Apache (a 9 KB header line).
    const APACHE_BIG: &[u8] = b"HTTP/1.1 400 Bad Request\r\nDate: Wed, 02 Dec 2026 00:54:55 GMT\r\nServer: Apache/2.4.71 (Debian)\r\nContent-Length: 396\r\nConnection: close\r\nContent-Type: text/html; charset=iso-8859-1\r\n\r\n<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">\n<html><head>\n<title>400 Bad Request</title>\n</head><body>\n<h1>Bad Request</h1>\n<p>Your browser sent a request that this server could not understand.<br />\nSize of a request header field exceeds server limit.</p>\n<hr>\n<address>Apache/2.4.71 (Debian) Server at localhost Port 42281</address>\n</body></html>\n";

    #[test]
    fn the_real_servers_error_pages_pass_their_checks() {
        let r = Response::parse(NGINX_NO_HOST).unwrap();
        assert!(complete(NGINX_NO_HOST));
        assert!(!complete(&NGINX_NO_HOST[..NGINX_NO_HOST.len() - 1]));
        assert_eq!(
            edge_check(NO_HOST, WebServer::Nginx, "nginx/1.22.1", &r).status,
            crate::Status::Pass
        );
        assert_eq!(
            edge_check(BAD_METHOD, WebServer::Nginx, "nginx/1.22.1", &r).status,
            crate::Status::Pass
        );
        // The same page is not nginx's oversize answer, nor Apache's.
        assert_eq!(
            edge_check(BIG_HEADER, WebServer::Nginx, "nginx/1.22.1", &r).status,
            crate::Status::Tell
        );
        assert_eq!(
            edge_check(NO_HOST, WebServer::Apache, "nginx/1.22.1", &r).status,
            crate::Status::Tell
        );
        let a = Response::parse(APACHE_BIG).unwrap();
        assert_eq!(
            edge_check(BIG_HEADER, WebServer::Apache, "Apache/2.4.71 (Debian)", &a).status,
            crate::Status::Pass
        );
        assert_eq!(
            edge_check(NO_HOST, WebServer::Apache, "Apache/2.4.52 (Ubuntu)", &a).status,
            crate::Status::Tell
        );
    }

    #[test]
    fn answers_parse_into_status_and_headers_as_sent() {
        let r = Response::parse(b"HTTP/1.0 200 OK\r\nEtag: \"x\"\r\nServer: a\r\n\r\nhi").unwrap();
        assert_eq!(
            (r.status_line.as_str(), r.code, r.body.as_str()),
            ("HTTP/1.0 200 OK", 200, "hi")
        );
        assert_eq!(r.headers[0].0, "Etag");
        assert_eq!(r.header("etag"), Some("\"x\""));
        assert!(Response::parse(b"garbage").is_none());
    }
}
