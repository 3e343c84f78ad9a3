//! The IMAP emulator against Python's imaplib, curl and nmap, over the bait
//! world's mailboxes.

use std::path::Path;
use std::time::Duration;

use decnet_core::event::SecretKind;
use decnet_core::EventType;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{
    decky_in_world, have, login_of, output, person, python, serve, svc, unique_ip, Served,
};

async fn start(dir: &Path, name: &str, slug: &str, persona: &[(&str, &str)]) -> Served {
    let d = decky_in_world(name, &unique_ip(), dir, vec![svc("imap", persona)]);
    serve(d, slug).await
}

const IMAPLIB_TLS_READ: &str = r#"
import imaplib, ssl, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4_SSL(host, port, ssl_context=ssl._create_unverified_context())
m.login(user, pw)
typ, data = m.select("INBOX")
assert typ == "OK", data
typ, data = m.uid("FETCH", "1", "(BODY.PEEK[])")
assert typ == "OK", data
sys.stdout.buffer.write(data[0][1])
m.logout()
"#;

#[tokio::test]
async fn a_person_reads_their_bait_mail_with_imaplib_over_implicit_tls() {
    if !have("python3") {
        eprintln!("skipping: python3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "imap-tls", "imaps", &[]).await;
    let (user, pass) = person(&s);
    let port = s.addr.port().to_string();
    let ip = s.addr.ip().to_string();
    let out = python(IMAPLIB_TLS_READ, &[&ip, &port, &user, &pass]).await;
    assert!(
        out.status.success(),
        "imaplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mailbox = s.decky.bait.mailbox(&s.decky.config.name, &user);
    let first = mailbox.iter().find(|m| m.uid == 1).unwrap();
    assert_eq!(
        out.stdout, first.raw,
        "the fetched bytes are the stored message"
    );

    let ok = s.wait_type(EventType::LoginSuccess).await.unwrap();
    assert_eq!(
        login_of(&ok),
        (user.clone(), pass.into_bytes(), SecretKind::Password)
    );
    assert_eq!(ok.fields["tls"], true);
    let read = s.wait_type(EventType::FileDownload).await.unwrap();
    assert_eq!(read.fields["uid"], 1);
    assert_eq!(read.fields["subject"], first.subject.as_str());
    assert_eq!(read.fields["message_id"], first.message_id.as_str());
    assert_eq!(read.fields["mailbox"], "INBOX");
    assert_eq!(read.fields["name"], first.document(Some(&user)).as_str());
    assert_eq!(read.fields["item"], "BODY[]");
}

const IMAPLIB_STARTTLS: &str = r#"
import imaplib, ssl, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4(host, port)
print("caps", " ".join(m.capabilities))
try:
    m.login(user, "before-tls")
    print("plaintext accepted")
except imaplib.IMAP4.error as e:
    print("plaintext refused", e)
m.starttls(ssl_context=ssl._create_unverified_context())
try:
    m.login(user, "wrong-password")
    print("wrong accepted")
except imaplib.IMAP4.error as e:
    print("wrong refused", e)
typ, _ = m.login(user, pw)
print("login", typ)
typ, data = m.select("INBOX", readonly=True)
print("exists", data[0].decode())
typ, data = m.search(None, "UNSEEN")
print("unseen", data[0].decode())
typ, data = m.fetch("1", "(FLAGS BODYSTRUCTURE BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[]<0.10>)")
print("fetch", typ)
m.logout()
"#;

#[tokio::test]
async fn starttls_gates_plaintext_logins_and_refusals_are_captured() {
    if !have("python3") {
        eprintln!("skipping: python3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "imap-stls", "imap", &[("users", "bob:hunter2")]).await;
    let port = s.addr.port().to_string();
    let ip = s.addr.ip().to_string();
    let out = python(IMAPLIB_STARTTLS, &[&ip, &port, "bob", "hunter2"]).await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "imaplib: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("STARTTLS") && text.contains("LOGINDISABLED"),
        "{text}"
    );
    assert!(
        text.contains("plaintext refused") && text.contains("PRIVACYREQUIRED"),
        "{text}"
    );
    assert!(
        text.contains("wrong refused") && text.contains("AUTHENTICATIONFAILED"),
        "{text}"
    );
    assert!(text.contains("login OK"), "{text}");
    assert!(text.contains("fetch OK"), "{text}");

    let before = s.wait_type(EventType::LoginAttempt).await.unwrap();
    assert_eq!(login_of(&before).1, b"before-tls");
    assert_eq!(before.fields["refused"], "plaintext_disallowed");
    assert_eq!(before.fields["tls"], false);
    let wrong = s.wait_type(EventType::LoginAttempt).await.unwrap();
    assert_eq!(
        login_of(&wrong),
        (
            "bob".into(),
            b"wrong-password".to_vec(),
            SecretKind::Password
        )
    );
    assert_eq!(wrong.fields["tls"], true);
    let ok = s.wait_type(EventType::LoginSuccess).await.unwrap();
    assert_eq!(login_of(&ok).1, b"hunter2");
    // A partial body is a read too.
    let read = s.wait_type(EventType::FileDownload).await.unwrap();
    assert_eq!(read.fields["item"], "BODY[]<0>");
}

#[tokio::test]
async fn curl_fetches_a_message_with_authenticate_plain_after_starttls() {
    if !have("curl") {
        eprintln!("skipping: curl is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "imap-curl", "imap", &[]).await;
    let (user, pass) = person(&s);
    let url = format!("imap://{}/INBOX;UID=2", s.addr);
    let mut c = Command::new("curl");
    c.args(["-s", "-S", "-k", "--ssl-reqd", "--max-time", "30", "-u"])
        .arg(format!("{user}:{pass}"))
        .arg(&url);
    let out = output(c).await;
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mailbox = s.decky.bait.mailbox(&s.decky.config.name, &user);
    let second = mailbox.iter().find(|m| m.uid == 2).unwrap();
    assert_eq!(out.stdout, second.raw);
    let ok = s.wait_type(EventType::LoginSuccess).await.unwrap();
    assert_eq!(
        login_of(&ok),
        (user, pass.into_bytes(), SecretKind::Password)
    );
    assert_eq!(ok.fields["mechanism"], "PLAIN");
    let read = s.wait_type(EventType::FileDownload).await.unwrap();
    assert_eq!(read.fields["uid"], 2);
}

/// Reads until `want` has arrived (or 10 s pass).
async fn read_until(s: &mut TcpStream, want: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while !String::from_utf8_lossy(&got).contains(want) {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn greeting_and_login_dialogue_are_dovecots() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "imap-raw", "imap", &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let hello = read_until(&mut c, "\r\n").await;
    assert_eq!(
        hello,
        "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ STARTTLS LOGINDISABLED] Dovecot (Ubuntu) ready.\r\n"
    );
    c.write_all(b"a ID NIL\r\n").await.unwrap();
    assert_eq!(
        read_until(&mut c, "a OK").await,
        "* ID (\"name\" \"Dovecot\")\r\na OK ID completed.\r\n"
    );
    // A synchronising literal gets its continuation; nmap's HTTP probe gets
    // the answers its Dovecot signature expects, and the third bad command a BYE.
    c.write_all(b"b LOGIN {3}\r\n").await.unwrap();
    assert_eq!(read_until(&mut c, "\r\n").await, "+ OK\r\n");
    c.write_all(b"bob pw\r\n").await.unwrap();
    assert!(read_until(&mut c, "b NO")
        .await
        .contains("b NO [PRIVACYREQUIRED]"));
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    assert_eq!(
        read_until(&mut c, "* BAD Error in IMAP command received by server.\r\n").await,
        "GET BAD Error in IMAP command received by server.\r\n* BAD Error in IMAP command received by server.\r\n"
    );
    c.write_all(b"x FOO\r\n").await.unwrap();
    assert_eq!(
        read_until(&mut c, "BYE").await,
        "* BYE Too many invalid IMAP commands.\r\n"
    );
}

#[tokio::test]
async fn nmap_names_dovecot_imapd() {
    if !have("nmap") {
        eprintln!("skipping: nmap is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "imap-nmap", "imap", &[]).await;
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "--version-light", "-p"])
        .arg(s.addr.port().to_string())
        .arg(s.addr.ip().to_string());
    let out = output(c).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Dovecot imapd"), "nmap said: {text}");
}

const IMAPLIB_NOTICE: &str = r#"
import imaplib, ssl, sys
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4_SSL(host, port, ssl_context=ssl._create_unverified_context())
m.login(user, pw)
m.select("INBOX")
typ, data = m.search(None, "SUBJECT", '"Scheduled maintenance"')
uid = data[0].split()[0]
typ, data = m.fetch(uid, "(BODY[TEXT])")
sys.stdout.buffer.write(data[0][1])
m.logout()
"#;

/// A world of two deckies: a mail server, and a server with SSH (so the
/// helpdesk notice names it).
async fn two_decky_world(dir: &Path) -> (Served, Served) {
    let mail = decky_in_world("ht-mail", &unique_ip(), dir, vec![svc("imap", &[])]);
    let other = decky_in_world("ht-other", &unique_ip(), dir, vec![svc("ssh", &[])]);
    let world = std::sync::Arc::new(decnet_core::bait::World::derive(
        b"test-installation",
        &[mail.config.clone(), other.config.clone()],
        1_760_000_000,
    ));
    let rebuilt = |d: std::sync::Arc<decnet_services::DeckyRuntime>| {
        let mut d = std::sync::Arc::try_unwrap(d).unwrap();
        d.bait = world.clone();
        std::sync::Arc::new(d)
    };
    (
        serve(rebuilt(mail), "imaps").await,
        serve(rebuilt(other), "ssh").await,
    )
}

#[tokio::test]
async fn a_credential_read_over_imap_opens_ssh_on_another_decky_and_names_the_mail() {
    if !have("python3") || !have("sshpass") || !have("ssh") {
        eprintln!("skipping: needs python3, sshpass and the OpenSSH client");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (mail, mut other) = two_decky_world(dir.path()).await;
    let (user, pass) = person(&mail);
    let (ip, port) = (mail.addr.ip().to_string(), mail.addr.port().to_string());
    let out = python(IMAPLIB_NOTICE, &[&ip, &port, &user, &pass]).await;
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "imaplib: {body}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        body.contains(&other.decky.config.hostname),
        "the notice names the other decky: {body}"
    );
    let field = |name: &str| {
        body.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} in the notice: {body}"))
    };
    let (helpdesk, secret) = (field("username:"), field("password:"));

    // The real OpenSSH client, with the password the mail gave.
    let mut ssh = Command::new("sshpass");
    ssh.args(["-p", &secret, "ssh", "-p", &other.addr.port().to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "NumberOfPasswordPrompts=1",
        ])
        .arg(format!("{helpdesk}@{}", other.addr.ip()))
        .arg("id");
    let out = output(ssh).await;
    assert!(
        out.status.success(),
        "ssh: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = other.wait_type(EventType::LoginSuccess).await.unwrap();
    assert_eq!(
        login_of(&ok),
        (helpdesk, secret.into_bytes(), SecretKind::Password)
    );
    let planted = &ok.fields["honeytoken"]["planted"][0];
    assert_eq!(planted["decky"], "ht-mail");
    assert_eq!(planted["service"], "imap");
    assert!(
        planted["document"]
            .as_str()
            .unwrap()
            .starts_with("mail \"Scheduled maintenance on"),
        "{planted}"
    );
}

const IMAPLIB_ITEMS: &str = r#"
import imaplib, ssl, sys, json, re, base64
host, port, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
m = imaplib.IMAP4_SSL(host, port, ssl_context=ssl._create_unverified_context())
m.login(user, pw)
out = {}
out["list"] = [x.decode() for x in m.list()[1]]
out["exists"] = int(m.select("INBOX")[1][0])
typ, data = m.search(None, "SUBJECT", "Invoice")
seq = data[0].split()[0]
typ, data = m.fetch(seq, "(UID BODYSTRUCTURE)")
out["structure"] = data[0].decode()
typ, data = m.fetch(seq, "(BODY.PEEK[2])")
out["attachment_b64"] = data[0][1].decode()
typ, data = m.fetch(seq, "(BODY.PEEK[]<0.50>)")
out["partial"] = data[0][1].decode()
out["unseen_uids"] = [int(x) for x in m.uid("SEARCH", None, "UNSEEN")[1][0].split()]
m.store("1", "+FLAGS", "(\\Deleted)")
typ, data = m.expunge()
out["expunged"] = [x.decode() for x in data if x]
out["exists_after"] = int(m.select("INBOX")[1][0])
print(json.dumps(out))
m.logout()
"#;

#[tokio::test]
async fn fetch_structure_parts_partials_search_and_expunge_follow_the_stored_message() {
    if !have("python3") {
        eprintln!("skipping: python3 is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "imap-items", "imaps", &[]).await;
    let (user, pass) = person(&s);
    let (ip, port) = (s.addr.ip().to_string(), s.addr.port().to_string());
    let out = python(IMAPLIB_ITEMS, &[&ip, &port, &user, &pass]).await;
    assert!(
        out.status.success(),
        "imaplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mailbox = s.decky.bait.mailbox(&s.decky.config.name, &user);
    // The first message SEARCH SUBJECT "Invoice" finds.
    let invoice = mailbox
        .iter()
        .find(|m| m.subject.to_lowercase().contains("invoice"))
        .unwrap();
    let list = got["list"].to_string();
    for name in ["INBOX", "Drafts", "Sent", "Trash"] {
        assert!(list.contains(name), "{list}");
    }
    assert_eq!(got["exists"], mailbox.len());
    let structure = got["structure"].as_str().unwrap();
    let a = &invoice.attachments[0];
    assert!(
        structure.contains(&format!("UID {}", invoice.uid))
            && structure.contains("\"application\" \"pdf\"")
            && structure.contains(&format!(
                "(\"attachment\" (\"filename\" \"{}\"))",
                a.filename
            ))
            && structure.contains("\"mixed\""),
        "{structure}"
    );
    use base64::Engine as _;
    let b64: String = got["attachment_b64"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .collect();
    let data = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(data, a.data, "BODY[2] is the attachment");
    assert_eq!(
        got["partial"].as_str().unwrap().as_bytes(),
        &invoice.raw[..50]
    );
    let unseen: Vec<u32> = mailbox.iter().filter(|m| !m.seen).map(|m| m.uid).collect();
    assert_eq!(got["unseen_uids"], serde_json::json!(unseen));
    assert_eq!(got["expunged"], serde_json::json!(["1"]));
    assert_eq!(got["exists_after"], mailbox.len() - 1);
}
