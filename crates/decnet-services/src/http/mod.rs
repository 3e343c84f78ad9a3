//! HTTP (listener `http`, port 80) and HTTPS (listener `https`, port 443): the
//! one HTTP front end on hyper — request-head checks, body caps, TLS, header
//! order and one `http_request` event per request, with any credential it
//! carried — serving a [`Site`]. Today's site is the persona web
//! site: the nginx or Apache the persona names with a fake app (WordPress,
//! phpMyAdmin, a router login, the distro's default pages).
//!
//! - [`site`]: what a site provides the front end
//! - `apps`: the persona web site, which page a request gets, in the server's
//!   and the app's style; page bodies are files under `pages/`
//! - [`creds`]: `Authorization` headers and login forms
//!
//! The first request head of a connection is checked here before hyper sees
//! it, so that garbage gets the persona's own 400 page rather than hyper's
//! bare one; later requests on a kept-alive connection are hyper's to parse.

pub(crate) mod apps;
pub mod creds;
pub mod site;

use std::convert::Infallible;
use std::io;
use std::sync::Arc;

use std::time::Duration;

use ::http::header::{HeaderName, HeaderValue};
use ::http::{Request, Response, StatusCode, Version};
use async_trait::async_trait;
use base64::Engine as _;
use bytes::{Buf as _, Bytes, BytesMut};
use decnet_core::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use decnet_core::config::model::ServiceConfig;
use decnet_core::{Credential, EventType, SecretKind};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio_rustls::TlsAcceptor;

use self::apps::{FakeApp, Flavor, Page, PersonaSite, Req};
use self::creds::{Authorization, Login};
use self::site::Site;
use crate::conn::Conn;
use crate::kit::io::Rewind;
use crate::kit::persona::PersonaKeys;
use crate::kit::tls::{AcceptorBuilder, ClientFacts};
use crate::service::{ConnCtx, DeckyRuntime, Instance, Service, ServiceError};

/// Largest request head (request line and headers) accepted, like nginx's 4×8k buffers.
const MAX_HEAD: usize = 16 * 1024;
/// Most request headers accepted.
const MAX_HEADERS: usize = 100;
/// hyper's read buffer; bounds what one connection holds in memory.
const MAX_BUF: usize = 64 * 1024;
/// Time to send a complete request head (nginx `client_header_timeout`).
const HEAD_TIMEOUT: Duration = Duration::from_secs(60);
/// `limit` of the `limit_exceeded` event of a request head not completed in time.
pub const LIMIT_HEADER_TIMEOUT: &str = "header_timeout";
/// Body bytes kept in the event.
const BODY_CAPTURE: usize = 64 * 1024;
/// Body bytes read (and discarded past the capture) before answering 413 and closing.
const BODY_MAX: usize = 8 * 1024 * 1024;
/// Time to send a whole body.
const BODY_TIMEOUT: Duration = Duration::from_secs(60);
/// Time for the TLS handshake, first byte included.
const TLS_TIMEOUT: Duration = Duration::from_secs(10);
/// Time to write an error page to a peer that broke the protocol.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes of a malformed request kept in its `protocol_error` event.
const SAMPLE: usize = 512;

static KEYS: [PersonaKey; 5] = [
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
                    .build(&decky)?,
            )
        } else {
            None
        };
        Ok(Arc::new(HttpInstance {
            site: Arc::new(site) as Arc<dyn Site>,
            tls,
        }))
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
    })
}

struct HttpInstance {
    site: Arc<dyn Site>,
    tls: Option<TlsAcceptor>,
}

#[async_trait]
impl Instance for HttpInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        match (&self.tls, ctx.listener.tls) {
            (Some(acceptor), true) => serve_tls(acceptor, conn, ctx, self.site.clone()).await,
            (None, true) => Err(ServiceError::Protocol(
                "TLS listener served without a certificate".into(),
            )),
            (_, false) => serve_http(conn, ctx, self.site.clone(), None).await,
        }
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
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
            let host = site.server().hostname.to_owned();
            let page = site.plain_http_on_tls(&host, ctx.local.port());
            let raw = raw_response(site.as_ref(), &page, false);
            let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
                conn.write_all(&raw).await?;
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
    let accept = acceptor
        .accept(Rewind::new(first.freeze(), conn))
        .into_fallible();
    let stream = match tokio::time::timeout(TLS_TIMEOUT, accept).await {
        Err(_) => {
            return Err(protocol_error(
                &ctx,
                "tls_handshake_failed",
                Some("timeout".into()),
                &[],
                None,
            )
            .await)
        }
        Ok(Err((e, _io))) => {
            return Err(protocol_error(
                &ctx,
                "tls_handshake_failed",
                Some(e.to_string()),
                &[],
                None,
            )
            .await)
        }
        Ok(Ok(stream)) => stream,
    };
    let meta = ClientFacts::of(&stream);
    serve_http(stream, ctx, site, Some(meta)).await
}

