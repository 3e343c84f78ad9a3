//! `decnet bench shutdown`: how long a real `decnet up` of a large fleet
//! takes from SIGTERM to exit, with an ingest backlog (the ingester far behind
//! the journal) and open attacker connections, against the same fleet stopped
//! with nothing to ingest, in the same run. Afterwards the database must hold
//! a prefix of the journal that ends exactly at the stored offset, so the next
//! start resumes there.

use std::path::Path;
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use decnet_core::paths::DataDir;
use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_journal::{JournalOptions, JournalPos, JournalReader, JournalWriter, Record};
use decnet_store::Store;
use tokio::io::{AsyncBufReadExt, BufReader};

use super::{tempfile_dir, BenchArgs};

/// Events waiting in the journal before the fleet starts, in the backlog rounds.
const BACKLOG: usize = 200_000;
/// Fleet size when `--deckies` is not given.
pub(super) const DEFAULT_DECKIES: usize = 1_000;
/// Services every decky runs.
const SERVICES: &str = "ssh,http,https";
/// First decky address (out of the way of the other benchmarks' 127.42.x.x).
const IP_START: &str = "127.43.0.1";
/// Added to every port, so the fleet needs no privileges and misses real daemons.
const PORT_OFFSET: u16 = 30_000;
/// Longest a fleet of this size may take to come up.
const UP_DEADLINE: Duration = Duration::from_secs(120);
/// Longest this benchmark waits for a stop before it kills the fleet and says so.
const STOP_DEADLINE: Duration = Duration::from_secs(60);
/// Time the ingester works on the backlog before the stop, so a batch is in flight.
const BEFORE_STOP: Duration = Duration::from_secs(2);
/// The target.
const TARGET: Duration = Duration::from_secs(5);
/// The `decnet` binary that runs the fleet, when not this one (to compare two builds).
const FLEET_BIN_ENV: &str = "DECNET_BENCH_FLEET_BIN";
/// Rounds of each variant, interleaved.
const ROUNDS: usize = 3;

/// One measured stop.
struct Stopped {
    secs: f64,
    journal_events: u64,
    stored_events: u64,
}

