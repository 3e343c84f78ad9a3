//! The fake sites: which page a request gets, in the style of the server the
//! persona claims (nginx and Apache error pages differ) and of the fake app.
//!
//! Pure functions of the site and the request, so routing is tested without sockets.

use decnet_core::persona::DefaultPage;

use super::creds::Login;
use super::wire::{Header, Refusal};

/// The application the site pretends to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeApp {
    /// nginx's default welcome page.
    Nginx,
    /// Apache's default page, as the distro's package ships it.
    Apache,
    /// A WordPress blog with its login page and XML-RPC.
    Wordpress,
    /// phpMyAdmin's login page.
    Phpmyadmin,
    /// A home router's admin login.
    Router,
}

impl FakeApp {
    /// Values of the `fake_app` persona key.
    pub const NAMES: &'static [&'static str] =
        &["nginx", "apache", "wordpress", "phpmyadmin", "router"];

    /// Parses a `fake_app` value.
    pub fn parse(s: &str) -> Option<FakeApp> {
        match s.trim().to_ascii_lowercase().as_str() {
            "nginx" => Some(FakeApp::Nginx),
            "apache" => Some(FakeApp::Apache),
            "wordpress" => Some(FakeApp::Wordpress),
            "phpmyadmin" => Some(FakeApp::Phpmyadmin),
            "router" => Some(FakeApp::Router),
            _ => None,
        }
    }

    /// Name used in events.
    pub fn as_str(self) -> &'static str {
        match self {
            FakeApp::Nginx => "nginx",
            FakeApp::Apache => "apache",
            FakeApp::Wordpress => "wordpress",
            FakeApp::Phpmyadmin => "phpmyadmin",
            FakeApp::Router => "router",
        }
    }
}

/// Which server's habits (error pages, header order, reason phrases) to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// nginx.
    Nginx,
    /// Apache httpd.
    Apache,
}

impl Flavor {
    /// The flavor a `Server` header implies.
    pub fn of(server_header: &str) -> Flavor {
        if server_header.to_ascii_lowercase().contains("apache") {
            Flavor::Apache
        } else {
            Flavor::Nginx
        }
    }
}

/// One decky's web site from its persona: the fake app on the nginx or Apache it names.
#[derive(Debug, Clone)]
pub struct PersonaSite {
    /// The fake application.
    pub app: FakeApp,
    /// Server habits.
    pub flavor: Flavor,
    /// `Server` header value.
    pub server_header: String,
    /// Page title override.
    pub title: Option<String>,
    /// Host name the site believes it is.
    pub hostname: String,
    /// Status of the index page.
    pub index_status: u16,
    /// The page the distro's web server shows at `/` out of the box.
    pub default_page: DefaultPage,
    /// Modification time of the static pages (seconds since the epoch).
    pub mtime: i64,
    /// The one user and password the Basic-auth realms accept, if any.
    pub basic_auth: Option<BasicAuth>,
    /// Apache's `Allow` value: its methods in the order this server's start
    /// happened to hash them (see [`apache_allow`]).
    pub allow: String,
}

/// The methods Apache's `Allow` lists for a static directory.
const APACHE_ALLOW: [&str; 4] = ["POST", "OPTIONS", "HEAD", "GET"];

/// Apache's `Allow` value for permutation `n` (of 24): Apache builds it from a
/// hash table whose order changes from one start of the server to the next, so
/// each decky keeps one order, and two deckies seldom share it.
pub fn apache_allow(n: u64) -> String {
    let mut left: Vec<&str> = APACHE_ALLOW.to_vec();
    let mut n = n % 24;
    let mut out = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let len = left.len() as u64;
        let i = usize::try_from(n % len).unwrap_or(0);
        n /= len;
        out.push(left.remove(i.min(left.len() - 1)));
    }
    out.join(",")
}

/// A user and password a Basic-auth realm accepts (the `basic_auth` persona key).
#[derive(Clone, PartialEq, Eq)]
pub struct BasicAuth {
    /// User name.
    pub user: String,
    /// Exact password bytes.
    pub password: Vec<u8>,
}

impl std::fmt::Debug for BasicAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuth")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// What routing needs of a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Req<'a> {
    /// Method as sent.
    pub method: &'a str,
    /// Path, still percent-encoded.
    pub path: &'a str,
    /// Host (and port) to use in absolute URLs, already sanitised.
    pub host: &'a str,
    /// Local port (Apache prints it in error pages).
    pub port: u16,
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Login the request carried in a form or XML-RPC call, if any.
    pub login: Option<&'a Login>,
    /// User and password of a Basic `Authorization` header, if any.
    pub basic: Option<(&'a str, &'a [u8])>,
    /// Login pairs the request carried (more than one: an XML-RPC multicall).
    pub logins: usize,
    /// Query string (after `?`, still percent-encoded), if any.
    pub query: Option<&'a str>,
    /// Request target as sent.
    pub target: &'a str,
    /// The request's headers in order, names as the client spelled them
    /// (lines nginx would skip are marked `ignored`; [`Req::header`] skips them).
    pub headers: &'a [Header],
    /// The body as far as it was kept (the first 64 KiB).
    pub body: &'a [u8],
    /// Body bytes received (more than `body.len()` when the capture was full).
    pub body_len: usize,
    /// Token of a `Bearer` (or `Token`) `Authorization` header, if any.
    pub bearer: Option<&'a [u8]>,
    /// The request arrived over TLS.
    pub tls: bool,
}

impl<'a> Req<'a> {
    /// The first header of that name (case-insensitive), exact bytes.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers
            .iter()
            .find(|h| !h.ignored && h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value.as_slice())
    }

    /// The first header of that name as text (lossy UTF-8).
    pub fn header_text(&self, name: &str) -> Option<String> {
        self.header(name)
            .map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The query's parameters, percent-decoded, in order (`+` is a space).
    pub fn params(&self) -> Vec<(String, String)> {
        let Some(q) = self.query else {
            return Vec::new();
        };
        super::creds::parse_form(q.as_bytes())
            .into_iter()
            .map(|(k, v)| {
                (
                    String::from_utf8_lossy(&k).into_owned(),
                    String::from_utf8_lossy(&v).into_owned(),
                )
            })
            .collect()
    }

    /// The first query parameter of that name, percent-decoded.
    pub fn param(&self, name: &str) -> Option<String> {
        self.params()
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }
}

