//! `decnet bench`: every benchmark, one file each, behind one dispatch.
//!
//! - `service`: one decky in-process driven by real SSH or HTTP clients (`ssh-auth`, `http`)
//! - `ingest`: journal to database, SQLite and PostgreSQL
//! - `bus`: messages through the UNIX broker
//! - `api`: the REST API's read routes over a stored fleet's worth of events

mod api;
mod bus;
mod ingest;
mod service;

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
    /// Events stored before measuring (`api`; one attacker per 10 events).
    #[arg(long, default_value_t = api::DEFAULT_EVENTS)]
    pub events: usize,
}

/// Benchmarks.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Target {
    /// SSH password attempts per second (each refused, each an event).
    SshAuth,
    /// HTTP requests per second over keep-alive connections.
    Http,
    /// Events per second from journal to database (SQLite; PostgreSQL too when DECNET_DATABASE_URL is set).
    Ingest,
    /// Bus messages per second through the UNIX broker, to 1 and to 10 subscribers.
    Bus,
    /// REST API over 1,000,000 stored events (--events): /logs at 64 and 256 connections against plain hyper, and every route's p99.
    Api,
}

/// Runs the chosen benchmark.
pub async fn bench(a: BenchArgs) -> anyhow::Result<ExitCode> {
    match a.target {
        Target::SshAuth => service::run(service::Driven::SshAuth, &a).await,
        Target::Http => service::run(service::Driven::Http, &a).await,
        Target::Ingest => ingest::run().await,
        Target::Bus => bus::run(a.duration).await,
        Target::Api => api::run(a.duration, a.events).await,
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
