//! The audit's checks against the real products Debian ships, on loopback:
//! the real sshd, nginx and Apache must pass every check that applies to them,
//! or the audit would report tells that are not tells.
//!
//! Each real server runs as root from a temp dir (its own config, 127.0.0.1,
//! a free port) and is killed and reaped on every path; a test skips with a
//! message when its binary is missing or it is not run as root.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use decnet_testkit::{free_port, is_root};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use decnet_audit::target::{SshTarget, Target};
use decnet_audit::{cross, http, ssh, tls, CheckResult, Status};
use decnet_core::persona::{distro, OsFamily};

const SNAKEOIL_CERT: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";
const SNAKEOIL_KEY: &str = "/etc/ssl/private/ssl-cert-snakeoil.key";

/// A real server, stopped when dropped.
struct Real {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Real {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Why a real server cannot run here, if it cannot.
fn why_not(bin: &str, files: &[&str]) -> Option<String> {
    if !is_root() {
        return Some("needs root".into());
    }
    if !Path::new(bin).exists() {
        return Some(format!("{bin} is not installed"));
    }
    files
        .iter()
        .find(|f| !Path::new(f).exists())
        .map(|f| format!("{f} is missing"))
}

/// Waits until something accepts on `port` (the server is up), at most 10 s.
fn ready(port: u16) -> bool {
    decnet_testkit::accepting(port, Duration::from_secs(10))
}

fn target(
    ssh: Option<SshTarget>,
    http: Option<SocketAddr>,
    https: Option<SocketAddr>,
    server: Option<String>,
) -> Target {
    Target {
        name: "real".into(),
        ip: "127.0.0.1".parse().unwrap(),
        os_family: OsFamily::Linux,
        distro: distro("debian").unwrap(),
        ssh,
        http,
        https,
        server_header: server,
    }
}

fn assert_all_pass(results: &[CheckResult]) {
    assert!(!results.is_empty());
    for r in results {
        assert_eq!(r.status, Status::Pass, "the real product fails {r:?}");
    }
}

#[tokio::test]
async fn the_real_debian_sshd_passes_every_ssh_check() {
    if let Some(why) = why_not("/usr/sbin/sshd", &[]) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for t in ["rsa", "ecdsa", "ed25519"] {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", t, "-N", "", "-f"])
            .arg(dir.path().join(format!("ssh_host_{t}_key")))
            .status()
            .unwrap();
        assert!(st.success());
    }
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = free_port();
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("sshd_config"),
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/ssh_host_rsa_key\nHostKey {d}/ssh_host_ecdsa_key\n\
             HostKey {d}/ssh_host_ed25519_key\nPidFile {d}/sshd.pid\nUsePAM no\n"
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/sshd")
        .arg("-f")
        .arg(dir.path().join("sshd_config"))
        .args(["-D", "-e"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _real = Real { child, _dir: dir };
    assert!(ready(port), "sshd did not start");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    // The persona would announce what this sshd announces.
    let ident = ssh::hello(addr).await.unwrap().ident;
    assert!(
        ident.starts_with("SSH-2.0-OpenSSH_9.2p1 Debian-"),
        "{ident}"
    );
    let s = SshTarget {
        addr,
        ident,
        login: None,
    };
    let t = target(Some(s.clone()), None, None, None);
    let mut out = Vec::new();
    ssh::run(&t, &s, &mut out).await.unwrap();
    assert_eq!(out.len(), 6);
    assert_all_pass(&out);
}

#[tokio::test]
async fn the_real_nginx_passes_every_http_and_tls_check() {
    if let Some(why) = why_not(
        "/usr/sbin/nginx",
        &[SNAKEOIL_CERT, SNAKEOIL_KEY, "/etc/nginx/mime.types"],
    ) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("html")).unwrap();
    std::fs::write(dir.path().join("html/index.html"), "<html>hi</html>\n").unwrap();
    let (port, tls_port) = (free_port(), free_port());
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("nginx.conf"),
        format!(
            "master_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\nuser root;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n include /etc/nginx/mime.types;\n default_type application/octet-stream;\n access_log off;\n\
             client_body_temp_path {d}/body;\n proxy_temp_path {d}/proxy;\n fastcgi_temp_path {d}/fcgi;\n\
             uwsgi_temp_path {d}/uwsgi;\n scgi_temp_path {d}/scgi;\n\
             server {{\n  listen 127.0.0.1:{port} default_server;\n  listen 127.0.0.1:{tls_port} ssl default_server;\n\
             ssl_certificate {SNAKEOIL_CERT};\n  ssl_certificate_key {SNAKEOIL_KEY};\n\
             root {d}/html;\n  server_name _;\n }}\n}}\n"
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/nginx")
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .arg("-p")
        .arg(dir.path())
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _real = Real { child, _dir: dir };
    assert!(ready(port) && ready(tls_port), "nginx did not start");
    let http_addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let tls_addr: SocketAddr = ([127, 0, 0, 1], tls_port).into();
    let raw = http::probe(http_addr, b"GET / HTTP/1.0\r\n\r\n")
        .await
        .unwrap();
    let server = http::Response::parse(&raw)
        .unwrap()
        .header("Server")
        .unwrap()
        .to_owned();
    assert!(server.starts_with("nginx/"), "{server}");
    let t = target(None, Some(http_addr), Some(tls_addr), Some(server));
    let mut out = Vec::new();
    http::run(&t, http_addr, &mut out).await.unwrap();
    assert_eq!(out.len(), 7);
    let mut obs = cross::Observed::new("real");
    tls::run(&t, tls_addr, &mut out, &mut obs).await.unwrap();
    assert_eq!(out.len(), 10);
    assert!(obs.tls_cert.is_some());
    assert_all_pass(&out);
}

#[tokio::test]
async fn the_real_apache_passes_every_http_check() {
    if let Some(why) = why_not("/usr/sbin/apache2", &["/etc/apache2/mods-enabled"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("html")).unwrap();
    std::fs::write(dir.path().join("html/index.html"), "<html>hi</html>\n").unwrap();
    let port = free_port();
    let d = dir.path().display();
    std::fs::write(
        dir.path().join("apache2.conf"),
        format!(
            "ServerRoot /etc/apache2\nDefaultRuntimeDir {d}\nPidFile {d}/apache2.pid\nMutex file:{d} default\n\
             User www-data\nGroup www-data\nErrorLog {d}/error.log\n\
             IncludeOptional mods-enabled/*.load\nIncludeOptional mods-enabled/*.conf\n\
             Listen 127.0.0.1:{port}\n<Directory />\n Require all denied\n</Directory>\n\
             <Directory {d}/html/>\n Require all granted\n</Directory>\n\
             IncludeOptional conf-enabled/*.conf\nServerName localhost\n\
             <VirtualHost 127.0.0.1:{port}>\n DocumentRoot {d}/html\n</VirtualHost>\n"
        ),
    )
    .unwrap();
    // www-data must be able to read the document root.
    for p in [
        dir.path().to_path_buf(),
        dir.path().join("html"),
        dir.path().join("html/index.html"),
    ] {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = if p.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let child = Command::new("/usr/sbin/apache2")
        .arg("-f")
        .arg(dir.path().join("apache2.conf"))
        .arg("-X")
        .env("APACHE_RUN_DIR", dir.path())
        .env("APACHE_LOG_DIR", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _real = Real { child, _dir: dir };
    assert!(ready(port), "apache2 did not start");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let raw = http::probe(addr, b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let server = http::Response::parse(&raw)
        .unwrap()
        .header("Server")
        .unwrap()
        .to_owned();
    assert!(server.starts_with("Apache/"), "{server}");
    let t = target(None, Some(addr), None, Some(server));
    let mut out = Vec::new();
    http::run(&t, addr, &mut out).await.unwrap();
    assert_eq!(out.len(), 7);
    assert_all_pass(&out);
}
