//! The `http` and `https` services driven by curl, openssl and nmap.

use std::time::Duration;

use decnet_core::{Event, EventType, SecretKind};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{self, have, svc, unique_ip, Served};

const WAIT: Duration = Duration::from_secs(20);

struct Out {
    stdout: String,
    stderr: String,
}

/// Runs a client with a hard time limit of its own, so a hung server fails the test.
async fn run(program: &str, args: &[&str]) -> Out {
    let out = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(program)
            .args(args)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("client finished in time")
    .expect("client runs");
    Out {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

async fn curl(args: &[&str]) -> Out {
    let mut all = vec!["-s", "--max-time", "20"];
    all.extend_from_slice(args);
    run("curl", &all).await
}

fn field<'a>(e: &'a Event, key: &str) -> &'a Value {
    e.fields.get(key).unwrap_or(&Value::Null)
}

fn base(s: &Served, scheme: &str) -> String {
    format!("{scheme}://{}", s.addr)
}

async fn serve(
    name: &str,
    service: &str,
    persona: &[(&str, &str)],
    data: &std::path::Path,
) -> Served {
    let d = harness::decky(name, &unique_ip(), data, vec![svc(service, persona)]);
    harness::serve(d, service).await
}

async fn next_request(s: &mut Served, path: &str) -> Event {
    let p = path.to_owned();
    s.wait_for(WAIT, move |e| {
        e.event_type == EventType::HttpRequest
            && e.fields.get("path") == Some(&Value::from(p.as_str()))
    })
    .await
    .unwrap_or_else(|| panic!("no http_request event for {path}"))
}

#[tokio::test]
async fn get_records_the_request_and_serves_the_titled_page() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("web", "http", &[("title", "Acme Intranet")], dir.path()).await;
    let url = format!("{}/?q=1&x=%41", base(&s, "http"));
    let out = curl(&["-D", "-", "-A", "probe/1.0", "-H", "X-Test: one", &url]).await;
    assert!(
        out.stdout.contains("<title>Acme Intranet</title>"),
        "{}",
        out.stdout
    );
    // The harness decky is ubuntu22: Apache's habits and its default page.
    assert!(
        out.stdout.starts_with("HTTP/1.1 200 OK\r\nDate: "),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("\r\nServer: Apache/2.4.52 (Ubuntu)\r\n"));
    assert!(out.stdout.contains("It works!"));
    for leak in ["hyper", "rust", "decnet"] {
        assert!(
            !out.stdout.to_ascii_lowercase().contains(leak),
            "leaks {leak}"
        );
    }

    let e = next_request(&mut s, "/").await;
    assert_eq!(field(&e, "method"), "GET");
    assert_eq!(field(&e, "query"), "q=1&x=%41");
    assert_eq!(field(&e, "version"), "HTTP/1.1");
    assert_eq!(field(&e, "user_agent"), "probe/1.0");
    assert_eq!(field(&e, "host"), s.addr.to_string().as_str());
    assert_eq!(field(&e, "status"), 200);
    assert_eq!(field(&e, "body_len"), 0);
    assert_eq!(field(&e, "body_truncated"), false);
    let headers = field(&e, "headers").as_array().expect("headers list");
    assert!(
        headers.contains(&serde_json::json!(["x-test", "one"])),
        "{headers:?}"
    );
    assert!(e.credential.is_none());
    assert_eq!((e.dst_ip, e.dst_port), (s.addr.ip(), s.addr.port()));
}

