//! `decnet bench`: every benchmark, one file each, behind one dispatch.
//!
//! - `service`: one decky in-process driven by real SSH or HTTP clients (`ssh-auth`, `http`)
//! - `ingest`: journal to database, SQLite and PostgreSQL
//! - `bus`: messages through the UNIX broker
//! - `accept`: connect/close flood on one decky against a std accept loop
//! - `api`: the REST API's read routes over a stored fleet's worth of events
//! - `lag`: how far the database trails the journal under an SSH+HTTP flood
//! - `shutdown`: SIGTERM to exit of a 1,000-decky `decnet up` with an ingest backlog

mod accept;
mod api;
mod bus;
mod ingest;
mod lag;
mod service;
mod shutdown;

use std::process::ExitCode;

/// `decnet bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    pub target: Target,
    /// Concurrent client connections.
    #[arg(long, short = 'c', default_value_t = 32)]
    pub connections: usize,
    /// How long to drive load, in seconds.
    #[arg(long, short = 'd', default_value_t = 10)]
    pub duration: u64,
    /// Loopback address of the benchmark decky.
    #[arg(long, default_value = "127.42.250.1")]
    pub ip: std::net::IpAddr,
    /// Fleet size for `lag` (default 4) and `shutdown` (default 1000).
    #[arg(long)]
    pub deckies: Option<usize>,
    /// For `lag`: run the ingester as a `decnet worker ingester` process instead of in-process.
    #[arg(long)]
    pub ingest_worker: bool,
    /// `ingest`: events in the generated journal; `api`: events stored before measuring (one attacker per 10 events).
    #[arg(long, default_value_t = 1_000_000)]
    pub events: usize,
    /// `ingest`: also time a raw batched insert of the same rows, three rounds, and print the ratio.
    #[arg(long)]
    pub baseline: bool,
    /// `bus`: the raw-socket Python client to compare with nats-server [default: shared/bench/pubsub_bench.py beside the repository].
    #[arg(long, value_name = "PATH")]
    pub pubsub_bench: Option<std::path::PathBuf>,
}

/// Benchmarks.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Target {
    /// SSH password attempts per second (each refused, each an event).
    SshAuth,
    /// HTTP requests per second over keep-alive connections.
    Http,
    /// Events per second from journal to database over an attack-shaped mix (SQLite; PostgreSQL too when DECNET_DATABASE_URL is set).
    Ingest,
    /// Bus messages per second through the UNIX broker, to 1 and to 10 subscribers, then pubsub_bench.py against ours and nats-server.
    Bus,
    /// Connect/close flood on one decky against a minimal std accept loop, every connection logged.
    Accept,
    /// REST API over 1,000,000 stored events (--events): /logs at 64 and 256 connections against plain hyper, and every route's p99.
    Api,
    /// Database lag behind the journal under an SSH+HTTP login flood (p50/p90/p99/max), and the
    /// attack rate with ingest on against ingest off.
    Lag,
    /// Stop time (SIGTERM to exit) of a 1,000-decky fleet with an ingest backlog, against none.
    Shutdown,
}

/// Runs the chosen benchmark.
pub async fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    match a.target {
        Target::SshAuth => service::run(service::Driven::SshAuth, &a).await,
        Target::Http => service::run(service::Driven::Http, &a).await,
        Target::Ingest => ingest::run(a.events, a.baseline).await,
        Target::Bus => bus::run(a.duration, a.pubsub_bench.as_deref()).await,
        Target::Api => api::run(a.duration, a.events).await,
        Target::Lag => lag::run(&a).await,
        Target::Shutdown => shutdown::run(&a).await,
        Target::Accept => accept::run(&a).await,
    }
}

/// A fresh temporary directory, removed when the returned guard drops.
pub(crate) fn tempfile_dir() -> anyhow::Result<TempDir> {
    let path = std::env::temp_dir().join(format!("decnet-bench-{}", uuid_like()));
    std::fs::create_dir_all(&path)?;
    Ok(TempDir(path))
}

fn uuid_like() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    )
}

/// A directory removed on drop.
pub(crate) struct TempDir(std::path::PathBuf);
impl TempDir {
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.0
    }
}
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Peak resident set size of this process, from /proc (0 where unavailable).
pub(crate) fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
