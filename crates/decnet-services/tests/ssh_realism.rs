//! The decky's SSH transport beside the real Debian sshd on loopback: what a
//! detector compares (identification, KEXINIT name-lists, hasshServer,
//! ssh-audit's report, edge answers) and what the real OpenSSH client does
//! against the decky (public-key capture, MaxAuthTries, forwarding requests).
//!
//! The real sshd runs as root from a temp dir (its own config and host keys,
//! 127.0.0.1 and a free port) and is killed and reaped on every path; tests
//! that need it or a client skip with a message when either is missing.

use decnet_testkit::is_root;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use decnet_core::{Event, EventType};
use decnet_services::ssh::hassh::KexInit;
use decnet_services::ssh::wire::algos::MISSING;
use decnet_services::ssh::wire::codec::Reader;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{decky, have, serve, svc, unique_ip, Served};

const SSHD: &str = "/usr/sbin/sshd";

/// The real sshd, stopped when dropped.
struct RealSshd {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for RealSshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the real sshd with Debian's default algorithms and three host keys, as
/// `ssh-keygen -A` makes them; `None` (with a message) where it cannot run here.
fn real_sshd() -> Option<RealSshd> {
    if !Path::new(SSHD).exists() || !have("ssh-keygen") || !is_root() {
        eprintln!("skipped: needs root, {SSHD} and ssh-keygen (Debian openssh-server)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    for t in ["rsa", "ecdsa", "ed25519"] {
        let st = std::process::Command::new("ssh-keygen")
            .args(["-q", "-t", t, "-N", "", "-f"])
            .arg(dir.path().join(format!("ssh_host_{t}_key")))
            .status()
            .unwrap();
        assert!(st.success());
    }
    // sshd insists on its privilege separation directory (the package's unit makes it).
    std::fs::create_dir_all("/run/sshd").unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.path().display();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\n\
         HostKey {d}/ssh_host_rsa_key\nHostKey {d}/ssh_host_ecdsa_key\nHostKey {d}/ssh_host_ed25519_key\n\
         PidFile {d}/sshd.pid\nUsePAM yes\nKbdInteractiveAuthentication no\nAcceptEnv LANG LC_*\n"
    );
    std::fs::write(dir.path().join("sshd_config"), config).unwrap();
    let mut child = std::process::Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(dir.path().join("sshd_config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Server listening") {
                let _ = tx.send(());
            }
        }
    });
    let sshd = RealSshd {
        child,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _dir: dir,
    };
    rx.recv_timeout(Duration::from_secs(20))
        .expect("the real sshd started listening");
    Some(sshd)
}

/// The server's identification line and KEXINIT name-lists, read raw.
async fn server_hello(addr: SocketAddr) -> (String, Vec<String>) {
    let s = TcpStream::connect(addr).await.unwrap();
    let mut s = tokio::io::BufReader::new(s);
    let mut ident = Vec::new();
    while ident.len() < 256 {
        let b = s.read_u8().await.unwrap();
        ident.push(b);
        if b == b'\n' {
            break;
        }
    }
    let ident = String::from_utf8(ident).unwrap();
    s.get_mut()
        .write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n")
        .await
        .unwrap();
    let len = s.read_u32().await.unwrap() as usize;
    let mut pkt = vec![0u8; len];
    s.read_exact(&mut pkt).await.unwrap();
    let pad = pkt[0] as usize;
    let payload = &pkt[1..len - pad];
    assert_eq!(payload[0], 20, "KEXINIT first");
    let mut r = Reader::new(&payload[17..]);
    let lists = (0..10).map(|_| r.name_list().unwrap().to_owned()).collect();
    (ident.trim_end().to_owned(), lists)
}

fn kexinit(lists: &[String]) -> KexInit {
    KexInit {
        kex: lists[0].clone(),
        host_key: lists[1].clone(),
        enc_c2s: lists[2].clone(),
        enc_s2c: lists[3].clone(),
        mac_c2s: lists[4].clone(),
        mac_s2c: lists[5].clone(),
        comp_c2s: lists[6].clone(),
        comp_s2c: lists[7].clone(),
    }
}

