//! `decnet bench bus`: the host's bus broker measured over its real UNIX socket.

use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_bus::{Broker, BrokerOptions, Bus, UnixBus, QUEUE_CAPACITY};

/// `decnet bench bus`: one publisher, then 1 and then 10 subscribers, each run `duration`
/// seconds through an in-process broker on a temporary socket.
pub(super) async fn run(duration: u64) -> anyhow::Result<ExitCode> {
    let dir = super::tempfile_dir()?;
    let path = dir.path().join("bus.sock");
    let broker = Broker::start(
        &path,
        BrokerOptions {
            group: None,
            ..Default::default()
        },
    )
    .await?;
    println!("target:        bus (broker and clients in one process, UNIX socket)");
    println!(
        "payload:       {} bytes of JSON",
        payload().to_string().len()
    );
    for subscribers in [1, 10] {
        run_with(&broker, &path, subscribers, Duration::from_secs(duration)).await?;
    }
    broker.shutdown().await;
    println!(
        "peak RSS:      {} MiB (broker and clients in one process)",
        super::peak_rss_kib() / 1024
    );
    Ok(ExitCode::SUCCESS)
}

/// About 200 bytes, shaped like an `attacker.observed` notification.
fn payload() -> serde_json::Value {
    serde_json::json!({
        "attacker_ip": "203.0.113.77",
        "decky": "bench-decky-01",
        "service": "ssh",
        "event_type": "login_attempt",
        "first_seen": "2026-01-01T00:00:00.000000+00:00",
        "principal": "root",
        "note": "padding-to-reach-two-hundred-bytes-xxxxxxxx",
    })
}

async fn wait(what: &str, mut cond: impl FnMut() -> bool) -> anyhow::Result<()> {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        anyhow::ensure!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

async fn run_with(
    broker: &Broker,
    path: &Path,
    n: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let base = broker.stats();
    let delivered = Arc::new(AtomicU64::new(0));
    let mut clients = Vec::new();
    let mut readers = Vec::new();
    for i in 0..n {
        let c = UnixBus::connect(path, &format!("bench-sub-{i}"));
        let mut sub = c.subscribe("bench.>")?;
        let delivered = delivered.clone();
        readers.push(tokio::spawn(async move {
            let mut dropped = 0;
            while sub.recv().await.is_some() {
                delivered.fetch_add(1, Ordering::Relaxed);
                dropped = sub.dropped();
            }
            dropped.max(sub.dropped())
        }));
        clients.push(c);
    }
    let publisher = UnixBus::connect(path, "bench-pub");
    wait("subscribers and publisher", || {
        broker.stats().subscriptions - base.subscriptions == n && publisher.is_connected()
    })
    .await?;

    let body = payload();
    let started = Instant::now();
    while started.elapsed() < duration {
        for _ in 0..64 {
            publisher.publish("bench.attacker.observed", "observed", body.clone());
        }
        // One publisher can outrun any socket; pacing on its own queue measures the bus,
        // not how fast drop-oldest can discard.
        while publisher.pending() > QUEUE_CAPACITY / 2 {
            tokio::task::yield_now().await;
        }
        tokio::task::yield_now().await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let published = publisher.published();
    // Let what is in flight land (stop when nothing moved for 100 ms).
    let mut last = u64::MAX;
    while delivered.load(Ordering::Relaxed) != last {
        last = delivered.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let got = delivered.load(Ordering::Relaxed);
    let outbound = publisher.dropped().outbound;
    drop(publisher);
    let mut sub_dropped = 0;
    for c in &clients {
        c.close();
    }
    for r in readers {
        sub_dropped += r.await.unwrap_or(0);
    }
    let s = broker.stats();
    println!("-- 1 publisher, {n} subscriber(s), {elapsed:.2} s");
    println!(
        "published:     {published} ({:.0}/s)",
        published as f64 / elapsed
    );
    println!(
        "delivered:     {got} ({:.0}/s total, {:.0}/s per subscriber; {:.2}% of published x subscribers)",
        got as f64 / elapsed,
        got as f64 / elapsed / n as f64,
        got as f64 * 100.0 / (published.max(1) * n as u64) as f64
    );
    println!(
        "dropped:       publisher queue {outbound}, broker queues {}, subscription queues {sub_dropped}",
        s.dropped - base.dropped
    );
    Ok(())
}
