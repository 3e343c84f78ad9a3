//! Spawning `decnet` and waiting on its output with deadlines.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub fn decnet() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_decnet"));
    c.env_remove("DECNET_DATA_DIR")
        .env_remove("DECNET_PORT_OFFSET")
        .env("DECNET_LOG", "warn")
        // Parallel tests each get their own API port.
        .env("DECNET_API_LISTEN", "127.0.0.1:0")
        .env_remove("DECNET_DATABASE_URL")
        // Tests run as whoever runs them (often root in CI) and keep their
        // data under a root-only temp dir: no privilege drop unless a test asks.
        .env("DECNET_USER", "root")
        .env_remove("DECNET_GROUP");
    c
}

/// A running `decnet` child whose stdout lines arrive on a channel.
pub struct Running {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
    pub stderr: mpsc::Receiver<String>,
}

impl Running {
    /// Spawns with piped output.
    pub fn spawn(mut cmd: Command) -> Running {
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn decnet");
        let (tx, lines) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let (etx, stderr) = mpsc::channel();
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(err).lines().map_while(Result::ok) {
                if etx.send(l).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            stderr,
        }
    }

    /// Collects stdout lines until one contains `needle`; panics with what was seen on timeout.
    pub fn wait_line(&self, needle: &str, deadline: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        let end = std::time::Instant::now() + deadline;
        loop {
            let left = end.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    let hit = l.contains(needle);
                    seen.push(l);
                    if hit {
                        return seen;
                    }
                }
                Err(_) => {
                    let err: Vec<String> = self.stderr.try_iter().collect();
                    panic!("no line containing {needle:?} within {deadline:?}; stdout: {seen:#?}; stderr: {err:#?}");
                }
            }
        }
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        wait_exit(&mut self.child, Duration::from_secs(20))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How long `decnet up` may take to come up.
const UP_DEADLINE: Duration = Duration::from_secs(30);

/// Starts `decnet up --config cfg --data-dir data --port-offset offset` with
/// `env` added, and waits until it is fully up (its last start-up line);
/// returns the process and everything it printed.
pub fn up(
    cfg: &Path,
    data: &Path,
    port_offset: u16,
    env: &[(&str, &str)],
) -> (Running, Vec<String>) {
    let mut cmd = decnet();
    cmd.envs(env.iter().copied())
        .args(["up", "--port-offset", &port_offset.to_string(), "--config"])
        .arg(cfg)
        .arg("--data-dir")
        .arg(data);
    let run = Running::spawn(cmd);
    let lines = run.wait_line("Ctrl-C stops", UP_DEADLINE);
    (run, lines)
}

/// Waits for a child to exit, killing it after the deadline.
pub fn wait_exit(child: &mut Child, deadline: Duration) -> std::process::ExitStatus {
    let end = std::time::Instant::now() + deadline;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if std::time::Instant::now() > end {
            let _ = child.kill();
            panic!("decnet did not exit within {deadline:?}");
        }
        std::thread::sleep(EXIT_POLL);
    }
}

/// How often [`wait_events`] re-reads the journal.
const EVENTS_POLL: Duration = Duration::from_millis(100);

/// How often [`wait_exit`] checks whether the child is gone.
const EXIT_POLL: Duration = Duration::from_millis(20);

/// A loopback address unique to this test process.
pub fn unique_ip() -> IpAddr {
    decnet_testkit::unique_ip(180)
}

pub use decnet_testkit::have;

/// Every journal event (as JSON values) printed by `decnet events`.
pub fn events(data: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = decnet()
        .args(["events", "--data-dir"])
        .arg(data)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Polls `decnet events` until `pred` holds or the deadline passes.
pub fn wait_events(
    data: &Path,
    deadline: Duration,
    pred: impl Fn(&[serde_json::Value]) -> bool,
) -> Vec<serde_json::Value> {
    let end = std::time::Instant::now() + deadline;
    loop {
        let ev = events(data, &[]);
        if pred(&ev) || std::time::Instant::now() > end {
            return ev;
        }
        std::thread::sleep(EVENTS_POLL);
    }
}

/// One interactive SSH session as root:toor (sshpass + OpenSSH): runs `command`, logs out.
pub fn ssh_session(ip: std::net::IpAddr, port: u16, command: &str) {
    let mut ssh = Command::new("sshpass")
        .args(["-p", "toor", "ssh", "-tt", "-p", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .arg(format!("root@{ip}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        ssh.stdin
            .take()
            .unwrap()
            .write_all(format!("{command}\nexit\n").as_bytes())
            .unwrap();
    }
    assert!(wait_exit(&mut ssh, UP_DEADLINE).success());
}

/// The API address `up` printed ("API listening on http://ADDR/api/v1").
pub fn api_addr(lines: &[String]) -> std::net::SocketAddr {
    lines
        .iter()
        .find(|l| l.starts_with("API listening on"))
        .and_then(|l| l.split_whitespace().find(|w| w.starts_with("http://")))
        .and_then(|u| u.strip_prefix("http://")?.strip_suffix("/api/v1"))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("up printed no API address: {lines:?}"))
}

/// Every stored event id (duplicates kept, so a double insert would show).
pub async fn stored_ids(store: &decnet_store::Store) -> Vec<uuid::Uuid> {
    let mut ids = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_events(
                &Default::default(),
                &decnet_store::PageRequest::after(500, cursor),
            )
            .await
            .unwrap();
        ids.extend(page.items.iter().map(|e| e.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return ids,
        }
    }
}