#[tokio::test]
async fn head_and_unknown_paths_answer_like_the_server() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(
        "nginxbox",
        "http",
        &[("server_header", "nginx/1.22.1")],
        dir.path(),
    )
    .await;
    let index = curl(&[&format!("{}/", base(&s, "http"))]).await.stdout;
    let head = curl(&["-I", &format!("{}/", base(&s, "http"))])
        .await
        .stdout;
    assert!(
        head.starts_with("HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\n"),
        "{head}"
    );
    assert!(
        head.contains(&format!("\r\nContent-Length: {}\r\n", index.len())),
        "{head}"
    );
    assert!(index.contains("Welcome to nginx!"));
    next_request(&mut s, "/").await;
    let e = next_request(&mut s, "/").await;
    assert_eq!(field(&e, "method"), "HEAD");

    let out = curl(&["-D", "-", &format!("{}/.env", base(&s, "http"))])
        .await
        .stdout;
    assert!(out.starts_with("HTTP/1.1 404 Not Found\r\n"), "{out}");
    assert!(out.contains("<hr><center>nginx/1.22.1</center>"), "{out}");
    let e = next_request(&mut s, "/.env").await;
    assert_eq!(field(&e, "status"), 404);

    // nginx refuses POST to a static file with its own reason phrase.
    let out = curl(&["-D", "-", "-d", "a=b", &format!("{}/", base(&s, "http"))])
        .await
        .stdout;
    assert!(out.starts_with("HTTP/1.1 405 Not Allowed\r\n"), "{out}");
}

#[tokio::test]
async fn authorization_headers_become_credentials() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("authbox", "http", &[("fake_app", "router")], dir.path()).await;
    let url = format!("{}/cgi-bin/admin", base(&s, "http"));
    let out = curl(&["-D", "-", "-u", "admin:s3cr:et", &url]).await.stdout;
    assert!(out.starts_with("HTTP/1.1 401 "), "{out}");
    assert!(out.contains("Basic realm=\"Broadband Router\""), "{out}");
    let e = next_request(&mut s, "/cgi-bin/admin").await;
    let c = e.credential.clone().expect("basic credential");
    assert_eq!(c.secret_kind, SecretKind::HttpBasic);
    assert_eq!(c.principal, "admin");
    assert_eq!(c.secret_bytes().unwrap(), b"s3cr:et");
    assert_eq!(field(&e, "auth_scheme"), "Basic");

    curl(&[
        "-H",
        "Authorization: Bearer tok.en-123",
        &format!("{}/api", base(&s, "http")),
    ])
    .await;
    let e = next_request(&mut s, "/api").await;
    let c = e.credential.expect("token credential");
    assert_eq!(c.secret_kind, SecretKind::Token);
    assert_eq!(c.principal, "");
    assert_eq!(c.secret_printable.as_deref(), Some("tok.en-123"));

    curl(&[
        "-H",
        "Authorization: Basic !!!",
        &format!("{}/bad", base(&s, "http")),
    ])
    .await;
    let e = next_request(&mut s, "/bad").await;
    assert!(e.credential.is_none());
    assert_eq!(field(&e, "auth_malformed"), true);
}

#[tokio::test]
async fn wordpress_login_is_captured_and_refused() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(
        "blog",
        "http",
        &[("fake_app", "wordpress"), ("title", "Acme Blog")],
        dir.path(),
    )
    .await;
    let url = format!("{}/wp-login.php", base(&s, "http"));
    let form = curl(&[&url]).await.stdout;
    assert!(
        form.contains("Log In &lsaquo; Acme Blog &#8212; WordPress"),
        "{form}"
    );
    let out = curl(&["-d", "log=admin&pwd=hunter2&wp-submit=Log+In", &url])
        .await
        .stdout;
    assert!(
        out.contains(
            "The password you entered for the username <strong>admin</strong> is incorrect."
        ),
        "{out}"
    );
    next_request(&mut s, "/wp-login.php").await;
    let e = next_request(&mut s, "/wp-login.php").await;
    assert_eq!(field(&e, "method"), "POST");
    assert_eq!(field(&e, "body"), "log=admin&pwd=hunter2&wp-submit=Log+In");
    let c = e.credential.expect("password credential");
    assert_eq!(c.secret_kind, SecretKind::Password);
    assert_eq!(
        (c.principal.as_str(), c.secret_printable.as_deref()),
        ("admin", Some("hunter2"))
    );

    let out = curl(&["-d", "log=nobody&pwd=x", &url]).await.stdout;
    assert!(out.contains("is not registered on this site"), "{out}");

    let out = curl(&["-D", "-", &format!("{}/wp-admin/", base(&s, "http"))])
        .await
        .stdout;
    assert!(out.starts_with("HTTP/1.1 302 Found\r\n"), "{out}");
    assert!(out.contains("/wp-login.php?redirect_to="), "{out}");
}

