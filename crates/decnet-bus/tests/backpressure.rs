//! Bursts through the real socket: backpressure instead of loss for a subscriber that
//! keeps up, bounded memory and bounded stalls for one that does not.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::frame::{encode, Frame};
use decnet_bus::{Broker, BrokerOptions, QUEUE_CAPACITY};
use serde_json::json;
use tokio::io::AsyncWriteExt;

use crate::support::{obj, sock, wait_until, Raw};

const BURST: u64 = 200_000;

async fn broker_waiting(path: &Path, wait: Duration) -> Broker {
    Broker::start(
        path,
        BrokerOptions {
            heartbeat: Duration::from_secs(3600),
            group: None,
            backpressure_wait: wait,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// Writes `n` PUBs as fast as the socket takes them, 500 frames per write (as
/// pubsub_bench.py does with 100).
async fn burst(p: &mut Raw, n: u64) {
    let mut sent = 0;
    while sent < n {
        let mut buf = Vec::new();
        while sent < n && buf.len() < 64 * 1024 {
            buf.extend_from_slice(&encode(&Frame::Pub {
                topic: "burst.msg".into(),
                body: obj(json!({"type": "t", "payload": {"n": sent, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}})),
            }));
            sent += 1;
        }
        p.w.write_all(&buf).await.unwrap();
    }
}

/// Reads EVTs until message `last` arrives; returns every `n` seen, in arrival order.
async fn read_until(s: &mut Raw, last: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    loop {
        let (_, body) = s.evt().await;
        let n = body["payload"]["n"].as_u64().unwrap();
        seen.push(n);
        if n == last {
            return seen;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_keeps_up_gets_every_message_of_a_200k_burst() {
    let (_d, path) = sock();
    // Generous: the test machine may stall a reader; the policy is what is under test.
    let b = broker_waiting(&path, Duration::from_secs(10)).await;
    let mut s = Raw::connect(&path).await;
    s.sub("burst.>").await;
    let mut p = Raw::connect(&path).await;
    wait_until("subscription", || b.stats().subscriptions == 1).await;
    let reader = tokio::spawn(async move { read_until(&mut s, BURST - 1).await });
    burst(&mut p, BURST).await;
    let seen = reader.await.unwrap();
    assert_eq!(b.stats().dropped, 0, "nothing dropped");
    assert_eq!(seen.len() as u64, BURST, "every message delivered");
    assert!(
        seen.iter().enumerate().all(|(i, &n)| i as u64 == n),
        "in order"
    );
    let s = b.stats();
    assert_eq!((s.published, s.delivered), (BURST, BURST));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_subscriber_stays_bounded_and_does_not_stop_the_others() {
    let (_d, path) = sock();
    // Long enough for the reading subscriber (an unoptimised test build on a busy machine)
    // never to look stalled; the stalled one costs the publisher this once.
    let b = Arc::new(broker_waiting(&path, Duration::from_secs(2)).await);
    // Subscribes, then reads nothing until the burst is over.
    let mut stalled = Raw::connect(&path).await;
    stalled.sub("burst.>").await;
    let mut fast = Raw::connect(&path).await;
    fast.sub("burst.>").await;
    let mut p = Raw::connect(&path).await;
    wait_until("two subscriptions", || b.stats().subscriptions == 2).await;

    let stop = Arc::new(AtomicBool::new(false));
    let max_held = Arc::new(AtomicUsize::new(0));
    let sampler = tokio::spawn({
        let (b, stop, max_held) = (b.clone(), stop.clone(), max_held.clone());
        async move {
            while !stop.load(Ordering::Relaxed) {
                max_held.fetch_max(b.stats().queued, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    });
    let reader = tokio::spawn(async move { read_until(&mut fast, BURST - 1).await });
    burst(&mut p, BURST).await;
    let seen = reader.await.unwrap();
    assert_eq!(
        seen.len() as u64,
        BURST,
        "the reading subscriber lost nothing"
    );
    assert!(
        seen.iter().enumerate().all(|(i, &n)| i as u64 == n),
        "in order"
    );
    stop.store(true, Ordering::Relaxed);
    sampler.await.unwrap();
    // Per subscriber: its queue, plus the batch its writer holds.
    let bound = 2 * 2 * QUEUE_CAPACITY;
    let held = max_held.load(Ordering::Relaxed);
    assert!(held <= bound, "broker held {held} frames, bound {bound}");
    let dropped = b.stats().dropped;
    assert!(
        dropped > 0,
        "the stalled subscriber must have lost messages"
    );

    // The stalled one, read at last: an increasing run ending at the newest message, and
    // every message either delivered to it or counted as dropped.
    let late = read_until(&mut stalled, BURST - 1).await;
    assert!(late.windows(2).all(|w| w[0] < w[1]), "order kept");
    assert_eq!(late.len() as u64 + dropped, BURST);
    assert!(
        late.len() >= QUEUE_CAPACITY,
        "at least the newest {QUEUE_CAPACITY} survive"
    );
}
