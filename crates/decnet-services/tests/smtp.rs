//! The SMTP service driven by a real client, `swaks` (its TLS needs Perl's
//! Net::SSLeay, Debian's `libnet-ssleay-perl`), and probed by `nmap -sV`.

use std::path::Path;
use std::time::Duration;

use decnet_core::{Event, EventType};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::harness::{self, have, svc, unique_ip, Served};

async fn swaks(s: &Served, args: &[&str]) -> String {
    let server = s.addr.to_string();
    let mut all = vec!["--server", server.as_str(), "--timeout", "20"];
    all.extend_from_slice(args);
    let out = tokio::process::Command::new("swaks")
        .args(&all)
        .output()
        .await
        .expect("swaks runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn swaks_with_tls() -> bool {
    if !have("swaks") {
        eprintln!("skipped: swaks is not installed");
        return false;
    }
    let support = std::process::Command::new("swaks")
        .arg("--support")
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
        })
        .unwrap_or_default();
    if !support.contains("=== TLS supported") {
        assert!(
            std::env::var_os("CI").is_none(),
            "swaks has no TLS: install libnet-ssleay-perl"
        );
        eprintln!("skipped: swaks has no TLS (install libnet-ssleay-perl)");
        return false;
    }
    true
}

async fn serve(name: &str, slug: &str, dir: &Path, keys: &[(&str, &str)]) -> Served {
    let ip = unique_ip();
    harness::serve(harness::decky(name, &ip, dir, vec![svc(slug, keys)]), slug).await
}

fn field<'a>(e: &'a Event, key: &str) -> &'a Value {
    e.fields.get(key).unwrap_or(&Value::Null)
}

async fn login(s: &mut Served) -> Event {
    s.wait_type(EventType::LoginAttempt)
        .await
        .expect("a login_attempt")
}