/// A response to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body (sent for every method but HEAD).
    pub body: String,
    /// Headers after the standard ones, in order.
    pub extra: Vec<(&'static str, String)>,
    /// A file on disk: gets `Last-Modified`, `ETag`, `Accept-Ranges`.
    pub static_file: bool,
}

impl Page {
    /// A page that is no file on disk: `status`, `content_type` ("" for none), `body`.
    pub fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Page {
        Page {
            status,
            content_type,
            body: body.into(),
            extra: Vec::new(),
            static_file: false,
        }
    }

    fn html(status: u16, body: String) -> Page {
        Page {
            status,
            content_type: "text/html; charset=UTF-8",
            body,
            extra: Vec::new(),
            static_file: false,
        }
    }

    /// Adds a header after the ones the server style writes itself (for the Go
    /// style: one the handler set).
    pub fn with(mut self, name: &'static str, value: impl Into<String>) -> Page {
        self.extra.push((name, value.into()));
        self
    }
}

/// HTML-escapes text that came from the persona or the attacker.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#039;"),
            c => out.push(c),
        }
    }
    out
}

/// Fills the `{{name}}` placeholders of a page template in one pass.
///
/// Values go in verbatim and are never scanned again, so attacker text that
/// looks like a placeholder stays text; an unknown name is left as written.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len() + 256);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let (before, tail) = rest.split_at(start);
        out.push_str(before);
        let inner = tail.strip_prefix("{{").unwrap_or(tail);
        let found = inner.split_once("}}").and_then(|(name, after)| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, value)| (*value, after))
        });
        match found {
            Some((value, after)) => {
                out.push_str(value);
                rest = after;
            }
            None => {
                out.push_str("{{");
                rest = inner;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The page templates, embedded from `pages/`.
mod pages {
    pub(super) const NGINX_ERROR: &str = include_str!("pages/nginx_error.html");
    pub(super) const APACHE_ERROR: &str = include_str!("pages/apache_error.html");
    pub(super) const NGINX_WELCOME: &str = include_str!("pages/nginx_welcome.html");
    pub(super) const APACHE_UBUNTU_DEFAULT: &str =
        include_str!("pages/apache_ubuntu_debian_default.html");
    pub(super) const APACHE_DEBIAN_DEFAULT: &str = include_str!("pages/apache_debian_default.html");
    pub(super) const WORDPRESS_HOME: &str = include_str!("pages/wordpress_home.html");
    pub(super) const WORDPRESS_NOT_FOUND: &str = include_str!("pages/wordpress_not_found.html");
    pub(super) const WORDPRESS_LOGIN: &str = include_str!("pages/wordpress_login.html");
    pub(super) const WORDPRESS_XMLRPC_FAULT: &str =
        include_str!("pages/wordpress_xmlrpc_fault.xml");
    pub(super) const WORDPRESS_USERS: &str = include_str!("pages/wordpress_users.json");
    pub(super) const WORDPRESS_ROBOTS: &str = include_str!("pages/wordpress_robots.txt");
    pub(super) const PHPMYADMIN_LOGIN: &str = include_str!("pages/phpmyadmin_login.html");
    pub(super) const ROUTER_LOGIN: &str = include_str!("pages/router_login.html");
    pub(super) const ROCKY_TEST_PAGE: &str = include_str!("pages/rocky_test_page.html");
    pub(super) const CENTOS_TEST_PAGE: &str = include_str!("pages/centos_test_page.html");
    pub(super) const FEDORA_TEST_PAGE: &str = include_str!("pages/fedora_test_page.html");
    pub(super) const APACHE_IT_WORKS: &str = include_str!("pages/apache_it_works.html");
}

/// Canonical reason phrase, as the flavor spells it.
pub fn reason(flavor: Flavor, status: u16) -> &'static str {
    match (flavor, status) {
        (Flavor::Nginx, 401) => "Unauthorized",
        (Flavor::Nginx, 405) => "Not Allowed",
        (Flavor::Nginx, 503) => "Service Temporarily Unavailable",
        (Flavor::Apache, 414) => "Request-URI Too Long",
        (_, 200) => "OK",
        (_, 201) => "Created",
        (_, 204) => "No Content",
        (_, 301) => "Moved Permanently",
        (_, 302) => "Found",
        (_, 303) => "See Other",
        (_, 304) => "Not Modified",
        (_, 307) => "Temporary Redirect",
        (_, 308) => "Permanent Redirect",
        (_, 400) => "Bad Request",
        (_, 401) => "Unauthorized",
        (_, 403) => "Forbidden",
        (_, 404) => "Not Found",
        (_, 405) => "Method Not Allowed",
        (_, 408) => "Request Timeout",
        (_, 413) => "Request Entity Too Large",
        (_, 414) => "Request-URI Too Large",
        (_, 500) => "Internal Server Error",
        (_, 501) => "Not Implemented",
        (_, 502) => "Bad Gateway",
        (_, 503) => "Service Unavailable",
        (_, 505) => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The server's own error page for a status.
pub fn error_page(site: &PersonaSite, req: &Req<'_>, status: u16) -> Page {
    error_page_with(site, req.host, req.port, req.method, status, None)
}

/// The server's 400 for a plain-HTTP request on the TLS port.
pub fn plain_http_on_tls_page(site: &PersonaSite, host: &str, port: u16) -> Page {
    error_page_with(site, host, port, "GET", 400, Some(Special::PlainOnTls))
}

/// The server's page for a request head it refuses.
pub fn refusal_page(site: &PersonaSite, req: &Req<'_>, refusal: Refusal) -> Page {
    let special = match refusal {
        Refusal::HeaderTooLarge => Some(Special::HeaderTooLarge),
        Refusal::TooManyHeaders => Some(Special::TooManyHeaders),
        _ => None,
    };
    error_page_with(
        site,
        req.host,
        req.port,
        req.method,
        refusal.status(),
        special,
    )
}

/// Error pages whose text says more than their status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Special {
    PlainOnTls,
    HeaderTooLarge,
    TooManyHeaders,
}

/// Whether an Apache release prints HTML 4.01 error pages (2.4.66 and later,
/// after PR 62989) rather than the HTML 2.0 ones of every earlier 2.4.
fn apache_html401(server_header: &str) -> bool {
    let version = server_header
        .split_once("Apache/")
        .map(|(_, v)| v.split([' ', '(']).next().unwrap_or_default())
        .unwrap_or_default();
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor, patch) = (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    );
    (major, minor, patch) >= (2, 4, 66)
}

fn error_page_with(
    site: &PersonaSite,
    host: &str,
    port: u16,
    method: &str,
    status: u16,
    special: Option<Special>,
) -> Page {
    let phrase = reason(site.flavor, status);
    let body = match site.flavor {
        Flavor::Nginx => {
            // nginx's pages name 401 differently from its status line.
            let page_phrase = if status == 401 {
                "Authorization Required"
            } else {
                phrase
            };
            let title = match special {
                Some(Special::PlainOnTls) => {
                    "400 The plain HTTP request was sent to HTTPS port".to_owned()
                }
                Some(Special::HeaderTooLarge) => {
                    "400 Request Header Or Cookie Too Large".to_owned()
                }
                _ => format!("{status} {page_phrase}"),
            };
            let extra = match special {
                Some(Special::PlainOnTls) => {
                    "<center>The plain HTTP request was sent to HTTPS port</center>\r\n"
                }
                Some(Special::HeaderTooLarge) => {
                    "<center>Request Header Or Cookie Too Large</center>\r\n"
                }
                _ => "",
            };
            fill(
                pages::NGINX_ERROR,
                &[
                    ("title", &title),
                    ("status", &status.to_string()),
                    ("phrase", page_phrase),
                    ("extra", extra),
                    ("server", &esc(&site.server_header)),
                ],
            )
        }
        Flavor::Apache => {
            let host_only = host.rsplit_once(':').map_or(host, |(h, _)| h);
            let msg = match status {
                400 if special == Some(Special::HeaderTooLarge) => "<p>Your browser sent a request that this server could not understand.<br />\nSize of a request header field exceeds server limit.</p>".to_owned(),
                400 if special == Some(Special::TooManyHeaders) => "<p>Your browser sent a request that this server could not understand.<br />\nThe number of request header fields exceeds this server's limit.</p>".to_owned(),
                414 => "<p>The requested URL's length exceeds the capacity\nlimit for this server.<br />\n</p>".to_owned(),
                400 if special == Some(Special::PlainOnTls) => "<p>Your browser sent a request that this server could not understand.<br />\nReason: You're speaking plain HTTP to an SSL-enabled server port.<br />\n Instead use the HTTPS scheme to access this URL, please.<br />\n</p>".to_owned(),
                400 => "<p>Your browser sent a request that this server could not understand.<br />\n</p>".to_owned(),
                401 => "<p>This server could not verify that you\nare authorized to access the document\nrequested.  Either you supplied the wrong\ncredentials (e.g., bad password), or your\nbrowser doesn't understand how to supply\nthe credentials required.</p>".to_owned(),
                403 => "<p>You don't have permission to access this resource.</p>".to_owned(),
                404 => "<p>The requested URL was not found on this server.</p>".to_owned(),
                405 => format!("<p>The requested method {} is not allowed for this URL.</p>", esc(method)),
                413 => format!("The requested resource does not allow request data with {} requests, or the amount of data provided in\nthe request exceeds the capacity limit.", esc(method)),
                501 => format!("<p>{} not supported for current URL.<br />\n</p>", esc(method)),
                _ => "<p>The server encountered an internal error or\nmisconfiguration and was unable to complete\nyour request.</p>".to_owned(),
            };
            let doctype = if apache_html401(&site.server_header) {
                "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01//EN\" \"http://www.w3.org/TR/html4/strict.dtd\">"
            } else {
                "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML 2.0//EN\">"
            };
            fill(
                pages::APACHE_ERROR,
                &[
                    ("doctype", doctype),
                    ("status", &status.to_string()),
                    ("phrase", phrase),
                    ("message", &msg),
                    ("server", &esc(&site.server_header)),
                    ("host", &esc(host_only)),
                    ("port", &port.to_string()),
                ],
            )
        }
    };
    Page {
        content_type: match site.flavor {
            Flavor::Nginx => "text/html",
            Flavor::Apache => "text/html; charset=iso-8859-1",
        },
        ..Page::html(status, body)
    }
}

/// The methods Apache's core registers; any other gets 501.
const APACHE_METHODS: &[&str] = &[
    "GET",
    "HEAD",
    "POST",
    "PUT",
    "DELETE",
    "CONNECT",
    "OPTIONS",
    "TRACE",
    "PATCH",
    "PROPFIND",
    "PROPPATCH",
    "MKCOL",
    "COPY",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "VERSION-CONTROL",
    "CHECKOUT",
    "UNCHECKOUT",
    "CHECKIN",
    "UPDATE",
    "LABEL",
    "REPORT",
    "MKWORKSPACE",
    "MKACTIVITY",
    "BASELINE-CONTROL",
    "MERGE",
];

/// The realm protecting a path of the site's app, if one does.
fn realm(site: &PersonaSite, path: &str) -> Option<String> {
    let realm = match site.app {
        FakeApp::Router if router_protected(path) => {
            site.title.as_deref().unwrap_or("Broadband Router")
        }
        // Debian's phpmyadmin package guards its setup script with htpasswd.setup.
        FakeApp::Phpmyadmin
            if PMA_PREFIXES.iter().any(|p| {
                path.strip_prefix(p)
                    .is_some_and(|r| r.starts_with("/setup"))
            }) =>
        {
            "phpMyAdmin Setup"
        }
        _ => return None,
    };
    Some(
        realm
            .chars()
            .filter(|c| *c != '"' && *c != '\\' && !c.is_control())
            .collect(),
    )
}

/// A protected path: 401 with the realm until the configured user and password
/// come (never, unless the operator set `basic_auth`), so brute forcers keep trying.
fn basic_realm(site: &PersonaSite, req: &Req<'_>, realm: &str) -> Page {
    let accepted = match (req.basic, &site.basic_auth) {
        (Some((user, password)), Some(ok)) => user == ok.user && password == ok.password.as_slice(),
        _ => false,
    };
    if accepted {
        let name = esc(realm);
        return Page::html(
            200,
            format!(
                "<html><head><title>{name}</title></head><body><h1>{name}</h1></body></html>\n"
            ),
        );
    }
    error_page(site, req, 401).with("WWW-Authenticate", format!("Basic realm=\"{realm}\""))
}

/// The page a request gets.
pub fn route(site: &PersonaSite, req: &Req<'_>) -> Page {
    let path = req.path;
    if site.flavor == Flavor::Apache && !APACHE_METHODS.contains(&req.method) {
        return error_page(site, req, 501).with("Allow", site.allow.clone());
    }
    if let Some(realm) = realm(site, path) {
        return basic_realm(site, req, &realm);
    }
    if site.flavor == Flavor::Apache && (path.starts_with("/.ht") || path == "/server-status") {
        return error_page(site, req, 403);
    }
    match site.app {
        FakeApp::Nginx | FakeApp::Apache => static_site(site, req),
        FakeApp::Wordpress => wordpress(site, req),
        FakeApp::Phpmyadmin => phpmyadmin(site, req),
        FakeApp::Router => router(site, req),
    }
}

fn is_get(req: &Req<'_>) -> bool {
    req.method == "GET" || req.method == "HEAD"
}

/// A static file: nginx refuses POST and anything but GET/HEAD with 405, Apache
/// serves POST and answers OPTIONS.
fn static_file(site: &PersonaSite, req: &Req<'_>, page: Page) -> Page {
    match site.flavor {
        Flavor::Nginx if !is_get(req) => error_page(site, req, 405),
        Flavor::Apache if req.method == "OPTIONS" => Page {
            body: String::new(),
            content_type: "text/html",
            ..Page::html(200, String::new())
        }
        .with("Allow", site.allow.clone()),
        Flavor::Apache if !(is_get(req) || req.method == "POST") => {
            error_page(site, req, 405).with("Allow", site.allow.clone())
        }
        _ => Page {
            static_file: true,
            ..page
        },
    }
}

/// Unknown paths: nginx answers 405 before looking for the file when the
/// method is not GET/HEAD/POST; Apache looks for the file first.
fn not_found(site: &PersonaSite, req: &Req<'_>) -> Page {
    match site.flavor {
        Flavor::Nginx if !(is_get(req) || req.method == "POST") => error_page(site, req, 405),
        _ => error_page(site, req, 404),
    }
}

/// The index page with the persona's `response_code`: a 2xx shows the page,
/// a redirect points at the HTTPS site, anything else is the server's error page.
fn index(site: &PersonaSite, req: &Req<'_>, page: Page) -> Page {
    match site.index_status {
        200..=299 => Page {
            status: site.index_status,
            ..page
        },
        300..=399 => {
            let mut p = error_page(site, req, site.index_status);
            p.extra
                .push(("Location", format!("https://{}{}", req.host, req.path)));
            p
        }
        s => error_page(site, req, s),
    }
}

/// The default page a static site shows: the distro's own when it belongs to
/// the server family the site runs, else that family's generic page (an
/// operator's `server_header` can pick the other family than the distro's).
fn shown_page(site: &PersonaSite) -> DefaultPage {
    let nginx_page = matches!(
        site.default_page,
        DefaultPage::Nginx | DefaultPage::NginxNotFound
    );
    match site.app {
        // Every distro whose default is nginx is Debian-like or upstream-built,
        // never Ubuntu, so Apache's page there is Debian's.
        FakeApp::Apache if nginx_page => DefaultPage::DebianApache,
        FakeApp::Nginx if !nginx_page => DefaultPage::Nginx,
        _ => site.default_page,
    }
}

/// EL's httpd ships no index file: welcome.conf answers `/` with its test
/// page as the body of a 403.
fn is_el_test_page(page: DefaultPage) -> bool {
    matches!(
        page,
        DefaultPage::RockyTestPage | DefaultPage::CentosTestPage | DefaultPage::FedoraTestPage
    )
}

fn static_site(site: &PersonaSite, req: &Req<'_>) -> Page {
    let shown = shown_page(site);
    if shown == DefaultPage::NginxNotFound {
        // Alpine's default server is `location / { return 404; }`, for any
        // method; only an operator's non-2xx `response_code` changes `/`.
        return if req.path == "/" && !(200..=299).contains(&site.index_status) {
            index(site, req, error_page(site, req, 404))
        } else {
            error_page(site, req, 404)
        };
    }
    let el = is_el_test_page(shown);
    let is_index = match shown {
        _ if el => req.path == "/",
        DefaultPage::Nginx => matches!(req.path, "/" | "/index.html" | "/index.nginx-debian.html"),
        _ => matches!(req.path, "/" | "/index.html"),
    };
    if !is_index {
        return not_found(site, req);
    }
    let body = default_page_body(site, shown);
    // Static files go out without a charset (nginx `charset off`, Apache's
    // default); EL's httpd.conf sets `AddDefaultCharset UTF-8`.
    let content_type = if el {
        "text/html; charset=UTF-8"
    } else {
        "text/html"
    };
    let page = Page {
        content_type,
        ..Page::html(200, body)
    };
    let page = static_file(site, req, page);
    if page.status != 200 {
        return page;
    }
    let page = index(site, req, page);
    if el && (200..=299).contains(&site.index_status) && req.method != "OPTIONS" {
        Page {
            status: 403,
            ..page
        }
    } else {
        page
    }
}

fn default_page_body(site: &PersonaSite, page: DefaultPage) -> String {
    match page {
        // Debian's index.html as the apache2 package installs it.
        DefaultPage::DebianApache => fill(
            pages::APACHE_DEBIAN_DEFAULT,
            &[(
                "title",
                &title_or(site, "Apache2 Debian Default Page: It works"),
            )],
        ),
        DefaultPage::UbuntuApache => apache_default(site, "Ubuntu"),
        DefaultPage::RockyTestPage => fill(
            pages::ROCKY_TEST_PAGE,
            &[(
                "title",
                &title_or(site, "HTTP Server Test Page powered by: Rocky Linux"),
            )],
        ),
        DefaultPage::CentosTestPage => fill(
            pages::CENTOS_TEST_PAGE,
            &[(
                "title",
                &title_or(site, "Apache HTTP Server Test Page powered by CentOS"),
            )],
        ),
        DefaultPage::FedoraTestPage => fill(
            pages::FEDORA_TEST_PAGE,
            &[(
                "title",
                &title_or(site, "Test Page for the HTTP Server on Fedora"),
            )],
        ),
        // Upstream's htdocs/index.html has no title to override.
        DefaultPage::ApacheItWorks => pages::APACHE_IT_WORKS.to_owned(),
        DefaultPage::Nginx | DefaultPage::NginxNotFound => nginx_welcome(site),
    }
}

fn title_or(site: &PersonaSite, default: &str) -> String {
    esc(site.title.as_deref().unwrap_or(default))
}

fn nginx_welcome(site: &PersonaSite) -> String {
    fill(
        pages::NGINX_WELCOME,
        &[("title", &title_or(site, "Welcome to nginx!"))],
    )
}

/// Ubuntu's page (Debian's is its own file, as the apache2 package installs it).
fn apache_default(site: &PersonaSite, d: &str) -> String {
    let title = title_or(site, &format!("Apache2 {d} Default Page: It works"));
    fill(
        pages::APACHE_UBUNTU_DEFAULT,
        &[
            ("title", &title),
            ("distro", d),
            ("distro_lower", &d.to_ascii_lowercase()),
        ],
    )
}

fn site_name(site: &PersonaSite) -> String {
    title_or(site, "My WordPress PersonaSite")
}

fn wordpress(site: &PersonaSite, req: &Req<'_>) -> Page {
    let base = format!("{}://{}", req.scheme, req.host);
    match req.path {
        "/" | "/index.php" => {
            let page = Page::html(200, wp_home(site, &base)).with(
                "Link",
                format!("<{base}/wp-json/>; rel=\"https://api.w.org/\""),
            );
            index(site, req, page)
        }
        "/wp-login.php" => {
            let message = match req.login {
                Some(l) if req.method == "POST" => Some(wp_login_error(&l.principal)),
                _ => None,
            };
            Page::html(200, wp_login(site, &base, message.as_deref()))
                .with("Expires", "Wed, 11 Jan 1984 05:00:00 GMT")
                .with(
                    "Cache-Control",
                    "no-cache, must-revalidate, max-age=0, no-store, private",
                )
                .with(
                    "Set-Cookie",
                    "wordpress_test_cookie=WP%20Cookie%20check; path=/; HttpOnly",
                )
                .with("X-Frame-Options", "SAMEORIGIN")
        }
        "/wp-admin" => redirect(301, format!("{base}/wp-admin/")),
        "/wp-admin/admin-ajax.php" => Page {
            content_type: "text/html; charset=UTF-8",
            ..Page::html(400, "0".into())
        },
        p if p.starts_with("/wp-admin/") => {
            let back = url_escape(&format!("{base}{p}"));
            redirect(
                302,
                format!("{base}/wp-login.php?redirect_to={back}&reauth=1"),
            )
        }
        "/xmlrpc.php" => {
            if req.method == "POST" {
                let body = if req.logins > 1 {
                    xmlrpc_multicall_faults(req.logins)
                } else if req.login.is_some() {
                    xmlrpc_fault(403, "Incorrect username or password.")
                } else {
                    xmlrpc_fault(-32700, "parse error. not well formed")
                };
                Page {
                    content_type: "text/xml; charset=UTF-8",
                    ..Page::html(200, body)
                }
            } else {
                Page {
                    content_type: "text/plain;charset=UTF-8",
                    ..Page::html(405, "XML-RPC server accepts POST requests only.".into())
                }
                .with("Allow", "POST")
            }
        }
        "/wp-config.php" => Page::html(200, String::new()),
        "/wp-json/wp/v2/users" | "/wp-json/wp/v2/users/" => Page {
            content_type: "application/json; charset=UTF-8",
            ..Page::html(200, fill(pages::WORDPRESS_USERS, &[("base", &base)]))
        },
        "/robots.txt" => Page {
            content_type: "text/plain; charset=utf-8",
            ..Page::html(200, fill(pages::WORDPRESS_ROBOTS, &[("base", &base)]))
        },
        p if p.starts_with("/wp-content/") || p.starts_with("/wp-includes/") => {
            not_found(site, req)
        }
        _ => Page::html(404, wp_not_found(site, &base)),
    }
}

/// WordPress 6's messages: a known user gets "incorrect password", others "unknown".
fn wp_login_error(principal: &str) -> String {
    if principal.is_empty() {
        "<strong>Error:</strong> The username field is empty.".into()
    } else if principal.eq_ignore_ascii_case("admin") {
        format!(
            "<strong>Error:</strong> The password you entered for the username <strong>{}</strong> is incorrect. <a href=\"/wp-login.php?action=lostpassword\">Lost your password?</a>",
            esc(principal)
        )
    } else if principal.contains('@') {
        "<strong>Error:</strong> Unknown email address. Check again or try your username.".into()
    } else {
        format!(
            "<strong>Error:</strong> The username <strong>{}</strong> is not registered on this site. If you are unsure of your username, try your email address instead.",
            esc(principal)
        )
    }
}

fn wp_home(site: &PersonaSite, base: &str) -> String {
    fill(
        pages::WORDPRESS_HOME,
        &[("name", &site_name(site)), ("base", base)],
    )
}

fn wp_not_found(site: &PersonaSite, base: &str) -> String {
    fill(
        pages::WORDPRESS_NOT_FOUND,
        &[("name", &site_name(site)), ("base", base)],
    )
}

fn wp_login(site: &PersonaSite, base: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| {
            format!("<div id=\"login_error\" class=\"notice notice-error\"><p>{e}</p></div>\n")
        })
        .unwrap_or_default();
    fill(
        pages::WORDPRESS_LOGIN,
        &[
            ("name", &site_name(site)),
            ("base", base),
            ("error", &error),
        ],
    )
}