/// Runs the benchmark.
pub(super) async fn run(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let deckies = a.deckies.unwrap_or(DEFAULT_DECKIES);
    if let Some(bin) = std::env::var_os(FLEET_BIN_ENV) {
        println!(
            "fleet binary: {} ({FLEET_BIN_ENV})",
            Path::new(&bin).display()
        );
    }
    println!(
        "fleet: {deckies} deckies x {SERVICES} from {IP_START} (+{PORT_OFFSET}), {} open attacker connections, one API request half sent; backlog {BACKLOG} events",
        a.connections
    );
    let mut with = Vec::new();
    let mut without = Vec::new();
    for round in 1..=ROUNDS {
        for backlog in [true, false] {
            let s = one(deckies, a.connections, backlog).await?;
            println!(
                "round {round} {:<11} stop {:>6.2} s; database holds {} of {} journal events{}",
                if backlog { "backlog" } else { "no backlog" },
                s.secs,
                s.stored_events,
                s.journal_events,
                if s.stored_events < s.journal_events {
                    " (the rest is ingested from the stored offset at the next start)"
                } else {
                    ""
                }
            );
            if backlog { &mut with } else { &mut without }.push(s.secs);
        }
    }
    let (w, wo) = (median(&mut with), median(&mut without));
    println!(
        "median stop: with backlog {w:.2} s, without {wo:.2} s (ratio {:.2}); target < {} s: {}",
        w / wo.max(1e-3),
        TARGET.as_secs(),
        if w < TARGET.as_secs_f64() {
            "met"
        } else {
            "missed"
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// Median of a non-empty list (0 when empty).
pub(super) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Starts the fleet on a fresh data dir (with a backlog or not), opens
/// `connections` idle attacker connections, stops it with SIGTERM and checks
/// what the database kept.
#[allow(
    clippy::disallowed_methods,
    reason = "reads the stdout of the decnet child this benchmark started, not attacker input"
)]
async fn one(deckies: usize, connections: usize, backlog: bool) -> anyhow::Result<Stopped> {
    let data = tempfile_dir()?;
    if backlog {
        write_backlog(&DataDir::new(data.path()).journal(), BACKLOG)?;
    }
    let exe = match std::env::var_os(FLEET_BIN_ENV) {
        Some(bin) => std::path::PathBuf::from(bin),
        None => std::env::current_exe().context("locating the decnet binary")?,
    };
    let mut child = tokio::process::Command::new(exe)
        .args(["up", "--port-offset", &PORT_OFFSET.to_string(), "--config"])
        .arg(fleet_ini(data.path(), deckies)?)
        .arg("--data-dir")
        .arg(data.path())
        .env("DECNET_API_LISTEN", "127.0.0.1:0")
        .env("DECNET_LOG", "warn")
        // A throwaway data dir under /tmp: no privilege drop to manage.
        .env("DECNET_USER", "root")
        .env_remove("DECNET_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .context("starting decnet up")?;
    let stdout = child.stdout.take().context("up's stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let api = tokio::time::timeout(UP_DEADLINE, async {
        let mut api = None;
        while let Some(l) = lines.next_line().await? {
            if let Some(rest) = l.strip_prefix("API listening on http://") {
                api = rest
                    .split('/')
                    .next()
                    .and_then(|a| a.parse::<std::net::SocketAddr>().ok());
            }
            if l.contains("Ctrl-C stops") {
                return api.context("up printed no API address");
            }
        }
        anyhow::bail!("decnet up exited before the fleet was up")
    })
    .await
    .context("the fleet did not come up in time")??;
    // Keep reading so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let mut open = Vec::with_capacity(connections);
    for i in 0..connections {
        let ip: std::net::Ipv4Addr = IP_START.parse()?;
        let ip = u32::from(ip) + (i % deckies) as u32;
        let port = if i % 2 == 0 { 22 } else { 80 } + PORT_OFFSET;
        let addr = std::net::SocketAddr::from((std::net::Ipv4Addr::from(ip), port));
        if let Ok(s) = tokio::net::TcpStream::connect(addr).await {
            open.push(s);
        }
    }
    // An API client stalled mid-request: a graceful HTTP shutdown waits on it.
    let mut stalled = tokio::net::TcpStream::connect(api).await?;
    tokio::io::AsyncWriteExt::write_all(
        &mut stalled,
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n",
    )
    .await?;
    tokio::time::sleep(BEFORE_STOP).await;

    let pid = child.id().context("up's pid")?;
    let started = Instant::now();
    let killed = tokio::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .context("sending SIGTERM")?;
    anyhow::ensure!(killed.success(), "kill -TERM {pid} failed");
    let status = match tokio::time::timeout(STOP_DEADLINE, child.wait()).await {
        Ok(s) => s?,
        Err(_) => {
            child.kill().await?;
            anyhow::bail!("the fleet did not stop within {STOP_DEADLINE:?}; killed it");
        }
    };
    let secs = started.elapsed().as_secs_f64();
    anyhow::ensure!(status.success(), "decnet up exited with {status}");
    drop(open);
    drop(stalled);

    let journal = DataDir::new(data.path()).journal();
    let store = Store::open_data_dir(data.path()).await?;
    let offset = store.ingest_offset(decnet_intel::CONSUMER).await?;
    let stored_events = store.stats(1).await?.events;
    store.close().await;
    let (journal_events, upto_offset) = count_events(&journal, offset)?;
    anyhow::ensure!(
        stored_events == upto_offset,
        "the database holds {stored_events} events but the journal has {upto_offset} before the stored offset: exactly-once broken"
    );
    Ok(Stopped {
        secs,
        journal_events,
        stored_events,
    })
}

/// Most deckies one INI group may expand to.
const GROUP_MAX: usize = 100;

/// A fleet config of `n` deckies in groups of at most [`GROUP_MAX`].
fn fleet_ini(dir: &Path, n: usize) -> anyhow::Result<std::path::PathBuf> {
    let mut ini = format!("[general]\ndriver = loopback\nip_start = {IP_START}\n");
    let mut left = n;
    let mut g = 0;
    while left > 0 {
        let amount = left.min(GROUP_MAX);
        g += 1;
        ini.push_str(&format!(
            "\n[g{g}]\namount = {amount}\nservices = {SERVICES}\n"
        ));
        left -= amount;
    }
    let path = dir.join("fleet.ini");
    std::fs::write(&path, ini).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// Every event in the journal, and how many lie before `offset`.
fn count_events(dir: &Path, offset: Option<JournalPos>) -> anyhow::Result<(u64, u64)> {
    let mut r = JournalReader::open(dir, JournalPos::START);
    let (mut all, mut before) = (0u64, 0u64);
    let upto = offset.unwrap_or(JournalPos::START);
    loop {
        let batch = r.read_batch(10_000)?;
        if batch.is_empty() {
            return Ok((all, before));
        }
        for (rec, end) in batch {
            if matches!(rec, Record::Event(_)) {
                all += 1;
                if end <= upto {
                    before += 1;
                }
            }
        }
    }
}

/// A brute force against one username with distinct passwords from many
/// sources: what an attacked fleet leaves for the ingester.
pub(super) fn write_backlog(dir: &Path, n: usize) -> anyhow::Result<()> {
    let mut w = JournalWriter::open(dir, JournalOptions::default())?;
    let dst = "127.43.0.1:80".parse().context("decky address")?;
    for i in 0..n {
        let src = format!("198.18.{}.{}:40000", (i / 250) % 250, i % 250 + 1)
            .parse()
            .context("source address")?;
        let mut e = Event::now("bench-backlog", "http", EventType::LoginAttempt, src, dst);
        e.credential = Some(Credential::new(
            "admin",
            format!("pw-{i}").as_bytes(),
            SecretKind::Password,
        ));
        w.append(&e)?;
    }
    w.sync()?;
    Ok(())
}
