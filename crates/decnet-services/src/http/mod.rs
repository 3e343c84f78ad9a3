//! HTTP (listener `http`, port 80) and HTTPS (listener `https`, port 443): the
//! one HTTP front end — its own HTTP/1 request parser and response writer, body
//! caps, TLS, and one `http_request` event per request with any credential it
//! carried — serving a [`Site`]. Today's site is the persona web site: the
//! nginx or Apache the persona names with a fake app (WordPress, phpMyAdmin, a
//! router login, the distro's default pages).
//!
//! - [`wire`]: the request parser, with nginx's and Apache's rules and limits
//! - [`site`]: what a site provides the front end
//! - `apps`: the persona web site, which page a request gets, in the server's
//!   and the app's style; page bodies are files under `pages/`
//! - [`creds`]: `Authorization` headers, login forms and XML-RPC calls
//!
//! No HTTP library writes a byte: header names keep the server's spelling and
//! order (`ETag`, `WWW-Authenticate`), every status line says `HTTP/1.1`, and a
//! refused request gets the persona server's own page for the same refusal.

pub(crate) mod apps;
pub mod creds;
pub mod front;
pub mod json;
pub mod site;
pub mod wire;

pub use self::apps::{Flavor, Page, Req};

use std::io;
use std::sync::Arc;

use std::time::Duration;

use ::http::header::HeaderValue;
use base64::Engine as _;
use bytes::{Buf as _, Bytes, BytesMut};
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::{Credential, EventType, SecretKind};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use self::apps::{FakeApp, PersonaSite};
use self::creds::{Authorization, Login};
use self::site::{Record, Site, Style};
use self::wire::{Refusal, Rules};
use crate::conn::Conn;
use crate::kit::io::Rewind;
use crate::kit::persona::PersonaKeys;
use crate::kit::tls::{self, AcceptorBuilder, ClientFacts, TlsAcceptor, TlsProfile};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};

/// Time to send a complete request head (nginx `client_header_timeout`).
const HEAD_TIMEOUT: Duration = Duration::from_secs(60);
/// `limit` of the `limit_exceeded` event of a request head not completed in time.
pub const LIMIT_HEADER_TIMEOUT: &str = "header_timeout";
/// Body bytes kept in the event.
const BODY_CAPTURE: usize = 64 * 1024;
/// Body bytes read (and discarded past the capture) before answering 413 and
/// closing; Apache takes up to a gigabyte and Go has no limit of its own.
const BODY_MAX: usize = 8 * 1024 * 1024;
/// Time a body over the server's limit is waited for, to capture its start.
const REFUSED_BODY_WAIT: Duration = Duration::from_secs(2);
/// Time to send a whole body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for the TLS handshake, first byte included.
const TLS_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to write an error page to a peer that broke the protocol.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a malformed request kept in its `protocol_error` event.
const SAMPLE: usize = 512;

static KEYS: [PersonaKey; 6] = [
    PersonaKey {
        name: "server_header",
        kind: KeyKind::Text,
        doc: "Server header and error-page signature (default: the distro's web server, e.g. nginx/1.22.1); \"apache\" in it selects Apache-style pages",
    },
    PersonaKey {
        name: "response_code",
        kind: KeyKind::Int,
        doc: "Status of the index page (default 200; 3xx redirects to https, 4xx/5xx show the server's error page)",
    },
    PersonaKey {
        name: "fake_app",
        kind: KeyKind::Choice(FakeApp::NAMES),
        doc: "Application the site pretends to run (default: nginx or apache, matching the server header)",
    },
    PersonaKey {
        name: "title",
        kind: KeyKind::Text,
        doc: "Page title (and site name) override",
    },
    PersonaKey {
        name: "hostname",
        kind: KeyKind::Text,
        doc: "Host name the site and its certificate use (default: the decky's hostname)",
    },
    PersonaKey {
        name: "basic_auth",
        kind: KeyKind::Text,
        doc: "user:password the Basic-auth realms of the fake app accept (default: none; every attempt gets 401 and is captured)",
    },
];

static LISTENERS: [ListenerInfo; 2] = [
    ListenerInfo::tcp("http", 80),
    // The `https` slug of DECNET's INI files names this listener.
    ListenerInfo::tcp("https", 443).with_tls().on_request(),
];

static INFO: ServiceInfo = ServiceInfo {
    name: "http",
    summary: "Web server (nginx/Apache persona) with fake WordPress, phpMyAdmin and router logins; \
              its https listener serves the same site over TLS with a per-decky self-signed certificate",
    listeners: &LISTENERS,
    persona_keys: &KEYS,
};

/// The `http` service and its `https` listener.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http;

impl Service for Http {
    fn info(&self) -> &'static ServiceInfo {
        &INFO
    }

    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        let service = INFO.name;
        let site = site_from_persona(service, &decky, cfg)?;
        let tls = if cfg.listeners.iter().any(|l| l.tls) {
            // The `https` state dir keeps the certificates of earlier releases.
            Some(
                AcceptorBuilder::new("https", site.hostname.clone())
                    .alpn(&[b"http/1.1"])
                    .profile(match site.flavor {
                        Flavor::Nginx => TlsProfile::Nginx,
                        Flavor::Apache => TlsProfile::Apache,
                    })
                    .build(&decky)?,
            )
        } else {
            None
        };
        Ok(Arc::new(front::Front::new(Arc::new(site), tls)))
    }
}

