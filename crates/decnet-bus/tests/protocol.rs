//! Every protocol error closes the offending connection, and only it.

use decnet_bus::frame::MAX_HEADER;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use crate::support::{broker, closed_by_peer, sock, wait_until, Raw};

#[tokio::test]
async fn every_protocol_error_closes_only_that_connection() {
    let (_d, path) = sock();
    let b = broker(&path).await;
    let mut good = Raw::connect(&path).await;
    good.sub("ok.>").await;
    wait_until("good subscriber", || b.stats().subscriptions == 1).await;

    let mut oversize_header = vec![b'S'; MAX_HEADER + 10];
    oversize_header.push(b'\n');
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("unknown verb", b"HACK x\n\0\0\0\0".to_vec()),
        ("empty header", b"\n\0\0\0\0".to_vec()),
        ("oversize header", oversize_header),
        ("oversize body", b"PUB a.b\n\x00\x10\x00\x01".to_vec()),
        ("array body", b"PUB a.b\n\0\0\0\x02[]".to_vec()),
        ("invalid json", b"PUB a.b\n\0\0\0\x03{no".to_vec()),
        ("client sent EVT", b"EVT a.b\n\0\0\0\x02{}".to_vec()),
        ("wildcard topic", b"PUB a.*\n\0\0\0\x02{}".to_vec()),
        ("body on SUB", b"SUB a\n\0\0\0\x02{}".to_vec()),
        ("SUB without pattern", b"SUB\n\0\0\0\0".to_vec()),
    ];
    for (what, bytes) in cases {
        let mut s = UnixStream::connect(&path).await.unwrap();
        // The broker may hang up before everything is written.
        let _ = s.write_all(&bytes).await;
        assert!(closed_by_peer(&mut s).await, "{what}: connection left open");
    }
    // EOF mid-frame: half a frame, then our side shuts down.
    let mut s = UnixStream::connect(&path).await.unwrap();
    s.write_all(b"PUB a.b\n\0\0").await.unwrap();
    s.shutdown().await.unwrap();
    assert!(closed_by_peer(&mut s).await, "EOF mid-frame");

    wait_until("only the good connection left", || {
        b.stats().connections == 1
    })
    .await;
    let mut p = Raw::connect(&path).await;
    p.publish("ok.still", json!({"payload": {"alive": true}}))
        .await;
    assert_eq!(good.evt().await.1["payload"]["alive"], true);
}

#[tokio::test]
async fn bye_closes_and_hello_is_optional() {
    let (_d, path) = sock();
    let b = broker(&path).await;
    let mut s = UnixStream::connect(&path).await.unwrap();
    s.write_all(b"HELLO tester\n\0\0\0\0SUB a\n\0\0\0\0BYE\n\0\0\0\0")
        .await
        .unwrap();
    assert!(closed_by_peer(&mut s).await);
    wait_until("connection gone", || b.stats().connections == 0).await;
}
