//! `decnet bench ssh-auth|http`: run one decky in-process, drive it with many
//! concurrent clients for a fixed time, and report throughput, how much of it
//! reached the journal, and peak memory.
//!
//! `ssh-auth` measures the engine's CPU per 1,000 refused password attempts at
//! the decky's real 1 s refusal delay. The load comes from child processes (an
//! asyncssh driver, `ssh_driver.py`), so this process's CPU is the engine's
//! alone (journal included, no ingest); the same driver then runs against a
//! baseline measured the same way: Cowrie when it is importable, else a
//! throwaway OpenSSH `sshd`.

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
    let (service, persona, event_type, unit): (&str, Vec<(&str, &str)>, EventType, &str) =
        match driven {
            Driven::SshAuth => return ssh_auth(a).await,
            Driven::Http => ("http", vec![], EventType::HttpRequest, "requests"),
        };
    let data = tempfile_dir()?;
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
        deckies: vec![bench_decky(
            "bench",
            a.ip,
            "bench-host",
            vec![bench_service(service, persona)?],
        )?],
        origins: Default::default(),
        bait_files: Default::default(),
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
    for _ in 0..a.connections {
        let done = done.clone();
        let errors = errors.clone();
        workers.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                if http_worker(addr, deadline, &done).await.is_err() {
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

/// A russh client handler that trusts any host key (the lag benchmark's own decky).
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
async fn http_worker(addr: SocketAddr, deadline: Instant, done: &AtomicU64) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let mut s = BufReader::new(stream);
    let mut line = String::new();
    while Instant::now() < deadline {
        s.get_mut()
            .write_all(b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: decnet-bench\r\n\r\n")
            .await?;
        read_response(&mut s, &mut line).await?;
        done.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Reads one HTTP response (headers, then a `Content-Length` body) of the
/// decky this benchmark started.
#[allow(
    clippy::disallowed_methods,
    reason = "reads the response headers of the decky this benchmark started, not attacker input"
)]
pub(super) async fn read_response(
    s: &mut BufReader<tokio::net::TcpStream>,
    line: &mut String,
) -> anyhow::Result<()> {
    let mut len = 0usize;
    loop {
        line.clear();
        if s.read_line(line).await? == 0 {
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
    Ok(())
}

/// A Debian Linux decky for a benchmark.
pub(super) fn bench_decky(
    name: impl Into<String>,
    ip: std::net::IpAddr,
    hostname: impl Into<String>,
    services: Vec<ServiceConfig>,
) -> anyhow::Result<DeckyConfig> {
    Ok(DeckyConfig {
        name: name.into(),
        ip,
        hostname: hostname.into(),
        os_family: OsFamily::Linux,
        distro: distro("debian").ok_or_else(|| anyhow::anyhow!("debian persona missing"))?,
        windows: None,
        archetype: None,
        services,
    })
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

/// The load generator, written next to the run and started with `python3`.
const SSH_DRIVER: &str = include_str!("ssh_driver.py");
/// Driver processes sharing the connections (one Python process is one core).
const DRIVER_PROCS: usize = 2;
/// The decky's refusal delay in this benchmark, and Cowrie's (Twisted's `passwordDelay`).
const TARPIT_MS: &str = "1000";
/// The one account the decky and the baselines accept; the driver never sends its password.
const BENCH_USER: &str = "root";
const BENCH_PASSWORD: &str = "correct-horse";

/// What one driven run cost and achieved.
#[derive(Debug, Clone, Copy, Default)]
struct SshRun {
    /// Refused attempts the driver saw answered.
    attempts: u64,
    /// Connections the driver made.
    connections: u64,
    /// Connections that failed before the deadline.
    errors: u64,
    /// CPU seconds the server spent (user + system).
    cpu: f64,
}

impl SshRun {
    fn per_1000(&self) -> f64 {
        if self.attempts == 0 {
            f64::NAN
        } else {
            self.cpu * 1000.0 / self.attempts as f64
        }
    }
}

/// `decnet bench ssh-auth`.
async fn ssh_auth(a: &BenchArgs) -> anyhow::Result<ExitCode> {
    let python = which_python()?;
    let data = tempfile_dir()?;
    let driver = data.path().join("ssh_driver.py");
    std::fs::write(&driver, SSH_DRIVER)?;
    let users = format!("{BENCH_USER}:{BENCH_PASSWORD}");
    let room = (a.connections as u32).max(64) * 2;
    let fleet = FleetConfig {
        general: General {
            limits: Limits {
                max_connections_per_source: room.max(Limits::DEFAULT.max_connections_per_source),
                max_connections_per_decky: room.max(Limits::DEFAULT.max_connections_per_decky),
                max_connections_per_service: room.max(Limits::DEFAULT.max_connections_per_service),
                max_decky_connections_per_source: room
                    .max(Limits::DEFAULT.max_decky_connections_per_source),
                ..Limits::DEFAULT
            },
            ..Default::default()
        },
        deckies: vec![bench_decky(
            "bench",
            a.ip,
            "bench-host",
            vec![bench_service(
                "ssh",
                vec![("users", users.as_str()), ("auth_delay_ms", TARPIT_MS)],
            )?],
        )?],
        origins: Default::default(),
        bait_files: Default::default(),
    };
    let engine = Engine::start(
        &fleet,
        &Registry::builtin(),
        EngineOptions {
            data_dir: data.path().to_path_buf(),
            journal: JournalOptions::default(),
            max_open_connections: None,
        },
    )
    .await?;
    let addr = engine
        .addr_of("bench", "ssh")
        .ok_or_else(|| anyhow::anyhow!("benchmark listener did not start"))?;

    warm_up(&python, &driver, addr).await?;
    let rss_before = rss_kib("self");
    let cpu_before = cpu_secs("self", false);
    let (driven, rss_mid) = drive(&python, &driver, addr, a, "ours").await?;
    let ours = SshRun {
        cpu: cpu_secs("self", false) - cpu_before,
        ..driven
    };
    engine.shutdown().await?;
    let journaled = count_type(data.path(), EventType::LoginAttempt)?;
    let by_password = count_matching(data.path(), EventType::LoginAttempt, |e| {
        e.fields
            .get(decnet_core::fields::names::METHOD)
            .and_then(|v| v.as_str())
            == Some("password")
    })?;

    let baseline = Baseline::start(&python, data.path()).await;
    let base = match &baseline {
        Ok(b) => {
            warm_up(&python, &driver, b.addr).await?;
            let before = b.cpu();
            let (driven, _) = drive_as(&python, &driver, b.addr, b.user, a, "base").await?;
            b.settle().await;
            Some(SshRun {
                cpu: b.cpu() - before,
                ..driven
            })
        }
        Err(_) => None,
    };

    println!(
        "target:        ssh-auth on {addr}, {} connections, {} s, refusal delay {TARPIT_MS} ms",
        a.connections, a.duration
    );
    println!(
        "ours:          {} attempts on {} connections ({} errors), {:.2} CPU-s: {:.3} CPU-s per 1,000 attempts",
        ours.attempts, ours.connections, ours.errors, ours.cpu, ours.per_1000()
    );
    println!(
        "               {journaled} login_attempt events in the journal ({by_password} by password, the rest the clients' opening `none`); RSS {} MiB, {:.0} KiB per open connection",
        rss_mid / 1024,
        rss_mid.saturating_sub(rss_before) as f64 / a.connections.max(1) as f64
    );
    match (&baseline, base) {
        (Ok(b), Some(base)) => {
            println!(
                "baseline:      {}: {} attempts on {} connections ({} errors), {:.2} CPU-s: {:.3} CPU-s per 1,000 attempts",
                b.name, base.attempts, base.connections, base.errors, base.cpu, base.per_1000()
            );
            println!(
                "ratio:         ours / {} = {:.3} (target <= 0.2)",
                b.name,
                ours.per_1000() / base.per_1000()
            );
        }
        (Err(e), _) => println!("baseline:      none ran ({e:#}); no ratio"),
        (Ok(_), None) => {}
    }
    if let Ok(b) = baseline {
        b.stop().await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `python3` with asyncssh, or an error saying how to get it.
fn which_python() -> anyhow::Result<String> {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import asyncssh"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        anyhow::bail!(
            "ssh-auth drives the decky with Python's asyncssh: install python3 and asyncssh (`pip install asyncssh` or `apt install python3-asyncssh`)"
        );
    }
    Ok("python3".into())
}

/// Waits for the server's RSA host key (a decky makes it once when it starts),
/// so that its cost is not counted against the attempts.
async fn warm_up(python: &str, driver: &std::path::Path, addr: SocketAddr) -> anyhow::Result<()> {
    let status = tokio::process::Command::new(python)
        .arg(driver)
        .arg("--warm-up")
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string())
        .kill_on_drop(true)
        .status()
        .await
        .map_err(|e| anyhow::anyhow!("start the SSH load driver ({python}): {e}"))?;
    if !status.success() {
        anyhow::bail!("the decky's SSH service did not complete a key exchange ({status}); its errors are above");
    }
    Ok(())
}

/// Runs the driver processes against `addr` as [`BENCH_USER`].
async fn drive(
    python: &str,
    driver: &std::path::Path,
    addr: SocketAddr,
    a: &BenchArgs,
    tag: &str,
) -> anyhow::Result<(SshRun, u64)> {
    drive_as(python, driver, addr, BENCH_USER, a, tag).await
}

/// Runs the driver processes against `addr` as `user` for the benchmark's duration;
/// also samples this process's RSS halfway, while every connection is open.
async fn drive_as(
    python: &str,
    driver: &std::path::Path,
    addr: SocketAddr,
    user: &str,
    a: &BenchArgs,
    tag: &str,
) -> anyhow::Result<(SshRun, u64)> {
    let procs = DRIVER_PROCS.min(a.connections.max(1));
    let mut children = Vec::new();
    for p in 0..procs {
        let share = a.connections / procs + usize::from(p < a.connections % procs);
        let child = tokio::process::Command::new(python)
            .arg(driver)
            .arg(addr.ip().to_string())
            .arg(addr.port().to_string())
            .arg(user)
            .arg(share.to_string())
            .arg(a.duration.to_string())
            .arg(format!("{tag}{p}"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("start the SSH load driver ({python}): {e}"))?;
        children.push(child);
    }
    tokio::time::sleep(Duration::from_secs(a.duration) / 2).await;
    let rss_mid = rss_kib("self");
    let mut run = SshRun::default();
    for child in children {
        let out = child.wait_with_output().await?;
        let line = String::from_utf8_lossy(&out.stdout);
        let v: serde_json::Value = serde_json::from_str(line.trim()).map_err(|e| {
            anyhow::anyhow!("the SSH load driver printed no result ({e}); its errors are above")
        })?;
        let n = |k: &str| v.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        run.attempts += n("attempts");
        run.connections += n("connections");
        run.errors += n("errors");
    }
    Ok((run, rss_mid))
}

/// utime + stime of `pid` (`self` or a number) in seconds, with its reaped
/// children's when `children` is set (sshd forks a process per connection).
fn cpu_secs(pid: &str, children: bool) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name, which may hold spaces: state is field 3.
    let Some(rest) = stat.rfind(')').and_then(|i| stat.get(i + 2..)) else {
        return 0.0;
    };
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime, stime, cutime, cstime are fields 14..=17, i.e. 11..=14 here; /proc counts in USER_HZ (100).
    let at = |i: usize| f.get(i).copied().unwrap_or(0.0);
    let ticks = at(11) + at(12) + if children { at(13) + at(14) } else { 0.0 };
    ticks / 100.0
}

/// Resident set of `pid` in KiB (0 where unavailable).
fn rss_kib(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// Events of one type in the journal under `data`.
fn count_type(data: &std::path::Path, t: EventType) -> anyhow::Result<u64> {
    count_matching(data, t, |_| true)
}

/// Events of one type in the journal under `data` for which `keep` holds.
fn count_matching(
    data: &std::path::Path,
    t: EventType,
    keep: impl Fn(&decnet_core::Event) -> bool,
) -> anyhow::Result<u64> {
    let mut reader = JournalReader::open(&DataDir::new(data).journal(), JournalPos::START);
    let mut found = 0u64;
    loop {
        let batch = reader.read_batch(10_000)?;
        if batch.is_empty() {
            return Ok(found);
        }
        for (rec, _) in batch {
            if let Record::Event(e) = rec {
                if e.event_type == t && keep(&e) {
                    found += 1;
                }
            }
        }
    }
}

/// The server the decky is compared with, running as a child process on loopback.
struct Baseline {
    name: &'static str,
    addr: SocketAddr,
    /// The user the driver tries (refused whatever the password).
    user: &'static str,
    child: tokio::process::Child,
    pid: String,
    /// Whether its per-connection work happens in forked children (sshd).
    forks: bool,
}

impl Baseline {
    /// Cowrie when importable, else OpenSSH's sshd, listening on a free loopback port.
    async fn start(python: &str, data: &std::path::Path) -> anyhow::Result<Baseline> {
        let port = free_port()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let cowrie = std::process::Command::new(python)
            .args(["-c", "import cowrie"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        let (name, user, forks, child) = if cowrie {
            (
                "cowrie",
                BENCH_USER,
                false,
                start_cowrie(python, data, port)?,
            )
        } else if std::path::Path::new("/usr/sbin/sshd").exists() {
            (
                "openssh-sshd",
                "decnet-bench-nobody",
                true,
                start_sshd(data, port)?,
            )
        } else {
            anyhow::bail!("neither Cowrie (`pip install cowrie`) nor OpenSSH's sshd (openssh-server) is installed");
        };
        let pid = child
            .id()
            .map(|p| p.to_string())
            .ok_or_else(|| anyhow::anyhow!("{name} exited at once"))?;
        let b = Baseline {
            name,
            addr,
            user,
            child,
            pid,
            forks,
        };
        b.wait_ready().await?;
        Ok(b)
    }

    /// Waits until the server sends an SSH identification string.
    async fn wait_ready(&self) -> anyhow::Result<()> {
        let until = Instant::now() + Duration::from_secs(60);
        while Instant::now() < until {
            if let Ok(mut s) = tokio::net::TcpStream::connect(self.addr).await {
                let mut buf = [0u8; 4];
                if let Ok(Ok(_)) =
                    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut buf)).await
                {
                    if &buf == b"SSH-" {
                        return Ok(());
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        anyhow::bail!(
            "{} did not start listening on {} within 60 s",
            self.name,
            self.addr
        )
    }

    /// The server's CPU seconds so far (its exited per-connection children included).
    fn cpu(&self) -> f64 {
        cpu_secs(&self.pid, self.forks)
    }

    /// Waits (up to 10 s) until the server has finished with the closed connections.
    async fn settle(&self) {
        let until = Instant::now() + Duration::from_secs(10);
        let mut last = self.cpu();
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(300)).await;
            let children =
                std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", self.pid))
                    .unwrap_or_default();
            let now = self.cpu();
            if children.trim().is_empty() && now == last {
                return;
            }
            last = now;
        }
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A loopback port nobody listens on now.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// Cowrie 3 under twistd in the foreground, with a temporary state directory and
/// a user database in which the driver's passwords are all wrong.
fn start_cowrie(
    python: &str,
    data: &std::path::Path,
    port: u16,
) -> anyhow::Result<tokio::process::Child> {
    let dir = data.join("cowrie");
    for sub in ["etc", "state", "log", "dl", "tty"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let d = dir.display();
    std::fs::write(
        dir.join("etc/cowrie.cfg"),
        format!(
            "[honeypot]\nstate_path = {d}/state\nlog_path = {d}/log\ndownload_path = {d}/dl\nttylog_path = {d}/tty\n[ssh]\nlisten_endpoints = tcp:{port}:interface=127.0.0.1\n[telnet]\nenabled = false\n"
        ),
    )?;
    std::fs::write(
        dir.join("etc/userdb.txt"),
        format!("{BENCH_USER}:x:{BENCH_PASSWORD}\n"),
    )?;
    // Cowrie refuses to start as root; the check is all that is bypassed.
    let boot = "import os, sys\nos.getuid = lambda: 65534\nsys.argv = ['twistd', '-n', '--umask=0022', '--pidfile=', '--logger', 'cowrie.python.logfile.stdoutLogger', 'cowrie']\nfrom twisted.scripts.twistd import run\nrun()\n";
    tokio::process::Command::new(python)
        .args(["-c", boot])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("start Cowrie: {e}"))
}

/// A throwaway sshd on loopback with a temporary host key; the driver's user does not exist.
fn start_sshd(data: &std::path::Path, port: u16) -> anyhow::Result<tokio::process::Child> {
    let dir = data.join("sshd");
    std::fs::create_dir_all(&dir)?;
    // sshd insists on its privilege-separation directory.
    let _ = std::fs::create_dir_all("/run/sshd");
    let key = dir.join("host_ed25519");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&key)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        anyhow::bail!("ssh-keygen could not make a host key for the sshd baseline");
    }
    let cfg = dir.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile none\nUsePAM no\nPasswordAuthentication yes\nKbdInteractiveAuthentication no\nPubkeyAuthentication no\nMaxAuthTries 100\nMaxStartups 4096\nLoginGraceTime 60\n",
            key.display()
        ),
    )?;
    tokio::process::Command::new("/usr/sbin/sshd")
        .arg("-D")
        .arg("-f")
        .arg(&cfg)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| anyhow::anyhow!("start sshd: {e}"))
}
