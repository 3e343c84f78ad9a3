//! The VNC emulator against vncdotool (a real RFB client), raw sockets and nmap.

use std::path::Path;
use std::time::Duration;

use decnet_core::event::SecretKind;
use decnet_core::{Event, EventType};
use decnet_services::vnc::rfb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{decky, have, serve, svc, unique_ip, Served};

async fn start(dir: &Path, name: &str, persona: &[(&str, &str)]) -> Served {
    let d = decky(name, &unique_ip(), dir, vec![svc("vnc", persona)]);
    serve(d, "vnc").await
}

/// `vncdo` sending one key with `password`; it fails, as every login does.
async fn vncdo(s: &Served, password: &str) -> std::process::Output {
    let mut c = Command::new("vncdo");
    c.arg("-s")
        .arg(format!("{}::{}", s.addr.ip(), s.addr.port()))
        .args(["-p", password, "key", "a"])
        .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("vncdo finished in time")
        .expect("vncdo ran")
}

/// What the server sends until it closes (at most 4 KiB).
async fn until_close(c: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while got.len() < 4096 {
        match c.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// The captured challenge and response of a `vnc_des` login attempt.
fn captured(e: &Event) -> ([u8; 16], [u8; 16]) {
    let c = e.credential.as_ref().expect("credential");
    assert_eq!(c.secret_kind, SecretKind::VncDes);
    assert_eq!(c.principal, "");
    let response: [u8; 16] = c.secret_bytes().unwrap().try_into().unwrap();
    let challenge: [u8; 16] = hex::decode(e.fields["challenge"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(e.fields["response"], hex::encode(response));
    assert_eq!(
        e.fields["john"],
        rfb::john_line(&challenge, &response).as_str()
    );
    (challenge, response)
}

#[tokio::test]
async fn vncdotools_response_is_captured_and_recomputes_from_the_password() {
    if !have("vncdo") {
        eprintln!("skipped: vncdo (pip vncdotool) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for version in ["3.8", "3.3"] {
        let name = format!("vnc-do-{}", version.replace('.', ""));
        let mut s = start(tmp.path(), &name, &[("vnc_version", version)]).await;
        let out = vncdo(&s, "S3cr3t!x").await;
        assert!(!out.status.success(), "every VNC login is refused");
        let e = s
            .wait_type(EventType::LoginAttempt)
            .await
            .expect("login_attempt");
        let (challenge, response) = captured(&e);
        assert_eq!(
            rfb::des_response(b"S3cr3t!x", &challenge),
            response,
            "the capture cracks back to the password vncdo sent (RFB {version})"
        );
        assert_ne!(rfb::des_response(b"S3cr3t!y", &challenge), response);
        assert_eq!(e.fields["rfb_version"], version);
        assert_eq!(e.fields["method"], "password");
        assert_eq!(e.fields["desktop_name"], format!("{name}-host:0"));
    }
}

#[tokio::test]
async fn a_3_8_handshake_fails_with_the_reason_and_challenges_never_repeat() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "vnc-raw", &[]).await;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        let mut version = [0u8; 12];
        c.read_exact(&mut version).await.unwrap();
        assert_eq!(&version, b"RFB 003.008\n");
        c.write_all(b"RFB 003.008\n").await.unwrap();
        let mut types = [0u8; 2];
        c.read_exact(&mut types).await.unwrap();
        assert_eq!(types, [1, rfb::SEC_VNC_AUTH]);
        c.write_all(&[rfb::SEC_VNC_AUTH]).await.unwrap();
        let mut challenge = [0u8; 16];
        c.read_exact(&mut challenge).await.unwrap();
        let response = rfb::des_response(b"hunter2", &challenge);
        c.write_all(&response).await.unwrap();
        let result = until_close(&mut c).await;
        let mut want = vec![0, 0, 0, 1, 0, 0, 0, 21];
        want.extend_from_slice(b"Authentication failed");
        assert_eq!(result, want);
        let e = s
            .wait_type(EventType::LoginAttempt)
            .await
            .expect("login_attempt");
        assert_eq!(captured(&e), (challenge, response));
        assert_eq!(e.fields["client_version"], "3.8");
        seen.push(challenge);
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 3, "a fresh challenge per connection");
}

#[tokio::test]
async fn a_client_speaking_another_protocol_is_a_protocol_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "vnc-junk", &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
    let got = until_close(&mut c).await;
    assert_eq!(got, b"RFB 003.008\n", "the banner, then the close");
    let e = s
        .wait_type(EventType::ProtocolError)
        .await
        .expect("protocol_error");
    assert_eq!(e.fields["reason"], "unsupported protocol version");
}

#[tokio::test]
async fn nmap_version_detection_reports_vnc() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "vnc-nmap", &[]).await;
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
    assert!(text.contains("VNC (protocol 3.8)"), "nmap said:\n{text}");
    assert!(s.wait_type(EventType::Scan).await.is_some());
}