fn looks_like_http(buf: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    buf.first().is_some_and(u8::is_ascii_uppercase)
        && httparse::Request::new(&mut headers).parse(buf).is_ok()
}

/// How the first request head of a connection turned out.
enum Head {
    /// A well-formed head (and whatever followed it), for hyper to serve.
    Valid(Bytes),
    /// The peer left before sending anything.
    Nothing,
    /// The head was not complete in time: a `limit_exceeded`, not a
    /// malformed request (slowloris, or a connection opened and left waiting).
    TimedOut(Bytes),
    /// Not HTTP, or too large, or cut off: answered and recorded here.
    Invalid {
        reason: &'static str,
        detail: String,
        data: Bytes,
        /// Status to answer with, when the peer is still there to read it.
        status: Option<u16>,
    },
}

async fn read_head<I: AsyncRead + Unpin>(
    io: &mut I,
    timeout: Duration,
) -> Result<Head, ServiceError> {
    let mut buf = BytesMut::with_capacity(4096);
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut chunk = [0u8; 4096];
        let n = match tokio::time::timeout_at(deadline, io.read(&mut chunk)).await {
            Err(_) => return Ok(Head::TimedOut(buf.freeze())),
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            if buf.is_empty() || buf.iter().all(u8::is_ascii_whitespace) {
                return Ok(Head::Nothing);
            }
            return Ok(Head::Invalid {
                reason: "incomplete_request",
                detail: "connection closed inside the request head".into(),
                data: buf.freeze(),
                status: None,
            });
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(_)) => {
                return Ok(match head_problem(&req) {
                    None => Head::Valid(buf.freeze()),
                    Some(detail) => Head::Invalid {
                        reason: "malformed_request",
                        detail: detail.into(),
                        data: buf.freeze(),
                        status: Some(400),
                    },
                })
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) | Err(httparse::Error::TooManyHeaders) => {
                return Ok(Head::Invalid {
                    reason: "request_head_too_large",
                    detail: format!("request head over {MAX_HEAD} bytes or {MAX_HEADERS} headers"),
                    data: buf.freeze(),
                    status: Some(400),
                })
            }
            Err(e) => {
                return Ok(Head::Invalid {
                    reason: "malformed_request",
                    detail: e.to_string(),
                    data: buf.freeze(),
                    status: Some(400),
                })
            }
        }
    }
}

/// What hyper would refuse in a head httparse accepts (it would answer with a
/// bare 400 of its own, without the persona's `Server` header).
fn head_problem(req: &httparse::Request<'_, '_>) -> Option<&'static str> {
    if let Some(target) = req.path {
        if target.parse::<::http::Uri>().is_err() {
            return Some("invalid request target");
        }
    }
    let mut length: Option<u64> = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let v = std::str::from_utf8(h.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok());
            match (v, length) {
                (None, _) => return Some("invalid Content-Length"),
                (Some(v), Some(prev)) if v != prev => return Some("conflicting Content-Length"),
                (Some(v), _) => length = Some(v),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|b| *b == b',').next().unwrap_or_default();
            let last = String::from_utf8_lossy(last);
            if !last.trim().eq_ignore_ascii_case("chunked") {
                return Some("unsupported Transfer-Encoding");
            }
        }
    }
    None
}

/// Adds the first [`SAMPLE`] bytes the peer sent (`data_b64`) and how many (`data_len`).
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