fn site_from_persona(
    service: &'static str,
    decky: &DeckyRuntime,
    cfg: &ServiceConfig,
) -> Result<PersonaSite, ServiceError> {
    let keys = PersonaKeys::new(service, cfg);
    let server_header = keys
        .text("server_header")
        .map_or_else(|| decky.config.distro.http_server_header(), str::to_owned);
    if HeaderValue::from_str(&server_header).is_err() {
        return Err(keys.error(
            "server_header",
            "must be printable ASCII without line breaks",
        ));
    }
    let flavor = Flavor::of(&server_header);
    let app = keys
        .choice("fake_app", FakeApp::NAMES, FakeApp::parse)?
        .unwrap_or(match flavor {
            Flavor::Apache => FakeApp::Apache,
            Flavor::Nginx => FakeApp::Nginx,
        });
    let index_status = match keys.raw("response_code") {
        Some(v) => v
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|c| (200..=599).contains(c))
            .ok_or_else(|| {
                keys.error(
                    "response_code",
                    format!("expected an HTTP status between 200 and 599, got {v:?}"),
                )
            })?,
        None => 200,
    };
    // Written but blank is refused below rather than silently replaced.
    let hostname = keys
        .raw("hostname")
        .map(str::trim)
        .unwrap_or(&decky.config.hostname)
        .to_owned();
    let valid_host = !hostname.is_empty()
        && hostname.len() <= 253
        && hostname
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    if !valid_host {
        return Err(keys.error(
            "hostname",
            format!("{hostname:?} is not a DNS host name (letters, digits, '-' and '.')"),
        ));
    }
    let basic_auth = match keys.raw("basic_auth") {
        None => None,
        Some(v) => match v.split_once(':') {
            Some((user, password)) if !user.is_empty() => Some(apps::BasicAuth {
                user: user.to_owned(),
                password: password.as_bytes().to_vec(),
            }),
            _ => {
                return Err(keys.error("basic_auth", "expected user:password with a non-empty user"))
            }
        },
    };
    // Static pages look installed some time before now, differently per decky.
    let age_days = 30 + decky.seed.pick(b"http-mtime", 700);
    let mtime = chrono::Utc::now().timestamp()
        - i64::try_from(age_days * 86_400).unwrap_or(0)
        - i64::try_from(decky.seed.pick(b"http-mtime-secs", 86_400)).unwrap_or(0);
    Ok(PersonaSite {
        app,
        flavor,
        server_header,
        title: keys.raw("title").map(str::to_owned),
        hostname,
        index_status,
        default_page: decky.config.distro.default_page,
        mtime,
        basic_auth,
        allow: apps::apache_allow(decky.seed.pick(b"apache-allow", 24)),
    })
}

async fn serve_tls(
    acceptor: &TlsAcceptor,
    mut conn: Conn,
    ctx: ConnCtx,
    site: Arc<dyn Site>,
) -> Result<(), ServiceError> {
    let mut first = BytesMut::with_capacity(4096);
    match tokio::time::timeout(TLS_TIMEOUT, conn.read_buf(&mut first)).await {
        // Port scanners connect and leave without a word: nothing to record.
        Err(_) | Ok(Ok(0)) => return Ok(()),
        Ok(Err(e)) => return Err(e.into()),
        Ok(Ok(_)) => {}
    }
    // Every TLS handshake starts with a handshake record (0x16).
    if first.first() != Some(&0x16) {
        if looks_like_http(&first) {
            let raw = match site.style() {
                // crypto/tls's answer when a record header reads like HTTP.
                Style::Go => Some(
                    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n"
                        .to_vec(),
                ),
                _ => {
                    let host = site.server().hostname.to_owned();
                    site.plain_http_on_tls(&host, ctx.local.port())
                        .map(|page| raw_response(site.as_ref(), &page, Persist::CLOSE, Answer::Full))
                }
            };
            let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
                if let Some(raw) = raw {
                    conn.write_all(&raw).await?;
                }
                conn.shutdown().await
            })
            .await;
            return Err(
                protocol_error(&ctx, "plain_http_on_tls_port", None, &first, Some(400)).await,
            );
        }
        return Err(protocol_error(
            &ctx,
            "tls_handshake_failed",
            Some("not a TLS handshake record".into()),
            &first,
            None,
        )
        .await);
    }
    let stream = match tls::accept(acceptor, Rewind::new(first.freeze(), conn), TLS_TIMEOUT).await {
        Ok(stream) => stream,
        Err(e) => {
            let detail = match &e {
                tls::HandshakeError::TimedOut => "timeout".to_owned(),
                other => other.to_string(),
            };
            return Err(
                protocol_error(&ctx, "tls_handshake_failed", Some(detail), &[], None).await,
            );
        }
    };
    let meta = ClientFacts::of(&stream);
    serve_http(stream, ctx, site, Some(meta)).await
}

fn looks_like_http(buf: &[u8]) -> bool {
    buf.first().is_some_and(u8::is_ascii_uppercase)
        && matches!(
            wire::parse_head(buf, &Rules::of(Flavor::Nginx)),
            wire::Parsed::Complete(_) | wire::Parsed::Partial
        )
}

/// How reading one request head turned out.
enum Got {
    /// A complete head; its bytes are still at the front of the buffer.
    Head(wire::Head),
    /// The peer left (or a kept-alive connection idled out) before sending anything.
    Nothing,
    /// The head was not complete in time: a `limit_exceeded`, not a
    /// malformed request (slowloris, or a connection opened and left waiting).
    TimedOut(Bytes),
    /// The peer closed the connection inside the head.
    Cut(Bytes),
    /// Refused as the persona's server refuses it: answered and recorded by the caller.
    Refused {
        refusal: Refusal,
        detail: &'static str,
        data: Bytes,
    },
}

/// Reads until `buf` starts with a whole request head, or the deadline passes.
async fn read_head<I: AsyncRead + Unpin>(
    io: &mut I,
    buf: &mut BytesMut,
    rules: &Rules,
    timeout: Duration,
) -> Result<Got, ServiceError> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match wire::parse_head(buf, rules) {
            wire::Parsed::Complete(head) => return Ok(Got::Head(head)),
            wire::Parsed::Refused(refusal, detail) => {
                return Ok(Got::Refused {
                    refusal,
                    detail,
                    data: buf.split().freeze(),
                })
            }
            wire::Parsed::Partial | wire::Parsed::Blank => {}
        }
        let mut chunk = [0u8; 4096];
        let n = match tokio::time::timeout_at(deadline, io.read(&mut chunk)).await {
            Err(_) => return Ok(Got::TimedOut(buf.split().freeze())),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            if buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Got::Nothing);
            }
            return Ok(Got::Cut(buf.split().freeze()));
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// The `protocol_error` reason of a refusal.
fn refusal_reason(r: Refusal) -> &'static str {
    match r {
        Refusal::BadRequest | Refusal::NotImplemented => "malformed_request",
        Refusal::UriTooLong | Refusal::HeaderTooLarge | Refusal::TooManyHeaders => {
            "request_head_too_large"
        }
        Refusal::VersionNotSupported => "unsupported_http_version",
    }
}

fn insert_sample(fields: &mut decnet_core::Fields, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let sample = data.get(..SAMPLE.min(data.len())).unwrap_or_default();
    fields.insert(
        "data_b64".into(),
        base64::engine::general_purpose::STANDARD
            .encode(sample)
            .into(),
    );
    fields.insert("data_len".into(), data.len().into());
}

/// Records a `protocol_error` with what the peer sent, and returns the error to end with.
async fn protocol_error(
    ctx: &ConnCtx,
    reason: &str,
    detail: Option<String>,
    data: &[u8],
    status: Option<u16>,
) -> ServiceError {
    let mut e = ctx.event(EventType::ProtocolError);
    e.fields.insert("reason".into(), reason.into());
    if let Some(d) = detail {
        e.fields.insert("detail".into(), d.into());
    }
    insert_sample(&mut e.fields, data);
    if let Some(s) = status {
        e.fields.insert("status".into(), s.into());
    }
    ctx.emit(e).await;
    ServiceError::Protocol(reason.to_owned())
}

