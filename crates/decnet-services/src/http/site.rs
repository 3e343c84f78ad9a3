//! What the HTTP front end serves: a [`Site`] answers requests with pages; the
//! front end ([`super`]) owns everything else — request parsing, body caps,
//! TLS, the `http_request` events — and writes each response the way the
//! site's [`Style`] of server does. The persona web site
//! (`super::apps::PersonaSite`) is one site; HTTP-shaped services
//! (Elasticsearch, the Docker API, Kubernetes) are others, served through
//! [`super::front::Front`].
//!
//! A site never sees a socket: it reads a [`Req`] and writes what it wants
//! recorded beyond the request itself into a [`Record`].

use std::time::Duration;

use decnet_core::{Credential, EventType, Fields};

use super::apps::{self, Flavor, Page, PersonaSite, Req};
use super::wire::{Refusal, Rules};

/// The server a site runs on, as a scanner sees it in every response.
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    /// Error-page style of the persona site (nginx or Apache); other styles ignore it.
    pub flavor: Flavor,
    /// `Server` header value (written by the nginx and Apache styles only).
    pub server_header: &'a str,
    /// Host name the server believes it is (redirects, certificate).
    pub hostname: &'a str,
    /// Modification time of static files (seconds since the epoch).
    pub mtime: i64,
}

/// Whose HTTP server the front end copies on the wire: request-parsing limits,
/// keep-alive, reason phrases, body limits, and how a [`Page`] becomes a
/// response head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// nginx: `Server`, `Date`, `Content-Type`, `Content-Length`, … then the page's extras.
    Nginx,
    /// Apache httpd: `Date`, `Server`, …, the extras, `Content-Length`, `Connection`, `Content-Type`.
    Apache,
    /// Go's `net/http` (dockerd, kube-apiserver). The page's `extra` headers
    /// are what the handler set, written sorted by name (the site spells them
    /// canonically, `Content-Type` included when the handler sets it); then
    /// `Date` and `Content-Length` unless the handler set them; then
    /// `content_type` as the sniffed `Content-Type` (empty: none); then
    /// `Connection` as Go decides it. A body over 2048 bytes to an HTTP/1.1
    /// client is sent chunked, as Go does once its buffer fills. Refused heads
    /// and plain HTTP on a TLS port get Go's own bare answers.
    Go,
    /// Netty as Elasticsearch runs it: the page's `extra` headers in the site's
    /// order and spelling, then `content-type` (when the page has one) and
    /// `content-length`, lower-case; no `Date`, no `Server`.
    Netty,
}

impl Style {
    /// The style of the persona site's server.
    pub fn of(flavor: Flavor) -> Style {
        match flavor {
            Flavor::Nginx => Style::Nginx,
            Flavor::Apache => Style::Apache,
        }
    }

    /// The request-head rules and limits of this server.
    pub fn rules(self) -> Rules {
        match self {
            Style::Nginx => Rules::of(Flavor::Nginx),
            Style::Apache => Rules::of(Flavor::Apache),
            Style::Go => Rules::go(),
            Style::Netty => Rules::netty(),
        }
    }

    /// Largest request body the server takes (nginx's `client_max_body_size`
    /// 1m; the others take more than the front end reads, so its cap applies).
    pub fn body_max(self) -> usize {
        match self {
            Style::Nginx => 1024 * 1024,
            // Elasticsearch's http.max_content_length is 100mb.
            Style::Apache | Style::Go | Style::Netty => super::BODY_MAX,
        }
    }

    /// Time a kept-alive connection may wait for its next request (nginx's
    /// `keepalive_timeout` 75 s, Apache's `KeepAliveTimeout` 5 s; Go servers
    /// without an `IdleTimeout` and Netty wait as long as the supervisor lets them).
    pub fn keepalive_timeout(self) -> Duration {
        match self {
            Style::Nginx => Duration::from_secs(75),
            Style::Apache => Duration::from_secs(5),
            Style::Go | Style::Netty => Duration::from_secs(300),
        }
    }

    /// Requests one connection may carry (nginx's `keepalive_requests` 1000,
    /// Apache's `MaxKeepAliveRequests` 100; Go and Netty: no limit).
    pub fn max_requests(self) -> u32 {
        match self {
            Style::Nginx => 1000,
            Style::Apache => 100,
            Style::Go | Style::Netty => u32::MAX,
        }
    }

