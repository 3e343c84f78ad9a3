//! The telnet emulator against the real netkit `telnet` client (driven by
//! `expect`), raw sockets for the exact negotiation bytes, and nmap.

use std::path::Path;
use std::time::Duration;

use decnet_core::event::SecretKind;
use decnet_core::{Event, EventType};
use decnet_services::shell::Persona;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{decky, have, serve, svc, unique_ip, Served};

const USERS: (&str, &str) = ("users", "alice:Tr0ub4dor&3,root:toor");

async fn start(dir: &Path, name: &str, persona: &[(&str, &str)]) -> Served {
    let d = decky(name, &unique_ip(), dir, vec![svc("telnet", persona)]);
    serve(d, "telnet").await
}

/// Runs an expect script (its text, `@ADDR@` replaced by `ip port`) and returns what it saw.
async fn expect(dir: &Path, s: &Served, script: &str) -> String {
    let path = dir.join("session.exp");
    let addr = format!("{} {}", s.addr.ip(), s.addr.port());
    std::fs::write(&path, script.replace("@ADDR@", &addr)).unwrap();
    let mut c = Command::new("expect");
    c.arg("-f").arg(&path).kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(90), c.output())
        .await
        .expect("expect finished in time")
        .expect("expect ran");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "expect failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

fn secret(e: &Event) -> (&str, Option<&str>, SecretKind) {
    let c = e.credential.as_ref().expect("credential");
    (
        c.principal.as_str(),
        c.secret_printable.as_deref(),
        c.secret_kind,
    )
}

const SESSION: &str = r#"
set timeout 20
spawn telnet @ADDR@
expect_after {
    timeout { exit 9 }
    eof { exit 8 }
}
expect "login: "
send "alice\r"
expect "Password: "
send "Tr0ub4dor&3\r"
expect -ex {$ }
send "uname -a\r"
expect -ex {$ }
send "cat /proc/cpuinfo | grep name | wc -l\r"
expect -ex {$ }
send "exit\r"
expect eof
"#;

