//! `decnet bench lag`: how far the database trails the journal while deckies
//! are flooded at their maximum rate. A small fleet (SSH and HTTP on every
//! decky) runs in-process with the ingester beside it as `decnet up` runs it
//! (or, with `--ingest-worker`, in its own `decnet worker ingester` process);
//! SSH clients brute-force `root` and HTTP clients post `admin` logins, every
//! password distinct. Every 100 ms the lag is sampled: the age of the oldest
//! journal event not yet committed to the database (0 when caught up). The
//! baseline is the same flood with no ingester at all (journal only), run
//! interleaved with the ingest runs; the ratio of the two attack rates is what
//! ingest costs the deckies.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use decnet_bus::InProcessBus;
use decnet_core::config::model::{FleetConfig, General, Limits};
use decnet_core::paths::DataDir;
use decnet_engine::{Engine, EngineOptions};
use decnet_intel::{BusNotifier, Ingester, CONSUMER};
use decnet_journal::{JournalOptions, JournalPos, JournalReader, Record};
use decnet_services::Registry;
use decnet_store::Store;
use tokio::io::{AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

use super::service::{bench_service, ssh_worker};
use super::shutdown::median;
use super::{tempfile_dir, BenchArgs};

/// Fleet size when `--deckies` is not given.
pub(super) const DEFAULT_DECKIES: usize = 4;
/// How often the lag is sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// Longest the ingester gets to catch up once the flood stops.
const CATCH_UP: Duration = Duration::from_secs(60);
/// Rounds of each variant, interleaved.
const ROUNDS: usize = 3;
/// The target: the database within this of the journal.
const TARGET_LAG: Duration = Duration::from_secs(2);

/// Where the ingester runs during a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ingest {
    /// None: the journal-only baseline.
    Off,
    /// A task of this process, as `decnet up` runs it.
    InProcess,
    /// A `decnet worker ingester` child process.
    Worker,
}

impl Ingest {
    fn label(self) -> &'static str {
        match self {
            Ingest::Off => "ingest off",
            Ingest::InProcess => "in-process",
            Ingest::Worker => "worker",
        }
    }
}

/// What one round measured.
struct Round {
    /// Attempts and requests the clients completed per second.
    attack_rate: f64,
    /// Events appended to the journal per second.
    events_in: f64,
    /// Events committed to the database per second, during the flood.
    events_out: f64,
    /// Lag samples during the flood, in seconds.
    lag: Vec<f64>,
    /// Time from the end of the flood until the database held every event (None: not within CATCH_UP).
    catch_up: Option<f64>,
}

/// Runs the benchmark.
pub(super) async fn run(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let deckies = a.deckies.unwrap_or(DEFAULT_DECKIES);
    let on = if a.ingest_worker {
        Ingest::Worker
    } else {
        Ingest::InProcess
    };
    println!(
        "fleet: {deckies} deckies x ssh,http on {}+; {} clients (half SSH brute force on root, half HTTP admin logins); {} s per round; ingest off and {} interleaved, {ROUNDS} rounds",
        a.ip,
        a.connections,
        a.duration,
        on.label()
    );
    let mut off_rates = Vec::new();
    let mut on_rates = Vec::new();
    let mut lags = Vec::new();
    let mut p99s = Vec::new();
    let mut ins = Vec::new();
    let mut outs = Vec::new();
    for round in 1..=ROUNDS {
        for ingest in [Ingest::Off, on] {
            let r = one(a, deckies, ingest).await?;
            let mut lag = r.lag.clone();
            let q = Quantiles::of(&mut lag);
            print!(
                "round {round} {:<10} attack {:>8.0}/s  events in {:>8.0}/s",
                ingest.label(),
                r.attack_rate,
                r.events_in
            );
            if ingest == Ingest::Off {
                println!();
                off_rates.push(r.attack_rate);
                continue;
            }
            println!(
                "  out {:>8.0}/s  lag p50 {:.2} p90 {:.2} p99 {:.2} max {:.2} s  caught up {}",
                r.events_out,
                q.p50,
                q.p90,
                q.p99,
                q.max,
                r.catch_up.map_or_else(
                    || format!("not within {} s", CATCH_UP.as_secs()),
                    |s| format!("{s:.2} s after the flood")
                )
            );
            on_rates.push(r.attack_rate);
            ins.push(r.events_in);
            outs.push(r.events_out);
            p99s.push(q.p99);
            lags.extend(r.lag);
        }
    }
    let q = Quantiles::of(&mut lags);
    let (off, on_rate) = (median(&mut off_rates), median(&mut on_rates));
    println!(
        "lag with ingest {} over all rounds: p50 {:.2} p90 {:.2} p99 {:.2} max {:.2} s ({} samples); median p99 {:.2} s; target p99 < {} s: {}",
        on.label(),
        q.p50,
        q.p90,
        q.p99,
        q.max,
        lags.len(),
        median(&mut p99s),
        TARGET_LAG.as_secs(),
        if q.p99 < TARGET_LAG.as_secs_f64() { "met" } else { "missed" }
    );
    println!(
        "events/s median: in {:.0}, out {:.0}",
        median(&mut ins),
        median(&mut outs)
    );
    println!(
        "attack rate median: ingest off {off:.0}/s, ingest {} {on_rate:.0}/s, ratio {:.2}",
        on.label(),
        on_rate / off.max(1e-9)
    );
    Ok(ExitCode::SUCCESS)
}

