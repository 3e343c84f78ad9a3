//! `decnet bench ssh-auth|http`: run one decky in-process, drive it with many
//! concurrent clients for a fixed time, and report throughput, how much of it
//! reached the journal, and peak memory.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_core::catalog::ServiceCatalog as _;
use decnet_core::config::model::{DeckyConfig, FleetConfig, General, Limits, ServiceConfig};
use decnet_core::paths::DataDir;
use decnet_core::persona::{distro, OsFamily};
use decnet_core::EventType;
use decnet_engine::{Engine, EngineOptions};
use decnet_journal::{JournalOptions, JournalPos, JournalReader, Record};
use decnet_services::Registry;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use super::{peak_rss_kib, tempfile_dir, BenchArgs};

/// A decky service driven by real protocol clients.
#[derive(Debug, Clone, Copy)]
pub(super) enum Driven {
    SshAuth,
    Http,
}

/// Runs one decky in-process and drives it with `a.connections` clients.
pub(super) async fn run(driven: Driven, a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let data = tempfile_dir()?;
    let (service, persona, event_type, unit): (&str, Vec<(&str, &str)>, EventType, &str) =
        match driven {
            Driven::SshAuth => (
                "ssh",
                vec![("users", "root:correct-horse"), ("auth_delay_ms", "0")],
                EventType::LoginAttempt,
                "attempts",
            ),
            Driven::Http => ("http", vec![], EventType::HttpRequest, "requests"),
        };
    let fleet = FleetConfig {
        general: General {
            limits: Limits {
                max_connections_per_source: (a.connections as u32).max(64) * 2,
                max_connections_per_decky: (a.connections as u32).max(64) * 2,
                // One load generator is one source on one service: its shares are the decky's.
                max_connections_per_service: (a.connections as u32).max(64) * 2,
                max_decky_connections_per_source: (a.connections as u32).max(64) * 2,
                ..Limits::DEFAULT
            },
            ..Default::default()
        },
        deckies: vec![DeckyConfig {
            name: "bench".into(),
            ip: a.ip,
            hostname: "bench-host".into(),
            os_family: OsFamily::Linux,
            distro: distro("debian").ok_or_else(|| anyhow::anyhow!("debian persona missing"))?,
            windows: None,
            archetype: None,
            services: vec![bench_service(service, persona)?],
        }],
        origins: Default::default(),
    };
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
    let addr = engine
        .addr_of("bench", service)
        .ok_or_else(|| anyhow::anyhow!("benchmark listener did not start"))?;

    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(a.duration);
    let started = Instant::now();
    let mut workers = Vec::new();
    for w in 0..a.connections {
        let done = done.clone();
        let errors = errors.clone();
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = match driven {
                    Driven::SshAuth => ssh_worker(addr, w, deadline, &done).await,
                    Driven::Http => http_worker(addr, deadline, &done).await,
                };
                if r.is_err() {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = engine.shutdown().await?;
    let attempts = done.load(Ordering::Relaxed);

    let mut reader = JournalReader::open(&DataDir::new(data.path()).journal(), JournalPos::START);
    let mut found = 0u64;
    loop {
        let batch = reader.read_batch(10_000)?;
        if batch.is_empty() {
            break;
        }
        for (rec, _) in batch {
            if let Record::Event(e) = rec {
                if e.event_type == event_type {
                    found += 1;
                }
            }
        }
    }
    println!("target:        {:?} on {addr}", a.target);
    println!("connections:   {}", a.connections);
    println!("duration:      {elapsed:.2} s");
    println!(
        "{unit}:      {attempts} ({:.0}/s)",
        attempts as f64 / elapsed
    );
    println!(
        "in journal:    {found} {} events ({:.2}% of {unit} completed by clients)",
        event_type,
        if attempts == 0 {
            0.0
        } else {
            found as f64 * 100.0 / attempts as f64
        }
    );
    println!("events total:  {}", stats.written);
    println!("client errors: {}", errors.load(Ordering::Relaxed));
    println!(
        "peak RSS:      {} MiB (server and load generator in one process)",
        peak_rss_kib() / 1024
    );
    Ok(ExitCode::SUCCESS)
}
struct AcceptAny;

impl russh::client::Handler for AcceptAny {
    type Error = russh::Error;
    async fn check_server_key(
        &mut self,
        _key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(true)
    }
}

/// One connection's worth of wrong passwords; returns when the server hangs up or time is up.
pub(super) async fn ssh_worker(
    addr: SocketAddr,
    worker: usize,
    deadline: Instant,
    done: &AtomicU64,
) -> anyhow::Result<()> {
    let config = Arc::new(russh::client::Config::default());
    let mut session = russh::client::connect(config, addr, AcceptAny).await?;
    let mut i = 0u64;
    while Instant::now() < deadline {
        let pw = format!("bench-{worker}-{i}");
        i += 1;
        match session.authenticate_password("root", pw).await {
            // russh reports a closed connection as a failure offering no methods;
            // only a refusal that re-offers methods is an answer from the server.
            Ok(russh::client::AuthResult::Failure {
                remaining_methods, ..
            }) if remaining_methods.is_empty() => return Ok(()),
            Ok(_) => {
                done.fetch_add(1, Ordering::Relaxed);
            }
            // The server closes after its attempt limit, like OpenSSH's MaxAuthTries.
            Err(_) => return Ok(()),
        }
    }
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(())
}

/// Keep-alive GETs on one connection until time is up.
#[allow(
    clippy::disallowed_methods,
    reason = "reads the response headers of the decky this benchmark started, not attacker input"
)]
async fn http_worker(addr: SocketAddr, deadline: Instant, done: &AtomicU64) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let mut s = BufReader::new(stream);
    let mut line = String::new();
    while Instant::now() < deadline {
        s.get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: decnet-bench\r\n\r\n")
            .await?;
        let mut len = 0usize;
        loop {
            line.clear();
            if s.read_line(&mut line).await? == 0 {
                anyhow::bail!("server closed the connection");
            }
            if line == "\r\n" {
                break;
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse()?;
            }
        }
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await?;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// The benchmarked service on any free port: the slug's listener alone (`https`), or the
/// service's default listeners.
pub(super) fn bench_service(
    slug: &str,
    persona: Vec<(&str, &str)>,
) -> anyhow::Result<ServiceConfig> {
    let registry = Registry::builtin();
    let found = registry
        .slug(slug)
        .ok_or_else(|| anyhow::anyhow!("no service {slug} in this build"))?;
    let mut cfg = ServiceConfig::for_slug(found, 0);
    cfg.persona = persona
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    Ok(cfg)
}