#[tokio::test]
async fn phpmyadmin_login_is_captured_and_denied() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("dbadmin", "http", &[("fake_app", "phpmyadmin")], dir.path()).await;
    let url = format!("{}/phpmyadmin/index.php", base(&s, "http"));
    let out = curl(&[
        "-d",
        "pma_username=root&pma_password=t%C3%B6%C3%B6r&server=1",
        &url,
    ])
    .await
    .stdout;
    assert!(
        out.contains("Access denied for user 'root'@'localhost'"),
        "{out}"
    );
    let e = next_request(&mut s, "/phpmyadmin/index.php").await;
    let c = e.credential.expect("password credential");
    assert_eq!(c.principal, "root");
    assert_eq!(c.secret_bytes().unwrap(), "töör".as_bytes());
}

#[tokio::test]
async fn a_large_body_is_recorded_truncated_and_the_server_goes_on() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("upload", "http", &[], dir.path()).await;
    let file = dir.path().join("big.bin");
    std::fs::write(&file, vec![b'A'; 1024 * 1024]).unwrap();
    let url = format!("{}/upload.php", base(&s, "http"));
    let data = format!("@{}", file.display());
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--data-binary",
        &data,
        &url,
    ])
    .await;
    assert_eq!(out.stdout, "404");
    let e = next_request(&mut s, "/upload.php").await;
    assert_eq!(field(&e, "body_len"), 1024 * 1024);
    assert_eq!(field(&e, "body_truncated"), true);
    assert_eq!(field(&e, "body").as_str().map(str::len), Some(64 * 1024));

    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{}/", base(&s, "http")),
    ])
    .await;
    assert_eq!(out.stdout, "200");
    next_request(&mut s, "/").await;
}

#[tokio::test]
async fn garbage_gets_a_400_and_a_protocol_error_and_the_listener_lives_on() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(
        "garbage",
        "http",
        &[("server_header", "nginx/1.22.1")],
        dir.path(),
    )
    .await;
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"\x00\x01\x02\xffnot http at all\r\n\r\n")
        .await
        .unwrap();
    let reply = read_reply(&mut tcp)
        .await
        .expect("server answers and closes");
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.starts_with("HTTP/1.1 400 Bad Request\r\nServer: nginx/1.22.1\r\n"),
        "{reply}"
    );
    assert!(
        reply.contains("<center><h1>400 Bad Request</h1></center>"),
        "{reply}"
    );
    let e = s
        .wait_type(EventType::ProtocolError)
        .await
        .expect("protocol_error");
    assert_eq!(field(&e, "reason"), "malformed_request");
    assert_eq!(field(&e, "status"), 400);
    assert!(field(&e, "data_b64").is_string());

    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{}/", base(&s, "http")),
    ])
    .await;
    assert_eq!(out.stdout, "200");
    next_request(&mut s, "/").await;
}

/// Everything the server sends until it closes, within `WAIT`.
// Capped by `take`, and the server under test is ours.
#[allow(clippy::disallowed_methods)]
async fn read_reply(tcp: &mut TcpStream) -> Option<Vec<u8>> {
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, tcp.take(64 * 1024).read_to_end(&mut reply))
        .await
        .ok()?
        .ok()?;
    Some(reply)
}

async fn certificate(addr: std::net::SocketAddr) -> (String, String) {
    let script = format!(
        "openssl s_client -connect {addr} </dev/null 2>/dev/null | openssl x509 -noout -subject -fingerprint -sha256"
    );
    let out = run("sh", &["-c", &script]).await.stdout;
    let mut subject = String::new();
    let mut fingerprint = String::new();
    for line in out.lines() {
        if let Some(s) = line.strip_prefix("subject=") {
            subject = s.replace(' ', "");
        } else if let Some((_, f)) = line.split_once("Fingerprint=") {
            fingerprint = f.to_owned();
        }
    }
    (subject, fingerprint)
}