async fn serve_http<I>(
    mut io: I,
    ctx: ConnCtx,
    site: Arc<dyn Site>,
    tls: Option<ClientFacts>,
) -> Result<(), ServiceError>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // nginx's 60 s, or the operator's shorter pre-auth deadline.
    let head_timeout = HEAD_TIMEOUT.min(ctx.decky.limits.pre_auth_timeout);
    let prefix = match read_head(&mut io, head_timeout).await? {
        Head::Nothing => return Ok(()),
        Head::TimedOut(data) => {
            let mut e = ctx.event(EventType::LimitExceeded);
            e.fields.insert("limit".into(), LIMIT_HEADER_TIMEOUT.into());
            e.fields
                .insert("max_secs".into(), head_timeout.as_secs().into());
            insert_sample(&mut e.fields, &data);
            ctx.emit(e).await;
            return Ok(());
        }
        Head::Valid(prefix) => {
            // A complete first request head: the pre-auth deadline is lifted.
            ctx.pre_auth.done();
            prefix
        }
        Head::Invalid {
            reason,
            detail,
            data,
            status,
        } => {
            if let Some(status) = status {
                let host = site.server().hostname.to_owned();
                let page = site.error_page(
                    &Req {
                        method: "GET",
                        path: "/",
                        host: &host,
                        port: ctx.local.port(),
                        scheme: if tls.is_some() { "https" } else { "http" },
                        login: None,
                    },
                    status,
                );
                let raw = raw_response(site.as_ref(), &page, false);
                let _ = tokio::time::timeout(WRITE_TIMEOUT, async {
                    io.write_all(&raw).await?;
                    io.shutdown().await
                })
                .await;
            }
            return Err(protocol_error(&ctx, reason, Some(detail), &data, status).await);
        }
    };

    let handler = Arc::new(Handler {
        site,
        ctx: ctx.clone(),
        tls,
    });
    let service = hyper::service::service_fn(move |req| {
        let h = handler.clone();
        async move { Ok::<_, Infallible>(h.handle(req).await) }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_BUF)
        .max_headers(MAX_HEADERS)
        .max_header_size(MAX_HEAD)
        .title_case_headers(true)
        .auto_date_header(false)
        .keep_alive(true);
    let io = TokioIo::new(Rewind::new(prefix, io));
    match builder.serve_connection(io, service).await {
        Ok(()) => Ok(()),
        Err(e) if e.is_parse() || e.is_parse_too_large() => {
            Err(protocol_error(&ctx, "malformed_request", Some(e.to_string()), &[], None).await)
        }
        Err(e) if e.is_incomplete_message() => {
            Err(protocol_error(&ctx, "incomplete_request", Some(e.to_string()), &[], None).await)
        }
        // A kept-alive connection nobody reuses: as normal as a close.
        Err(e) if e.is_timeout() => Ok(()),
        Err(e) => Err(ServiceError::Io(io::Error::other(e.to_string()))),
    }
}

/// Per-connection request handler: hyper's callback only hands requests here.
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
    /// The body went past `BODY_MAX`, timed out or broke off.
    cut: Option<&'static str>,
}

async fn read_body(body: Incoming) -> Body {
    let mut body = Limited::new(body, BODY_MAX);
    let mut out = Body {
        kept: Vec::new(),
        len: 0,
        cut: None,
    };
    let deadline = tokio::time::Instant::now() + BODY_TIMEOUT;
    loop {
        match tokio::time::timeout_at(deadline, body.frame()).await {
            Err(_) => {
                out.cut = Some("body_timeout");
                break;
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                out.cut = Some(if e.is::<http_body_util::LengthLimitError>() {
                    "body_too_large"
                } else {
                    "body_incomplete"
                });
                break;
            }
            Ok(Some(Ok(frame))) => {
                if let Ok(mut data) = frame.into_data() {
                    out.len = out.len.saturating_add(data.len());
                    let room = BODY_CAPTURE.saturating_sub(out.kept.len());
                    let take = room.min(data.len());
                    out.kept
                        .extend_from_slice(data.chunk().get(..take).unwrap_or_default());
                    data.advance(data.remaining());
                }
            }
        }
    }
    out
}

