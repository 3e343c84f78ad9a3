//! `decnet bench bus`: the host's bus broker measured over its real UNIX socket.
//!
//! Two parts. First our own UNIX client in-process (one publisher, then 1 and then 10
//! subscribers). Then the comparison the throughput target is stated in: the raw-socket
//! Python client `pubsub_bench.py` (one publisher process, one subscriber process, a 200 k
//! burst) against our broker and, when `nats-server` is on PATH, against a nats-server
//! started on a free loopback port, interleaved, 3 rounds, medians printed with the ratio.

use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use decnet_bus::{Broker, BrokerOptions, Bus, UnixBus, QUEUE_CAPACITY};
use tokio::io::AsyncReadExt;

/// How long clients get to connect and register their subscriptions with the broker.
const REGISTER_DEADLINE: Duration = Duration::from_secs(30);
/// Longest one pubsub_bench.py run may take (it gives up by itself well before).
const SCRIPT_DEADLINE: Duration = Duration::from_secs(300);
/// Rounds of the interleaved comparison.
const ROUNDS: usize = 3;

/// `decnet bench bus`: the in-process client runs, each `duration` seconds, then the
/// pubsub_bench.py comparison (`script` overrides where the script is looked for).
pub(super) async fn run(duration: u64, script: Option<&Path>) -> anyhow::Result<ExitCode> {
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
    println!(
        "peak RSS:      {} MiB (broker and clients in one process)",
        super::peak_rss_kib() / 1024
    );
    compare(&broker, &path, script).await?;
    broker.shutdown().await;
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

/// Polls `cond` until it holds or `deadline` passes; the error is `what()`, said then.
async fn wait(
    deadline: Duration,
    mut cond: impl FnMut() -> bool,
    what: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    let end = Instant::now() + deadline;
    while !cond() {
        if Instant::now() >= end {
            anyhow::bail!("{}", what());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// Waits until the broker has no client left (the previous run's have said BYE), so the
/// next run's counts start from zero.
async fn wait_idle(broker: &Broker) -> anyhow::Result<()> {
    wait(
        REGISTER_DEADLINE,
        || broker.stats().connections == 0,
        || {
            format!(
                "the broker still has {} client(s) {} s after the benchmark closed them; \
                 is another process connected to {}?",
                broker.stats().connections,
                REGISTER_DEADLINE.as_secs(),
                broker.path().display()
            )
        },
    )
    .await
}

async fn run_with(
    broker: &Broker,
    path: &Path,
    n: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    wait_idle(broker).await?;
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
    // The broker's own count: a subscription exists once the broker has read its SUB.
    wait(
        REGISTER_DEADLINE,
        || broker.stats().subscriptions >= n && publisher.is_connected(),
        || {
            let s = broker.stats();
            format!(
                "{n} bench subscriber(s) did not register with the broker within {} s \
                 (it has {} connection(s), {} subscription(s); publisher connected: {}); \
                 the machine may be overloaded, try again",
                REGISTER_DEADLINE.as_secs(),
                s.connections,
                s.subscriptions,
                publisher.is_connected()
            )
        },
    )
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

/// One pubsub_bench.py result line.
#[derive(Debug, Clone, Copy, serde::Deserialize)]
struct Sample {
    sent: u64,
    lost: i64,
    delivered_per_s: f64,
    pub_rate: f64,
}

/// The comparison against nats-server with the Python client.
async fn compare(broker: &Broker, sock: &Path, script: Option<&Path>) -> anyhow::Result<()> {
    println!("-- pubsub_bench.py: 1 publisher and 1 subscriber process, raw sockets, 200000 messages of ~200 B");
    let Some(python) = find_on_path("python3") else {
        println!("skipped:       python3 is not on PATH");
        return Ok(());
    };
    let script = match script {
        Some(p) if p.is_file() => p.to_owned(),
        Some(p) => {
            println!(
                "skipped:       {} (given by --pubsub-bench) is not a file",
                p.display()
            );
            return Ok(());
        }
        None => match locate_script() {
            Some(p) => p,
            None => {
                println!("skipped:       pubsub_bench.py not found (looked for shared/bench/pubsub_bench.py beside the repository); pass --pubsub-bench PATH");
                return Ok(());
            }
        },
    };
    println!("script:        {}", script.display());
    let mut nats = match find_on_path("nats-server") {
        Some(bin) => match Nats::start(&bin).await {
            Ok(n) => {
                println!("baseline:      {} on {}", bin.display(), n.addr);
                Some(n)
            }
            Err(e) => {
                println!("baseline:      skipped, nats-server did not start: {e:#}");
                None
            }
        },
        None => {
            println!("baseline:      skipped, nats-server is not on PATH");
            None
        }
    };
    let sock = sock.to_string_lossy().into_owned();
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for round in 1..=ROUNDS {
        wait_idle(broker).await?;
        let o = run_script(&python, &script, "decnet", &sock).await?;
        let mut line = format!(
            "round {round}:       ours {:>9.0} msg/s (lost {})",
            o.delivered_per_s, o.lost
        );
        ours.push(o);
        if let Some(n) = &nats {
            let t = run_script(&python, &script, "nats", &n.addr).await?;
            line.push_str(&format!(
                "   nats-server {:>9.0} msg/s (lost {})",
                t.delivered_per_s, t.lost
            ));
            theirs.push(t);
        }
        println!("{line}");
    }
    let rate = |v: &[Sample]| median(v.iter().map(|s| s.delivered_per_s).collect());
    let loss = |v: &[Sample]| {
        median(
            v.iter()
                .map(|s| s.lost as f64 * 100.0 / s.sent.max(1) as f64)
                .collect(),
        )
    };
    let publish = |v: &[Sample]| median(v.iter().map(|s| s.pub_rate).collect());
    println!(
        "ours:          {:.0} msg/s delivered (median of {ROUNDS}), loss {:.2}%, publisher sent {:.0} msg/s",
        rate(&ours),
        loss(&ours),
        publish(&ours)
    );
    if !theirs.is_empty() {
        println!(
            "nats-server:   {:.0} msg/s delivered (median of {ROUNDS}), loss {:.2}%, publisher sent {:.0} msg/s",
            rate(&theirs),
            loss(&theirs),
            publish(&theirs)
        );
        println!(
            "ratio:         {:.2} (ours / nats-server, delivered msg/s)",
            rate(&ours) / rate(&theirs).max(1.0)
        );
    }
    if let Some(n) = nats.as_mut() {
        n.stop().await;
    }
    Ok(())
}

/// Runs pubsub_bench.py once and reads its JSON line.
async fn run_script(
    python: &Path,
    script: &Path,
    proto: &str,
    addr: &str,
) -> anyhow::Result<Sample> {
    let child = tokio::process::Command::new(python)
        .arg(script)
        .args(["--proto", proto, "--addr", addr])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {} {}", python.display(), script.display()))?;
    let out = tokio::time::timeout(SCRIPT_DEADLINE, child.wait_with_output())
        .await
        .with_context(|| {
            format!(
                "{} --proto {proto} did not finish within {} s; it was killed",
                script.display(),
                SCRIPT_DEADLINE.as_secs()
            )
        })??;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'));
    match (out.status.success(), line) {
        (true, Some(line)) => serde_json::from_str(line)
            .with_context(|| format!("unexpected output from {}: {line}", script.display())),
        _ => anyhow::bail!(
            "{} --proto {proto} --addr {addr} failed ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
    }
}

/// A nats-server on a free loopback port, stopped by [`Nats::stop`] or when dropped.
struct Nats {
    child: tokio::process::Child,
    addr: String,
}

impl Nats {
    async fn start(bin: &Path) -> anyhow::Result<Nats> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("no free loopback port")?
            .port();
        let child = tokio::process::Command::new(bin)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot run {}", bin.display()))?;
        let addr = format!("127.0.0.1:{port}");
        let mut nats = Nats { child, addr };
        let end = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut s) = tokio::net::TcpStream::connect(&nats.addr).await {
                let mut info = [0u8; 4];
                if s.read_exact(&mut info).await.is_ok() && &info == b"INFO" {
                    return Ok(nats);
                }
            }
            if let Ok(Some(status)) = nats.child.try_wait() {
                anyhow::bail!("it exited ({status}) before listening on {}", nats.addr);
            }
            if Instant::now() >= end {
                nats.stop().await;
                anyhow::bail!("it did not answer on {} within 10 s", nats.addr);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// The middle value (the mean of the two middle ones for an even count; 0 when empty).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match (v.get(n / 2), n % 2) {
        (Some(m), 1) => *m,
        (Some(m), _) => (m + v.get(n / 2 - 1).copied().unwrap_or(*m)) / 2.0,
        (None, _) => 0.0,
    }
}

/// An executable called `name` in a directory of PATH.
fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// `shared/bench/pubsub_bench.py` beside the repository (`../shared/bench` from its root),
/// looked for above the current directory, the executable and the source tree.
fn locate_script() -> Option<PathBuf> {
    let mut starts = Vec::new();
    if let Ok(d) = std::env::current_dir() {
        starts.push(d);
    }
    if let Ok(exe) = std::env::current_exe() {
        starts.push(exe);
    }
    starts.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    starts.iter().find_map(|start| {
        start
            .ancestors()
            .map(|a| a.join("shared/bench/pubsub_bench.py"))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_even_and_empty() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(Vec::new()), 0.0);
    }
}