#[tokio::test]
async fn https_presents_a_stable_certificate_per_decky() {
    if !have("curl") || !have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = || vec![svc("https", &[("title", "Secure Portal")])];
    let mut a = harness::serve(harness::decky("tls1", &ip, dir.path(), cfg()), "https").await;
    let out = curl(&["-kv", &format!("{}/", base(&a, "https"))]).await;
    assert!(
        out.stdout.contains("<title>Secure Portal</title>"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("CN=tls1-host"), "{}", out.stderr);
    assert!(
        out.stderr.contains("ALPN: server accepted http/1.1"),
        "{}",
        out.stderr
    );
    let e = next_request(&mut a, "/").await;
    assert_eq!(field(&e, "tls"), true);
    assert_eq!(field(&e, "tls_alpn"), "http/1.1");
    // curl to an address sends no server name and offers h2 first.
    let ja4 = field(&e, "tls_ja4").as_str().unwrap().to_owned();
    assert!(ja4.starts_with("t13i") && ja4[8..10] == *"h2", "{ja4}");
    assert_eq!(field(&e, "tls_ja3_hash").as_str().unwrap().len(), 32);

    let (subject, first) = certificate(a.addr).await;
    assert_eq!(subject, "CN=tls1-host");
    assert!(!first.is_empty());
    let key = dir.path().join("deckies/tls1/https/key.pem");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A second instance of the same decky (a restart) reuses the certificate.
    drop(a);
    let b = harness::serve(harness::decky("tls1", &ip, dir.path(), cfg()), "https").await;
    assert_eq!(certificate(b.addr).await.1, first);

    // Another decky has its own.
    let c = harness::serve(
        harness::decky("tls2", &unique_ip(), dir.path(), cfg()),
        "https",
    )
    .await;
    let (subject, other) = certificate(c.addr).await;
    assert_eq!(subject, "CN=tls2-host");
    assert_ne!(other, first);
}

#[tokio::test]
async fn https_port_rejects_plain_http_and_broken_handshakes() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(
        "tlsbad",
        "https",
        &[("server_header", "nginx/1.22.1")],
        dir.path(),
    )
    .await;
    let out = curl(&["-D", "-", &format!("{}/", base(&s, "http"))])
        .await
        .stdout;
    assert!(out.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{out}");
    assert!(
        out.contains("The plain HTTP request was sent to HTTPS port"),
        "{out}"
    );
    let e = s
        .wait_type(EventType::ProtocolError)
        .await
        .expect("protocol_error");
    assert_eq!(field(&e, "reason"), "plain_http_on_tls_port");

    // A handshake record that is not a ClientHello.
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(b"\x16\x03\x01\x00\x05hello").await.unwrap();
    let _ = read_reply(&mut tcp).await;
    let e = s
        .wait_type(EventType::ProtocolError)
        .await
        .expect("protocol_error");
    assert_eq!(field(&e, "reason"), "tls_handshake_failed");

    // A connection that says nothing is a port scan, not an error; the next one is served.
    drop(TcpStream::connect(s.addr).await.unwrap());
    let out = curl(&[
        "-k",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{}/", base(&s, "https")),
    ])
    .await;
    assert_eq!(out.stdout, "200");
    let e = s.wait_for(WAIT, |_| true).await.expect("an event");
    assert_eq!(e.event_type, EventType::HttpRequest, "{e:?}");
}

#[tokio::test]
async fn nmap_reports_the_persona_server() {
    if !have("nmap") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let persona = [("server_header", "nginx/1.22.1")];
    let d = harness::decky(
        "scanme",
        &ip,
        dir.path(),
        vec![svc("http", &persona), svc("https", &persona)],
    );
    let plain = harness::serve(d.clone(), "http").await;
    let tls = harness::serve(d, "https").await;
    let scan = |port: u16| {
        let port = port.to_string();
        let ip = ip.clone();
        async move {
            run("nmap", &["-sT", "-Pn", "-n", "-sV", "-p", &port, &ip])
                .await
                .stdout
        }
    };
    let (p, t) = tokio::join!(scan(plain.addr.port()), scan(tls.addr.port()));
    let line = |out: &str, port: u16| {
        out.lines()
            .find(|l| l.starts_with(&format!("{port}/tcp")))
            .unwrap_or_default()
            .to_owned()
    };
    let pl = line(&p, plain.addr.port());
    assert!(
        pl.contains("open") && pl.contains("http") && pl.contains("nginx 1.22.1"),
        "{p}"
    );
    let tl = line(&t, tls.addr.port());
    assert!(
        tl.contains("open") && tl.contains("ssl/http") && tl.contains("nginx 1.22.1"),
        "{t}"
    );
}

#[tokio::test]
async fn keep_alive_serves_several_requests_on_one_connection() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(
        "keepalive",
        "http",
        &[("fake_app", "wordpress")],
        dir.path(),
    )
    .await;
    let (a, b) = (
        format!("{}/robots.txt", base(&s, "http")),
        format!("{}/xmlrpc.php", base(&s, "http")),
    );
    let out = curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}:%{num_connects} ",
        &a,
        &b,
    ])
    .await;
    assert_eq!(
        out.stdout, "200:1 405:0 ",
        "second request reuses the connection"
    );
    let first = next_request(&mut s, "/robots.txt").await;
    let second = next_request(&mut s, "/xmlrpc.php").await;
    assert_eq!(first.session_id, second.session_id);
}