fn xmlrpc_fault(code: i32, message: &str) -> String {
    fill(
        pages::WORDPRESS_XMLRPC_FAULT,
        &[("code", &code.to_string()), ("message", message)],
    )
}

/// WordPress's (IXR's) answer to a multicall of failed logins: one fault
/// struct per call, in IXR's layout.
fn xmlrpc_multicall_faults(calls: usize) -> String {
    let fault = "  <value><struct>\n  <member><name>faultCode</name><value><int>403</int></value></member>\n  <member><name>faultString</name><value><string>Incorrect username or password.</string></value></member>\n</struct></value>\n";
    let mut data = String::with_capacity(fault.len() * calls + 16);
    for _ in 0..calls {
        data.push_str(fault);
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<methodResponse>\n  <params>\n    <param>\n      <value>\n      <array><data>\n{data}</data></array>\n      </value>\n    </param>\n  </params>\n</methodResponse>\n"
    )
}

fn redirect(status: u16, location: String) -> Page {
    Page::html(status, String::new()).with("Location", location)
}

/// Percent-encodes everything but unreserved characters, as WordPress's `urlencode` does.
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

const PMA_PREFIXES: &[&str] = &["/phpmyadmin", "/phpMyAdmin", "/pma"];

fn phpmyadmin(site: &PersonaSite, req: &Req<'_>) -> Page {
    let base = format!("{}://{}", req.scheme, req.host);
    let path = req.path;
    if PMA_PREFIXES.contains(&path) {
        return redirect(301, format!("{base}{path}/"));
    }
    let stripped = PMA_PREFIXES
        .iter()
        .find_map(|p| path.strip_prefix(p).filter(|rest| rest.starts_with('/')))
        .unwrap_or(path);
    if !matches!(stripped, "/" | "/index.php") {
        return not_found(site, req);
    }
    let error = match req.login {
        Some(l) if req.method == "POST" => Some(format!(
            "Cannot log in to the MySQL server</div><div class=\"alert alert-danger\" role=\"alert\">mysqli::real_connect(): (HY000/1045): Access denied for user '{}'@'localhost' (using password: {})",
            esc(&l.principal),
            if l.secret.is_empty() { "NO" } else { "YES" }
        )),
        _ => None,
    };
    let session: [u8; 16] = rand::random();
    let page = Page::html(200, pma_login(site, error.as_deref()))
        .with(
            "Set-Cookie",
            format!("phpMyAdmin={}; path=/; HttpOnly", hex::encode(session)),
        )
        .with("X-Frame-Options", "DENY")
        .with("Referrer-Policy", "no-referrer")
        .with("X-Robots-Tag", "noindex, nofollow")
        .with(
            "Cache-Control",
            "no-store, no-cache, must-revalidate,  pre-check=0, post-check=0, max-age=0",
        );
    if error.is_some() {
        page
    } else {
        index(site, req, page)
    }
}