fn without_missing(list: &str) -> String {
    list.split(',')
        .filter(|a| !MISSING.contains(a))
        .collect::<Vec<_>>()
        .join(",")
}

async fn decky_like(dir: &Path, name: &str, ident: &str) -> Served {
    let d = decky(
        name,
        &unique_ip(),
        dir,
        vec![svc(
            "ssh",
            &[("ssh_version", ident), ("auth_delay_ms", "5")],
        )],
    );
    serve(d, "ssh").await
}

#[tokio::test]
async fn the_kexinit_matches_the_real_debian_sshd_list_for_list() {
    let Some(real) = real_sshd() else { return };
    let (real_ident, real_lists) = server_hello(real.addr).await;
    let tmp = tempfile::tempdir().unwrap();
    let s = decky_like(tmp.path(), "ssh-side-by-side", &real_ident).await;
    let (ident, lists) = server_hello(s.addr).await;
    assert_eq!(ident, real_ident);
    for (i, (ours, theirs)) in lists.iter().zip(&real_lists).enumerate() {
        assert_eq!(
            *ours,
            without_missing(theirs),
            "name-list {i} differs beyond the algorithms not implemented ({MISSING:?})"
        );
    }
    let (ours, theirs) = (kexinit(&lists), kexinit(&real_lists));
    if MISSING.is_empty() {
        assert_eq!(ours.hassh(), theirs.hassh(), "hasshServer");
    } else {
        // What a detector still sees: the hasshServer of a release without these.
        eprintln!(
            "hasshServer decky {} vs real {} (differ by {MISSING:?})",
            ours.hassh(),
            theirs.hassh()
        );
    }
}

fn audit_algorithms(json: &serde_json::Value, key: &str) -> Vec<String> {
    json[key]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["algorithm"].as_str())
                .filter(|x| !MISSING.contains(x))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

async fn ssh_audit(addr: SocketAddr) -> serde_json::Value {
    let out = Command::new("ssh-audit")
        .args(["-j", "-p"])
        .arg(addr.port().to_string())
        .arg(addr.ip().to_string())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    serde_json::from_slice(&out.stdout).expect("ssh-audit printed JSON")
}

#[tokio::test]
async fn ssh_audit_reports_the_same_algorithms_for_both() {
    if !have("ssh-audit") {
        eprintln!("skipped: needs ssh-audit (pip)");
        return;
    }
    let Some(real) = real_sshd() else { return };
    let (real_ident, _) = server_hello(real.addr).await;
    let tmp = tempfile::tempdir().unwrap();
    let s = decky_like(tmp.path(), "ssh-audit", &real_ident).await;
    let (ours, theirs) = (ssh_audit(s.addr).await, ssh_audit(real.addr).await);
    for key in ["kex", "key", "enc", "mac"] {
        assert_eq!(
            audit_algorithms(&ours, key),
            audit_algorithms(&theirs, key),
            "{key}"
        );
    }
    assert_eq!(ours["banner"], theirs["banner"]);
}

/// What a server writes after its identification when sent `hello`.
async fn answer(addr: SocketAddr, hello: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(hello).await.unwrap();
    let mut out = Vec::new();
    // Both servers close after their answer; 4 KiB is far more than either writes.
    let mut capped = (&mut s).take(4096);
    #[allow(clippy::disallowed_methods)]
    let read = capped.read_to_end(&mut out);
    let _ = tokio::time::timeout(Duration::from_secs(10), read).await;
    let end = out
        .windows(2)
        .position(|w| w == b"\r\n")
        .map_or(0, |p| p + 2);
    out.split_off(end)
}

