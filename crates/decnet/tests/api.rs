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

#[test]
fn captured_events_reach_the_api_after_the_forced_password_change() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(&cfg, format!("[web1]\nip = {ip}\nservices = http\n")).unwrap();
    let data = dir.path().join("data");
    let mut cmd = decnet();
    cmd.env("DECNET_ADMIN_PASSWORD", "first-password-123")
        .args(["up", "--port-offset", "23000", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data);
    let run = Running::spawn(cmd);
    let lines = run.wait_line("API listening on", DEADLINE);
    let api_line = lines.last().unwrap();
    let base = api_line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap()
        .to_owned();

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
    let token = login["access_token"].as_str().unwrap().to_owned();
    let (code, _) = call("GET", &format!("{base}/logs"), Some(&token), None);
    assert_eq!(code, 403, "nothing works before the password change");
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
    let token = login["access_token"].as_str().unwrap().to_owned();

    // The ingester moves the event into the database; wait for it with a deadline.
    let end = Instant::now() + DEADLINE;
    let logs = loop {
        let (code, logs) = call(
            "GET",
            &format!("{base}/logs?event_type=http_request&decky=web1"),
            Some(&token),
            None,
        );
        assert_eq!(code, 200, "{logs}");
        if !logs["items"].as_array().unwrap().is_empty() || Instant::now() > end {
            break logs;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
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