/// Serves requests on one connection until either side ends it: the decoy's
/// own HTTP/1 loop, so every byte on the wire is the persona server's.
async fn serve_http<I>(
    mut io: I,
    ctx: ConnCtx,
    site: Arc<dyn Site>,
    tls: Option<ClientFacts>,
) -> Result<(), ServiceError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let style = site.style();
    let rules = style.rules();
    // nginx's 60 s, or the operator's shorter pre-auth deadline.
    let head_timeout = HEAD_TIMEOUT.min(ctx.decky.limits.pre_auth_timeout);
    let handler = Handler {
        site,
        ctx: ctx.clone(),
        tls,
    };
    let mut buf = BytesMut::with_capacity(4096);
    let mut served: u32 = 0;
    loop {
        let wait = if served == 0 {
            head_timeout
        } else {
            style.keepalive_timeout()
        };
        let head = match read_head(&mut io, &mut buf, &rules, wait).await? {
            Got::Head(head) => head,
            Got::Nothing => return Ok(()),
            // A kept-alive connection nobody reuses: as normal as a close.
            Got::TimedOut(data) if served > 0 && data.is_empty() => return Ok(()),
            Got::TimedOut(data) => {
                let mut e = ctx.event(EventType::LimitExceeded);
                e.fields.insert("limit".into(), LIMIT_HEADER_TIMEOUT.into());
                e.fields.insert("max_secs".into(), wait.as_secs().into());
                insert_sample(&mut e.fields, &data);
                ctx.emit(e).await;
                return Ok(());
            }
            Got::Cut(data) => {
                return Err(protocol_error(
                    &ctx,
                    "incomplete_request",
                    Some("connection closed inside the request head".into()),
                    &data,
                    None,
                )
                .await)
            }
            Got::Refused {
                refusal,
                detail,
                data,
            } => {
                let raw = handler.refusal_response(refusal, detail);
                let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
                    io.write_all(&raw).await?;
                    io.shutdown().await
                })
                .await;
                return Err(protocol_error(
                    &ctx,
                    refusal_reason(refusal),
                    Some(detail.into()),
                    &data,
                    Some(refusal.status()),
                )
                .await);
            }
        };
        buf.advance(head.len);
        if served == 0 {
            // A complete first request head: the pre-auth deadline is lifted.
            ctx.pre_auth.done();
        }
        if style == Style::Go && head.framing != wire::Framing::None && buf.is_empty() {
            // Go answers `Expect: 100-continue` when the handler reads the body.
            let expects = head
                .header("expect")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"100-continue"));
            if expects && head.version.at_least_11() {
                tokio::time::timeout(
                    WRITE_TIMEOUT,
                    io.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"),
                )
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            }
        }
        let body = read_body(&mut io, &mut buf, head.framing, style.body_max()).await?;
        served = served.saturating_add(1);
        let persist = Persist::of(&head, &body, served, style.max_requests());
        let (raw, keep) = handler.handle(&head, &body, persist).await;
        tokio::time::timeout(WRITE_TIMEOUT, io.write_all(&raw))
            .await
            .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
        if !keep {
            let _ = tokio::time::timeout(WRITE_TIMEOUT, io.shutdown()).await;
            if body.cut.is_some() {
                linger(&mut io).await;
            }
            return Ok(());
        }
    }
}

/// Most time a lingering close waits in all (nginx's `lingering_time`).
const LINGER_TIME: Duration = Duration::from_secs(30);
/// Most time it waits for the next bytes (nginx's `lingering_timeout`).
const LINGER_IDLE: Duration = Duration::from_secs(5);
/// Most bytes it reads and discards.
const LINGER_MAX: usize = 16 * 1024 * 1024;

/// nginx's lingering close: after answering a request whose body was not read
/// to its end, the rest is read and discarded for a while, because closing
/// with unread bytes makes the kernel reset the connection, and the reset
/// reaches the client before it has read the answer (curl then sees no 413).
async fn linger<I: AsyncRead + Unpin>(io: &mut I) {
    let end = tokio::time::Instant::now() + LINGER_TIME;
    let mut left = LINGER_MAX;
    let mut sink = [0u8; 16 * 1024];
    while left > 0 {
        let until = end.min(tokio::time::Instant::now() + LINGER_IDLE);
        match tokio::time::timeout_at(until, io.read(&mut sink)).await {
            Ok(Ok(n)) if n > 0 => left = left.saturating_sub(n),
            _ => return,
        }
    }
}

/// Whether a connection stays open after a response, and what the server says about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Persist {
    /// The connection stays open.
    keep: bool,
    /// The client asked for keep-alive by name (Apache then says `Keep-Alive: …`).
    asked: bool,
    /// Requests the connection may still carry after this one (Apache's `max=`).
    left: u32,
    /// The request was HTTP/1.1 or later (Go answers HTTP/1.0 in kind).
    v11: bool,
}

impl Persist {
    /// A connection that ends with this response.
    const CLOSE: Persist = Persist {
        keep: false,
        asked: false,
        left: 0,
        v11: true,
    };

    fn of(head: &wire::Head, body: &Body, served: u32, max: u32) -> Persist {
        let (close, asked) = connection_tokens(head);
        let wanted = match head.version {
            wire::Version::Http09 => false,
            v if v.at_least_11() => !close,
            _ => asked && !close,
        };
        Persist {
            keep: wanted && body.cut.is_none() && served < max,
            asked,
            left: max.saturating_sub(served.saturating_sub(1)),
            v11: head.version.at_least_11(),
        }
    }
}

/// Whether the `Connection` headers say `close`, and `keep-alive`.
fn connection_tokens(head: &wire::Head) -> (bool, bool) {
    let mut close = false;
    let mut ka = false;
    for h in head.headers.iter().filter(|h| !h.ignored) {
        if h.name.eq_ignore_ascii_case("connection") {
            for t in h.value.split(|b| *b == b',') {
                let t = String::from_utf8_lossy(t);
                close |= t.trim().eq_ignore_ascii_case("close");
                ka |= t.trim().eq_ignore_ascii_case("keep-alive");
            }
        }
    }
    (close, ka)
}

/// Per-connection request handler.
struct Handler {
    site: Arc<dyn Site>,
    ctx: ConnCtx,
    tls: Option<ClientFacts>,
}