fn pma_login(site: &PersonaSite, error: Option<&str>) -> String {
    let token: [u8; 16] = rand::random();
    let error = error
        .map(|e| format!("<div class=\"alert alert-danger\" role=\"alert\"><img src=\"themes/dot.gif\" title=\"\" alt=\"\" class=\"icon ic_s_error\"> {e}</div>\n"))
        .unwrap_or_default();
    fill(
        pages::PHPMYADMIN_LOGIN,
        &[
            ("title", &title_or(site, "phpMyAdmin")),
            ("error", &error),
            ("token", &hex::encode(token)),
        ],
    )
}

/// Paths a router protects with HTTP Basic authentication.
fn router_protected(path: &str) -> bool {
    path == "/admin"
        || [
            "/admin/",
            "/cgi-bin/",
            "/HNAP1",
            "/setup.cgi",
            "/status.htm",
            "/userRpm/",
        ]
        .iter()
        .any(|p| path.starts_with(p))
}

fn router(site: &PersonaSite, req: &Req<'_>) -> Page {
    let failed = req.method == "POST" && req.login.is_some();
    if failed {
        return Page::html(200, router_login(site, true));
    }
    match req.path {
        "/" | "/index.html" | "/login.html" | "/login.htm" | "/login.cgi" | "/login" => {
            let page = Page::html(200, router_login(site, false));
            if req.path == "/" {
                index(site, req, page)
            } else {
                page
            }
        }
        _ => not_found(site, req),
    }
}

