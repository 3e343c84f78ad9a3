//! The decoy side by side with Debian's real nginx and Apache: the same raw
//! probes (the cases) get the same status lines, header names in the
//! same order, the same header values (Date, ETag and Last-Modified compared by
//! format) and the same bodies; `sslscan` lists the same protocols, suites and
//! groups; `hydra http-get` finds only the configured Basic-auth password.
//!
//! The real servers run as root on 127.0.0.1 high ports from a config in a
//! temp dir and are killed and reaped on every path; a test skips, saying why,
//! when the server or root is missing.

use decnet_testkit::{free_port, is_root};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use decnet_core::persona::distro;
use decnet_core::{EventType, SecretKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{self, have, svc, unique_ip, Served};

const WAIT: Duration = Duration::from_secs(20);

/// A real server process, killed and reaped when dropped.
struct Real {
    child: Child,
    port: u16,
    tls_port: u16,
}

impl Drop for Real {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until the server accepts connections (or gives up after `WAIT`).
async fn ready(port: u16) -> bool {
    tokio::task::spawn_blocking(move || decnet_testkit::accepting(port, WAIT))
        .await
        .unwrap_or(false)
}

/// `htpasswd` for admin with a password no probe sends.
const HTPASSWD: &str = "admin:$apr1$nSUnj9i5$mvkRuR6LrmZ3HsQaFZf7J/\n";

const SNAKEOIL_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
const SNAKEOIL_KEY: &str = "/etc/ssl/private/ssl-cert-snakeoil.key";

fn why_not(binary: &str, needs: &[&str]) -> Option<String> {
    if !have(binary) {
        return Some(format!("{binary} is not installed"));
    }
    if !is_root() {
        return Some(format!("{binary} side-by-side tests run as root"));
    }
    needs
        .iter()
        .find(|p| !Path::new(p).exists())
        .map(|p| format!("{p} is missing"))
}

/// An installed file is not a second old (Apache makes the ETag of a file
/// modified within the last second weak).
fn backdate(file: &Path) {
    let ok = Command::new("touch")
        .args(["-d", "2 days ago"])
        .arg(file)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "touch -d failed on {}", file.display());
}

fn open_dir(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// Debian's nginx with Debian's nginx.conf defaults, one server block with the
/// snakeoil certificate, and a Basic-auth location; one process
/// (`master_process off`), so killing the child leaves no worker behind.
async fn real_nginx(dir: &Path) -> Option<Real> {
    let page = "/usr/share/nginx/html/index.html";
    let debian_page = "/var/www/html/index.nginx-debian.html";
    if let Some(why) = why_not(
        "nginx",
        &[SNAKEOIL_CERT, SNAKEOIL_KEY, "/etc/nginx/mime.types"],
    ) {
        eprintln!("skipped: {why}");
        return None;
    }
    let index = [debian_page, page]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let Some(index) = index else {
        eprintln!("skipped: nginx's default page is missing");
        return None;
    };
    open_dir(dir);
    let html = dir.join("html");
    std::fs::create_dir_all(&html).unwrap();
    std::fs::copy(index, html.join("index.nginx-debian.html")).unwrap();
    backdate(&html.join("index.nginx-debian.html"));
    std::fs::write(dir.join("htpasswd"), HTPASSWD).unwrap();
    let (port, tls_port) = (free_port(), free_port());
    let d = dir.display();
    let conf = format!(
        "master_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nuser root;\n\
         events {{ worker_connections 768; }}\n\
         http {{\n sendfile on;\n tcp_nopush on;\n types_hash_max_size 2048;\n\
         include /etc/nginx/mime.types;\n default_type application/octet-stream;\n\
         ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;\n ssl_prefer_server_ciphers on;\n\
         access_log off;\n gzip on;\n\
         client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fcgi;\n\
         uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
         server {{\n  listen 127.0.0.1:{port} default_server;\n  listen 127.0.0.1:{tls_port} ssl default_server;\n\
         ssl_certificate {SNAKEOIL_CERT};\n  ssl_certificate_key {SNAKEOIL_KEY};\n\
         root {d}/html;\n  index index.html index.htm index.nginx-debian.html;\n  server_name _;\n\
         location / {{ try_files $uri $uri/ =404; }}\n\
         location /cgi-bin/ {{ auth_basic \"Broadband Router\"; auth_basic_user_file {d}/htpasswd; }}\n }}\n}}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-p")
        .arg(dir)
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let real = Real {
        child,
        port,
        tls_port,
    };
    assert!(ready(port).await, "nginx did not start: see {d}/error.log");
    Some(real)
}

/// Debian's Apache with the modules and confs Debian enables, mod_ssl as
/// Debian configures it, in the foreground (`-X`).
async fn real_apache(dir: &Path) -> Option<Real> {
    let etc = "/etc/apache2";
    let needs = [
        SNAKEOIL_CERT,
        SNAKEOIL_KEY,
        "/etc/apache2/mods-available/ssl.load",
        "/var/www/html/index.html",
    ];
    if let Some(why) = why_not("apache2", &needs) {
        eprintln!("skipped: {why}");
        return None;
    }
    open_dir(dir);
    let html = dir.join("html");
    std::fs::create_dir_all(&html).unwrap();
    std::fs::write(dir.join("htpasswd"), HTPASSWD).unwrap();
    std::fs::copy("/var/www/html/index.html", html.join("index.html")).unwrap();
    backdate(&html.join("index.html"));
    let (port, tls_port) = (free_port(), free_port());
    let d = dir.display();
    let conf = format!(
        "ServerRoot {etc}\nDefaultRuntimeDir {d}\nPidFile {d}/apache2.pid\nMutex file:{d} default\n\
         Timeout 300\nKeepAlive On\nMaxKeepAliveRequests 100\nKeepAliveTimeout 5\n\
         User www-data\nGroup www-data\nHostnameLookups Off\nErrorLog {d}/error.log\nLogLevel warn\n\
         IncludeOptional mods-enabled/*.load\nIncludeOptional mods-enabled/*.conf\n\
         Include mods-available/socache_shmcb.load\nInclude mods-available/ssl.load\n\
         Include mods-available/ssl.conf\n\
         Listen 127.0.0.1:{port}\nListen 127.0.0.1:{tls_port}\n\
         <Directory />\n Options FollowSymLinks\n AllowOverride None\n Require all denied\n</Directory>\n\
         <Directory {d}/html/>\n Options Indexes FollowSymLinks\n AllowOverride None\n Require all granted\n</Directory>\n\
         AccessFileName .htaccess\n<FilesMatch \"^\\.ht\">\n Require all denied\n</FilesMatch>\n\
         IncludeOptional conf-enabled/*.conf\nServerName localhost\n\
         <Location /cgi-bin/>\n AuthType Basic\n AuthName \"Broadband Router\"\n AuthUserFile {d}/htpasswd\n Require valid-user\n</Location>\n\
         <VirtualHost 127.0.0.1:{port}>\n DocumentRoot {d}/html\n</VirtualHost>\n\
         <VirtualHost 127.0.0.1:{tls_port}>\n DocumentRoot {d}/html\n SSLEngine on\n\
         SSLCertificateFile {SNAKEOIL_CERT}\n SSLCertificateKeyFile {SNAKEOIL_KEY}\n</VirtualHost>\n"
    );
    std::fs::write(dir.join("apache2.conf"), conf).unwrap();
    let child = Command::new("apache2")
        .arg("-f")
        .arg(dir.join("apache2.conf"))
        .arg("-X")
        .env("APACHE_RUN_DIR", dir)
        .env("APACHE_LOG_DIR", dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let real = Real {
        child,
        port,
        tls_port,
    };
    assert!(
        ready(port).await,
        "apache2 did not start: see {d}/error.log"
    );
    Some(real)
}

/// The server's `Server` header, read from the real thing.
async fn server_header(port: u16) -> String {
    let raw = exchange(port, b"HEAD / HTTP/1.0\r\n\r\n").await;
    let text = String::from_utf8_lossy(&raw);
    text.lines()
        .find_map(|l| l.strip_prefix("Server: "))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

async fn exchange(port: u16, request: &[u8]) -> Vec<u8> {
    exchange_at(SocketAddr::from(([127, 0, 0, 1], port)), request).await
}

/// Sends `request` and reads until the server closes (bounded by `WAIT` and 1 MiB).
// Capped by `take`, and both servers are ours to run.
#[allow(clippy::disallowed_methods)]
async fn exchange_at(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(WAIT, (&mut tcp).take(1 << 20).read_to_end(&mut reply)).await;
    reply
}

/// The probes, each ending with the server closing the connection.
fn probes() -> Vec<(&'static str, Vec<u8>)> {
    let big = |name: &str| {
        format!(
            "GET / HTTP/1.1\r\nHost: x\r\n{name}: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(9000)
        )
        .into_bytes()
    };
    let close = |line: &str| format!("{line}\r\nHost: x\r\nConnection: close\r\n\r\n").into_bytes();
    vec![
        ("GET / HTTP/1.0", b"GET / HTTP/1.0\r\n\r\n".to_vec()),
        ("1.1 without Host", b"GET / HTTP/1.1\r\n\r\n".to_vec()),
        ("GET / HTTP/1.1", close("GET / HTTP/1.1")),
        ("HEAD", close("HEAD / HTTP/1.1")),
        ("404", close("GET /nope HTTP/1.1")),
        ("9 KB header", big("X-Big")),
        ("9 KB cookie", big("Cookie")),
        ("HTTP/0.9", b"GET /\r\n".to_vec()),
        ("HTTP/9.9", close("GET / HTTP/9.9")),
        ("bad method", close("FOO / HTTP/1.1")),
        ("lower-case method", close("get / HTTP/1.1")),
        ("POST", close("POST / HTTP/1.1")),
        ("OPTIONS", close("OPTIONS / HTTP/1.1")),
        ("garbage", b"\x00\x01\x02\xffnot http at all\r\n\r\n".to_vec()),
        (
            "long URI",
            format!(
                "GET /{} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                "a".repeat(9000)
            )
            .into_bytes(),
        ),
        ("two Hosts", b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n".to_vec()),
        (
            "keep-alive, pipelined",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
    ]
}

#[derive(Debug, PartialEq, Eq)]
struct Response {
    status: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Splits what a server sent into responses (HTTP/0.9 answers are one bare body).
fn responses(raw: &[u8], head_request: bool) -> Vec<Response> {
    let mut out = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        if !rest.starts_with(b"HTTP/") {
            out.push(Response {
                status: String::new(),
                headers: Vec::new(),
                body: rest.to_vec(),
            });
            break;
        }
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete head");
        let head = String::from_utf8_lossy(&rest[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|l| {
                let (n, v) = l.split_once(": ").unwrap_or((l, ""));
                (n.to_owned(), v.to_owned())
            })
            .collect();
        let len: usize = headers
            .iter()
            .find(|(n, _)| n == "Content-Length")
            .map_or(0, |(_, v)| v.parse().unwrap());
        let len = if head_request { 0 } else { len };
        let body_end = (end + 4 + len).min(rest.len());
        out.push(Response {
            status,
            headers,
            body: rest[end + 4..body_end].to_vec(),
        });
        rest = &rest[body_end..];
    }
    out
}

/// Volatile values keep their format, not their value; Apache's port in its
/// error pages is the listener's own.
fn normalise(mut r: Response, port: u16) -> Response {
    for (name, value) in &mut r.headers {
        let shape = |v: &str| -> String {
            v.chars()
                .map(|c| if c.is_ascii_hexdigit() { 'h' } else { c })
                .collect()
        };
        match name.as_str() {
            "Date" | "Last-Modified" => {
                assert!(
                    chrono::DateTime::parse_from_rfc2822(&value.replace("GMT", "+0000")).is_ok(),
                    "{name}: {value}"
                );
                *value = "<date>".into();
            }
            "ETag" => *value = shape(value),
            // Apache lists methods in its method table's hash order, which
            // changes from one start of the server to the next.
            "Allow" => {
                let mut methods: Vec<&str> = value.split(',').collect();
                methods.sort_unstable();
                *value = methods.join(",");
            }
            _ => {}
        }
    }
    let port = format!(" Port {port}</address>");
    let body = String::from_utf8_lossy(&r.body).replace(&port, " Port <port></address>");
    if body.as_bytes() != r.body.as_slice() && !r.body.is_empty() {
        r.body = body.into_bytes();
    }
    r
}

async fn compare(real_port: u16, decoy: SocketAddr) {
    compare_probes(real_port, decoy, probes()).await;
}

async fn compare_probes(real_port: u16, decoy: SocketAddr, probes: Vec<(&'static str, Vec<u8>)>) {
    let mut failures = Vec::new();
    for (name, request) in probes {
        let head = name == "HEAD";
        let real: Vec<Response> = responses(&exchange(real_port, &request).await, head)
            .into_iter()
            .map(|r| normalise(r, real_port))
            .collect();
        let ours: Vec<Response> = responses(&exchange_at(decoy, &request).await, head)
            .into_iter()
            .map(|r| normalise(r, decoy.port()))
            .collect();
        if real != ours {
            let show = |rs: &[Response]| -> String {
                rs.iter()
                    .map(|r| {
                        format!(
                            "{} {:?} body({}): {:?}",
                            r.status,
                            r.headers,
                            r.body.len(),
                            String::from_utf8_lossy(&r.body)
                                .chars()
                                .take(400)
                                .collect::<String>()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n   ")
            };
            failures.push(format!(
                "{name}:\n real: {}\n ours: {}",
                show(&real),
                show(&ours)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

async fn decoy(name: &str, server: &str, data: &Path, slug: &str) -> Served {
    decoy_app(name, server, data, slug, None).await
}

async fn decoy_app(name: &str, server: &str, data: &Path, slug: &str, app: Option<&str>) -> Served {
    let mut persona = vec![("server_header", server), ("hostname", "localhost")];
    if let Some(app) = app {
        persona.push(("fake_app", app));
    }
    let d = harness::decky(name, &unique_ip(), data, vec![svc(slug, &persona)]);
    let mut rt = Arc::try_unwrap(d).unwrap_or_else(|_| panic!("a fresh decky"));
    rt.config.distro = distro("debian").unwrap();
    harness::serve(Arc::new(rt), slug).await
}

#[tokio::test]
async fn probes_get_the_same_answers_as_real_nginx() {
    let dir = tempfile::tempdir().unwrap();
    let Some(real) = real_nginx(dir.path()).await else {
        return;
    };
    let server = server_header(real.port).await;
    let data = tempfile::tempdir().unwrap();
    let ours = decoy("ngx", &server, data.path(), "http").await;
    // nginx refuses a body over client_max_body_size (1m) at once; Apache
    // waits for it (mod_reqtimeout), so this probe is nginx's alone.
    let mut all = probes();
    all.push((
        "body over the limit",
        b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n".to_vec(),
    ));
    compare_probes(real.port, ours.addr, all).await;
}

#[tokio::test]
async fn probes_get_the_same_answers_as_real_apache() {
    let dir = tempfile::tempdir().unwrap();
    let Some(real) = real_apache(dir.path()).await else {
        return;
    };
    let server = server_header(real.port).await;
    let data = tempfile::tempdir().unwrap();
    let ours = decoy("apa", &server, data.path(), "http").await;
    compare(real.port, ours.addr).await;
}

/// sslscan's report from the protocols down to the groups: everything but the
/// certificate and the address line.
async fn sslscan(addr: SocketAddr) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(180),
        tokio::process::Command::new("sslscan")
            .args(["--no-colour", &addr.to_string()])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("sslscan finished in time")
    .expect("sslscan runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let from = text.find("SSL/TLS Protocols:").unwrap_or(0);
    let to = text.find("SSL Certificate:").unwrap_or(text.len());
    text[from..to].to_owned()
}

/// What `openssl s_client` says of ALPN when the client offers `alpn`.
async fn alpn(addr: SocketAddr, alpn: &str) -> Vec<String> {
    let out = tokio::time::timeout(
        WAIT,
        tokio::process::Command::new("openssl")
            .args(["s_client", "-connect", &addr.to_string(), "-alpn", alpn])
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("openssl s_client finished in time")
    .expect("openssl runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .filter_map(|l| {
            if l.contains("ALPN") {
                Some(l.trim().to_owned())
            } else {
                l.find("alert number").map(|i| l[i..].to_owned())
            }
        })
        .collect()
}

async fn same_tls(real_port: u16, server: &str, name: &str) {
    let data = tempfile::tempdir().unwrap();
    let ours = decoy(name, server, data.path(), "https").await;
    let real = SocketAddr::from(([127, 0, 0, 1], real_port));
    let (theirs, mine) = tokio::join!(sslscan(real), sslscan(ours.addr));
    assert!(
        theirs.contains("TLSv1.2") && theirs.contains("Cipher"),
        "{theirs}"
    );
    assert_eq!(mine, theirs);
    if have("openssl") {
        for offer in ["http/1.1", "h2", "h2,http/1.1"] {
            let theirs = alpn(real, offer).await;
            assert!(!theirs.is_empty(), "s_client said nothing of ALPN {offer}");
            assert_eq!(alpn(ours.addr, offer).await, theirs, "ALPN {offer}");
        }
    }
    // Plain HTTP on the TLS port gets the server's own 400.
    let request = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    let theirs: Vec<Response> = responses(&exchange_at(real, request).await, false)
        .into_iter()
        .map(|r| normalise(r, real.port()))
        .collect();
    let mine: Vec<Response> = responses(&exchange_at(ours.addr, request).await, false)
        .into_iter()
        .map(|r| normalise(r, ours.addr.port()))
        .collect();
    assert_eq!(mine, theirs, "plain HTTP on the TLS port");
}

#[tokio::test]
async fn sslscan_sees_the_same_tls_as_real_nginx() {
    if !have("sslscan") {
        eprintln!("skipped: sslscan is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(real) = real_nginx(dir.path()).await else {
        return;
    };
    let server = server_header(real.port).await;
    same_tls(real.tls_port, &server, "ngxtls").await;
}

#[tokio::test]
async fn sslscan_sees_the_same_tls_as_real_apache() {
    if !have("sslscan") {
        eprintln!("skipped: sslscan is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(real) = real_apache(dir.path()).await else {
        return;
    };
    let server = server_header(real.port).await;
    same_tls(real.tls_port, &server, "apatls").await;
}

#[tokio::test]
async fn hydra_http_get_finds_only_the_configured_password() {
    if !have("hydra") {
        eprintln!("skipped: hydra is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let persona = [("fake_app", "router"), ("basic_auth", "admin:sunshine7")];
    let d = harness::decky(
        "routerbox",
        &unique_ip(),
        dir.path(),
        vec![svc("http", &persona)],
    );
    let mut s = harness::serve(d, "http").await;
    let words = dir.path().join("words.txt");
    std::fs::write(&words, "123456\nletmein\nsunshine7\npassword\n").unwrap();
    let port = s.addr.port().to_string();
    let ip = s.addr.ip().to_string();
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new("hydra")
            .args([
                "-l",
                "admin",
                "-P",
                words.to_str().unwrap(),
                "-t",
                "1",
                "-s",
                &port,
                &ip,
                "http-get",
                "/cgi-bin/luci",
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("hydra finished in time")
    .expect("hydra runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 valid password found"), "{stdout}");
    assert!(stdout.contains("password: sunshine7"), "{stdout}");
    for wrong in ["123456", "letmein", "password"] {
        assert!(
            !stdout.contains(&format!("password: {wrong}\n")),
            "{stdout}"
        );
    }
    // Every attempt is a credential, wrong ones included.
    let mut seen = Vec::new();
    while !seen.contains(&"sunshine7".to_owned()) || seen.len() < 2 {
        let e = s
            .wait_for(WAIT, |e| {
                e.event_type == EventType::HttpRequest && e.credential.is_some()
            })
            .await
            .expect("a credential per attempt");
        let c = e.credential.unwrap();
        assert_eq!(
            (c.principal.as_str(), c.secret_kind),
            ("admin", SecretKind::HttpBasic)
        );
        seen.push(c.secret_printable.unwrap());
    }
    assert!(seen.iter().any(|p| p != "sunshine7"), "{seen:?}");
}

/// A Basic-auth realm: the router's protected path against the same realm on
/// the real servers, with no credentials and with wrong ones.
fn auth_probes() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "401 without credentials",
            b"GET /cgi-bin/luci HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        ),
        (
            "401 with a wrong password",
            b"GET /cgi-bin/luci HTTP/1.1\r\nHost: x\r\nAuthorization: Basic YWRtaW46d3Jvbmc=\r\nConnection: close\r\n\r\n"
                .to_vec(),
        ),
    ]
}

#[tokio::test]
async fn basic_auth_realms_answer_like_the_real_servers() {
    for which in ["nginx", "apache2"] {
        let dir = tempfile::tempdir().unwrap();
        let real = match which {
            "nginx" => real_nginx(dir.path()).await,
            _ => real_apache(dir.path()).await,
        };
        let Some(real) = real else {
            continue;
        };
        let server = server_header(real.port).await;
        let data = tempfile::tempdir().unwrap();
        let ours = decoy_app(which, &server, data.path(), "http", Some("router")).await;
        compare_probes(real.port, ours.addr, auth_probes()).await;
    }
}