#[tokio::test]
async fn bad_identifications_get_the_real_sshds_answers() {
    let Some(real) = real_sshd() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let s = decky_like(
        tmp.path(),
        "ssh-bad-ident",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    )
    .await;
    for hello in [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".as_slice(),
        b"SSH-1.5-Nmap\r\n",
        b"SSH-2.0-\r\n",
    ] {
        let theirs = answer(real.addr, hello).await;
        assert_eq!(
            String::from_utf8_lossy(&answer(s.addr, hello).await),
            String::from_utf8_lossy(&theirs),
            "{}",
            String::from_utf8_lossy(hello)
        );
    }
    assert_eq!(
        answer(s.addr, b"SSH-1.5-x\r\n").await,
        b"Protocol major versions differ.\r\n"
    );
}

/// `ssh` with a throwaway HOME and no host-key bookkeeping.
fn ssh(home: &Path, s: &Served, user: &str, opts: &[&str], command: &[&str]) -> Command {
    let mut c = Command::new("ssh");
    c.env("HOME", home)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args(["-o", "LogLevel=ERROR", "-o", "ConnectTimeout=10"])
        .args(["-p", &s.addr.port().to_string()])
        .args(opts)
        .arg(format!("{user}@{}", s.addr.ip()))
        .args(command)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

/// `ssh` answering every password prompt with `password` through
/// `SSH_ASKPASS` (sshpass answers only the first).
fn with_password(mut c: Command, dir: &Path, password: &str) -> Command {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("askpass.sh");
    std::fs::write(&script, format!("#!/bin/sh\necho '{password}'\n")).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    c.env("SSH_ASKPASS", &script)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0");
    c
}

async fn run(mut c: Command) -> std::process::Output {
    tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("client finished in time")
        .expect("client ran")
}

fn is_pubkey(e: &Event) -> bool {
    e.event_type == EventType::LoginAttempt && e.fields["method"] == "publickey"
}

#[tokio::test]
async fn an_rsa_key_is_captured_with_its_fingerprint() {
    if !have("ssh") || !have("ssh-keygen") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_rsa");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "rsa", "-b", "3072", "-N", "", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(st.success());
    let fp = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(&key)
        .output()
        .unwrap();
    let fp = String::from_utf8_lossy(&fp.stdout)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_owned();
    let mut s = decky_like(
        tmp.path(),
        "ssh-rsa-key",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    )
    .await;
    let k = key.display().to_string();
    let out = run(ssh(
        tmp.path(),
        &s,
        "deploy",
        &[
            "-i",
            &k,
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "PreferredAuthentications=publickey",
        ],
        &["true"],
    ))
    .await;
    assert!(!out.status.success());
    let e = s
        .wait_for(Duration::from_secs(20), is_pubkey)
        .await
        .expect("publickey attempt");
    assert_eq!(e.fields["fingerprint"], fp.as_str());
    assert_eq!(e.fields["key_type"], "ssh-rsa");
    assert_eq!(e.fields["signature_algorithm"], "rsa-sha2-512");
    let c = e.credential.as_ref().unwrap();
    assert_eq!(c.principal, "deploy");
    assert!(c
        .secret_printable
        .as_deref()
        .unwrap()
        .starts_with("ssh-rsa AAAA"));
}

#[tokio::test]
async fn the_sixth_failure_is_sshds_too_many_authentication_failures() {
    if !have("ssh") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = decky_like(
        tmp.path(),
        "ssh-maxauth",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    )
    .await;
    let inner = ssh(
        tmp.path(),
        &s,
        "root",
        &[
            "-o",
            "PreferredAuthentications=password",
            "-o",
            "NumberOfPasswordPrompts=10",
        ],
        &["true"],
    );
    let c = with_password(inner, tmp.path(), "wrong");
    let out = run(c).await;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Too many authentication failures"), "{err}");
    let mut n = 0;
    while s
        .wait_for(Duration::from_secs(5), |e| {
            e.event_type == EventType::LoginAttempt && e.fields["method"] == "password"
        })
        .await
        .is_some()
    {
        n += 1;
    }
    assert_eq!(n, 6, "every refused try is an event, the sixth too");
}

#[tokio::test]
async fn forwarding_requests_are_recorded_and_refused() {
    if !have("ssh") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = decky_like(
        tmp.path(),
        "ssh-forward",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    )
    .await;
    let inner = ssh(
        tmp.path(),
        &s,
        "root",
        &[
            "-o",
            "PreferredAuthentications=password",
            "-W",
            "10.1.2.3:3306",
        ],
        &[],
    );
    let c = with_password(inner, tmp.path(), "root");
    let out = run(c).await;
    assert!(!out.status.success());
    let e = s
        .wait_for(Duration::from_secs(20), |e| {
            e.fields.get("forwarding").is_some()
        })
        .await
        .expect("forwarding event");
    assert_eq!(e.fields["forwarding"], "direct-tcpip");
    assert_eq!(e.fields["destination_host"], "10.1.2.3");
    assert_eq!(e.fields["destination_port"], 3306);
    assert_eq!(e.fields["allowed"], false);
}

/// Logs in as root with the real client restricted to `opts` and runs `uname -n`.
async fn login_with(tmp: &Path, s: &Served, opts: &[&str]) -> std::process::Output {
    let mut all = vec!["-o", "PreferredAuthentications=password"];
    all.extend_from_slice(opts);
    let c = ssh(tmp, s, "root", &all, &["uname", "-n"]);
    run(with_password(c, tmp, "root")).await
}

#[tokio::test]
async fn the_real_client_completes_every_offered_algorithm() {
    if !have("ssh") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = decky_like(
        tmp.path(),
        "ssh-algos",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    )
    .await;
    let mut cases: Vec<Vec<String>> = Vec::new();
    for kex in [
        "sntrup761x25519-sha512@openssh.com",
        "curve25519-sha256@libssh.org",
        "ecdh-sha2-nistp256",
        "ecdh-sha2-nistp384",
        "ecdh-sha2-nistp521",
        "diffie-hellman-group-exchange-sha256",
        "diffie-hellman-group14-sha256",
        "diffie-hellman-group16-sha512",
        "diffie-hellman-group18-sha512",
    ] {
        cases.push(vec![format!("KexAlgorithms={kex}")]);
    }
    for cipher in [
        "chacha20-poly1305@openssh.com",
        "aes128-ctr",
        "aes192-ctr",
        "aes256-ctr",
        "aes128-gcm@openssh.com",
        "aes256-gcm@openssh.com",
    ] {
        cases.push(vec![format!("Ciphers={cipher}")]);
    }
    for mac in [
        "umac-64-etm@openssh.com",
        "umac-128-etm@openssh.com",
        "hmac-sha2-256-etm@openssh.com",
        "hmac-sha2-512-etm@openssh.com",
        "hmac-sha1-etm@openssh.com",
        "umac-64@openssh.com",
        "umac-128@openssh.com",
        "hmac-sha2-256",
        "hmac-sha2-512",
        "hmac-sha1",
    ] {
        cases.push(vec!["Ciphers=aes128-ctr".into(), format!("MACs={mac}")]);
    }
    for host in [
        "rsa-sha2-512",
        "rsa-sha2-256",
        "ecdsa-sha2-nistp256",
        "ssh-ed25519",
    ] {
        cases.push(vec![format!("HostKeyAlgorithms={host}")]);
    }
    // Delayed compression and a rekey every kilobyte, both ways.
    cases.push(vec!["Compression=yes".into(), "RekeyLimit=1K".into()]);
    for case in &cases {
        let opts: Vec<String> = case
            .iter()
            .flat_map(|o| ["-o".to_owned(), o.clone()])
            .collect();
        let opts: Vec<&str> = opts.iter().map(String::as_str).collect();
        let out = login_with(tmp.path(), &s, &opts).await;
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "{case:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn a_centos_7_persona_serves_cbc_and_ssh_rsa_to_the_real_client() {
    if !have("ssh") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let s = decky_like(tmp.path(), "ssh-el7", "SSH-2.0-OpenSSH_7.4").await;
    for opts in [
        ["-o", "Ciphers=aes256-cbc", "-o", "MACs=hmac-sha1"],
        [
            "-o",
            "Ciphers=aes128-cbc",
            "-o",
            "KexAlgorithms=diffie-hellman-group14-sha1",
        ],
        [
            "-o",
            "HostKeyAlgorithms=ssh-rsa",
            "-o",
            "PubkeyAcceptedAlgorithms=+ssh-rsa",
        ],
    ] {
        let out = login_with(tmp.path(), &s, &opts).await;
        assert!(
            out.status.success(),
            "{opts:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const PARAMIKO_CHANGE_USER: &str = r#"
import socket, sys
import paramiko
sock = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=20)
t = paramiko.Transport(sock)
t.start_client(timeout=20)
try:
    t.auth_password("root", "first")
except paramiko.AuthenticationException:
    pass
try:
    t.auth_password("admin", "second")
    print("accepted")
except Exception as e:
    print("refused")
print("active" if t.is_active() else "closed")
"#;

#[tokio::test]
async fn a_change_of_user_is_sshds_disconnect_and_both_secrets_are_captured() {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import paramiko"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipped: needs python3 with paramiko");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = decky_like(
        tmp.path(),
        "ssh-change-user",
        "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
    )
    .await;
    let mut c = Command::new("python3");
    c.args(["-c", PARAMIKO_CHANGE_USER])
        .arg(s.addr.ip().to_string())
        .arg(s.addr.port().to_string())
        .kill_on_drop(true);
    let out = run(c).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "refused\nclosed\n");
    let mut secrets = Vec::new();
    while let Some(e) = s
        .wait_for(Duration::from_secs(5), |e| {
            e.event_type == EventType::LoginAttempt && e.fields["method"] == "password"
        })
        .await
    {
        let c = e.credential.unwrap();
        secrets.push((c.principal, c.secret_printable.unwrap_or_default()));
    }
    assert_eq!(
        secrets,
        [
            ("root".into(), "first".into()),
            ("admin".into(), "second".into())
        ]
    );
}

/// The 8-byte-block CBC ciphers RHEL 7's sshd offers that the installed
/// client still has (`ssh -Q cipher`; Debian 12's keeps only `3des-cbc`).
fn client_block8_ciphers() -> Vec<&'static str> {
    let listed = std::process::Command::new("ssh")
        .args(["-Q", "cipher"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    ["3des-cbc", "blowfish-cbc", "cast128-cbc"]
        .into_iter()
        .filter(|c| listed.lines().any(|l| l.trim() == *c))
        .collect()
}

#[tokio::test]
async fn the_real_client_logs_in_to_a_centos_7_decky_over_each_8_byte_block_cipher_it_has() {
    if !have("ssh") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let ciphers = client_block8_ciphers();
    for c in ["3des-cbc", "blowfish-cbc", "cast128-cbc"] {
        if !ciphers.contains(&c) {
            eprintln!("{c} not tried: the installed ssh client no longer supports it");
        }
    }
    if ciphers.is_empty() {
        eprintln!("skipped: the ssh client supports none of 3des-cbc, blowfish-cbc, cast128-cbc");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let made = decky(
        "ssh-el7-cbc",
        &unique_ip(),
        tmp.path(),
        vec![svc("ssh", &[("auth_delay_ms", "5")])],
    );
    let mut rt = std::sync::Arc::into_inner(made).unwrap();
    let centos = decnet_core::persona::distro("centos7").unwrap();
    rt.config.distro = centos;
    let s = serve(std::sync::Arc::new(rt), "ssh").await;
    let (ident, lists) = server_hello(s.addr).await;
    assert_eq!(
        ident, "SSH-2.0-OpenSSH_7.4",
        "the centos7 persona's own banner"
    );
    assert!(lists[2].ends_with(",blowfish-cbc,cast128-cbc,3des-cbc"));
    for cipher in ciphers {
        let c = ssh(
            tmp.path(),
            &s,
            "root",
            &["-o", "PreferredAuthentications=password", "-c", cipher],
            &["uname", "-r"],
        );
        let out = run(with_password(c, tmp.path(), "root")).await;
        assert!(
            out.status.success(),
            "{cipher}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{}\n", centos.kernel_release),
            "{cipher}: the command ran in the session"
        );
    }
}
