//! The POP3 emulator against Python's poplib, curl and nmap, over the bait
//! world's mailboxes; APOP digests checked against their passwords.

use std::path::Path;

use decnet_core::event::SecretKind;
use decnet_core::EventType;
use decnet_services::pop3::apop_digest;
use tokio::process::Command;

use crate::harness::{
    decky_in_world, have, login_of, output, person, python, serve, svc, unique_ip, Served,
};

async fn start(dir: &Path, name: &str, slug: &str, persona: &[(&str, &str)]) -> Served {
    let d = decky_in_world(name, &unique_ip(), dir, vec![svc("pop3", persona)]);
    serve(d, slug).await
}

const POPLIB_TLS_RETR: &str = r#"
import poplib, ssl, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
p = poplib.POP3_SSL(host, port, context=ssl._create_unverified_context())
p.user(user)
p.pass_(pw)
resp, lines, octets = p.retr(1)
sys.stdout.buffer.write(b"\r\n".join(lines) + b"\r\n")
p.quit()
"#;

#[tokio::test]
async fn a_person_retrieves_their_bait_mail_with_poplib_over_implicit_tls() {
    if !have("python3") {
        eprintln!("skipping: python3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "pop3-tls", "pop3s", &[]).await;
    let (user, pass) = person(&s);
    let (ip, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let out = python(POPLIB_TLS_RETR, &[&ip, &port, &user, &pass]).await;
    assert!(
        out.status.success(),
        "poplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mailbox = s.decky.bait.mailbox(&s.decky.config.name, &user);
    assert_eq!(
        out.stdout, mailbox[0].raw,
        "the retrieved bytes are the stored message"
    );
    let ok = s.wait_type(EventType::LoginSuccess).await.unwrap();
    assert_eq!(
        login_of(&ok),
        (user.clone(), pass.into_bytes(), SecretKind::Password)
    );
    let read = s.wait_type(EventType::FileDownload).await.unwrap();
    assert_eq!(read.fields["uid"], mailbox[0].uid);
    assert_eq!(read.fields["subject"], mailbox[0].subject.as_str());
    assert_eq!(read.fields["message_id"], mailbox[0].message_id.as_str());
    assert_eq!(read.fields["item"], "RETR");
}

const POPLIB_APOP: &str = r#"
import poplib, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
p = poplib.POP3(host, port)
print(p.getwelcome().decode())
try:
    p.apop(user, "not-" + pw)
    print("wrong accepted")
except poplib.error_proto as e:
    print("wrong refused", e)
p = poplib.POP3(host, port)
print(p.getwelcome().decode())
print(p.apop(user, pw).decode())
print(p.stat())
p.quit()
"#;

#[tokio::test]
async fn apop_digests_from_poplib_are_captured_crackable_and_checked() {
    if !have("python3") {
        eprintln!("skipping: python3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(
        dir.path(),
        "pop3-apop",
        "pop3",
        &[("users", "carol:s3cret")],
    )
    .await;
    let (ip, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let out = python(POPLIB_APOP, &[&ip, &port, "carol", "s3cret"]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "poplib: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("+OK Dovecot (Ubuntu) ready. <"), "{text}");
    assert!(
        text.contains("wrong refused") && text.contains("Authentication failed"),
        "{text}"
    );
    assert!(text.contains("+OK Logged in."), "{text}");

    for (t, password) in [
        (EventType::LoginAttempt, "not-s3cret"),
        (EventType::LoginSuccess, "s3cret"),
    ] {
        let e = s.wait_type(t).await.unwrap();
        let (principal, secret, kind) = login_of(&e);
        assert_eq!((principal.as_str(), kind), ("carol", SecretKind::Apop));
        let ts = e.fields["apop_timestamp"].as_str().unwrap();
        assert!(ts.starts_with('<') && ts.ends_with('>') && text.contains(ts));
        // What poplib sent is MD5(timestamp + password): crackable from the event alone.
        let digest = String::from_utf8(secret).unwrap();
        assert_eq!(digest, apop_digest(ts, password.as_bytes()));
        assert_eq!(e.fields["hashcat"], format!("{digest}:{ts}").as_str());
    }
}

const POPLIB_STLS: &str = r#"
import poplib, ssl, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
p = poplib.POP3(host, port)
print("capa", sorted(p.capa().keys()))
try:
    p.user(user)
    print("plaintext accepted")
except poplib.error_proto as e:
    print("plaintext refused", e)
p.stls(context=ssl._create_unverified_context())
print("capa-tls", sorted(p.capa().keys()))
p.user(user)
try:
    p.pass_("wrong-password")
    print("wrong accepted")
except poplib.error_proto as e:
    print("wrong refused", e)
p.user(user)
p.pass_(pw)
print("stat", p.stat())
print("uidl", len(p.uidl()[1]))
print("top", p.top(1, 0)[0].decode())
p.dele(1)
print("after dele", p.stat())
p.rset()
print("after rset", p.stat())
p.quit()
"#;

#[tokio::test]
async fn stls_gates_plaintext_logins_and_refusals_are_captured() {
    if !have("python3") {
        eprintln!("skipping: python3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "pop3-stls", "pop3", &[]).await;
    let (user, pass) = person(&s);
    let n = s.decky.bait.mailbox(&s.decky.config.name, &user).len();
    let (ip, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let out = python(POPLIB_STLS, &[&ip, &port, &user, &pass]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "poplib: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("capa ['AUTH-RESP-CODE', 'CAPA', 'PIPELINING', 'RESP-CODES', 'SASL', 'STLS', 'TOP', 'UIDL']"), "{text}");
    assert!(
        text.contains("plaintext refused") && text.contains("Plaintext authentication disallowed"),
        "{text}"
    );
    assert!(text.contains("capa-tls ['AUTH-RESP-CODE', 'CAPA', 'PIPELINING', 'RESP-CODES', 'SASL', 'TOP', 'UIDL', 'USER']"), "{text}");
    assert!(text.contains("wrong refused"), "{text}");
    assert!(text.contains(&format!("uidl {n}")), "{text}");
    assert!(text.contains(&format!("after rset ({n},")), "{text}");
    assert!(text.contains(&format!("after dele ({},", n - 1)), "{text}");

    let name_only = s.wait_type(EventType::LoginAttempt).await.unwrap();
    assert_eq!(login_of(&name_only).0, user);
    assert_eq!(name_only.fields["method"], "none");
    let wrong = s.wait_type(EventType::LoginAttempt).await.unwrap();
    assert_eq!(
        login_of(&wrong),
        (
            user.clone(),
            b"wrong-password".to_vec(),
            SecretKind::Password
        )
    );
    let ok = s.wait_type(EventType::LoginSuccess).await.unwrap();
    assert_eq!(login_of(&ok).1, pass.as_bytes());
    assert_eq!(ok.fields["tls"], true);
    let read = s.wait_type(EventType::FileDownload).await.unwrap();
    assert_eq!(read.fields["item"], "TOP 0");
}

#[tokio::test]
async fn curl_retrieves_a_message_after_stls() {
    if !have("curl") {
        eprintln!("skipping: curl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "pop3-curl", "pop3", &[]).await;
    let (user, pass) = person(&s);
    let mut c = Command::new("curl");
    c.args(["-s", "-S", "-k", "--ssl-reqd", "--max-time", "30", "-u"])
        .arg(format!("{user}:{pass}"))
        .arg(format!("pop3://{}/2", s.addr));
    let out = output(c).await;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mailbox = s.decky.bait.mailbox(&s.decky.config.name, &user);
    assert_eq!(out.stdout, mailbox[1].raw);
    let ok = s.wait_type(EventType::LoginSuccess).await.unwrap();
    assert_eq!(
        login_of(&ok),
        (user, pass.into_bytes(), SecretKind::Password)
    );
    assert_eq!(ok.fields["mechanism"], "PLAIN");
}

#[tokio::test]
async fn nmap_names_dovecot_pop3d() {
    if !have("nmap") {
        eprintln!("skipping: nmap is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "pop3-nmap", "pop3", &[]).await;
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "--version-light", "-p"])
        .arg(s.addr.port().to_string())
        .arg(s.addr.ip().to_string());
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Dovecot pop3d"), "nmap said: {text}");
}