    /// The reason phrase on the status line.
    pub fn reason(self, status: u16) -> &'static str {
        match self {
            Style::Nginx => apps::reason(Flavor::Nginx, status),
            Style::Apache => apps::reason(Flavor::Apache, status),
            Style::Go | Style::Netty => std_reason(status),
        }
    }
}

/// The reason phrases of Go's `http.StatusText` (Netty's are the same for these).
pub fn std_reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Request Entity Too Large",
        414 => "Request URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// One further event a site asks the front end to emit after the request's
/// `http_request` (a `command` for a container create, a `login_attempt` for a
/// token). The front end fills in decky, service, addresses and session.
#[derive(Debug, Clone)]
pub struct Note {
    /// Event type.
    pub event_type: EventType,
    /// Its fields (the front end adds `method` and `path` when absent).
    pub fields: Fields,
    /// Credential it carries, if any.
    pub credential: Option<Credential>,
}

impl Note {
    /// A note of `event_type` with no fields yet.
    pub fn new(event_type: EventType) -> Note {
        Note {
            event_type,
            fields: Fields::new(),
            credential: None,
        }
    }

    /// Adds a field.
    pub fn field(mut self, key: &str, value: impl Into<serde_json::Value>) -> Note {
        self.fields.insert(key.to_owned(), value.into());
        self
    }

    /// Attaches a credential.
    pub fn credential(mut self, credential: Credential) -> Note {
        self.credential = Some(credential);
        self
    }
}

/// What a site adds to the record of one request, beside the page it answers.
#[derive(Debug, Default)]
pub struct Record {
    /// Fields merged into the request's `http_request` event (a site's key
    /// replaces the front end's of the same name).
    pub fields: Fields,
    /// Events emitted after the `http_request`, in order.
    pub notes: Vec<Note>,
    /// Exact bytes to send instead of the page (a hijacked connection such as
    /// dockerd's attach: its `101 UPGRADED` head and stream); the connection
    /// is closed after them. The page's status is still what the event records.
    pub raw: Option<Vec<u8>>,
    /// The handler flushed its head before writing the body (dockerd's wait,
    /// a pull's progress stream): the Go style sends the body chunked, whatever its size.
    pub flushed: bool,
}

impl Record {
    /// Adds a field to the `http_request` event.
    pub fn field(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.fields.insert(key.to_owned(), value.into());
    }

    /// Asks for one more event after the `http_request`.
    pub fn note(&mut self, note: Note) {
        self.notes.push(note);
    }
}

/// A web site the front end can serve.
pub trait Site: Send + Sync + 'static {
    /// The server it runs on.
    fn server(&self) -> Server<'_>;
    /// How the server writes responses; the persona site's follows its flavor.
    fn style(&self) -> Style {
        Style::of(self.server().flavor)
    }
    /// The answer to one request; what to record beyond the request goes in `record`.
    fn route(&self, req: &Req<'_>, record: &mut Record) -> Page;
    /// The server's page for an error status (bodies cut short: 400; over the limit: 413).
    fn error_page(&self, req: &Req<'_>, status: u16) -> Page;
    /// The answer to plain HTTP sent to a TLS listener (nginx and Apache
    /// styles; `None` closes without a word). The Go style answers as Go does.
    fn plain_http_on_tls(&self, host: &str, port: u16) -> Option<Page>;
    /// The server's page for a request head it refuses (nginx, Apache and
    /// Netty styles; the Go style answers as Go does).
    fn refusal_page(&self, req: &Req<'_>, refusal: Refusal) -> Page;
    /// Name recorded as `app` on every request event.
    fn app_name(&self) -> &'static str;
}

impl Site for PersonaSite {
    fn server(&self) -> Server<'_> {
        Server {
            flavor: self.flavor,
            server_header: &self.server_header,
            hostname: &self.hostname,
            mtime: self.mtime,
        }
    }

    fn route(&self, req: &Req<'_>, _record: &mut Record) -> Page {
        apps::route(self, req)
    }

    fn error_page(&self, req: &Req<'_>, status: u16) -> Page {
        apps::error_page(self, req, status)
    }

    fn plain_http_on_tls(&self, host: &str, port: u16) -> Option<Page> {
        Some(apps::plain_http_on_tls_page(self, host, port))
    }

    fn refusal_page(&self, req: &Req<'_>, refusal: Refusal) -> Page {
        apps::refusal_page(self, req, refusal)
    }

    fn app_name(&self) -> &'static str {
        self.app.as_str()
    }
}
