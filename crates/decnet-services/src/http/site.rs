//! What the HTTP front end serves: a [`Site`] answers requests with pages; the
//! front end ([`super`]) owns everything else — request parsing, body caps,
//! TLS, the `http_request` events and the server's header order. The
//! persona web site (`super::apps::PersonaSite`) is one site; HTTP-shaped
//! services (Elasticsearch, the Docker API, Kubernetes) are others.

use super::apps::{self, Flavor, Page, PersonaSite, Req};
use super::wire::Refusal;

/// The server a site runs on, as a scanner sees it in every response.
#[derive(Debug, Clone, Copy)]
pub struct Server<'a> {
    /// Header habits (order, casing, error-page style).
    pub flavor: Flavor,
    /// `Server` header value.
    pub server_header: &'a str,
    /// Host name the server believes it is (redirects, certificate).
    pub hostname: &'a str,
    /// Modification time of static files (seconds since the epoch).
    pub mtime: i64,
}

/// A web site the front end can serve.
pub trait Site: Send + Sync + 'static {
    /// The server it runs on.
    fn server(&self) -> Server<'_>;
    /// The answer to one request.
    fn route(&self, req: &Req<'_>) -> Page;
    /// The server's page for an error status (bad heads, oversized bodies).
    fn error_page(&self, req: &Req<'_>, status: u16) -> Page;
    /// The answer to plain HTTP sent to a TLS listener.
    fn plain_http_on_tls(&self, host: &str, port: u16) -> Page;
    /// The server's page for a request head it refuses.
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

    fn route(&self, req: &Req<'_>) -> Page {
        apps::route(self, req)
    }

    fn error_page(&self, req: &Req<'_>, status: u16) -> Page {
        apps::error_page(self, req, status)
    }

    fn plain_http_on_tls(&self, host: &str, port: u16) -> Page {
        apps::plain_http_on_tls_page(self, host, port)
    }

    fn refusal_page(&self, req: &Req<'_>, refusal: Refusal) -> Page {
        apps::refusal_page(self, req, refusal)
    }

    fn app_name(&self) -> &'static str {
        self.app.as_str()
    }
}
