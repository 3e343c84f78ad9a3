//! The MySQL emulator against the MariaDB client (`mysql`), PyMySQL (which
//! speaks caching_sha2_password), the real mariadbd side by side, raw sockets
//! and nmap. Every captured scramble is recomputed from the password the
//! client was given.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use decnet_core::bait::World;
use decnet_core::event::SecretKind;
use decnet_core::{Event, EventType};
use decnet_services::mysql::handshake::{caching_sha2_scramble, hashcat_native, native_scramble};
use decnet_services::DeckyRuntime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{decky, have, login_of, output, serve, svc, unique_ip, Served};

/// A decky of `distro` running mysql, in a world where a web decky's files
/// plant the `app` database account (as `mysql -h … -u app -p'…' appdb` in
/// root's history).
fn fleet(dir: &Path, name: &str, distro: &str, persona: &[(&str, &str)]) -> Arc<DeckyRuntime> {
    let base = decky(name, &unique_ip(), dir, vec![svc("mysql", persona)]);
    let mut d = Arc::try_unwrap(base).expect("a fresh runtime has one owner");
    d.config.distro = decnet_core::persona::distro(distro).expect("distro");
    let web = decky(
        &format!("{name}-web"),
        &unique_ip(),
        dir,
        vec![svc("ssh", &[])],
    );
    d.bait = Arc::new(World::derive(
        b"test-installation",
        &[d.config.clone(), web.config.clone()],
        1_760_000_000,
    ));
    Arc::new(d)
}

async fn start(dir: &Path, name: &str, distro: &str, persona: &[(&str, &str)]) -> Served {
    serve(fleet(dir, name, distro, persona), "mysql").await
}

/// The planted `app` account's password.
fn app_password(s: &Served) -> String {
    let t = s
        .decky
        .bait
        .tokens()
        .iter()
        .find(|t| t.principal == "app")
        .expect("the world plants the app account");
    assert!(t.valid_on.contains(&s.decky.config.name));
    t.secret.clone()
}

/// `mysql --skip-ssl` as `user` with `password`, running `sql`.
async fn mysql(
    s: &Served,
    user: &str,
    password: &str,
    db: Option<&str>,
    sql: &str,
) -> std::process::Output {
    let mut c = Command::new("mysql");
    // --no-defaults must come first.
    c.args(["--no-defaults", "--skip-ssl", "--protocol=TCP", "-h"])
        .arg(s.addr.ip().to_string())
        .arg("-P")
        .arg(s.addr.port().to_string())
        .args(["-u", user])
        .arg(format!("-p{password}"))
        .args(["--batch", "-e", sql]);
    if let Some(db) = db {
        c.arg(db);
    }
    output(c).await
}

/// The python3 that imports pymysql (Debian's python3-pymysql lives in /usr/bin's).
fn pymysql_python() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import pymysql, cryptography"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

async fn pymysql(py: &str, script: &str, args: &[&str]) -> std::process::Output {
    let mut c = Command::new(py);
    c.arg("-c").arg(script).args(args);
    output(c).await
}

fn field<'e>(e: &'e Event, k: &str) -> &'e str {
    e.fields
        .get(k)
        .and_then(|v| v.as_str())
        .unwrap_or_else(|| panic!("no {k} in {:?}", e.fields))
}

fn salt_of(e: &Event) -> Vec<u8> {
    hex::decode(field(e, "salt")).unwrap()
}

