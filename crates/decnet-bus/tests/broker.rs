//! Broker routing semantics over real UNIX sockets.

use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::frame::Frame;
use decnet_bus::{Broker, BrokerOptions, BusError};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::{broker, sock, wait_until, Raw, DEADLINE};

#[tokio::test]
async fn fan_out_is_one_copy_per_connection_even_with_overlapping_patterns() {
    let (_d, path) = sock();
    let b = broker(&path).await;
    let mut a = Raw::connect(&path).await;
    let mut c = Raw::connect(&path).await;
    for p in ["x.>", "x.*", "x.y", ">"] {
        a.sub(p).await;
    }
    c.sub("x.y").await;
    let mut p = Raw::connect(&path).await;
    wait_until("five subscriptions", || b.stats().subscriptions == 5).await;
    p.publish("x.y", json!({"type": "t", "payload": {"n": 1}}))
        .await;
    p.publish("x.y", json!({"type": "t", "payload": {"n": 2}}))
        .await;
    for s in [&mut a, &mut c] {
        // A duplicate of n=1 would arrive before n=2.
        assert_eq!(s.evt().await.1["payload"]["n"], 1);
        assert_eq!(s.evt().await.1["payload"]["n"], 2);
    }
    wait_until("4 deliveries", || b.stats().delivered == 4).await;
    assert_eq!(b.stats().published, 2);
}

#[tokio::test]
async fn never_echoes_to_the_publishing_connection() {
    let (_d, path) = sock();
    let b = broker(&path).await;
    let mut x = Raw::connect(&path).await;
    let mut y = Raw::connect(&path).await;
    x.sub("e.>").await;
    y.sub("e.>").await;
    wait_until("two subscriptions", || b.stats().subscriptions == 2).await;
    x.publish("e.one", json!({"payload": {"from": "x"}})).await;
    assert_eq!(y.evt().await.1["payload"]["from"], "x");
    y.publish("e.two", json!({"payload": {"from": "y"}})).await;
    // x's first EVT is y's message: its own never came back.
    let (topic, body) = x.evt().await;
    assert_eq!(
        (topic.as_str(), &body["payload"]["from"]),
        ("e.two", &json!("y"))
    );
}

#[tokio::test]
async fn topic_comes_from_the_header_and_id_and_ts_are_fresh() {
    let (_d, path) = sock();
    let b = broker(&path).await;
    let mut s = Raw::connect(&path).await;
    s.sub("real.>").await;
    let mut p = Raw::connect(&path).await;
    wait_until("subscription", || b.stats().subscriptions == 1).await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    p.publish(
        "real.topic",
        json!({"v": 7, "id": "00000000000000000000000000000000", "topic": "spoofed.topic",
               "type": "kind", "ts": 1.0, "payload": {"k": [1, 2]}, "extra": true}),
    )
    .await;
    let (topic, body) = s.evt().await;
    assert_eq!(topic, "real.topic");
    assert_eq!(body["topic"], "real.topic");
    assert_eq!(body["v"], 1);
    assert_eq!(body["type"], "kind");
    assert_eq!(body["payload"], json!({"k": [1, 2]}));
    assert!(body.get("extra").is_none());
    let id = body["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert_ne!(id, "00000000000000000000000000000000");
    assert!(body["ts"].as_f64().unwrap() >= before - 1.0);
    assert_eq!(
        body.len(),
        6,
        "exactly v,id,topic,type,ts,payload: {body:?}"
    );
}

#[tokio::test]
async fn socket_is_0660_replaces_a_stale_one_refuses_a_live_one_and_is_removed_on_shutdown() {
    let (_d, path) = sock();
    // A socket file left by a dead process.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let b = broker(&path).await;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    match Broker::start(&path, BrokerOptions::default()).await {
        Err(BusError::SocketInUse(p)) => assert_eq!(p, path),
        other => panic!("second broker: {:?}", other.map(|_| ())),
    }
    b.shutdown().await;
    assert!(!path.exists(), "socket removed on shutdown");

    std::fs::write(&path, b"not a socket").unwrap();
    assert!(matches!(
        Broker::start(&path, BrokerOptions::default()).await,
        Err(BusError::NotASocket(_))
    ));
    assert_eq!(std::fs::read(&path).unwrap(), b"not a socket");
}

#[tokio::test]
async fn broker_publishes_its_heartbeat() {
    let (_d, path) = sock();
    let _b = Broker::start(
        &path,
        BrokerOptions {
            heartbeat: Duration::from_millis(50),
            group: None,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut s = Raw::connect(&path).await;
    s.sub("system.*.health").await;
    let (topic, body) = s.evt().await;
    assert_eq!(topic, "system.bus.health");
    assert_eq!(body["type"], "bus.health");
    assert_eq!(body["payload"]["pid"], std::process::id());
    assert!(body["payload"]["uptime_sec"].as_f64().unwrap() >= 0.0);
    assert!(body["payload"]["ts"].as_f64().unwrap() > 1.6e9);
}

/// A subscriber that stops reading loses its oldest messages (counted) while another on
/// the same topic receives every one, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_subscriber_drops_oldest_while_a_fast_one_gets_everything() {
    const N: u64 = 3000;
    let (_d, path) = sock();
    let b = broker(&path).await;
    let mut slow = Raw::connect(&path).await;
    slow.sub("load.>").await;
    let mut fast = Raw::connect(&path).await;
    fast.sub("load.>").await;
    let mut p = Raw::connect(&path).await;
    wait_until("two subscriptions", || b.stats().subscriptions == 2).await;

    let got = Arc::new(AtomicU64::new(0));
    let counter = got.clone();
    let reader = tokio::spawn(async move {
        loop {
            let (_, body) = fast.evt().await;
            let n = body["payload"]["n"].as_u64().unwrap();
            assert_eq!(
                n,
                counter.load(Ordering::SeqCst),
                "fast subscriber out of order"
            );
            counter.fetch_add(1, Ordering::SeqCst);
            if n == N - 1 {
                return;
            }
        }
    });
    let filler = "x".repeat(1000);
    let mut sent = 0;
    while sent < N {
        // Pace by the fast subscriber so only the slow one can overflow.
        let mut buf = Vec::new();
        for _ in 0..100 {
            buf.extend_from_slice(&decnet_bus::frame::encode(&Frame::Pub {
                topic: "load.msg".into(),
                body: crate::support::obj(
                    json!({"type": "t", "payload": {"n": sent, "fill": filler}}),
                ),
            }));
            sent += 1;
        }
        p.w.write_all(&buf).await.unwrap();
        wait_until("fast subscriber caught up", || {
            got.load(Ordering::SeqCst) == sent
        })
        .await;
    }
    tokio::time::timeout(DEADLINE, reader)
        .await
        .unwrap()
        .unwrap();
    let dropped = b.stats().dropped;
    assert!(dropped > 0, "the slow subscriber should have lost messages");

    // Now read the slow one: an increasing run with a gap, ending at the newest message.
    let mut seen = Vec::new();
    loop {
        let (_, body) = slow.evt().await;
        let n = body["payload"]["n"].as_u64().unwrap();
        seen.push(n);
        if n == N - 1 {
            break;
        }
    }
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "order kept");
    assert_eq!(
        seen.len() as u64 + dropped,
        N,
        "every message delivered or counted"
    );
    assert!(seen.len() as u64 >= 1024, "the newest 1024 survive");
}