/// p50, p90, p99 and max of a sample (zeros when empty).
struct Quantiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Quantiles {
    fn of(v: &mut [f64]) -> Quantiles {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let i = ((v.len() as f64 * q).ceil() as usize).saturating_sub(1);
            v.get(i).copied().unwrap_or(0.0)
        };
        Quantiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: v.last().copied().unwrap_or(0.0),
        }
    }
}

/// The benchmark fleet: `n` deckies from `first`, each with SSH (no tarpit, so
/// the rate is the decky's maximum) and HTTP, with limits that admit every client.
fn fleet(first: IpAddr, n: usize, clients: usize) -> anyhow::Result<FleetConfig> {
    let IpAddr::V4(v4) = first else {
        anyhow::bail!("--ip must be an IPv4 loopback address");
    };
    let cap = (clients as u32).max(64) * 2;
    let mut deckies = Vec::with_capacity(n);
    for i in 0..n {
        let ip = IpAddr::V4((u32::from(v4) + i as u32).into());
        deckies.push(super::service::bench_decky(
            format!("lag-{i}"),
            ip,
            format!("lag-host-{i}"),
            vec![
                bench_service(
                    "ssh",
                    vec![("users", "root:correct-horse"), ("auth_delay_ms", "0")],
                )?,
                bench_service("http", vec![])?,
            ],
        )?);
    }
    Ok(FleetConfig {
        general: General {
            limits: Limits {
                max_connections_per_source: cap,
                max_connections_per_decky: cap,
                max_connections_per_service: cap,
                max_decky_connections_per_source: cap,
                ..Limits::DEFAULT
            },
            ..Default::default()
        },
        deckies,
        origins: Default::default(),
        bait_files: Default::default(),
    })
}