#[tokio::test]
async fn a_wrong_password_from_the_mariadb_client_is_1045_and_its_scramble_cracks_back() {
    if !have("mysql") {
        eprintln!("skipped: mysql (mariadb-client) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "my-wrong", "debian", &[]).await;
    let out = mysql(&s, "root", "Wr0ng!pass", None, "select 1").await;
    assert!(!out.status.success());
    let peer = "127.0.0.1";
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        format!("ERROR 1045 (28000): Access denied for user 'root'@'{peer}' (using password: YES)")
    );
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    let (user, secret, kind) = login_of(&e);
    assert_eq!((user.as_str(), kind), ("root", SecretKind::MysqlNative));
    let salt = salt_of(&e);
    assert_eq!(salt.len(), 20);
    assert!(
        salt.iter().all(|b| (33..=126).contains(b)),
        "MariaDB's printable salt"
    );
    assert_eq!(
        secret,
        native_scramble(b"Wr0ng!pass", &salt),
        "the capture is the scramble of the password the client was given"
    );
    assert_eq!(field(&e, "hashcat"), hashcat_native(&salt, &secret));
    assert_eq!(e.fields["hashcat_mode"], 11200);
    assert_eq!(field(&e, "auth_plugin"), "mysql_native_password");
    assert_eq!(field(&e, "client_name"), "libmariadb");
    assert_eq!(field(&e, "program_name"), "mysql");
    assert_eq!(field(&e, "client_os"), "Linux");
    assert_eq!(e.fields["client_attributes"]["_client_name"], "libmariadb");
    assert_eq!(
        field(&e, "server_version"),
        "5.5.5-10.11.6-MariaDB-0+deb12u1"
    );
}

#[tokio::test]
async fn the_planted_app_account_logs_in_and_every_query_is_answered_and_captured() {
    if !have("mysql") {
        eprintln!("skipped: mysql (mariadb-client) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "my-app", "debian", &[]).await;
    let pw = app_password(&s);
    let sql = "select @@version; select @@version_comment limit 1; show databases; show tables; select * from users limit 2; select database(); select user()";
    let out = mysql(&s, "app", &pw, Some("appdb"), sql).await;
    assert!(
        out.status.success(),
        "mysql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let people = &s.decky.bait.people;
    let rows = s.decky.bait.sql_databases(&s.decky.config.name)[0].tables[0]
        .rows
        .clone();
    let tsv = |r: &Vec<Option<String>>| {
        r.iter()
            .map(|v| v.clone().unwrap_or_else(|| "NULL".into()))
            .collect::<Vec<_>>()
            .join("\t")
    };
    let want = format!(
        "@@version\n10.11.6-MariaDB-0+deb12u1\n@@version_comment\nDebian 12\nDatabase\nappdb\ninformation_schema\nTables_in_appdb\nusers\nsettings\nid\tusername\temail\tfull_name\trole\tpassword_hash\tcreated_at\n{}\n{}\ndatabase()\nappdb\nuser()\napp@127.0.0.1\n",
        tsv(&rows[0]),
        tsv(&rows[1])
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), want);
    assert_eq!(rows[0][1].as_deref(), Some(people[0].username.as_str()));
    let ok = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    let (user, secret, kind) = login_of(&ok);
    assert_eq!((user.as_str(), kind), ("app", SecretKind::MysqlNative));
    assert_eq!(secret, native_scramble(pw.as_bytes(), &salt_of(&ok)));
    assert_eq!(field(&ok, "database"), "appdb");
    let token = &ok.fields["honeytoken"];
    assert_eq!(token["principal"], "app");
    assert_eq!(
        token["planted"][0]["document"], "/root/.bash_history",
        "the event names where the account was planted"
    );
    let mut queries = Vec::new();
    for _ in 0..7 {
        let q = s.wait_type(EventType::Query).await.expect("query event");
        assert_eq!(field(&q, "user"), "app");
        queries.push(field(&q, "query").to_owned());
    }
    let want: Vec<&str> = sql.split("; ").collect();
    assert_eq!(queries, want);
}

const PYMYSQL_LOGIN: &str = r#"
import sys, pymysql
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    c = pymysql.connect(host=host, port=port, user=user, password=pw, database=sys.argv[5] or None)
except pymysql.err.OperationalError as e:
    print("refused", e.args[0], e.args[1])
    sys.exit(0)
cur = c.cursor()
cur.execute("SELECT @@version, DATABASE()")
print("ok", cur.fetchone())
cur.execute("SELECT username FROM users LIMIT 1")
print("row", cur.fetchone()[0])
c.close()
"#;

#[tokio::test]
async fn pymysql_drives_caching_sha2_against_a_mysql_8_persona() {
    let Some(py) = pymysql_python() else {
        eprintln!("skipped: python3 with pymysql and cryptography is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "my-sha2", "ubuntu22", &[]).await;
    let (ip, port) = (s.addr.ip().to_string(), s.addr.port().to_string());

    // A wrong password: fast auth misses, full auth over RSA gives the plaintext.
    let out = pymysql(py, PYMYSQL_LOGIN, &[&ip, &port, "root", "n0t-it", ""]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "refused 1045 Access denied for user 'root'@'127.0.0.1' (using password: YES)",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    assert_eq!(
        login_of(&e),
        ("root".into(), b"n0t-it".to_vec(), SecretKind::Password)
    );
    assert_eq!(field(&e, "password_via"), "caching_sha2_rsa");
    assert_eq!(field(&e, "auth_plugin"), "caching_sha2_password");
    let nonce = salt_of(&e);
    assert_eq!(
        hex::decode(field(&e, "response")).unwrap(),
        caching_sha2_scramble(b"n0t-it", &nonce),
        "the fast-auth scramble PyMySQL sent recomputes from the password"
    );
    assert_eq!(field(&e, "client_name"), "pymysql");

    // The planted account: fast auth succeeds and queries are answered.
    let pw = app_password(&s);
    let out = pymysql(py, PYMYSQL_LOGIN, &[&ip, &port, "app", &pw, "appdb"]).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("ok ('8.0.36-0ubuntu0.22.04.1', 'appdb')\nrow "),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    let (user, secret, kind) = login_of(&ok);
    assert_eq!((user.as_str(), kind), ("app", SecretKind::MysqlCachingSha2));
    assert_eq!(secret, caching_sha2_scramble(pw.as_bytes(), &salt_of(&ok)));
    assert!(ok.fields.contains_key("honeytoken"));
}

#[tokio::test]
async fn the_cleartext_switch_gets_pymysqls_password_in_plaintext() {
    let Some(py) = pymysql_python() else {
        eprintln!("skipped: python3 with pymysql and cryptography is not installed");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(
        dir.path(),
        "my-clear",
        "debian",
        &[("clear_password", "true")],
    )
    .await;
    let (ip, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let out = pymysql(py, PYMYSQL_LOGIN, &[&ip, &port, "admin", "Adm1n!2024", ""]).await;
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("refused 1045 "),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    assert_eq!(
        login_of(&e),
        ("admin".into(), b"Adm1n!2024".to_vec(), SecretKind::Password)
    );
    assert_eq!(field(&e, "password_via"), "mysql_clear_password");
    // The scramble sent first is kept beside it, and is the same password's.
    assert_eq!(
        hex::decode(field(&e, "response")).unwrap(),
        native_scramble(b"Adm1n!2024", &salt_of(&e))
    );
}

/// Reads one packet (header and payload).
async fn packet(c: &mut TcpStream) -> Vec<u8> {
    let mut h = [0u8; 4];
    c.read_exact(&mut h).await.unwrap();
    let len = usize::from(h[0]) | usize::from(h[1]) << 8 | usize::from(h[2]) << 16;
    let mut p = vec![0u8; len];
    c.read_exact(&mut p).await.unwrap();
    let mut all = h.to_vec();
    all.extend(p);
    all
}

/// A HandshakeResponse41 as libmariadb sends it, for `user` with `password`.
fn response(user: &str, password: &str, salt: &[u8]) -> Vec<u8> {
    let auth = native_scramble(password.as_bytes(), salt);
    let mut p = 0x00aa_a284u32.to_le_bytes().to_vec();
    p.extend_from_slice(&0x0100_0000u32.to_le_bytes());
    p.push(33);
    p.extend_from_slice(&[0; 19]);
    p.extend_from_slice(&0x1du32.to_le_bytes());
    p.extend_from_slice(user.as_bytes());
    p.push(0);
    p.push(auth.len() as u8);
    p.extend_from_slice(&auth);
    p.extend_from_slice(b"mysql_native_password\0");
    let mut out = (p.len() as u32).to_le_bytes()[..3].to_vec();
    out.push(1);
    out.extend(p);
    out
}

/// Greeting fields a scanner compares: everything but the version, thread id and salt.
fn greeting_shape(g: &[u8]) -> (Vec<u8>, String, Vec<u8>) {
    let body = &g[4..];
    assert_eq!(body[0], 10, "protocol 10");
    let nul = body.iter().position(|&b| b == 0).unwrap();
    let version = String::from_utf8_lossy(&body[1..nul]).into_owned();
    let rest = &body[nul + 1..];
    // id(4) salt1(8) 0 | caps(2) charset status(2) caps(2) len filler(6) ext(4) | salt2(12) 0 | plugin
    let mut shape = rest[12..13].to_vec();
    shape.extend_from_slice(&rest[13..31]);
    shape.extend_from_slice(&rest[43..]);
    (shape, version, g[..4].to_vec())
}

struct Mariadbd {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Mariadbd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real mariadbd on loopback in its own data dir, or None when it is not installed.
async fn real_mariadbd() -> Option<Mariadbd> {
    let (Some(install), Some(server)) = (
        ["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"]
            .into_iter()
            .find(|p| Path::new(p).exists()),
        ["/usr/sbin/mariadbd", "/usr/sbin/mysqld"]
            .into_iter()
            .find(|p| Path::new(p).exists()),
    ) else {
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let st = std::process::Command::new(install)
        .arg(format!("--datadir={}", data.display()))
        .args([
            "--auth-root-authentication-method=normal",
            "--user=root",
            "--skip-test-db",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "mariadb-install-db");
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let child = std::process::Command::new(server)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .arg(format!("--socket={}", dir.path().join("sock").display()))
        .arg(format!("--port={port}"))
        .args(["--bind-address=127.0.0.1", "--user=root"])
        // What Debian's /etc/mysql/mariadb.conf.d/50-server.cnf sets.
        .args([
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
        ])
        .arg(format!("--pid-file={}", dir.path().join("pid").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let m = Mariadbd {
        child,
        port,
        _dir: dir,
    };
    for _ in 0..600 {
        if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return Some(m);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("mariadbd did not start");
}

/// Greeting and the 1045 packet of a wrong login to `addr`.
async fn greet_and_fail(addr: std::net::SocketAddr) -> (Vec<u8>, Vec<u8>) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    let g = packet(&mut c).await;
    let body = &g[4..];
    let nul = body.iter().position(|&b| b == 0).unwrap();
    let rest = &body[nul + 1..];
    let mut salt = rest[4..12].to_vec();
    salt.extend_from_slice(&rest[31..43]);
    c.write_all(&response("root", "wrong", &salt))
        .await
        .unwrap();
    let err = packet(&mut c).await;
    (g, err)
}

#[tokio::test]
async fn side_by_side_with_mariadbd_the_greeting_and_the_1045_packet_match() {
    let Some(real) = real_mariadbd().await else {
        eprintln!("skipped: mariadb-server is not installed");
        return;
    };
    let real_addr: std::net::SocketAddr = ([127, 0, 0, 1], real.port).into();
    let (real_g, real_err) = greet_and_fail(real_addr).await;
    let (real_shape, real_version, real_head) = greeting_shape(&real_g);
    // The decky announces the same release, so the greetings differ only in thread id and salt.
    let version = real_version.strip_prefix("5.5.5-").unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(
        dir.path(),
        "my-side",
        "debian",
        &[("mysql_version", &version)],
    )
    .await;
    let (g, err) = greet_and_fail(s.addr).await;
    let (shape, v, head) = greeting_shape(&g);
    assert_eq!(v, real_version);
    assert_eq!(head, real_head, "length and sequence");
    assert_eq!(
        hex::encode(&shape),
        hex::encode(&real_shape),
        "capabilities, charset, status, salt length, extended capabilities, plugin name"
    );
    // The real server names loopback `localhost` (it resolves names); the
    // decky names the address, as the real one does for a remote client.
    let host_free = |p: &[u8]| {
        let text = String::from_utf8_lossy(&p[4..]).into_owned();
        (
            p[3],
            text.replace("'@'localhost'", "'@'HOST'")
                .replace("'@'127.0.0.1'", "'@'HOST'"),
        )
    };
    assert_eq!(
        host_free(&err),
        host_free(&real_err),
        "the 1045 packet (sequence, code, SQLSTATE, message) but for the address"
    );
    assert!(String::from_utf8_lossy(&err).contains("'root'@'127.0.0.1'"));
    assert!(s.wait_type(EventType::LoginAttempt).await.is_some());

    // What a scanner's non-MySQL probe gets.
    for addr in [real_addr, s.addr] {
        let mut c = TcpStream::connect(addr).await.unwrap();
        packet(&mut c).await;
        c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let e = packet(&mut c).await;
        assert_eq!(
            &e[..],
            b"!\x00\x00\x01\xff\x84\x04#08S01Got packets out of order"
        );
    }
    let pe = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert_eq!(field(&pe, "reason"), "packets_out_of_order");

    // An SSLRequest to a server that offers no TLS.
    let mut ssl = (0x0000_8200u32 | 0x0800).to_le_bytes().to_vec();
    ssl.extend_from_slice(&0x0100_0000u32.to_le_bytes());
    ssl.push(33);
    ssl.extend_from_slice(&[0; 23]);
    let mut wire = vec![32, 0, 0, 1];
    wire.extend(ssl);
    for addr in [real_addr, s.addr] {
        let mut c = TcpStream::connect(addr).await.unwrap();
        packet(&mut c).await;
        c.write_all(&wire).await.unwrap();
        let e = packet(&mut c).await;
        assert_eq!(
            &e[..],
            b"\x16\x00\x00\x02\xff\x13\x04#08S01Bad handshake",
            "{addr}"
        );
    }
    let pe = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert_eq!(field(&pe, "reason"), "ssl_request_without_tls");
}

#[tokio::test]
async fn a_visitor_that_reads_the_greeting_and_leaves_is_a_scan_and_greetings_vary() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "my-scan", "debian", &[]).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        let g = packet(&mut c).await;
        seen.push(g);
        drop(c);
        let e = s.wait_type(EventType::Scan).await.expect("scan");
        assert_eq!(e.fields["greeted"], true);
    }
    assert_ne!(
        seen[0], seen[1],
        "a fresh salt and thread id per connection"
    );
}

#[tokio::test]
async fn nmap_names_mariadb_with_its_version() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "my-nmap", "debian", &[]).await;
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "-p"])
        .arg(s.addr.port().to_string())
        .arg(s.addr.ip().to_string());
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("mysql") && text.contains("5.5.5-10.11.6-MariaDB-0+deb12u1"),
        "nmap said:\n{text}"
    );
    assert!(s.wait_type(EventType::Scan).await.is_some());
}

#[tokio::test]
async fn the_mariadb_client_against_a_mysql_8_persona_sends_its_password_under_the_rsa_key() {
    if !have("mysql") || !have("mysqladmin") {
        eprintln!("skipped: mysql (mariadb-client) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "my-cli8", "ubuntu22", &[]).await;
    let out = mysql(&s, "root", "toor123", None, "select 1").await;
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "ERROR 1045 (28000): Access denied for user 'root'@'127.0.0.1' (using password: YES)"
    );
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    assert_eq!(
        login_of(&e),
        ("root".into(), b"toor123".to_vec(), SecretKind::Password),
        "libmariadb asks for the server key and sends the password under it"
    );
    assert_eq!(field(&e, "password_via"), "caching_sha2_rsa");
    let nonce = salt_of(&e);
    assert!(
        nonce.iter().all(|&b| b != 0 && b != b'$' && b < 128),
        "MySQL's salt range"
    );
    assert_eq!(
        hex::decode(field(&e, "response")).unwrap(),
        caching_sha2_scramble(b"toor123", &nonce)
    );

    // mysqladmin's COM_PING and COM_STATISTICS after a bait login.
    let pw = app_password(&s);
    let mut c = Command::new("mysqladmin");
    c.args(["--no-defaults", "--skip-ssl", "--protocol=TCP", "-h"])
        .arg(s.addr.ip().to_string())
        .arg("-P")
        .arg(s.addr.port().to_string())
        .args(["-u", "app"])
        .arg(format!("-p{pw}"))
        .args(["ping", "status"]);
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("mysqld is alive"));
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("Uptime: ") && l.contains("  Threads: 1  Questions: ")),
        "{text}"
    );
    let ok = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    assert_eq!(login_of(&ok).2, SecretKind::MysqlCachingSha2);
}