#[tokio::test]
async fn a_telnet_login_runs_the_shell_records_the_session_and_reports_each_command() {
    if !have("telnet") || !have("expect") {
        eprintln!("skipped: telnet or expect is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "tn-login", &[USERS]).await;
    let seen = expect(tmp.path(), &s, SESSION).await;
    let persona = Persona::for_decky(&s.decky, None, None, Vec::new());

    // What the user saw: the distro's issue.net, login(1)'s prompt, the shell.
    assert!(
        seen.contains("Ubuntu 22.04.4 LTS\r\ntn-login-host login: "),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("Linux tn-login-host {} ", persona.kernel_release)),
        "{seen}"
    );
    assert!(
        seen.contains(&format!("\r\n{}\r\nalice@tn-login-host:~$ ", persona.cpus)),
        "{seen}"
    );
    assert!(
        !seen.contains("Tr0ub4dor"),
        "the password is not echoed: {seen}"
    );

    let ok = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    assert_eq!(
        secret(&ok),
        ("alice", Some("Tr0ub4dor&3"), SecretKind::Password)
    );
    assert_eq!(ok.fields["method"], "password");
    assert_eq!(ok.fields["negotiated"], true);
    // netkit telnet sends TERM (uppercased, lowercased by telnetd) and the window size.
    assert!(ok.fields.contains_key("term"), "{:?}", ok.fields);
    assert!(ok.fields["cols"].as_u64().is_some(), "{:?}", ok.fields);

    let mut commands = Vec::new();
    while commands.len() < 3 {
        let e = s.wait_type(EventType::Command).await.expect("command");
        assert_eq!(e.fields["user"], "alice");
        commands.push(e.fields["command"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        commands,
        ["uname -a", "cat /proc/cpuinfo | grep name | wc -l", "exit"]
    );
    let rec = s
        .wait_type(EventType::SessionRecorded)
        .await
        .expect("session_recorded");
    assert_eq!(rec.session_id, ok.session_id);
    let shard = rec.fields["shard"].as_str().unwrap();
    assert!(shard.ends_with(&format!(
        "artifacts/tn-login/telnet/transcripts/sessions-{}.jsonl",
        chrono::Utc::now().format("%Y-%m-%d")
    )));
    let sid = rec.fields["sid"].as_str().unwrap();
    let lines = decnet_services::recorder::read_session(
        &s.decky.artifacts_dir("telnet").join("transcripts"),
        chrono::Utc::now().date_naive(),
        sid.parse().unwrap(),
    )
    .unwrap();
    let v: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[0]["hdr"]["version"], 2);
    assert_eq!(v[0]["hdr"]["env"]["TERM"], ok.fields["term"]);
    let input: String = v
        .iter()
        .filter(|l| l["ch"] == "i")
        .filter_map(|l| l["d"].as_str())
        .collect();
    assert_eq!(
        input,
        "uname -a\rcat /proc/cpuinfo | grep name | wc -l\rexit\r"
    );
    let output: String = v
        .iter()
        .filter(|l| l["ch"] == "o")
        .filter_map(|l| l["d"].as_str())
        .collect();
    assert!(output.contains("Linux tn-login-host "), "{output}");
}

#[tokio::test]
async fn a_wrong_password_is_refused_like_login_and_captured() {
    if !have("telnet") || !have("expect") {
        eprintln!("skipped: telnet or expect is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "tn-fail", &[USERS]).await;
    let seen = expect(
        tmp.path(),
        &s,
        r#"
set timeout 20
spawn telnet @ADDR@
expect_after {
    timeout { exit 9 }
    eof { exit 8 }
}
expect "login: "
send "root\r"
expect "Password: "
send "hunter2 x\r"
expect "Login incorrect"
expect "login: "
send "\x1d"
expect "telnet> "
send "quit\r"
expect eof
"#,
    )
    .await;
    assert!(
        seen.contains("Password: \r\n\r\nLogin incorrect\r\ntn-fail-host login: "),
        "{seen}"
    );
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    assert_eq!(
        secret(&e),
        ("root", Some("hunter2 x"), SecretKind::Password)
    );
}

/// Reads what the server sends within `quiet` of silence.
async fn read_quiet(c: &mut TcpStream, quiet: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(Ok(n)) = tokio::time::timeout(quiet, c.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[tokio::test]
async fn negotiation_is_linux_telnetds_in_its_order() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "tn-raw", &[USERS]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    // Until the client answers, the four DOs nmap's "Linux telnetd" rule reads, nothing more.
    let first = read_quiet(&mut c, Duration::from_millis(500)).await;
    assert_eq!(first, b"\xff\xfd\x18\xff\xfd\x20\xff\xfd\x23\xff\xfd\x27");
    c.write_all(b"\xff\xfb\x18\xff\xfc\x20\xff\xfc\x23\xff\xfb\x27")
        .await
        .unwrap();
    let subs = read_quiet(&mut c, Duration::from_millis(500)).await;
    assert_eq!(
        subs, b"\xff\xfa\x27\x01\xff\xf0\xff\xfa\x18\x01\xff\xf0",
        "NEW-ENVIRON then TTYPE requested, for what the client agreed to"
    );
    c.write_all(b"\xff\xfa\x27\x00\x00USER\x01mallory\xff\xf0\xff\xfa\x18\x00VT100\xff\xf0")
        .await
        .unwrap();
    let rest = read_quiet(&mut c, Duration::from_millis(500)).await;
    assert_eq!(
        rest,
        b"\xff\xfb\x03\xff\xfd\x01\xff\xfd\x1f\xff\xfb\x05\xff\xfd\x21"
    );
    // DO SGA, WONT ECHO, WILL NAWS + size, DONT STATUS, WONT LFLOW.
    c.write_all(b"\xff\xfd\x03\xff\xfc\x01\xff\xfb\x1f\xff\xfa\x1f\x00\x84\x00\x2b\xff\xf0\xff\xfe\x05\xff\xfc\x21")
        .await
        .unwrap();
    let login = read_quiet(&mut c, Duration::from_millis(500)).await;
    assert_eq!(
        login,
        b"\xff\xfb\x01Ubuntu 22.04.4 LTS\r\ntn-raw-host login: "
    );
    // A user name split mid-CR-NUL, a 0xFF escaped in the password.
    c.write_all(b"\xff\xfd\x01mallory\r").await.unwrap();
    c.write_all(b"\0p\xff\xffw\r\n").await.unwrap();
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    let cred = e.credential.as_ref().unwrap();
    assert_eq!(cred.principal, "mallory");
    assert_eq!(cred.secret_bytes().unwrap(), b"p\xffw");
    assert_eq!(e.fields["term"], "vt100");
    assert_eq!(e.fields["env_user"], "mallory");
    assert_eq!(
        (e.fields["cols"].as_u64(), e.fields["rows"].as_u64()),
        (Some(132), Some(43))
    );
}

#[tokio::test]
async fn a_client_that_types_before_answering_is_still_served() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "tn-bot", &[USERS]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"root\r\ntoor\r\n").await.unwrap();
    let ok = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    assert_eq!(secret(&ok), ("root", Some("toor"), SecretKind::Password));
    assert_eq!(ok.fields["negotiated"], false);
    c.write_all(b"echo hi\r\n").await.unwrap();
    let e = s.wait_type(EventType::Command).await.expect("command");
    assert_eq!(e.fields["command"], "echo hi");
    assert_eq!(e.fields["user"], "root");
}

#[tokio::test]
async fn nmap_version_detection_reports_linux_telnetd() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "tn-nmap", &[]).await;
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
    assert!(text.contains("Linux telnetd"), "nmap said:\n{text}");
    assert!(s.wait_type(EventType::Scan).await.is_some());
}

#[tokio::test]
async fn the_fifth_wrong_password_ends_the_connection_as_login_gives_up() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "tn-retries", &[USERS]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    // A bot that types ahead: six tries, the sixth never read.
    let mut typed = Vec::new();
    for i in 0..6 {
        typed.extend_from_slice(format!("root\r\npw{i}\r\n").as_bytes());
    }
    c.write_all(&typed).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(40), async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the connection closes after the fifth refusal"
    );
    let text = String::from_utf8_lossy(&seen);
    assert_eq!(text.matches("Login incorrect").count(), 5, "{text}");
    assert!(text.ends_with("\r\nLogin incorrect\r\n"), "{text:?}");
    let events = s.drain(Duration::from_millis(500)).await;
    let tried: Vec<String> = events
        .iter()
        .filter(|e| e.event_type == EventType::LoginAttempt)
        .map(|e| {
            e.credential
                .as_ref()
                .unwrap()
                .secret_printable
                .clone()
                .unwrap()
        })
        .collect();
    assert_eq!(tried, ["pw0", "pw1", "pw2", "pw3", "pw4"]);
    let limit = events
        .iter()
        .find(|e| e.event_type == EventType::LimitExceeded)
        .expect("limit_exceeded");
    assert_eq!(limit.fields["limit"], "max_auth_tries");
    assert_eq!(limit.fields["max"], 5);
}
