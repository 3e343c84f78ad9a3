//! The bait world across a running fleet: a credential read on one decky
//! opens another, and the login there names where it was planted.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(30);

/// Runs `command` over a real OpenSSH exec channel as `user`/`pass`; (success, stdout).
fn ssh_exec(
    ip: std::net::IpAddr,
    port: u16,
    user: &str,
    pass: &str,
    command: &str,
) -> (bool, String) {
    let out = Command::new("sshpass")
        .args(["-p", pass, "ssh", "-p", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "NumberOfPasswordPrompts=1",
        ])
        .arg(format!("{user}@{ip}"))
        .arg(command)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn a_credential_read_on_one_decky_opens_another_and_names_where_it_was_planted() {
    if !have("sshpass") || !have("ssh") {
        eprintln!("skipped: needs sshpass and the OpenSSH client");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (web, files) = (unique_ip(), unique_ip());
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "door code 4471\n").unwrap();
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(
        &cfg,
        format!(
            "[general]\ndriver = loopback\n\n[web]\nip = {web}\nhostname = web-01\nservices = ssh, http\nbait_file = /root/notes.txt={}\n\n[web.ssh]\nusers = root:toor\nauth_delay_ms = 10\n\n[files]\nip = {files}\nhostname = files-01\nservices = ssh\n\n[files.ssh]\nauth_delay_ms = 10\n",
            notes.display()
        ),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (run, _) = up(&cfg, &data, 24000, &[]);
    let port = 24022;

    // The operator's own bait file is where the config put it.
    let (ok, out) = ssh_exec(web, port, "root", "toor", "cat /root/notes.txt");
    assert!(ok);
    assert_eq!(out, "door code 4471\n");

    // An administrator's history on web names files-01 and the deploy account's password.
    let (ok, out) = ssh_exec(
        web,
        port,
        "root",
        "toor",
        "cat /home/*/.bash_history | grep sshpass",
    );
    assert!(ok, "{out}");
    let line = out.lines().next().expect("a planted sshpass line");
    assert!(line.contains("deploy@files-01"), "{line}");
    let pass = line.split('\'').nth(1).expect("quoted password");

    // A wrong password is refused there; the planted one opens it.
    let (ok, _) = ssh_exec(files, port, "deploy", "not-it", "id");
    assert!(!ok);
    let (ok, _) = ssh_exec(files, port, "deploy", pass, "id");
    assert!(ok, "the planted deploy password is accepted on files-01");
    // Not on the decky it was planted on: the world says the account is on files-01 only.
    let (ok, _) = ssh_exec(web, port, "deploy", pass, "id");
    assert!(!ok);

    let ev = wait_events(&data, DEADLINE, |ev| {
        ev.iter()
            .filter(|e| e["fields"]["honeytoken"].is_object())
            .count()
            >= 2
    });
    let marked: Vec<&serde_json::Value> = ev
        .iter()
        .filter(|e| e["fields"]["honeytoken"].is_object())
        .collect();
    let success = marked
        .iter()
        .find(|e| e["event_type"] == "login_success")
        .expect("login_success with a honeytoken");
    assert_eq!(success["decky"], "files");
    assert_eq!(success["credential"]["principal"], "deploy");
    let planted = success["fields"]["honeytoken"]["planted"]
        .as_array()
        .unwrap();
    assert!(
        planted.iter().any(|p| p["decky"] == "web"
            && p["service"] == "ssh"
            && p["document"].as_str().unwrap().ends_with("/.bash_history")),
        "{planted:?}"
    );
    assert_eq!(
        success["fields"]["honeytoken"]["valid_on"],
        serde_json::json!(["files"])
    );
    // Presented where it is not valid, it is still a honeytoken: the refusal names it too.
    assert!(marked
        .iter()
        .any(|e| e["decky"] == "web" && e["event_type"] == "login_attempt"));
    // The wrong password carries none.
    assert!(ev.iter().any(|e| e["event_type"] == "login_attempt"
        && e["credential"]["secret_printable"] == "not-it"
        && e["fields"]["honeytoken"].is_null()));
    assert!(run.terminate().success());
}
