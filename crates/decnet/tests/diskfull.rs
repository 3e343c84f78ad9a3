//! A full disk loses nothing: with the data dir on a small tmpfs, deckies stop
//! answering once free space reaches the watermark, every request they did
//! answer is in the journal, `/health` says why, and serving resumes by itself
//! once space is freed. Needs root (to mount the tmpfs); skipped otherwise.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(60);
const PORT_OFFSET: u16 = 23000;
/// The watermark the fleet runs with.
const WATERMARK: u64 = 4 << 20;

/// A tmpfs mounted for the test, unmounted on drop even when the test fails.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes free on it.
    fn free(&self) -> u64 {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(self.path())
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.path()).status();
    }
}

/// One request with `Connection: close`: the status code and body, or None when
/// the connection closed without an answer.
fn request(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: k\r\nConnection: close\r\n\r\n").as_bytes())
        .ok()?;
    let mut got = Vec::new();
    let _ = s.take(1 << 20).read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got).into_owned();
    let code = text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((code, body))
}

/// A password login over SSH that runs `echo answered`; true when the decky answered it.
/// A session that hangs is not an answer: `timeout` ends it.
fn ssh_login(ip: std::net::IpAddr) -> bool {
    let out = Command::new("timeout")
        .args(["20", "sshpass", "-p", "toor", "ssh", "-p"])
        .arg((22 + PORT_OFFSET).to_string())
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "ConnectTimeout=5",
            "-o",
            "BatchMode=no",
        ])
        .arg(format!("root@{ip}"))
        .arg("echo answered")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    out.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("answered"))
}

/// `/api/v1/health`: status code and body.
fn health(api: SocketAddr) -> (u16, serde_json::Value) {
    let (code, body) = request(api, "/api/v1/health").expect("the API answers");
    (code, serde_json::from_str(&body).unwrap_or_default())
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + DEADLINE;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_full_disk_loses_no_answered_request_and_serving_resumes_when_space_returns() {
    let Some(fs) = Tmpfs::mount("24m") else {
        eprintln!("skipped: the disk-full test mounts a tmpfs, which needs root");
        return;
    };
    if !have("sshpass") {
        eprintln!("skipped: the disk-full test drives SSH with sshpass, which is not installed");
        return;
    }
    let ip = unique_ip();
    let cfg = fs.path().join("fleet.ini");
    std::fs::write(
        &cfg,
        format!(
            "[general]\ndisk_watermark = {WATERMARK}\n\n[k1]\nip = {ip}\nservices = http, ssh\n\n[k1.ssh]\nusers = root:toor\nauth_delay_ms = 10\n"
        ),
    )
    .unwrap();
    let data: PathBuf = fs.path().join("data");
    let (run, lines) = up(&cfg, &data, PORT_OFFSET, &[]);
    let api = api_addr(&lines);
    let http = SocketAddr::new(ip, 80 + PORT_OFFSET);
    assert_eq!(health(api).0, 200);
    assert!(ssh_login(ip), "SSH answers before the disk fills");

    // Leave a little over the watermark: a few hundred requests' worth.
    let filler = fs.path().join("filler");
    let fill = fs.free().saturating_sub(WATERMARK + (1 << 20));
    std::fs::write(&filler, vec![0u8; fill as usize]).unwrap();

    let mut answered = Vec::new();
    let mut ssh_answered = 1;
    let mut refused_in_a_row = 0;
    let end = Instant::now() + DEADLINE;
    let mut i = 0;
    while refused_in_a_row < 20 {
        assert!(
            Instant::now() < end,
            "deckies still answer after {i} requests"
        );
        let path = format!("/disk-full/{i}");
        if i % 25 == 0 && ssh_login(ip) {
            ssh_answered += 1;
        }
        match request(http, &path) {
            Some(_) => {
                answered.push(path);
                refused_in_a_row = 0;
            }
            None => refused_in_a_row += 1,
        }
        i += 1;
    }
    assert!(
        !answered.is_empty(),
        "some requests were answered before the watermark"
    );

    // Degraded: /health says why, new connections get no answer, SSH neither.
    let (code, body) = health(api);
    assert_eq!(code, 503, "{body}");
    assert_eq!(body["status"], "degraded");
    let reason = body["journal"].as_str().unwrap();
    assert!(reason.starts_with("journal: "), "{reason}");
    assert!(
        reason.contains("free space below the watermark") || reason.contains("no space left"),
        "{reason}"
    );
    // `decnet status` says the same, and exits 1.
    let status = decnet()
        .arg("status")
        .arg("--data-dir")
        .arg(&data)
        .arg("--api")
        .arg(format!("http://{api}"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{said}");
    assert!(said.contains(&format!("degraded:  {reason}")), "{said}");
    assert!(request(http, "/disk-full/while-degraded").is_none());
    assert!(!ssh_login(ip), "SSH is not answered while degraded");

    // Every answered request is in the journal; so is every answered SSH login.
    let events = events(&data, &[]);
    let recorded: std::collections::HashSet<&str> = events
        .iter()
        .filter(|e| e["event_type"] == "http_request")
        .filter_map(|e| e["fields"]["path"].as_str())
        .collect();
    let missing: Vec<&String> = answered
        .iter()
        .filter(|p| !recorded.contains(p.as_str()))
        .collect();
    assert!(missing.is_empty(), "answered but not recorded: {missing:?}");
    assert!(!recorded.contains("/disk-full/while-degraded"));
    let logins = events
        .iter()
        .filter(|e| e["event_type"] == "login_success" && e["service"] == "ssh")
        .count();
    assert!(
        logins >= ssh_answered,
        "{ssh_answered} SSH logins answered, {logins} recorded"
    );

    // Space returns: the journal recovers by itself and the deckies answer again.
    std::fs::remove_file(&filler).unwrap();
    wait_for("/health is ok again", || health(api).0 == 200);
    assert_eq!(health(api).1["journal"], "ok");
    assert!(
        request(http, "/disk-full/after").is_some(),
        "HTTP answers again"
    );
    assert!(ssh_login(ip), "SSH answers again");
    wait_events(&data, DEADLINE, |ev| {
        ev.iter().any(|e| e["fields"]["path"] == "/disk-full/after")
    });
    assert!(run.terminate().success());
}

#[test]
fn up_on_a_disk_below_its_watermark_exits_non_zero_saying_why() {
    let Some(fs) = Tmpfs::mount("8m") else {
        eprintln!("skipped: the disk-full test mounts a tmpfs, which needs root");
        return;
    };
    let cfg = fs.path().join("fleet.ini");
    // The whole 8 MiB disk is less than the 16 MiB the watermark asks to keep free.
    std::fs::write(
        &cfg,
        format!(
            "[general]\ndisk_watermark = 16MiB\n\n[k1]\nip = {}\nservices = http\n",
            unique_ip()
        ),
    )
    .unwrap();
    let mut cmd = decnet();
    cmd.args(["up", "--port-offset", &PORT_OFFSET.to_string(), "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(fs.path().join("data"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let status = wait_exit(&mut child, DEADLINE);
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!status.success(), "{stderr}");
    assert!(
        stderr.contains("journal: free space below the watermark: ")
            && stderr.contains("16.0 MiB required"),
        "{stderr}"
    );
    assert!(
        stderr.contains("disk_watermark"),
        "says what to do: {stderr}"
    );
}