#[tokio::test]
async fn auth_login_and_plain_capture_what_swaks_sent() {
    if !have("swaks") {
        eprintln!("skipped: swaks is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("mx1", "smtp", dir.path(), &[]).await;
    for (mech, user, pass) in [
        ("LOGIN", "alice", "Winter2026!"),
        ("PLAIN", "bob@corp.example", "p a s s"),
    ] {
        let out = swaks(
            &s,
            &[
                "--auth",
                mech,
                "--auth-user",
                user,
                "--auth-password",
                pass,
                "--quit-after",
                "AUTH",
            ],
        )
        .await;
        assert!(out.contains("220 mx1-host ESMTP Postfix (Ubuntu)"), "{out}");
        assert!(
            out.contains("535 5.7.8 Error: authentication failed: authentication failure"),
            "{out}"
        );
        let e = login(&mut s).await;
        let c = e.credential.as_ref().unwrap();
        assert_eq!(c.principal, user);
        assert_eq!(c.secret_printable.as_deref(), Some(pass));
        assert_eq!(c.secret_kind, decnet_core::SecretKind::Password);
        assert_eq!(field(&e, "sasl_mechanism"), mech);
        assert!(e.session_id.is_some());
    }
}

#[tokio::test]
async fn cram_md5_is_captured_crackably() {
    if !have("swaks") {
        eprintln!("skipped: swaks is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("mx2", "smtp", dir.path(), &[]).await;
    let (user, pass) = ("carol", "hunter2");
    let out = swaks(
        &s,
        &[
            "--auth",
            "CRAM-MD5",
            "--auth-user",
            user,
            "--auth-password",
            pass,
            "--quit-after",
            "AUTH",
        ],
    )
    .await;
    assert!(out.contains("535 5.7.8"), "{out}");
    let e = login(&mut s).await;
    let challenge = field(&e, "cram_md5_challenge").as_str().unwrap().to_owned();
    assert!(
        challenge.starts_with('<') && challenge.ends_with("@mx2-host>"),
        "{challenge}"
    );
    // Recompute the response from the known password: HMAC-MD5(password, challenge).
    let key = openssl::pkey::PKey::hmac(pass.as_bytes()).unwrap();
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::md5(), &key).unwrap();
    signer.update(challenge.as_bytes()).unwrap();
    let expected = hex::encode(signer.sign_to_vec().unwrap());
    let c = e.credential.as_ref().unwrap();
    assert_eq!(c.principal, user);
    assert_eq!(c.secret_printable.as_deref(), Some(expected.as_str()));
    let b64 = |s: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    assert_eq!(
        field(&e, "hashcat"),
        &Value::from(format!(
            "$cram_md5${}${}",
            b64(&challenge),
            b64(&format!("{user} {expected}"))
        ))
    );
}

#[tokio::test]
async fn starttls_and_smtps_record_the_client_fingerprint() {
    if !swaks_with_tls() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("mx3", "smtp", dir.path(), &[]).await;
    let out = swaks(
        &s,
        &[
            "--tls",
            "--auth",
            "PLAIN",
            "--auth-user",
            "dave",
            "--auth-password",
            "tls-pw",
            "--quit-after",
            "AUTH",
        ],
    )
    .await;
    assert!(out.contains("220 2.0.0 Ready to start TLS"), "{out}");
    let e = login(&mut s).await;
    assert_eq!(e.credential.as_ref().unwrap().principal, "dave");
    let ja4 = field(&e, "tls_ja4").as_str().expect("tls_ja4").to_owned();
    assert!(ja4.starts_with("t1") && ja4.len() == 36, "{ja4}");
    assert_eq!(field(&e, "tls_ja3_hash").as_str().unwrap().len(), 32);
    assert!(field(&e, "tls_ja3").as_str().unwrap().starts_with("771,"));

    // Implicit TLS on 465: the greeting comes after the handshake, and the first
    // command's event carries the same client's fingerprint.
    let mut s = serve("mx4", "smtps", dir.path(), &[]).await;
    let out = swaks(&s, &["--tlsc", "--quit-after", "EHLO"]).await;
    assert!(out.contains("220 mx4-host ESMTP Postfix (Ubuntu)"), "{out}");
    let e = s
        .wait_for(Duration::from_secs(20), |e| {
            e.event_type == EventType::Command
                && field(e, "command")
                    .as_str()
                    .is_some_and(|c| c.starts_with("EHLO"))
        })
        .await
        .expect("EHLO event");
    assert_eq!(field(&e, "tls_ja4").as_str(), Some(ja4.as_str()));
}

#[tokio::test]
async fn a_message_with_an_attachment_is_kept_and_summarised() {
    if !have("swaks") {
        eprintln!("skipped: swaks is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("mx5", "smtp", dir.path(), &[]).await;
    let attachment = dir.path().join("invoice.pdf");
    let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&attachment, &payload).unwrap();
    let attach = format!("@{}", attachment.display());
    let out = swaks(
        &s,
        &[
            "--from",
            "eve@attacker.example",
            "--to",
            "root@mx5-host",
            "--header",
            "Subject: Invoice 2291",
            "--attach-type",
            "application/pdf",
            "--attach",
            &attach,
        ],
    )
    .await;
    assert!(out.contains("250 2.0.0 Ok: queued as "), "{out}");
    let e = s
        .wait_type(EventType::MailReceived)
        .await
        .expect("mail_received");
    assert_eq!(field(&e, "from"), "eve@attacker.example");
    assert_eq!(field(&e, "rcpts"), &serde_json::json!(["root@mx5-host"]));
    assert_eq!(field(&e, "subject"), "Invoice 2291");
    assert_eq!(field(&e, "truncated"), false);
    let attachments = field(&e, "attachments").as_array().unwrap();
    assert_eq!(attachments.len(), 1, "{attachments:?}");
    assert_eq!(attachments[0]["filename"], "invoice.pdf");
    assert_eq!(
        attachments[0]["sha256"],
        hex::encode(Sha256::digest(&payload))
    );
    // The whole message is on disk under its sha256.
    let artifact = field(&e, "artifact").as_str().unwrap();
    let kept = std::fs::read(artifact).unwrap();
    assert_eq!(
        field(&e, "sha256"),
        &Value::from(hex::encode(Sha256::digest(&kept)))
    );
    assert_eq!(field(&e, "size"), kept.len() as u64);
    assert_eq!(field(&e, "extension"), "eml");
    assert!(String::from_utf8_lossy(&kept).contains("Subject: Invoice 2291"));
}

#[tokio::test]
async fn relay_attempts_are_flagged_and_refused_unless_open() {
    if !have("swaks") {
        eprintln!("skipped: swaks is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("mx6", "smtp", dir.path(), &[]).await;
    let out = swaks(
        &s,
        &["--from", "spam@x.example", "--to", "victim@bank.example"],
    )
    .await;
    assert!(
        out.contains("554 5.7.1 <victim@bank.example>: Relay access denied"),
        "{out}"
    );
    let e = s
        .wait_for(Duration::from_secs(20), |e| field(e, "relay") == true)
        .await
        .expect("a flagged RCPT");
    assert_eq!(field(&e, "rcpt"), "victim@bank.example");
    assert_eq!(field(&e, "relay_denied"), true);

    let mut s = serve("mx7", "smtp", dir.path(), &[("open_relay", "true")]).await;
    let out = swaks(
        &s,
        &["--from", "spam@x.example", "--to", "victim@bank.example"],
    )
    .await;
    assert!(out.contains("250 2.0.0 Ok: queued as"), "{out}");
    let e = s.wait_type(EventType::MailReceived).await.unwrap();
    assert_eq!(
        field(&e, "rcpts"),
        &serde_json::json!(["victim@bank.example"])
    );
}

#[tokio::test]
async fn nmap_reports_postfix_smtpd() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = serve("mx8", "smtp", dir.path(), &[]).await;
    let out = tokio::process::Command::new("nmap")
        .args([
            "-sV",
            "-Pn",
            "-n",
            "-p",
            &s.addr.port().to_string(),
            &s.addr.ip().to_string(),
        ])
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Postfix smtpd"), "{text}");
}

/// Reads until `want` has been seen (or 10 s pass) and returns everything read.
async fn read_until(s: &mut tokio::net::TcpStream, want: &str) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !String::from_utf8_lossy(&got).contains(want) {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[tokio::test]
async fn a_raw_client_gets_postfix_replies_pipelining_data_and_bdat() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("mx9", "smtp", dir.path(), &[]).await;
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    assert_eq!(
        read_until(&mut c, "\r\n").await,
        "220 mx9-host ESMTP Postfix (Ubuntu)\r\n"
    );
    // Replies as Debian 12's Postfix 3.7 gave them on loopback: MAIL before HELO is
    // taken (smtpd_helo_required=no), EHLO ends the transaction.
    c.write_all(b"MAIL FROM:<a@b>\r\nFOO\r\nEHLO me\r\nRCPT TO:<x@mx9-host>\r\n")
        .await
        .unwrap();
    let got = read_until(&mut c, "503 5.5.1 Error: need MAIL command\r\n").await;
    assert!(
        got.starts_with(
            "250 2.1.0 Ok\r\n500 5.5.2 Error: command not recognized\r\n250-mx9-host\r\n"
        ),
        "{got}"
    );
    // PIPELINING: a whole transaction in one write, the body dot-stuffed.
    c.write_all(b"MAIL FROM:<a@b>\r\nRCPT TO:<x@mx9-host>\r\nDATA\r\n")
        .await
        .unwrap();
    let got = read_until(&mut c, "354 End data with <CR><LF>.<CR><LF>\r\n").await;
    assert!(
        got.starts_with("250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354"),
        "{got}"
    );
    c.write_all(b"Subject: dots\r\n\r\n..leading dot\r\n.\r\nNOOP\r\n")
        .await
        .unwrap();
    let got = read_until(&mut c, "250 2.0.0 Ok\r\n").await;
    assert!(got.starts_with("250 2.0.0 Ok: queued as "), "{got}");
    let e = s.wait_type(EventType::MailReceived).await.unwrap();
    let kept = std::fs::read(field(&e, "artifact").as_str().unwrap()).unwrap();
    assert_eq!(kept, b"Subject: dots\r\n\r\n.leading dot\r\n");
    // CHUNKING: two BDAT chunks make one message.
    c.write_all(b"MAIL FROM:<a@b>\r\nRCPT TO:<x@mx9-host>\r\nBDAT 5\r\nhelloBDAT 6 LAST\r\n world")
        .await
        .unwrap();
    let got = read_until(&mut c, "queued as").await;
    assert!(got.contains("250 2.0.0 Ok: 5 bytes\r\n"), "{got}");
    let e = s.wait_type(EventType::MailReceived).await.unwrap();
    assert_eq!(field(&e, "size"), 11);
    // Plaintext pipelined after STARTTLS is refused to the TLS session (CVE-2011-0411).
    c.write_all(b"STARTTLS\r\nRCPT TO:<injected@evil>\r\n")
        .await
        .unwrap();
    assert!(read_until(&mut c, "\r\n")
        .await
        .starts_with("220 2.0.0 Ready to start TLS"));
    let e = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert_eq!(field(&e, "reason"), "pipelining_after_starttls");
}

#[tokio::test]
async fn exim_and_sendmail_personas_speak_their_own_dialect() {
    use tokio::io::AsyncWriteExt as _;
    let dir = tempfile::tempdir().unwrap();
    let s = serve("mxa", "smtp", dir.path(), &[("smtp_mta", "exim")]).await;
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // The test decky is Ubuntu 22.04, which ships Exim 4.95.
    let greeting = read_until(&mut c, "\r\n").await;
    assert!(
        greeting.starts_with("220 mxa-host ESMTP Exim 4.95 "),
        "{greeting}"
    );
    c.write_all(b"EHLO me\r\nMAIL FROM:<a@b>\r\nRCPT TO:<x@far.example>\r\n")
        .await
        .unwrap();
    let got = read_until(&mut c, "550 relay not permitted\r\n").await;
    assert!(got.contains("250-SIZE 52428800\r\n"), "{got}");
    assert!(got.contains("250 HELP\r\n250 OK\r\n550 relay"), "{got}");

    let s = serve("mxb", "smtp", dir.path(), &[("smtp_mta", "sendmail")]).await;
    let mut c = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let greeting = read_until(&mut c, "\r\n").await;
    assert!(
        greeting.starts_with("220 mxb-host ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; "),
        "{greeting}"
    );
    c.write_all(b"EHLO me\r\nXYZZY\r\n").await.unwrap();
    let got = read_until(&mut c, "Command unrecognized").await;
    assert!(got.contains("250-SIZE\r\n"), "{got}");
    assert!(
        got.contains("500 5.5.1 Command unrecognized: \"XYZZY\""),
        "{got}"
    );
}