fn router_login(site: &PersonaSite, failed: bool) -> String {
    let error = if failed {
        "<p class=\"error\" id=\"err_msg\">Invalid username or password. Please try again.</p>\n"
    } else {
        ""
    };
    fill(
        pages::ROUTER_LOGIN,
        &[("title", &title_or(site, "Router Login")), ("error", error)],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apaches_allow_order_is_one_of_24_and_each_lists_the_four_methods() {
        let all: std::collections::HashSet<String> = (0..24).map(apache_allow).collect();
        assert_eq!(all.len(), 24, "every permutation once");
        for a in &all {
            let mut m: Vec<&str> = a.split(',').collect();
            m.sort_unstable();
            assert_eq!(m, ["GET", "HEAD", "OPTIONS", "POST"]);
        }
        assert_eq!(apache_allow(24), apache_allow(0));
    }

    fn site(app: FakeApp, server: &str) -> PersonaSite {
        PersonaSite {
            app,
            flavor: Flavor::of(server),
            server_header: server.into(),
            title: None,
            hostname: "web01".into(),
            index_status: 200,
            default_page: if server.starts_with("Apache") {
                DefaultPage::UbuntuApache
            } else {
                DefaultPage::Nginx
            },
            mtime: 1_700_000_000,
            basic_auth: None,
            allow: apache_allow(0),
        }
    }

    fn req<'a>(method: &'a str, path: &'a str, login: Option<&'a Login>) -> Req<'a> {
        Req {
            method,
            path,
            host: "web01",
            port: 80,
            scheme: "http",
            login,
            basic: None,
            logins: usize::from(login.is_some()),
            ..Req::default()
        }
    }

    fn login(user: &str) -> Login {
        Login {
            principal: user.into(),
            secret: b"pw".to_vec(),
        }
    }

    #[test]
    fn fill_replaces_placeholders_once_and_never_rescans_values() {
        assert_eq!(
            fill("<{{a}}|{{b}}>", &[("a", "{{b}}"), ("b", "x")]),
            "<{{b}}|x>"
        );
        assert_eq!(fill("{{unknown}} {{a", &[("a", "1")]), "{{unknown}} {{a");
        assert_eq!(fill("a}}b{{", &[]), "a}}b{{");
    }

    #[test]
    fn attacker_text_that_looks_like_a_placeholder_stays_text() {
        let w = site(FakeApp::Wordpress, "nginx/1.22.1");
        let sneaky = login("{{base}}");
        let p = route(&w, &req("POST", "/wp-login.php", Some(&sneaky)));
        assert!(p
            .body
            .contains("The username <strong>{{base}}</strong> is not registered"));
    }

    /// A site as `site_from_persona` builds it for a distro, with its own `Server` header.
    fn distro_site(slug: &str, server: Option<&str>) -> PersonaSite {
        let d = decnet_core::persona::distro(slug).unwrap();
        let server = server.map_or_else(|| d.http_server_header(), str::to_owned);
        let flavor = Flavor::of(&server);
        PersonaSite {
            app: match flavor {
                Flavor::Apache => FakeApp::Apache,
                Flavor::Nginx => FakeApp::Nginx,
            },
            default_page: d.default_page,
            ..site(FakeApp::Nginx, &server)
        }
    }

    #[test]
    fn rocky9_index_is_the_rocky_test_page_never_debians() {
        let s = distro_site("rocky9", None);
        assert_eq!(s.server_header, "Apache/2.4.57 (Rocky Linux)");
        for method in ["GET", "HEAD", "POST"] {
            let p = route(&s, &req(method, "/", None));
            // welcome.conf serves the test page as the body of a 403.
            assert_eq!(p.status, 403, "{method}");
            assert!(p.static_file);
            assert_eq!(p.content_type, "text/html; charset=UTF-8");
            assert!(p
                .body
                .contains("<title>HTTP Server Test Page powered by: Rocky Linux</title>"));
            assert!(p
                .body
                .contains("<h1>HTTP Server <strong>Test Page</strong></h1>"));
            assert!(p.body.contains("Powered by Rocky Linux"));
            assert!(!p.body.contains("Debian"), "{method}");
        }
        // No index.html is installed on EL.
        let p = route(&s, &req("GET", "/index.html", None));
        assert_eq!(p.status, 404);
        assert!(p
            .body
            .contains("Apache/2.4.57 (Rocky Linux) Server at web01"));
    }

    #[test]
    fn each_distro_shows_its_own_apache_page() {
        let index = |slug: &str| route(&distro_site(slug, None), &req("GET", "/", None));
        let p = index("centos7");
        assert_eq!(p.status, 403);
        assert!(p.body.contains("<h1>Testing 123..</h1>"));
        assert!(p
            .body
            .contains("<title>Apache HTTP Server Test Page powered by CentOS</title>"));
        let p = index("fedora");
        assert_eq!(p.status, 403);
        assert!(p
            .body
            .contains("<title>Test Page for the HTTP Server on Fedora</title>"));
        let p = index("kali");
        assert_eq!(p.status, 200);
        assert!(p.body.contains("Apache2 Debian Default Page"));
        let p = index("ubuntu20");
        assert!(p.body.contains("Apache2 Ubuntu Default Page"));
        for slug in ["centos7", "fedora", "rocky9"] {
            assert!(!index(slug).body.contains("Debian"), "{slug}");
        }

        let mut upstream = site(FakeApp::Apache, "Apache/2.4.58 (Unix)");
        upstream.default_page = DefaultPage::ApacheItWorks;
        let p = route(&upstream, &req("GET", "/", None));
        assert_eq!(p.status, 200);
        assert_eq!(p.body, "<html><body><h1>It works!</h1></body></html>\n");
    }

    #[test]
    fn the_operators_server_family_falls_back_to_its_generic_page() {
        let p = route(
            &distro_site("rocky9", Some("nginx/1.20.1")),
            &req("GET", "/", None),
        );
        assert_eq!(p.status, 200);
        assert!(p.body.contains("<h1>Welcome to nginx!</h1>"));
        for slug in ["debian", "alpine", "arch"] {
            let p = route(
                &distro_site(slug, Some("Apache/2.4.57 (Debian)")),
                &req("GET", "/", None),
            );
            assert_eq!(p.status, 200, "{slug}");
            assert!(p.body.contains("Apache2 Debian Default Page"), "{slug}");
        }
        let p = route(&distro_site("debian", None), &req("GET", "/", None));
        assert!(p.body.contains("<h1>Welcome to nginx!</h1>"));
    }

    #[test]
    fn the_apache_fallback_matches_what_the_distro_id_chose_before() {
        // `shown_page` falls back to Debian's page for nginx-default distros;
        // the old rule was "Ubuntu for os_id ubuntu, else Debian".
        for d in &decnet_core::persona::DISTROS {
            let s = distro_site(d.slug, Some("Apache/2.4.57"));
            let expected = if d.os_id == "ubuntu" {
                "Apache2 Ubuntu Default Page"
            } else {
                "Apache2 Debian Default Page"
            };
            if matches!(
                d.default_page,
                DefaultPage::Nginx | DefaultPage::NginxNotFound
            ) {
                let p = route(&s, &req("GET", "/", None));
                assert!(p.body.contains(expected), "{}", d.slug);
            }
        }
    }

    #[test]
    fn alpine_nginx_answers_404_everywhere() {
        let mut s = distro_site("alpine", None);
        assert_eq!(s.flavor, Flavor::Nginx);
        for (method, path) in [
            ("GET", "/"),
            ("POST", "/"),
            ("PUT", "/x"),
            ("GET", "/index.html"),
        ] {
            let p = route(&s, &req(method, path, None));
            assert_eq!(p.status, 404, "{method} {path}");
            assert!(p.body.contains("<center><h1>404 Not Found</h1></center>"));
        }
        s.index_status = 302;
        assert_eq!(route(&s, &req("GET", "/", None)).status, 302);
    }

    #[test]
    fn every_page_template_is_filled_completely() {
        let pages = [
            DefaultPage::DebianApache,
            DefaultPage::UbuntuApache,
            DefaultPage::RockyTestPage,
            DefaultPage::CentosTestPage,
            DefaultPage::FedoraTestPage,
            DefaultPage::ApacheItWorks,
            DefaultPage::Nginx,
        ];
        let s = site(FakeApp::Apache, "Apache/2.4.52 (Ubuntu)");
        let mut bodies: Vec<String> = pages.iter().map(|p| default_page_body(&s, *p)).collect();
        let admin = login("admin");
        for app in [FakeApp::Wordpress, FakeApp::Phpmyadmin, FakeApp::Router] {
            for server in ["nginx/1.22.1", "Apache/2.4.52 (Ubuntu)"] {
                let s = site(app, server);
                for (method, path, login) in [
                    ("GET", "/", None),
                    ("POST", "/wp-login.php", Some(&admin)),
                    ("GET", "/wp-login.php", None),
                    ("POST", "/xmlrpc.php", Some(&admin)),
                    ("GET", "/robots.txt", None),
                    ("GET", "/wp-json/wp/v2/users", None),
                    ("GET", "/nothing", None),
                    ("POST", "/index.php", Some(&admin)),
                    ("POST", "/login.cgi", Some(&admin)),
                    ("GET", "/.htaccess", None),
                ] {
                    bodies.push(route(&s, &req(method, path, login)).body);
                }
                bodies.push(plain_http_on_tls_page(&s, "web01", 443).body);
            }
        }
        for body in &bodies {
            assert!(!body.contains("{{") && !body.contains("}}"), "{body}");
        }
    }

    #[test]
    fn error_pages_follow_the_server_flavor() {
        let n = site(FakeApp::Nginx, "nginx/1.22.1");
        let p = route(&n, &req("GET", "/.env", None));
        assert_eq!(p.status, 404);
        assert!(p.body.contains("<center><h1>404 Not Found</h1></center>"));
        assert!(p.body.contains("<hr><center>nginx/1.22.1</center>"));

        let a = site(FakeApp::Apache, "Apache/2.4.52 (Ubuntu)");
        let p = route(&a, &req("GET", "/.env", None));
        assert_eq!(p.status, 404);
        assert!(p
            .body
            .contains("The requested URL was not found on this server."));
        assert!(p
            .body
            .contains("<address>Apache/2.4.52 (Ubuntu) Server at web01 Port 80</address>"));
        assert_eq!(route(&a, &req("GET", "/.htaccess", None)).status, 403);
        assert_eq!(route(&a, &req("GET", "/server-status", None)).status, 403);
    }

    #[test]
    fn static_index_and_methods() {
        let n = site(FakeApp::Nginx, "nginx/1.22.1");
        let p = route(&n, &req("GET", "/", None));
        assert_eq!(p.status, 200);
        assert!(p.static_file);
        assert!(p.body.contains("<title>Welcome to nginx!</title>"));
        assert_eq!(route(&n, &req("POST", "/", None)).status, 405);
        assert_eq!(route(&n, &req("POST", "/nope", None)).status, 404);
        assert_eq!(route(&n, &req("PUT", "/nope", None)).status, 405);

        let a = site(FakeApp::Apache, "Apache/2.4.52 (Ubuntu)");
        let p = route(&a, &req("POST", "/", None));
        assert_eq!(p.status, 200);
        assert!(p.body.contains("It works!"));
        assert!(p.body.contains("Apache2 Ubuntu Default Page"));
        let p = route(&a, &req("DELETE", "/", None));
        assert_eq!(p.status, 405);
        assert!(p.extra.iter().any(|(k, _)| *k == "Allow"));
    }

    #[test]
    fn title_and_response_code_apply_to_the_index() {
        let mut n = site(FakeApp::Nginx, "nginx/1.22.1");
        n.title = Some("Acme <Intranet>".into());
        let p = route(&n, &req("GET", "/", None));
        assert!(p.body.contains("<title>Acme &lt;Intranet&gt;</title>"));
        n.index_status = 403;
        let p = route(&n, &req("GET", "/", None));
        assert_eq!(p.status, 403);
        assert!(p.body.contains("403 Forbidden"));
        n.index_status = 302;
        let p = route(&n, &req("GET", "/", None));
        assert_eq!(p.status, 302);
        assert!(p.extra.contains(&("Location", "https://web01/".into())));
    }

    #[test]
    fn wordpress_routes() {
        let w = site(FakeApp::Wordpress, "nginx/1.22.1");
        let p = route(&w, &req("GET", "/wp-login.php", None));
        assert!(p.body.contains("name=\"log\"") && p.body.contains("name=\"pwd\""));
        assert!(!p.body.contains("login_error"));

        let admin = login("admin");
        let p = route(&w, &req("POST", "/wp-login.php", Some(&admin)));
        assert_eq!(p.status, 200);
        assert!(p.body.contains(
            "The password you entered for the username <strong>admin</strong> is incorrect."
        ));
        let evil = login("<script>");
        let p = route(&w, &req("POST", "/wp-login.php", Some(&evil)));
        assert!(p.body.contains("&lt;script&gt;") && !p.body.contains("<script>"));

        let p = route(&w, &req("GET", "/wp-admin/", None));
        assert_eq!(p.status, 302);
        assert!(p.extra.contains(&(
            "Location",
            "http://web01/wp-login.php?redirect_to=http%3A%2F%2Fweb01%2Fwp-admin%2F&reauth=1"
                .into()
        )));
        assert_eq!(route(&w, &req("GET", "/xmlrpc.php", None)).status, 405);
        let p = route(&w, &req("POST", "/xmlrpc.php", Some(&admin)));
        assert!(p.body.contains("Incorrect username or password."));
        assert!(p.body.contains("<fault>"));
        // A multicall gets one fault per call inside a result array.
        let mut multi = req("POST", "/xmlrpc.php", Some(&admin));
        multi.logins = 3;
        let p = route(&w, &multi);
        assert!(!p.body.contains("<fault>"));
        assert_eq!(p.body.matches("<name>faultCode</name>").count(), 3);
        assert!(p.body.contains("<array><data>"));
        assert!(route(&w, &req("GET", "/robots.txt", None))
            .body
            .contains("Disallow: /wp-admin/"));
        assert_eq!(route(&w, &req("GET", "/nothing", None)).status, 404);
        assert_eq!(route(&w, &req("GET", "/favicon.ico", None)).status, 404);
    }

    #[test]
    fn phpmyadmin_routes() {
        let m = site(FakeApp::Phpmyadmin, "Apache/2.4.52 (Ubuntu)");
        for path in ["/", "/index.php", "/phpmyadmin/", "/pma/index.php"] {
            let p = route(&m, &req("GET", path, None));
            assert_eq!(p.status, 200, "{path}");
            assert!(p.body.contains("name=\"pma_username\""), "{path}");
        }
        let p = route(&m, &req("GET", "/phpmyadmin", None));
        assert_eq!(p.status, 301);
        let root = login("root");
        let p = route(&m, &req("POST", "/index.php", Some(&root)));
        assert!(p
            .body
            .contains("Access denied for user 'root'@'localhost' (using password: YES)"));
        assert_eq!(route(&m, &req("GET", "/setup/", None)).status, 404);
    }

    #[test]
    fn router_routes() {
        let r = site(FakeApp::Router, "nginx/1.22.1");
        let p = route(&r, &req("GET", "/", None));
        assert!(p.body.contains("name=\"username\"") && p.body.contains("name=\"password\""));
        let p = route(&r, &req("POST", "/login.cgi", Some(&login("admin"))));
        assert!(p.body.contains("Invalid username or password"));
        let p = route(&r, &req("GET", "/cgi-bin/luci", None));
        assert_eq!(p.status, 401);
        assert!(p.extra.contains(&(
            "WWW-Authenticate",
            "Basic realm=\"Broadband Router\"".into()
        )));
    }
}
