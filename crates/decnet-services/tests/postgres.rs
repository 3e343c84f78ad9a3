//! The PostgreSQL emulator against psql (cleartext, md5 and SCRAM-SHA-256
//! personas, each capture checked against the password psql sent), a bait
//! login, raw sockets, nmap, and the real PostgreSQL 15 server side by side
//! on loopback (its own cluster in a temp dir, its own port, stopped on drop).

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use decnet_core::event::SecretKind;
use decnet_core::persona::distro;
use decnet_core::{Event, EventType};
use decnet_services::postgres::{auth, version::Release};
use decnet_services::DeckyRuntime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use decnet_testkit::is_root;

use crate::harness::{decky, have, login_of, output, serve, svc, unique_ip, Served};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// A decky of `distro` running postgres with `persona`, in a bait world of
/// itself and an SSH host whose root history names its `app` account.
fn pg_decky(dir: &Path, name: &str, os: &str, persona: &[(&str, &str)]) -> Arc<DeckyRuntime> {
    let base = decky(name, &unique_ip(), dir, vec![svc("postgres", persona)]);
    let mut d = Arc::try_unwrap(base).expect("a fresh runtime has one owner");
    d.config.distro = distro(os).expect("distro");
    let mut jump = d.config.clone();
    jump.name = format!("{name}-jump");
    jump.hostname = format!("{name}-jump");
    jump.ip = unique_ip().parse().unwrap();
    jump.services = vec![svc("ssh", &[])];
    d.bait = Arc::new(decnet_core::bait::World::derive(
        b"test-installation",
        &[d.config.clone(), jump],
        1_760_000_000,
    ));
    Arc::new(d)
}

async fn start(dir: &Path, name: &str, os: &str, persona: &[(&str, &str)]) -> Served {
    serve(pg_decky(dir, name, os, persona), "postgres").await
}

/// psql running `command` as `user` with `password` (never prompting, no psqlrc).
async fn psql(
    home: &Path,
    addr: SocketAddr,
    user: &str,
    db: &str,
    password: &str,
    sslmode: &str,
    command: &str,
) -> std::process::Output {
    let mut c = Command::new("psql");
    c.arg(format!(
        "host={} port={} user={user} dbname={db} sslmode={sslmode} connect_timeout=10",
        addr.ip(),
        addr.port()
    ))
    .args(["-X", "-w", "-A", "-t", "-c", command])
    .env("HOME", home)
    .env("PGPASSWORD", password)
    .env_remove("PGUSER")
    .env_remove("PGHOST");
    output(c).await
}

fn have_psql() -> bool {
    if have("psql") {
        return true;
    }
    eprintln!("skipped: psql (postgresql-client) is not installed");
    false
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[tokio::test]
async fn psqls_cleartext_password_is_captured_as_sent_over_tls() {
    if !have_psql() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // Ubuntu's cluster has ssl = on: psql's sslmode=prefer takes TLS.
    let mut s = start(tmp.path(), "pg-clear", "ubuntu22", &[]).await;
    let out = psql(
        tmp.path(),
        s.addr,
        "mallory",
        "appdb",
        "Tr0ub4dor&3",
        "prefer",
        "select 1",
    )
    .await;
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("FATAL:  password authentication failed for user \"mallory\""),
        "psql said: {}",
        stderr(&out)
    );
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    assert_eq!(
        login_of(&e),
        (
            "mallory".to_owned(),
            b"Tr0ub4dor&3".to_vec(),
            SecretKind::Password
        )
    );
    assert_eq!(e.fields["method"], "password");
    assert_eq!(e.fields["database"], "appdb");
    assert_eq!(e.fields["application_name"], "psql");
    assert_eq!(e.fields["params"]["user"], "mallory");
    assert_eq!(e.fields["tls"], true);
    assert_eq!(e.fields["ssl_requested"], true);
    assert!(e.fields["tls_ja4"]
        .as_str()
        .is_some_and(|j| j.starts_with('t')));
}