#[tokio::test]
async fn a_body_past_the_read_limit_gets_413_and_a_close() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(
        "bigpost",
        "http",
        &[("server_header", "nginx/1.22.1")],
        dir.path(),
    )
    .await;
    let file = dir.path().join("huge.bin");
    std::fs::write(&file, vec![0u8; 9 * 1024 * 1024]).unwrap();
    let data = format!("@{}", file.display());
    let url = format!("{}/", base(&s, "http"));
    let out = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--data-binary",
        &data,
        &url,
    ])
    .await;
    assert_eq!(out.stdout, "413");
    let e = next_request(&mut s, "/").await;
    assert_eq!(field(&e, "status"), 413);
    assert_eq!(field(&e, "body_error"), "body_too_large");
    assert_eq!(field(&e, "body_truncated"), true);
    assert!(
        field(&e, "body_b64").is_string(),
        "binary bodies are kept as base64"
    );
}

#[tokio::test]
async fn hydra_brute_force_is_captured_attempt_by_attempt() {
    if !have("hydra") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("bruteme", "http", &[("fake_app", "wordpress")], dir.path()).await;
    let words = dir.path().join("words.txt");
    std::fs::write(&words, "123456\nletmein\nhunter2\n").unwrap();
    let port = s.addr.port().to_string();
    let ip = s.addr.ip().to_string();
    let out = run(
        "hydra",
        &[
            "-l",
            "admin",
            "-P",
            words.to_str().unwrap(),
            "-t",
            "1",
            "-s",
            &port,
            &ip,
            "http-post-form",
            "/wp-login.php:log=^USER^&pwd=^PASS^&wp-submit=Log+In:F=is incorrect",
        ],
    )
    .await;
    assert!(
        out.stdout.contains("0 valid password"),
        "{}{}",
        out.stdout,
        out.stderr
    );
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let e = s
            .wait_for(WAIT, |e| e.credential.is_some())
            .await
            .expect("a credential per attempt");
        let c = e.credential.unwrap();
        assert_eq!(
            (c.principal.as_str(), c.secret_kind),
            ("admin", SecretKind::Password)
        );
        seen.push(c.secret_printable.unwrap());
    }
    seen.sort();
    assert_eq!(seen, ["123456", "hunter2", "letmein"]);
}