/// One round: start the fleet (and the ingester), flood it, sample the lag, stop.
async fn one(a: &BenchArgs, deckies: usize, ingest: Ingest) -> anyhow::Result<Round> {
    let data = tempfile_dir()?;
    let journal_dir = DataDir::new(data.path()).journal();
    let fleet = fleet(a.ip, deckies, a.connections)?;
    let registry = Registry::builtin();
    let engine = Engine::start(
        &fleet,
        &registry,
        EngineOptions {
            data_dir: data.path().to_path_buf(),
            journal: JournalOptions::default(),
            max_open_connections: None,
        },
    )
    .await?;
    let targets: Vec<(SocketAddr, SocketAddr)> = fleet
        .deckies
        .iter()
        .filter_map(|d| {
            Some((
                engine.addr_of(&d.name, "ssh")?,
                engine.addr_of(&d.name, "http")?,
            ))
        })
        .collect();
    anyhow::ensure!(
        targets.len() == deckies,
        "a benchmark listener did not start"
    );

    // The database exists (migrated) before the ingester or the sampler opens it.
    let store = Store::open_data_dir(data.path()).await?;
    let stop = CancellationToken::new();
    let mut worker = None;
    let mut task = None;
    match ingest {
        Ingest::Off => {}
        Ingest::InProcess => {
            // As `up` wires it: an in-process bus, so notifications are built too.
            let notifier = Arc::new(BusNotifier(Arc::new(InProcessBus::new())));
            task = Some(tokio::spawn(
                Ingester::new(store.clone(), journal_dir.clone(), notifier).run(stop.child_token()),
            ));
        }
        Ingest::Worker => {
            let exe = std::env::current_exe().context("locating the decnet binary")?;
            worker = Some(
                tokio::process::Command::new(exe)
                    .args(["worker", "ingester", "--data-dir"])
                    .arg(data.path())
                    .env("DECNET_LOG", "warn")
                    .env("DECNET_BUS_ENABLED", "false")
                    .env_remove("DECNET_DATABASE_URL")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .kill_on_drop(true)
                    .spawn()
                    .context("starting decnet worker ingester")?,
            );
        }
    }

    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(a.duration);
    let mut clients = Vec::with_capacity(a.connections);
    for w in 0..a.connections {
        let done = done.clone();
        let Some(&(ssh, http)) = targets.get(w % targets.len()) else {
            continue;
        };
        clients.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                // Errors (a refused or closed connection) just mean: connect again.
                let _ = if w % 2 == 0 {
                    ssh_worker(ssh, w, deadline, &done).await
                } else {
                    http_login_worker(http, w, deadline, &done).await
                };
            }
        }));
    }
    let sampling = ingest != Ingest::Off;
    let mut lag = Vec::new();
    while Instant::now() < deadline {
        tokio::time::sleep(SAMPLE_EVERY).await;
        if sampling {
            lag.push(sample(&store, &journal_dir).await?);
        }
    }
    for c in clients {
        let _ = c.await;
    }
    let flood = started.elapsed().as_secs_f64();
    let attacks = done.load(Ordering::Relaxed);
    let stored_at_end = if sampling {
        store.stats(1).await?.events
    } else {
        0
    };

    // The flood is over: how long until the database holds every event?
    let mut catch_up = None;
    if sampling {
        let end = Instant::now();
        while end.elapsed() < CATCH_UP {
            if sample(&store, &journal_dir).await? == 0.0 {
                catch_up = Some(end.elapsed().as_secs_f64());
                break;
            }
            tokio::time::sleep(SAMPLE_EVERY).await;
        }
    }
    stop.cancel();
    if let Some(t) = task {
        let _ = t.await;
    }
    if let Some(mut w) = worker {
        if let Some(pid) = w.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
        let _ = w.wait().await;
    }
    store.close().await;
    let stats = engine.shutdown().await?;
    Ok(Round {
        attack_rate: attacks as f64 / flood,
        events_in: stats.written as f64 / flood,
        events_out: stored_at_end as f64 / flood,
        lag,
        catch_up,
    })
}

/// The age in seconds of the oldest journal event the database does not hold
/// yet (0 when it holds them all).
async fn sample(store: &Store, journal: &Path) -> anyhow::Result<f64> {
    let committed = store.ingest_offset(CONSUMER).await?;
    let dir = journal.to_path_buf();
    let next = tokio::task::spawn_blocking(move || {
        JournalReader::open(&dir, committed.unwrap_or(JournalPos::START)).read_batch(1)
    })
    .await??;
    let now = chrono::Utc::now();
    Ok(match next.first() {
        Some((Record::Event(e), _)) => {
            (now - e.ts).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6
        }
        _ => 0.0,
    })
}

/// Keep-alive form logins as `admin`, each with a new password, until time is up.
async fn http_login_worker(
    addr: SocketAddr,
    worker: usize,
    deadline: Instant,
    done: &AtomicU64,
) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let mut s = BufReader::new(stream);
    let mut line = String::new();
    let mut i = 0u64;
    while Instant::now() < deadline {
        let body = format!("username=admin&password=lag-{worker}-{i}");
        i += 1;
        let req = format!(
            "POST /login HTTP/1.1\r\nHost: bench\r\nUser-Agent: decnet-bench\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.get_mut().write_all(req.as_bytes()).await?;
        super::service::read_response(&mut s, &mut line).await?;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}