#[tokio::test]
async fn psqls_md5_response_recomputes_from_the_password() {
    if !have_psql() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "pg-md5", "rocky9", &[("auth_method", "md5")]).await;
    let out = psql(
        tmp.path(),
        s.addr,
        "postgres",
        "postgres",
        "s3cr3t-md5",
        "prefer",
        "select 1",
    )
    .await;
    assert!(stderr(&out).contains("password authentication failed for user \"postgres\""));
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    let (user, secret, kind) = login_of(&e);
    assert_eq!((user.as_str(), kind), ("postgres", SecretKind::PgMd5));
    let salt: [u8; 4] = hex::decode(e.fields["salt"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let sent = String::from_utf8(secret).unwrap();
    assert_eq!(auth::md5_response("postgres", b"s3cr3t-md5", &salt), sent);
    assert_ne!(auth::md5_response("postgres", b"s3cr3t-md6", &salt), sent);
    assert_eq!(
        e.fields["hashcat"],
        format!("$postgres$postgres*{}*{}", hex::encode(salt), &sent[3..]).as_str()
    );
    assert!(
        e.fields.get("tls").is_none(),
        "RHEL's cluster has ssl = off"
    );
}

/// The SCRAM fields of a capture, checked against the password.
fn check_scram(e: &Event, user: &str, password: &str) {
    let (principal, proof, kind) = login_of(e);
    assert_eq!((principal.as_str(), kind), (user, SecretKind::ScramSha256));
    let salt = B64.decode(e.fields["salt"].as_str().unwrap()).unwrap();
    let iterations = u32::try_from(e.fields["iterations"].as_u64().unwrap()).unwrap();
    assert_eq!(iterations, 4096);
    let am = e.fields["auth_message"].as_str().unwrap();
    let cn = e.fields["client_nonce"].as_str().unwrap();
    let sn = e.fields["server_nonce"].as_str().unwrap();
    assert!(am.contains(&format!("r={cn},")) && am.contains(&format!("r={cn}{sn},s=")));
    assert_eq!(
        auth::scram_proof(password.as_bytes(), &salt, iterations, am.as_bytes()).to_vec(),
        proof,
        "the captured proof cracks back to the password psql sent"
    );
    assert_ne!(
        auth::scram_proof(b"wrong", &salt, iterations, am.as_bytes()).to_vec(),
        proof
    );
    assert_eq!(e.fields["client_proof"], B64.encode(&proof).as_str());
}

#[tokio::test]
async fn psqls_scram_proof_recomputes_in_the_clear_and_with_channel_binding() {
    if !have_psql() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(
        tmp.path(),
        "pg-scram",
        "debian",
        &[("auth_method", "scram-sha-256")],
    )
    .await;
    let mut salts = Vec::new();
    for (sslmode, mech) in [
        ("disable", "SCRAM-SHA-256"),
        ("require", "SCRAM-SHA-256-PLUS"),
    ] {
        let out = psql(
            tmp.path(),
            s.addr,
            "dbadmin",
            "postgres",
            "correct horse",
            sslmode,
            "select 1",
        )
        .await;
        assert!(stderr(&out).contains("password authentication failed for user \"dbadmin\""));
        let e = s
            .wait_type(EventType::LoginAttempt)
            .await
            .expect("login_attempt");
        check_scram(&e, "dbadmin", "correct horse");
        assert_eq!(e.fields["mechanism"], mech);
        salts.push(e.fields["salt"].clone());
    }
    assert_eq!(
        salts[0], salts[1],
        "a role keeps its salt, as a stored verifier does"
    );
}

#[tokio::test]
async fn a_bait_password_logs_in_over_scram_and_select_version_is_the_personas() {
    if !have_psql() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(
        tmp.path(),
        "pg-bait",
        "debian",
        &[("auth_method", "scram-sha-256")],
    )
    .await;
    let token = s
        .decky
        .bait
        .tokens()
        .iter()
        .find(|t| t.principal == "app" && t.valid_on.contains(&s.decky.config.name))
        .expect("the app account is planted")
        .secret
        .clone();
    let out = psql(
        tmp.path(),
        s.addr,
        "app",
        "appdb",
        &token,
        "prefer",
        "SELECT version(); SELECT current_user; select * from customers",
    )
    .await;
    let release = Release::new(distro("debian").unwrap(), None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&release.version) && stdout.contains("\napp\n"),
        "psql printed {stdout}; {}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("ERROR:  relation \"customers\" does not exist"));
    let ok = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    check_scram(&ok, "app", &token);
    assert!(
        ok.fields["honeytoken"]["planted"].is_array(),
        "{:?}",
        ok.fields
    );
    let q = s.wait_type(EventType::Query).await.expect("query");
    assert_eq!(
        q.fields["query"],
        "SELECT version(); SELECT current_user; select * from customers"
    );
    assert_eq!(q.fields["sqlstate"], "42P01");
    assert_eq!(q.fields["database"], "appdb");
    // psql's \l lists the cluster's databases.
    let out = psql(tmp.path(), s.addr, "app", "appdb", &token, "disable", "\\l").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("appdb|app|UTF8"),
        "psql printed {stdout}; {}",
        stderr(&out)
    );
    assert!(stdout.contains("template1|postgres|UTF8"));
}