/// A request body as far as it was read.
struct Body {
    /// The first `BODY_CAPTURE` bytes.
    kept: Vec<u8>,
    /// Bytes received.
    len: usize,
    /// The body went past the server's limit, timed out or broke off.
    cut: Option<&'static str>,
}

impl Body {
    fn take(&mut self, data: &[u8]) {
        self.len = self.len.saturating_add(data.len());
        let room = BODY_CAPTURE.saturating_sub(self.kept.len());
        self.kept
            .extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
    }
}

/// Reads the body `framing` announces, starting with what `buf` already holds;
/// leaves in `buf` whatever follows it (a pipelined request).
async fn read_body<I: AsyncRead + Unpin>(
    io: &mut I,
    buf: &mut BytesMut,
    framing: wire::Framing,
    max: usize,
) -> Result<Body, ServiceError> {
    let mut out = Body {
        kept: Vec::new(),
        len: 0,
        cut: None,
    };
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    let mut chunked = wire::Chunked::default();
    let mut left = match framing {
        wire::Framing::None => return Ok(out),
        wire::Framing::Length(n) => n,
        wire::Framing::Chunked => u64::MAX,
    };
    let too_large = matches!(framing, wire::Framing::Length(n) if n > max as u64);
    loop {
        // Consume what is buffered.
        match framing {
            wire::Framing::Chunked => match chunked.feed(buf, &mut |d| out.take(d)) {
                Ok(used) => {
                    buf.advance(used);
                    if chunked.done() {
                        return Ok(out);
                    }
                }
                Err(_) => {
                    out.cut = Some("body_incomplete");
                    buf.clear();
                    return Ok(out);
                }
            },
            _ => {
                let take = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
                out.take(buf.get(..take).unwrap_or_default());
                buf.advance(take);
                left -= take as u64;
                if left == 0 {
                    return Ok(out);
                }
            }
        }
        // A declared length past the limit is refused once the capture is full,
        // without reading the rest; a chunked one once it goes past the limit.
        if out.len > max || (too_large && out.len >= BODY_CAPTURE) {
            out.cut = Some("body_too_large");
            return Ok(out);
        }
        let mut chunk = [0u8; 16 * 1024];
        // A body refused already is waited for only briefly (nginx answers 413
        // at once): long enough for a client that sends it after its head.
        let until = if too_large {
            deadline.min(tokio::time::Instant::now() + REFUSED_BODY_WAIT)
        } else {
            deadline
        };
        match tokio::time::timeout_at(until, io.read(&mut chunk)).await {
            Err(_) => {
                out.cut = Some(if too_large {
                    "body_too_large"
                } else {
                    "body_timeout"
                });
                return Ok(out);
            }
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(0)) => {
                out.cut = Some("body_incomplete");
                return Ok(out);
            }
            Ok(Ok(n)) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
}

fn sane_host(host: Option<&str>, fallback: &str) -> String {
    match host {
        Some(h)
            if !h.is_empty()
                && h.len() <= 255
                && h.bytes().all(|b| {
                    b.is_ascii_alphanumeric()
                        || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
                }) =>
        {
            h.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

impl Handler {
    fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// The server's answer to a head it refuses, closing the connection.
    fn refusal_response(&self, refusal: Refusal, detail: &str) -> Vec<u8> {
        if self.site.style() == Style::Go {
            return go_refusal(refusal, detail);
        }
        let host = self.site.server().hostname.to_owned();
        let req = self.req("GET", "/", &host, self.scheme(), None);
        let page = self.site.refusal_page(&req, refusal);
        raw_response(self.site.as_ref(), &page, Persist::CLOSE, Answer::Full)
    }

    /// Answers one request and records it; returns the bytes to send and
    /// whether the connection stays open after them.
    async fn handle(&self, head: &wire::Head, body: &Body, persist: Persist) -> (Vec<u8>, bool) {
        let header_text = |name: &str| {
            head.header(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let host = header_text("host").or_else(|| head.host());
        let content_type = header_text("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let path = head.path();
        let method = head.method.as_str();
        let style = self.site.style();

        let auth = head.header("authorization").map(creds::parse_authorization);
        let logins = self.logins(path, &content_type, head.query(), body);

        let scheme = self.scheme();
        let url_host = sane_host(head.host().as_deref(), self.site.server().hostname);
        let basic = match &auth {
            Some(Authorization::Basic { user, password }) => Some((user.as_str(), &password[..])),
            _ => None,
        };
        let bearer = match &auth {
            Some(Authorization::Bearer(token)) => Some(&token[..]),
            _ => None,
        };
        let mut record = Record::default();
        let mut page = {
            let mut req = self.req(method, path, &url_host, scheme, None);
            req.query = head.query();
            req.target = &head.target;
            req.headers = &head.headers;
            req.body = &body.kept;
            req.body_len = body.len;
            req.basic = basic;
            req.bearer = bearer;
            match body.cut {
                Some("body_too_large") => self.site.error_page(&req, 413),
                Some(_) => self.site.error_page(&req, 400),
                None => {
                    req.login = logins.first();
                    req.logins = logins.len();
                    self.site.route(&req, &mut record)
                }
            }
        };
        if page.status == 204 || page.status == 304 {
            page.body.clear();
        }
        let answer = match (head.version, method) {
            (wire::Version::Http09, _) => Answer::BodyOnly,
            (_, "HEAD") => Answer::HeadersOnly,
            _ => Answer::Full,
        };
        let mut persist = persist;
        // Go streams a body past its buffer to an HTTP/1.0 client without a
        // length, so only closing the connection ends it.
        if style == Style::Go && !persist.v11 && page.body.len() > GO_CHUNKING {
            persist.keep = false;
        }
        let (response, keep) = match record.raw.take() {
            Some(raw) => (raw, false),
            None => (
                raw_response_with(self.site.as_ref(), &page, persist, answer, record.flushed),
                persist.keep,
            ),
        };

        let mut e = self.ctx.event(EventType::HttpRequest);
        let f = &mut e.fields;
        f.insert("method".into(), method.into());
        f.insert("path".into(), path.into());
        f.insert("query".into(), head.query().map_or(Value::Null, Into::into));
        f.insert("target".into(), head.target.clone().into());
        f.insert("version".into(), head.version.text().into());
        let list: Vec<Value> = head
            .headers
            .iter()
            .map(|h| {
                json!([
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(&h.value)
                ])
            })
            .collect();
        f.insert("headers".into(), Value::Array(list));
        f.insert(
            "user_agent".into(),
            header_text("user-agent").map_or(Value::Null, Into::into),
        );
        f.insert("host".into(), host.map_or(Value::Null, Into::into));
        insert_body(f, body);
        f.insert("status".into(), page.status.into());
        f.insert("app".into(), self.site.app_name().into());
        f.insert("tls".into(), self.tls.is_some().into());
        if let Some(t) = &self.tls {
            for (k, v) in [
                ("tls_sni", &t.sni),
                ("tls_version", &t.version),
                ("tls_cipher", &t.cipher),
                ("tls_alpn", &t.alpn),
                ("tls_ja4", &t.ja4),
                ("tls_ja3", &t.ja3),
                ("tls_ja3_hash", &t.ja3_hash),
            ] {
                if let Some(v) = v {
                    f.insert(k.into(), v.clone().into());
                }
            }
        }
        if let Some(a) = &auth {
            f.insert("auth_scheme".into(), a.scheme().into());
            if matches!(a, Authorization::Malformed { .. }) {
                f.insert("auth_malformed".into(), true.into());
            }
        }
        f.extend(std::mem::take(&mut record.fields));
        // The Authorization header is what the client explicitly authenticates
        // with; a form login in the same request is kept as fields.
        e.credential = match auth {
            Some(Authorization::Basic { user, password }) => {
                Some(Credential::new(user, &password, SecretKind::HttpBasic))
            }
            Some(Authorization::Bearer(token)) => {
                Some(Credential::new("", &token, SecretKind::Token))
            }
            _ => None,
        };
        let mut logins = logins.into_iter();
        let first = logins.next();
        match (&e.credential, first) {
            (None, Some(l)) => {
                e.fields
                    .insert("login_user".into(), l.principal.clone().into());
                e.credential = Some(Credential::new(
                    l.principal,
                    &l.secret,
                    SecretKind::Password,
                ));
            }
            (Some(_), Some(l)) => {
                e.fields.insert("login_user".into(), l.principal.into());
            }
            (_, None) => {}
        }
        // A multicall carries many pairs: each further one is its own
        // `login_attempt`, so every guess is a credential of its own.
        let extra: Vec<Login> = logins.collect();
        if !extra.is_empty() {
            e.fields.insert("logins".into(), (extra.len() + 1).into());
        }
        self.ctx.emit(e).await;
        for l in extra {
            let mut a = self.ctx.event(EventType::LoginAttempt);
            a.fields.insert("method".into(), method.into());
            a.fields.insert("path".into(), path.into());
            a.fields.insert("via".into(), "xmlrpc_multicall".into());
            a.credential = Some(Credential::new(
                l.principal,
                &l.secret,
                SecretKind::Password,
            ));
            self.ctx.emit(a).await;
        }
        for note in record.notes {
            let mut n = self.ctx.event(note.event_type);
            n.fields.insert("method".into(), method.into());
            n.fields.insert("path".into(), path.into());
            n.fields.extend(note.fields);
            n.credential = note.credential;
            self.ctx.emit(n).await;
        }
        (response, keep)
    }

    fn req<'a>(
        &self,
        method: &'a str,
        path: &'a str,
        host: &'a str,
        scheme: &'a str,
        login: Option<&'a Login>,
    ) -> Req<'a> {
        Req {
            method,
            path,
            host,
            port: self.ctx.local.port(),
            scheme,
            login,
            basic: None,
            logins: usize::from(login.is_some()),
            tls: self.tls.is_some(),
            ..Req::default()
        }
    }

    /// The logins in the body (form, JSON or XML-RPC, every pair of a
    /// multicall) or, failing that, the query string.
    fn logins(
        &self,
        path: &str,
        content_type: &str,
        query: Option<&str>,
        body: &Body,
    ) -> Vec<Login> {
        let data = &body.kept;
        let from_body = if data.is_empty() {
            Vec::new()
        } else if path.ends_with("xmlrpc.php") || content_type.contains("xml") {
            creds::xmlrpc_logins(data)
        } else if content_type.contains("json") {
            creds::json_login(data).into_iter().collect()
        } else if content_type.is_empty() || content_type.contains("x-www-form-urlencoded") {
            creds::form_login(&creds::parse_form(data))
                .into_iter()
                .collect()
        } else {
            Vec::new()
        };
        if !from_body.is_empty() {
            return from_body;
        }
        query
            .and_then(|q| creds::form_login(&creds::parse_form(q.as_bytes())))
            .into_iter()
            .collect()
    }
}

fn insert_body(f: &mut decnet_core::event::Fields, body: &Body) {
    let truncated = body.len > body.kept.len() || body.cut.is_some();
    if !body.kept.is_empty() {
        match body_text(&body.kept, truncated) {
            Some(text) => {
                f.insert("body".into(), text.into());
            }
            None => {
                f.insert(
                    "body_b64".into(),
                    base64::engine::general_purpose::STANDARD
                        .encode(&body.kept)
                        .into(),
                );
            }
        }
    }
    f.insert("body_len".into(), body.len.into());
    f.insert("body_truncated".into(), truncated.into());
    if let Some(cut) = body.cut {
        f.insert("body_error".into(), cut.into());
    }
}

/// The body as text when it is UTF-8 without control characters other than
/// whitespace (NUL in particular cannot be stored in every database's JSON).
fn body_text(data: &[u8], truncated: bool) -> Option<&str> {
    let text = match std::str::from_utf8(data) {
        Ok(s) => s,
        // Truncation can split a character: keep the text up to it.
        Err(e) if truncated && e.error_len().is_none() => {
            std::str::from_utf8(data.get(..e.valid_up_to())?).ok()?
        }
        Err(_) => return None,
    };
    let binary = text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
    (!binary).then_some(text)
}

fn http_date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// What of a response goes on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// Status line, headers and body.
    Full,
    /// HEAD: status line and headers (with the body's length).
    HeadersOnly,
    /// HTTP/0.9: the body alone.
    BodyOnly,
}

/// Bytes Go's response writer buffers before it starts a chunked body
/// (`bufferBeforeChunkingSize`): a handler that writes more is streamed.
const GO_CHUNKING: usize = 2048;

/// Whether a status may carry a body (Go's `bodyAllowedForStatus`).
fn body_allowed(status: u16) -> bool {
    !matches!(status, 100..=199 | 204 | 304)
}

/// Whether the Go style sends this page chunked.
fn go_chunked(page: &Page, persist: Persist, answer: Answer, flushed: bool) -> bool {
    answer == Answer::Full
        && persist.v11
        && body_allowed(page.status)
        && (page.body.len() > GO_CHUNKING || flushed)
        && !has(&page.extra, "Content-Length")
}

fn has(headers: &[(&'static str, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// The response headers in the order the site's server sends them.
fn response_headers(
    site: &dyn Site,
    page: &Page,
    persist: Persist,
    answer: Answer,
    flushed: bool,
) -> Vec<(&'static str, String)> {
    let style = site.style();
    let site = site.server();
    let now = http_date(chrono::Utc::now().timestamp());
    let len = page.body.len();
    let mut h: Vec<(&'static str, String)> = Vec::with_capacity(12);
    match style {
        Style::Nginx => {
            let connection = if persist.keep { "keep-alive" } else { "close" };
            h.push(("Server", site.server_header.to_owned()));
            h.push(("Date", now));
            h.push(("Content-Type", page.content_type.into()));
            h.push(("Content-Length", len.to_string()));
            if page.static_file {
                h.push(("Last-Modified", http_date(site.mtime)));
            }
            h.push(("Connection", connection.into()));
            if page.static_file {
                h.push(("ETag", format!("\"{:x}-{:x}\"", site.mtime, len)));
            }
            h.extend(page.extra.iter().cloned());
            if page.static_file {
                h.push(("Accept-Ranges", "bytes".into()));
            }
        }
        Style::Apache => {
            h.push(("Date", now));
            h.push(("Server", site.server_header.to_owned()));
            if page.static_file {
                h.push(("Last-Modified", http_date(site.mtime)));
                let micros = i128::from(site.mtime) * 1_000_000 + i128::from(site.mtime % 997_331);
                h.push(("ETag", format!("\"{len:x}-{micros:x}\"")));
                h.push(("Accept-Ranges", "bytes".into()));
            }
            h.extend(page.extra.iter().cloned());
            h.push(("Content-Length", len.to_string()));
            if page.content_type.starts_with("text/html") && page.static_file {
                h.push(("Vary", "Accept-Encoding".into()));
            }
            // Apache names keep-alive only to a client that asked for it by name.
            match (persist.keep, persist.asked) {
                (true, true) => {
                    h.push(("Keep-Alive", format!("timeout=5, max={}", persist.left)));
                    h.push(("Connection", "Keep-Alive".into()));
                }
                (true, false) => {}
                (false, _) => h.push(("Connection", "close".into())),
            }
            h.push(("Content-Type", page.content_type.into()));
        }
        Style::Go => {
            // `Header.WriteSubset` sorts the handler's headers by key.
            let mut set = page.extra.clone();
            set.sort_by(|a, b| a.0.cmp(b.0));
            let chunked = go_chunked(page, persist, answer, flushed);
            let allowed = body_allowed(page.status);
            let set_len = has(&set, "Content-Length");
            let set_type = has(&set, "Content-Type");
            let set_date = has(&set, "Date");
            h.extend(set);
            if !set_date {
                h.push(("Date", now));
            }
            // A length Go knows: the handler finished within its buffer (a HEAD
            // handler that wrote nothing leaves it out).
            let small = len <= GO_CHUNKING && !flushed;
            if !set_len && allowed && small && (answer != Answer::HeadersOnly || len > 0) {
                h.push(("Content-Length", len.to_string()));
            }
            if !set_type && allowed && len > 0 && !page.content_type.is_empty() {
                h.push(("Content-Type", page.content_type.into()));
            }
            if !persist.keep && persist.v11 {
                h.push(("Connection", "close".into()));
            } else if persist.keep && !persist.v11 && persist.asked {
                h.push(("Connection", "keep-alive".into()));
            }
            if chunked {
                h.push(("Transfer-Encoding", "chunked".into()));
            }
        }
        Style::Netty => {
            h.extend(page.extra.iter().cloned());
            if !page.content_type.is_empty() {
                h.push(("content-type", page.content_type.into()));
            }
            h.push(("content-length", len.to_string()));
        }
    }
    h
}

/// A whole response as bytes: header names exactly as the server spells them;
/// nginx and Apache answer every version with an HTTP/1.1 status line, Go and
/// Netty answer HTTP/1.0 in kind.
fn raw_response(site: &dyn Site, page: &Page, persist: Persist, answer: Answer) -> Vec<u8> {
    raw_response_with(site, page, persist, answer, false)
}

/// [`raw_response`] of a handler that may have flushed its head early.
fn raw_response_with(
    site: &dyn Site,
    page: &Page,
    persist: Persist,
    answer: Answer,
    flushed: bool,
) -> Vec<u8> {
    if answer == Answer::BodyOnly {
        return page.body.clone().into_bytes();
    }
    let style = site.style();
    let version = match style {
        Style::Go | Style::Netty if !persist.v11 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let mut out = format!(
        "{version} {} {}\r\n",
        page.status,
        style.reason(page.status)
    );
    for (name, value) in response_headers(site, page, persist, answer, flushed) {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    if answer == Answer::Full && (style != Style::Go || body_allowed(page.status)) {
        if style == Style::Go && go_chunked(page, persist, answer, flushed) {
            // One write of the whole body past the buffer: one chunk, then the end.
            out.push_str(&format!("{:x}\r\n", page.body.len()));
            out.push_str(&page.body);
            out.push_str("\r\n0\r\n\r\n");
        } else {
            out.push_str(&page.body);
        }
    }
    out.into_bytes()
}

/// Go's `net/http` answer to a request head it cannot read: written straight
/// to the connection, without `Date` or length, and the connection closed.
fn go_refusal(refusal: Refusal, detail: &str) -> Vec<u8> {
    let text = match refusal {
        Refusal::BadRequest if detail == wire::NO_HOST => {
            "400 Bad Request: missing required Host header"
        }
        Refusal::BadRequest => "400 Bad Request",
        Refusal::UriTooLong | Refusal::HeaderTooLarge | Refusal::TooManyHeaders => {
            "431 Request Header Fields Too Large"
        }
        Refusal::VersionNotSupported => {
            "505 HTTP Version Not Supported: unsupported protocol version"
        }
        Refusal::NotImplemented => "501 Not Implemented",
    };
    let body = match refusal {
        Refusal::NotImplemented => "Unsupported transfer encoding",
        _ => text,
    };
    format!(
        "HTTP/1.1 {text}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n{body}"
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn site(server: &str) -> PersonaSite {
        PersonaSite {
            app: FakeApp::Nginx,
            flavor: Flavor::of(server),
            server_header: server.into(),
            title: None,
            hostname: "web01".into(),
            index_status: 200,
            default_page: decnet_core::persona::DefaultPage::Nginx,
            mtime: 1_700_000_000,
            basic_auth: None,
            allow: apps::apache_allow(0),
        }
    }

    #[test]
    fn header_order_follows_the_server() {
        let page = Page {
            status: 200,
            content_type: "text/html",
            body: "hello".into(),
            extra: vec![],
            static_file: true,
        };
        let keep = Persist {
            keep: true,
            asked: true,
            left: 100,
            v11: true,
        };
        let names = |s: &PersonaSite| -> Vec<&str> {
            response_headers(s, &page, keep, Answer::Full, false)
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        assert_eq!(
            names(&site("nginx/1.22.1")),
            [
                "Server",
                "Date",
                "Content-Type",
                "Content-Length",
                "Last-Modified",
                "Connection",
                "ETag",
                "Accept-Ranges"
            ]
        );
        let apache = names(&site("Apache/2.4.52 (Ubuntu)"));
        assert_eq!(apache.first(), Some(&"Date"));
        assert_eq!(apache.last(), Some(&"Content-Type"));
        let raw = raw_response(&site("nginx/1.22.1"), &page, Persist::CLOSE, Answer::Full);
        let text = String::from_utf8(raw).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: "));
        assert!(text.contains("\r\nConnection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nhello"));
    }

    fn runtime(distro: &str) -> DeckyRuntime {
        DeckyRuntime {
            config: decnet_core::config::model::DeckyConfig {
                name: "d".into(),
                ip: "127.0.0.1".parse().unwrap(),
                hostname: "d-host".into(),
                os_family: decnet_core::persona::OsFamily::Linux,
                distro: decnet_core::persona::distro(distro).unwrap(),
                windows: None,
                archetype: None,
                services: vec![],
            },
            seed: decnet_core::seed::InstanceSeed::derive_for(b"k", "d"),
            data_dir: std::env::temp_dir(),
            limits: decnet_core::config::model::Limits::DEFAULT,
            bait: Default::default(),
            prefix: 24,
        }
    }

    fn cfg(persona: &[(&str, &str)]) -> ServiceConfig {
        let mut cfg = ServiceConfig::defaults(&INFO, None);
        cfg.persona = persona
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        cfg
    }

    #[test]
    fn persona_defaults_follow_the_distro_and_bad_values_name_the_key() {
        let s = site_from_persona("http", &runtime("debian"), &cfg(&[])).unwrap();
        assert_eq!(s.server_header, "nginx/1.22.1");
        assert_eq!((s.app, s.flavor), (FakeApp::Nginx, Flavor::Nginx));
        assert_eq!(s.hostname, "d-host");
        let s = site_from_persona("http", &runtime("ubuntu22"), &cfg(&[])).unwrap();
        assert_eq!((s.app, s.flavor), (FakeApp::Apache, Flavor::Apache));
        assert_eq!(
            s.default_page,
            decnet_core::persona::DefaultPage::UbuntuApache
        );
        for (key, value) in [
            ("fake_app", "drupal"),
            ("response_code", "99"),
            ("response_code", "abc"),
            ("hostname", "bad host"),
            ("server_header", "nginx\r\nX-Evil: 1"),
        ] {
            match site_from_persona("http", &runtime("debian"), &cfg(&[(key, value)])) {
                Err(ServiceError::Persona { key: k, .. }) => assert_eq!(k, key),
                other => panic!("{key}={value:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn bodies_are_text_only_when_printable() {
        assert_eq!(body_text(b"a=1&b=2\r\n", false), Some("a=1&b=2\r\n"));
        assert_eq!(body_text(b"a\0b", false), None);
        assert_eq!(body_text(b"\xff\xfe", false), None);
        // "é" cut in half by the capture is dropped, not turned into base64.
        assert_eq!(body_text(b"caf\xc3", true), Some("caf"));
        assert_eq!(body_text(b"caf\xc3", false), None);
    }

    fn head(raw: &[u8]) -> wire::Head {
        match wire::parse_head(raw, &Rules::of(Flavor::Nginx)) {
            wire::Parsed::Complete(h) => h,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn keep_alive_rules() {
        let body = Body {
            kept: Vec::new(),
            len: 0,
            cut: None,
        };
        let p = |raw: &[u8], served| Persist::of(&head(raw), &body, served, 100);
        assert!(p(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1).keep);
        assert!(!p(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 1).asked);
        assert!(!p(b"GET / HTTP/1.0\r\n\r\n", 1).keep);
        let ka = p(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1);
        assert!(ka.keep && ka.asked);
        assert_eq!(ka.left, 100);
        assert_eq!(
            p(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 2).left,
            99
        );
        assert!(
            !p(
                b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n",
                1
            )
            .keep
        );
        assert!(!p(b"GET /\r\n", 1).keep);
        // The server's last request on a connection closes it.
        assert!(!p(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", 100).keep);
    }

    struct Styled(Style);

    impl Site for Styled {
        fn server(&self) -> site::Server<'_> {
            site::Server {
                flavor: Flavor::Nginx,
                server_header: "",
                hostname: "h",
                mtime: 0,
            }
        }
        fn style(&self) -> Style {
            self.0
        }
        fn route(&self, _: &Req<'_>, _: &mut Record) -> Page {
            Page::new(200, "", "")
        }
        fn error_page(&self, _: &Req<'_>, status: u16) -> Page {
            Page::new(status, "", "")
        }
        fn plain_http_on_tls(&self, _: &str, _: u16) -> Option<Page> {
            None
        }
        fn refusal_page(&self, _: &Req<'_>, r: Refusal) -> Page {
            Page::new(r.status(), "", "")
        }
        fn app_name(&self) -> &'static str {
            "test"
        }
    }

    const KEEP11: Persist = Persist {
        keep: true,
        asked: false,
        left: u32::MAX,
        v11: true,
    };

    fn text(style: Style, page: &Page, persist: Persist, answer: Answer) -> String {
        String::from_utf8(raw_response(&Styled(style), page, persist, answer)).unwrap()
    }

    /// Go's head with the `Date` value blanked.
    fn undated(t: &str) -> String {
        t.split("\r\n")
            .map(|l| {
                if l.starts_with("Date: ") {
                    "Date: X"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\r\n")
    }

    #[test]
    fn go_sorts_handler_headers_then_writes_date_length_and_sniffed_type() {
        let ping = Page::new(200, "text/plain; charset=utf-8", "OK")
            .with("Server", "Docker/24.0.7 (linux)")
            .with("Api-Version", "1.43")
            .with("Pragma", "no-cache");
        assert_eq!(
            undated(&text(Style::Go, &ping, KEEP11, Answer::Full)),
            "HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nPragma: no-cache\r\nServer: Docker/24.0.7 (linux)\r\n\
             Date: X\r\nContent-Length: 2\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOK"
        );
        // A type the handler set is one of its sorted headers; closing says so on 1.1.
        let json = Page::new(404, "", "{}\n").with("Content-Type", "application/json");
        assert_eq!(
            undated(&text(Style::Go, &json, Persist::CLOSE, Answer::Full)),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nDate: X\r\n\
             Content-Length: 3\r\nConnection: close\r\n\r\n{}\n"
        );
        // 204 has neither length nor body.
        let none = Page::new(204, "", "").with("Server", "x");
        assert_eq!(
            undated(&text(Style::Go, &none, KEEP11, Answer::Full)),
            "HTTP/1.1 204 No Content\r\nServer: x\r\nDate: X\r\n\r\n"
        );
        // Past Go's 2048-byte buffer the body goes chunked, in one chunk.
        let big = Page::new(200, "", "a".repeat(3000)).with("Content-Type", "application/json");
        let t = text(Style::Go, &big, KEEP11, Answer::Full);
        assert!(
            t.contains("\r\nTransfer-Encoding: chunked\r\n\r\nbb8\r\naaa"),
            "{t}"
        );
        assert!(!t.contains("Content-Length") && t.ends_with("a\r\n0\r\n\r\n"));
        // HTTP/1.0 is answered in kind.
        let old = Persist {
            v11: false,
            ..Persist::CLOSE
        };
        assert!(text(Style::Go, &ping, old, Answer::Full).starts_with("HTTP/1.0 200 OK\r\n"));
        assert_eq!(
            go_refusal(Refusal::BadRequest, "bare LF"),
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"
        );
    }

    #[test]
    fn netty_writes_the_sites_headers_then_lower_case_type_and_length() {
        let page =
            Page::new(200, "application/json", "{}").with("X-elastic-product", "Elasticsearch");
        assert_eq!(
            text(Style::Netty, &page, KEEP11, Answer::Full),
            "HTTP/1.1 200 OK\r\nX-elastic-product: Elasticsearch\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
        );
    }

    #[test]
    fn apache_says_keep_alive_only_when_asked_and_counts_down() {
        let page = Page {
            status: 404,
            content_type: "text/html; charset=iso-8859-1",
            body: "x".into(),
            extra: vec![],
            static_file: false,
        };
        let apache = site("Apache/2.4.62 (Debian)");
        let text = |persist| {
            String::from_utf8(raw_response(&apache, &page, persist, Answer::Full)).unwrap()
        };
        let asked = text(Persist {
            keep: true,
            asked: true,
            left: 99,
            v11: true,
        });
        assert!(
            asked.contains("\r\nContent-Length: 1\r\nKeep-Alive: timeout=5, max=99\r\nConnection: Keep-Alive\r\nContent-Type: "),
            "{asked}"
        );
        let silent = text(Persist {
            keep: true,
            asked: false,
            left: 99,
            v11: true,
        });
        assert!(!silent.contains("Connection") && !silent.contains("Keep-Alive"));
        assert!(text(Persist::CLOSE).contains("\r\nConnection: close\r\n"));
        // HEAD keeps the length and drops the body; HTTP/0.9 gets the body alone.
        let head = String::from_utf8(raw_response(
            &apache,
            &page,
            Persist::CLOSE,
            Answer::HeadersOnly,
        ))
        .unwrap();
        assert!(head.ends_with("\r\n\r\n") && head.contains("Content-Length: 1\r\n"));
        assert_eq!(
            raw_response(&apache, &page, Persist::CLOSE, Answer::BodyOnly),
            b"x"
        );
    }

    #[test]
    fn hosts_are_sanitised_for_urls() {
        assert_eq!(
            sane_host(Some("example.com:8080"), "fb"),
            "example.com:8080"
        );
        assert_eq!(sane_host(Some("evil\"><script>"), "fb"), "fb");
        assert_eq!(sane_host(None, "fb"), "fb");
    }

    async fn read(mut input: &[u8]) -> Got {
        let mut buf = BytesMut::new();
        read_head(
            &mut input,
            &mut buf,
            &Rules::of(Flavor::Nginx),
            HEAD_TIMEOUT,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn head_reader_sorts_requests_from_garbage() {
        let mut input: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
        let mut buf = BytesMut::new();
        let got = read_head(
            &mut input,
            &mut buf,
            &Rules::of(Flavor::Nginx),
            HEAD_TIMEOUT,
        )
        .await
        .unwrap();
        assert!(matches!(got, Got::Head(h) if buf.get(h.len..) == Some(&b"rest"[..])));
        assert!(matches!(
            read(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03").await,
            Got::Refused {
                refusal: Refusal::BadRequest,
                ..
            }
        ));
        assert!(matches!(read(b"GET / HTTP/1.1\r\nHost").await, Got::Cut(_)));
        for smuggle in [
            &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        ] {
            match read(smuggle).await {
                Got::Refused { refusal, .. } => {
                    assert_eq!(refusal_reason(refusal), "malformed_request");
                    // nginx answers an unknown transfer coding with 501.
                    assert!(matches!(refusal.status(), 400 | 501));
                }
                _ => panic!("{}", String::from_utf8_lossy(smuggle)),
            }
        }
        assert!(matches!(read(b"").await, Got::Nothing));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(40 * 1024));
        match read(big.as_bytes()).await {
            Got::Refused { refusal, .. } => {
                assert_eq!(refusal_reason(refusal), "request_head_too_large")
            }
            _ => panic!("a 40k header was not refused"),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_head_not_completed_in_time_is_a_timeout_not_a_malformed_request() {
        use tokio::io::AsyncWriteExt;
        let (mut client, mut server) = tokio::io::duplex(1024);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        let rules = Rules::of(Flavor::Nginx);
        let mut buf = BytesMut::new();
        let head = read_head(&mut server, &mut buf, &rules, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(matches!(head, Got::TimedOut(b) if b.starts_with(b"GET / HTTP/1.1")));
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        // A connection that never says a word is held just as long.
        let (_quiet, mut server) = tokio::io::duplex(1024);
        let head = read_head(
            &mut server,
            &mut BytesMut::new(),
            &rules,
            Duration::from_secs(10),
        )
        .await
        .unwrap();
        assert!(matches!(head, Got::TimedOut(b) if b.is_empty()));
    }

    proptest! {
        #[test]
        fn head_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mut input: &[u8] = &bytes;
            let mut buf = BytesMut::new();
            let r = rt.block_on(read_head(&mut input, &mut buf, &Rules::of(Flavor::Apache), HEAD_TIMEOUT));
            prop_assert!(r.is_ok());
        }

        #[test]
        fn hosts_never_break_out(host in ".{0,80}") {
            let h = sane_host(Some(&host), "fb");
            prop_assert!(!h.contains(['"', '<', '>', ' ', '/', '\r', '\n']));
        }
    }
}
