//! WordPress XML-RPC brute force: every user and password pair of a
//! `system.multicall` is a credential of its own, and the answer is
//! WordPress's array of faults.

use std::time::Duration;

use decnet_core::{EventType, SecretKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{self, svc, unique_ip};

const WAIT: Duration = Duration::from_secs(20);

fn multicall(pairs: &[(&str, &str)]) -> String {
    let calls: String = pairs
        .iter()
        .map(|(user, pw)| {
            format!(
                "<value><struct><member><name>methodName</name><value><string>wp.getUsersBlogs</string></value></member>\
                 <member><name>params</name><value><array><data><value><string>{user}</string></value>\
                 <value><string>{pw}</string></value></data></array></value></member></struct></value>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\"?><methodCall><methodName>system.multicall</methodName><params><param>\
         <value><array><data>{calls}</data></array></value></param></params></methodCall>"
    )
}

/// Everything the server sends until it closes, bounded by `take`.
#[allow(clippy::disallowed_methods)]
async fn read_all(tcp: &mut TcpStream) -> Vec<u8> {
    let mut reply = Vec::new();
    tokio::time::timeout(WAIT, tcp.take(1 << 20).read_to_end(&mut reply))
        .await
        .unwrap()
        .unwrap();
    reply
}

#[tokio::test]
async fn every_pair_of_a_multicall_is_captured() {
    let dir = tempfile::tempdir().unwrap();
    let d = harness::decky(
        "wpblog",
        &unique_ip(),
        dir.path(),
        vec![svc("http", &[("fake_app", "wordpress")])],
    );
    let mut s = harness::serve(d, "http").await;
    let pairs = [
        ("admin", "123456"),
        ("admin", "letmein"),
        ("editor", "qwerty"),
    ];
    let body = multicall(&pairs);
    let request = format!(
        "POST /xmlrpc.php HTTP/1.1\r\nHost: blog\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let reply = read_all(&mut tcp).await;
    let reply = String::from_utf8(reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert_eq!(
        reply.matches("<name>faultCode</name>").count(),
        3,
        "{reply}"
    );

    let mut seen = Vec::new();
    while seen.len() < pairs.len() {
        let e = s
            .wait_for(WAIT, |e| e.credential.is_some())
            .await
            .expect("a credential per pair");
        if seen.is_empty() {
            assert_eq!(e.event_type, EventType::HttpRequest);
        } else {
            assert_eq!(e.event_type, EventType::LoginAttempt);
        }
        let c = e.credential.unwrap();
        assert_eq!(c.secret_kind, SecretKind::Password);
        seen.push((c.principal, c.secret_printable.unwrap()));
    }
    let expected: Vec<(String, String)> = pairs
        .iter()
        .map(|(u, p)| (u.to_string(), p.to_string()))
        .collect();
    assert_eq!(seen, expected);
}
