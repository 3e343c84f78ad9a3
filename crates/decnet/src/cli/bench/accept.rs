//! `decnet bench accept`: a connect/close flood against one decky's HTTP listener
//! next to a minimal accept loop (`std::net::TcpListener` in a thread, accept and
//! drop) on another loopback address, interleaved, three rounds, medians and
//! their ratio.
//!
//! Each of `--connections` client threads connects, closes its sending side and
//! waits for the server's close before connecting again, so the figure is the
//! server's rate, not the kernel's accept queue. The decky runs with the default
//! limits; afterwards the journal must hold a `connect` and a `disconnect` for
//! every connection, no `limit_exceeded`, and the decky must serve as many
//! parallel connections from the one source as its limits allow (slots that
//! closed connections left behind would be refused).

use std::io::Read as _;
use std::net::{IpAddr, Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_core::config::model::{FleetConfig, General, Limits};
use decnet_core::paths::DataDir;
use decnet_core::EventType;
use decnet_engine::{Engine, EngineOptions};
use decnet_journal::{JournalOptions, JournalPos, JournalReader, Record};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::service::bench_service;
use super::{tempfile_dir, BenchArgs};

/// Rounds of (ours, baseline).
const ROUNDS: usize = 3;

/// What one flood achieved.
#[derive(Debug, Clone, Copy)]
struct Flood {
    /// Connections that completed (connect, close, the server's close seen).
    done: u64,
    /// Connections that failed (refused, reset before the close, …).
    errors: u64,
    /// Wall time of the flood.
    secs: f64,
}

impl Flood {
    fn rate(&self) -> f64 {
        if self.secs > 0.0 {
            self.done as f64 / self.secs
        } else {
            0.0
        }
    }
}

/// Runs the flood against the decky and the std loop, interleaved.
pub(super) async fn run(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let data = tempfile_dir()?;
    let limits = Limits::DEFAULT;
    let fleet = FleetConfig {
        general: General {
            limits,
            ..Default::default()
        },
        deckies: vec![super::service::bench_decky(
            "bench",
            a.ip,
            "bench-host",
            vec![bench_service("http", vec![])?],
        )?],
        origins: Default::default(),
        bait_files: Default::default(),
    };
    let engine = Engine::start(
        &fleet,
        &decnet_services::Registry::builtin(),
        EngineOptions {
            data_dir: data.path().to_path_buf(),
            journal: JournalOptions::default(),
            max_open_connections: None,
        },
    )
    .await?;
    let ours = engine
        .addr_of("bench", "http")
        .ok_or_else(|| anyhow::anyhow!("benchmark listener did not start"))?;
    let baseline = StdLoop::start(neighbour(a.ip))?;
    let baseline_addr = baseline.addr;
    let clients = a.connections.max(1);
    let per_round = Duration::from_secs(a.duration.max(1));

    let mut ours_runs = Vec::new();
    let mut base_runs = Vec::new();
    for round in 1..=ROUNDS {
        let o = flood(ours, clients, per_round).await?;
        let b = flood(baseline.addr, clients, per_round).await?;
        println!(
            "round {round}:       decky {:>8.0} conn/s ({} errors)   std loop {:>8.0} conn/s ({} errors)",
            o.rate(),
            o.errors,
            b.rate(),
            b.errors
        );
        ours_runs.push(o);
        base_runs.push(b);
    }
    // Slots that closed connections kept would refuse some of these.
    let parallel = limits
        .max_decky_connections_per_source
        .min(limits.max_connections_per_service)
        .min(limits.max_connections_per_decky)
        .min(limits.max_connections_per_source) as usize;
    let served = hold_parallel(ours, parallel).await;
    let baseline_accepted = baseline.stop();
    engine.shutdown().await?;

    let (connects, disconnects, refusals) = count_events(data.path())?;
    let made: u64 = ours_runs.iter().map(|f| f.done + f.errors).sum::<u64>() + parallel as u64;
    let ours_med = median(ours_runs.iter().map(Flood::rate).collect());
    let base_med = median(base_runs.iter().map(Flood::rate).collect());
    println!("target:        accept (connect/close flood, {clients} client threads, {ROUNDS} rounds of {} s each)", per_round.as_secs());
    println!("decky:         {ours} (http, default limits)");
    println!("baseline:      {baseline_addr} (std::net::TcpListener accept+drop in one thread; {baseline_accepted} accepted)");
    println!("ours median:   {ours_med:.0} conn/s");
    println!("std median:    {base_med:.0} conn/s");
    println!(
        "ratio:         {:.2}x of the std accept loop",
        if base_med > 0.0 {
            ours_med / base_med
        } else {
            0.0
        }
    );
    println!(
        "journal:       {connects} connect, {disconnects} disconnect, {refusals} limit_exceeded for {made} connections made"
    );
    println!("after flood:   {served}/{parallel} parallel connections from one source served");
    let complete = connects == made && disconnects == made && refusals == 0 && served == parallel;
    if !complete {
        println!("FAILED:        some connections were not logged, refused, or their slots were not released");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// The address after `ip` (another loopback address for the baseline).
fn neighbour(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4).wrapping_add(1))),
        IpAddr::V6(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// `clients` threads connecting and closing against `addr` for `length`.
async fn flood(addr: SocketAddr, clients: usize, length: Duration) -> anyhow::Result<Flood> {
    tokio::task::spawn_blocking(move || {
        let done = AtomicU64::new(0);
        let errors = AtomicU64::new(0);
        let started = Instant::now();
        let deadline = started + length;
        std::thread::scope(|s| {
            for _ in 0..clients {
                s.spawn(|| {
                    while Instant::now() < deadline {
                        if one_connection(addr).is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        Flood {
            done: done.into_inner(),
            errors: errors.into_inner(),
            secs: started.elapsed().as_secs_f64(),
        }
    })
    .await
    .map_err(|e| anyhow::anyhow!("flood threads: {e}"))
}

/// Connect, close the sending side, wait for the server's close.
fn one_connection(addr: SocketAddr) -> std::io::Result<()> {
    let mut s = TcpStream::connect(addr)?;
    s.shutdown(Shutdown::Write)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf)? {
            0 => return Ok(()),
            _ => continue,
        }
    }
}

/// Opens `n` connections at once, each sending a request, and counts those answered.
async fn hold_parallel(addr: SocketAddr, n: usize) -> usize {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
            held.push(s);
        }
    }
    let mut answered = 0;
    for s in &mut held {
        if s.write_all(b"GET / HTTP/1.1\r\nHost: bench\r\n\r\n")
            .await
            .is_err()
        {
            continue;
        }
        let mut head = [0u8; 9];
        let got = tokio::time::timeout(Duration::from_secs(10), s.read_exact(&mut head)).await;
        if matches!(got, Ok(Ok(_))) && head.starts_with(b"HTTP/1.") {
            answered += 1;
        }
    }
    answered
}

/// (connect, disconnect, limit_exceeded) events in the journal.
fn count_events(data: &std::path::Path) -> anyhow::Result<(u64, u64, u64)> {
    let mut reader = JournalReader::open(&DataDir::new(data).journal(), JournalPos::START);
    let (mut c, mut d, mut l) = (0, 0, 0);
    loop {
        let batch = reader.read_batch(10_000)?;
        if batch.is_empty() {
            return Ok((c, d, l));
        }
        for (rec, _) in batch {
            if let Record::Event(e) = rec {
                match e.event_type {
                    EventType::Connect => c += 1,
                    EventType::Disconnect => d += 1,
                    EventType::LimitExceeded => l += 1,
                    _ => {}
                }
            }
        }
    }
}

/// The baseline: accept and drop, nothing else, in one thread.
struct StdLoop {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<u64>,
}

impl StdLoop {
    fn start(ip: IpAddr) -> anyhow::Result<StdLoop> {
        let listener = TcpListener::bind((ip, 0))
            .map_err(|e| anyhow::anyhow!("bind the baseline accept loop on {ip}: {e}"))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("bench-std-accept".into())
            .spawn(move || {
                let mut n = 0u64;
                while !flag.load(Ordering::Relaxed) {
                    if let Ok((s, _)) = listener.accept() {
                        drop(s);
                        n += 1;
                    }
                }
                n
            })?;
        Ok(StdLoop { addr, stop, thread })
    }

    /// Stops the loop; returns how many connections it accepted.
    fn stop(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the blocked accept so it sees the flag.
        let _ = TcpStream::connect(self.addr);
        self.thread.join().unwrap_or(0).saturating_sub(1)
    }
}