/// Keeps host names for redirects to the characters a host can have; anything
/// else falls back to the persona's host name.
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
    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let (parts, body) = req.into_parts();
        let body = read_body(body).await;
        let headers = &parts.headers;
        let header_text = |name: &str| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        let host = header_text("host").or_else(|| parts.uri.authority().map(|a| a.to_string()));
        let content_type = header_text("content-type")
            .unwrap_or_default()
            .to_ascii_lowercase();
        let path = parts.uri.path();
        let method = parts.method.as_str();

        let auth = headers
            .get(::http::header::AUTHORIZATION)
            .map(|v| creds::parse_authorization(v.as_bytes()));
        let login = self.login(path, &content_type, parts.uri.query(), &body);

        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let url_host = sane_host(host.as_deref(), self.site.server().hostname);
        let mut page = match body.cut {
            Some("body_too_large") => self
                .site
                .error_page(&self.req(method, path, &url_host, scheme, None), 413),
            Some(_) => self
                .site
                .error_page(&self.req(method, path, &url_host, scheme, None), 400),
            None => self
                .site
                .route(&self.req(method, path, &url_host, scheme, login.as_ref())),
        };
        if page.status == 204 || page.status == 304 {
            page.body.clear();
        }
        let wants_close = body.cut.is_some() || !keep_alive(parts.version, headers);
        let response = hyper_response(self.site.as_ref(), &page, !wants_close);

        let mut e = self.ctx.event(EventType::HttpRequest);
        let f = &mut e.fields;
        f.insert("method".into(), method.into());
        f.insert("path".into(), path.into());
        f.insert(
            "query".into(),
            parts.uri.query().map_or(Value::Null, Into::into),
        );
        f.insert("target".into(), parts.uri.to_string().into());
        f.insert("version".into(), format!("{:?}", parts.version).into());
        let list: Vec<Value> = headers
            .iter()
            .map(|(k, v)| json!([k.as_str(), String::from_utf8_lossy(v.as_bytes())]))
            .collect();
        f.insert("headers".into(), Value::Array(list));
        f.insert(
            "user_agent".into(),
            header_text("user-agent").map_or(Value::Null, Into::into),
        );
        f.insert("host".into(), host.map_or(Value::Null, Into::into));
        insert_body(f, &body);
        f.insert("status".into(), page.status.into());
        f.insert("app".into(), self.site.app_name().into());
        f.insert("tls".into(), self.tls.is_some().into());
        if let Some(t) = &self.tls {
            for (k, v) in [
                ("tls_sni", &t.sni),
                ("tls_version", &t.version),
                ("tls_cipher", &t.cipher),
                ("tls_alpn", &t.alpn),
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
        match (&e.credential, login) {
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
        self.ctx.emit(e).await;
        response
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
        }
    }

    /// A login in the body (form, JSON or XML-RPC) or, failing that, the query string.
    fn login(
        &self,
        path: &str,
        content_type: &str,
        query: Option<&str>,
        body: &Body,
    ) -> Option<Login> {
        let data = &body.kept;
        let from_body = if data.is_empty() {
            None
        } else if path.ends_with("xmlrpc.php") || content_type.contains("xml") {
            creds::xmlrpc_login(data)
        } else if content_type.contains("json") {
            creds::json_login(data)
        } else if content_type.is_empty() || content_type.contains("x-www-form-urlencoded") {
            creds::form_login(&creds::parse_form(data))
        } else {
            None
        };
        from_body
            .or_else(|| query.and_then(|q| creds::form_login(&creds::parse_form(q.as_bytes()))))
    }
}

fn insert_body(f: &mut decnet_core::event::Fields, body: &Body) {
    let truncated = body.len > body.kept.len();
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

/// Whether the client lets the connection stay open after this response.
fn keep_alive(version: Version, headers: &::http::HeaderMap) -> bool {
    let has = |token: &str| {
        headers.get_all(::http::header::CONNECTION).iter().any(|v| {
            v.to_str()
                .unwrap_or_default()
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        })
    };
    match version {
        Version::HTTP_10 | Version::HTTP_09 => has("keep-alive"),
        _ => !has("close"),
    }
}

fn http_date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

/// The response headers in the order the persona's server sends them.
fn response_headers(site: &dyn Site, page: &Page, keep_alive: bool) -> Vec<(&'static str, String)> {
    let site = site.server();
    let now = http_date(chrono::Utc::now().timestamp());
    let len = page.body.len();
    let mut h: Vec<(&'static str, String)> = Vec::with_capacity(12);
    let connection = match (site.flavor, keep_alive) {
        (Flavor::Nginx, true) => "keep-alive",
        (Flavor::Apache, true) => "Keep-Alive",
        (_, false) => "close",
    };
    match site.flavor {
        Flavor::Nginx => {
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
        Flavor::Apache => {
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
            if keep_alive {
                h.push(("Keep-Alive", "timeout=5, max=100".into()));
            }
            h.push(("Connection", connection.into()));
            h.push(("Content-Type", page.content_type.into()));
        }
    }
    h
}

fn hyper_response(site: &dyn Site, page: &Page, keep_alive: bool) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(page.body.clone())));
    *resp.status_mut() = StatusCode::from_u16(page.status).unwrap_or(StatusCode::OK);
    let phrase = apps::reason(site.server().flavor, page.status);
    if !phrase.is_empty() && resp.status().canonical_reason() != Some(phrase) {
        resp.extensions_mut()
            .insert(hyper::ext::ReasonPhrase::from_static(phrase.as_bytes()));
    }
    let headers = resp.headers_mut();
    for (name, value) in response_headers(site, page, keep_alive) {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.append(n, v);
        }
    }
    resp
}