/// Sends `data` and returns what the server sends until it closes (at most 4 KiB, 10 s).
async fn exchange(addr: SocketAddr, data: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(data).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while got.len() < 4096 {
        match tokio::time::timeout(Duration::from_secs(10), c.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

fn startup(params: &[(&str, &str)]) -> Vec<u8> {
    let mut body = 196_608u32.to_be_bytes().to_vec();
    for (k, v) in params {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut out = u32::try_from(body.len() + 4)
        .unwrap()
        .to_be_bytes()
        .to_vec();
    out.extend(body);
    out
}

fn password(p: &str) -> Vec<u8> {
    let mut b = vec![b'p'];
    b.extend_from_slice(&u32::try_from(p.len() + 5).unwrap().to_be_bytes());
    b.extend_from_slice(p.as_bytes());
    b.push(0);
    b
}

/// nmap's SMBProgNeg probe, which PostgreSQL reads as a startup packet of version 65363.19778.
fn smb_probe() -> Vec<u8> {
    let mut p = b"\0\0\0\xa4\xffSMBr\0\0\0\0\x08\x01\x40".to_vec();
    p.resize(0xa4, 0);
    p
}

/// The answers a scanner compares, from one server.
async fn answers(addr: SocketAddr) -> Vec<(&'static str, Vec<u8>)> {
    let mut out = Vec::new();
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[0, 0, 0, 8, 4, 210, 22, 47]).await.unwrap();
    let mut one = [0u8; 1];
    c.read_exact(&mut one).await.unwrap();
    out.push(("ssl_request", one.to_vec()));
    drop(c);
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(&[0, 0, 0, 8, 4, 210, 22, 48]).await.unwrap();
    c.read_exact(&mut one).await.unwrap();
    out.push(("gssenc_request", one.to_vec()));
    drop(c);
    out.push(("smb_probe", exchange(addr, &smb_probe()).await));
    out.push((
        "no_user",
        exchange(addr, &startup(&[("database", "x")])).await,
    ));
    let raw = |body: &[u8]| {
        let mut p = u32::try_from(body.len() + 8)
            .unwrap()
            .to_be_bytes()
            .to_vec();
        p.extend_from_slice(&196_608u32.to_be_bytes());
        p.extend_from_slice(body);
        p
    };
    // The terminator's value is never read; a second byte after the list is refused.
    let mut odd = raw(b"user\0mallory\0y");
    odd.extend(password("hunter2"));
    out.push(("odd_terminator", exchange(addr, &odd).await));
    let bad = raw(b"user\0x\0yy");
    out.push(("bad_layout", exchange(addr, &bad).await));
    out.push((
        "huge_startup",
        exchange(addr, &20_000u32.to_be_bytes()).await,
    ));
    let mut login = startup(&[("user", "mallory"), ("database", "postgres")]);
    login.extend(password("wrong-password"));
    out.push(("failed_password", exchange(addr, &login).await));
    let mut empty = startup(&[("user", "mallory")]);
    empty.extend(password(""));
    out.push(("empty_password", exchange(addr, &empty).await));
    out
}

/// The real PostgreSQL 15, stopped (SIGQUIT, reaped) when dropped.
struct RealPostgres {
    child: std::process::Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for RealPostgres {
    fn drop(&mut self) {
        // SIGQUIT: the postmaster takes its backends down with it.
        let quit = std::process::Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        if !quit.is_ok_and(|s| s.success()) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";

/// initdb and postgres as the `postgres` user in a temp dir it owns, asking
/// every TCP client for a cleartext password; `None` where it cannot run.
fn real_postgres() -> Option<RealPostgres> {
    use std::os::unix::process::CommandExt as _;
    let ids = std::process::Command::new("id")
        .args(["-u", "postgres"])
        .output()
        .ok()?;
    let gids = std::process::Command::new("id")
        .args(["-g", "postgres"])
        .output()
        .ok()?;
    let parse = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .trim()
            .parse::<u32>()
            .ok()
    };
    let (Some(uid), Some(gid)) = (parse(&ids), parse(&gids)) else {
        eprintln!("skipped: no postgres user (Debian postgresql)");
        return None;
    };
    if !Path::new(PG_BIN).join("postgres").exists() || !is_root() {
        eprintln!("skipped: needs root and {PG_BIN}/postgres (Debian postgresql-15)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
    let data = dir.path().join("data");
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, "not-the-test-password\n").unwrap();
    std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
    let st = std::process::Command::new(Path::new(PG_BIN).join("initdb"))
        .args([
            "-A",
            "password",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        ])
        .arg(format!("--pwfile={}", pwfile.display()))
        .arg("-D")
        .arg(&data)
        .current_dir(dir.path())
        .uid(uid)
        .gid(gid)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "initdb");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = std::process::Command::new(Path::new(PG_BIN).join("postgres"))
        .arg("-D")
        .arg(&data)
        .args(["-p", &port.to_string(), "-k"])
        .arg(dir.path())
        .args([
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "ssl=off",
            "-c",
            "fsync=off",
        ])
        .current_dir(dir.path())
        .uid(uid)
        .gid(gid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pg = RealPostgres {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _dir: dir,
    };
    // Ready once the socket accepts and a startup packet gets its auth request.
    let ready = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        use std::io::{Read as _, Write as _};
        if let Ok(mut c) = std::net::TcpStream::connect(pg.addr) {
            let _ = c.set_read_timeout(Some(Duration::from_secs(2)));
            let _ = c.write_all(&startup(&[("user", "postgres")]));
            let mut b = [0u8; 1];
            if c.read_exact(&mut b).is_ok() && b[0] == b'R' {
                return Some(pg);
            }
        }
        assert!(
            std::time::Instant::now() < ready,
            "the real postgres came up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn startup_and_authentication_errors_are_the_real_servers_bytes() {
    let Some(real) = tokio::task::spawn_blocking(real_postgres).await.unwrap() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // Debian 12's release with its cluster's TLS turned off, as the real one here is.
    let mut s = start(tmp.path(), "pg-real", "debian", &[("ssl", "false")]).await;
    let theirs = answers(real.addr).await;
    let ours = answers(s.addr).await;
    for ((what, t), (_, o)) in theirs.iter().zip(ours.iter()) {
        assert_eq!(
            String::from_utf8_lossy(o),
            String::from_utf8_lossy(t),
            "{what}: the decky's answer differs from the real server's"
        );
    }
    assert_eq!(theirs.len(), ours.len());
    let events = s.drain(Duration::from_millis(300)).await;
    assert!(events
        .iter()
        .any(|e| e.event_type == EventType::ProtocolError
            && e.fields["reason"] == "invalid_startup_length"));
    let attempt = events
        .iter()
        .find(|e| {
            e.event_type == EventType::LoginAttempt
                && e.credential
                    .as_ref()
                    .is_some_and(|c| c.secret_printable.as_deref() == Some("wrong-password"))
        })
        .expect("the failed password's attempt");
    assert_eq!(
        login_of(attempt),
        (
            "mallory".to_owned(),
            b"wrong-password".to_vec(),
            SecretKind::Password
        )
    );
    assert!(events.iter().any(|e| e.event_type == EventType::Scan
        && e.fields.get("protocol").and_then(|v| v.as_str()) == Some("65363.19778")));
}

#[tokio::test]
async fn a_gss_token_is_kept_and_a_huge_startup_packet_closes_silently() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "pg-raw", "rocky9", &[]).await;
    let mut gss = vec![0, 0, 0, 8, 4, 210, 22, 48];
    gss.extend_from_slice(&[0, 0, 0, 5, 0x60, 1, 2, 3, 4]);
    assert_eq!(exchange(s.addr, &gss).await, b"G");
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("gss token");
    assert_eq!(e.fields["method"], "gss");
    assert_eq!(
        e.fields["gss_token_b64"],
        B64.encode([0x60, 1, 2, 3, 4]).as_str()
    );
    assert_eq!(exchange(s.addr, &[0, 0, 0x4e, 0x21, 0, 3, 0, 0]).await, b"");
    let e = s
        .wait_type(EventType::ProtocolError)
        .await
        .expect("protocol_error");
    assert_eq!(e.fields["reason"], "invalid_startup_length");
    // A scanner that connects and leaves is a scan.
    drop(TcpStream::connect(s.addr).await.unwrap());
    assert!(s.wait_type(EventType::Scan).await.is_some());
}

#[tokio::test]
async fn nmap_version_detection_names_postgresql() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "pg-nmap", "debian", &[]).await;
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "-p"])
        .arg(s.addr.port().to_string())
        .arg(s.addr.ip().to_string())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(120), c.output())
        .await
        .expect("nmap finished")
        .expect("nmap ran");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("PostgreSQL DB"), "nmap said:\n{text}");
    assert!(s.wait_type(EventType::Scan).await.is_some());
}