/// A whole response as bytes, for answers written before hyper takes over.
fn raw_response(site: &dyn Site, page: &Page, keep_alive: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\n",
        page.status,
        apps::reason(site.server().flavor, page.status)
    );
    for (name, value) in response_headers(site, page, keep_alive) {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(&value);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.push_str(&page.body);
    out.into_bytes()
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
        let names = |s: &PersonaSite| -> Vec<&str> {
            response_headers(s, &page, true)
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
        let raw = raw_response(&site("nginx/1.22.1"), &page, false);
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

    #[test]
    fn keep_alive_rules() {
        let mut h = ::http::HeaderMap::new();
        assert!(keep_alive(Version::HTTP_11, &h));
        assert!(!keep_alive(Version::HTTP_10, &h));
        h.insert(
            ::http::header::CONNECTION,
            HeaderValue::from_static("Keep-Alive"),
        );
        assert!(keep_alive(Version::HTTP_10, &h));
        h.insert(
            ::http::header::CONNECTION,
            HeaderValue::from_static("foo, close"),
        );
        assert!(!keep_alive(Version::HTTP_11, &h));
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

    #[tokio::test]
    async fn head_reader_sorts_requests_from_garbage() {
        let mut ok: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest";
        assert!(
            matches!(read_head(&mut ok, HEAD_TIMEOUT).await.unwrap(), Head::Valid(b) if b.ends_with(b"rest"))
        );
        let mut bad: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";
        assert!(matches!(
            read_head(&mut bad, HEAD_TIMEOUT).await.unwrap(),
            Head::Invalid {
                reason: "malformed_request",
                status: Some(400),
                ..
            }
        ));
        let mut cut: &[u8] = b"GET / HTTP/1.1\r\nHost";
        assert!(matches!(
            read_head(&mut cut, HEAD_TIMEOUT).await.unwrap(),
            Head::Invalid {
                reason: "incomplete_request",
                status: None,
                ..
            }
        ));
        for smuggle in [
            &b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"[..],
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
        ] {
            let mut input = smuggle;
            assert!(matches!(
                read_head(&mut input, HEAD_TIMEOUT).await.unwrap(),
                Head::Invalid {
                    reason: "malformed_request",
                    status: Some(400),
                    ..
                }
            ));
        }
        let mut empty: &[u8] = b"";
        assert!(matches!(
            read_head(&mut empty, HEAD_TIMEOUT).await.unwrap(),
            Head::Nothing
        ));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        let mut big = big.as_bytes();
        assert!(matches!(
            read_head(&mut big, HEAD_TIMEOUT).await.unwrap(),
            Head::Invalid {
                reason: "request_head_too_large",
                ..
            }
        ));
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
        let head = read_head(&mut server, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(matches!(head, Head::TimedOut(b) if b.starts_with(b"GET / HTTP/1.1")));
        assert_eq!(started.elapsed(), Duration::from_secs(10));
        // A connection that never says a word is held just as long.
        let (_quiet, mut server) = tokio::io::duplex(1024);
        let head = read_head(&mut server, Duration::from_secs(10))
            .await
            .unwrap();
        assert!(matches!(head, Head::TimedOut(b) if b.is_empty()));
    }

    proptest! {
        #[test]
        fn head_reader_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            let mut input: &[u8] = &bytes;
            let r = rt.block_on(read_head(&mut input, HEAD_TIMEOUT));
            prop_assert!(r.is_ok());
        }

        #[test]
        fn hosts_never_break_out(host in ".{0,80}") {
            let h = sane_host(Some(&host), "fb");
            prop_assert!(!h.contains(['"', '<', '>', ' ', '/', '\r', '\n']));
        }
    }
}
