//! `decnet status`: journal size, what retention would delete, each
//! consumer's position and lag, the live state, and an exit code for scripts.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::support::*;

/// Runs `decnet status --data-dir data` with `extra`; (exit code, stdout).
fn status(data: &Path, extra: &[&str]) -> (i32, String) {
    let out = decnet()
        .args(["status", "--data-dir"])
        .arg(data)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// An address nothing listens on.
const NOBODY: &str = "http://127.0.0.1:1";

#[test]
fn status_reports_the_journal_its_consumers_and_whether_the_fleet_runs() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(
        &cfg,
        format!("[general]\njournal_retention = 1d\n[box]\nip = {ip}\nservices = http\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (run, lines) = up(&cfg, &data, 25800, &[]);
    let api = format!("http://{}", api_addr(&lines));
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", &format!("http://{ip}:25880/")])
        .status()
        .unwrap();
    assert!(out.success());
    wait_events(&data, Duration::from_secs(30), |ev| !ev.is_empty());

    let (code, out) = status(&data, &["--api", &api]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("live:      ok (API at {api})")),
        "{out}"
    );
    assert!(
        out.contains("journal:   ") && out.contains("in 1 segments"),
        "{out}"
    );
    assert!(out.contains("consumer:  ingester"), "{out}");

    let (code, json) = status(&data, &["--api", &api, "--json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["live"]["state"], "ok");
    assert_eq!(v["live"]["health"]["status"], "ok");
    assert_eq!(v["journal"]["segments"], 1);
    assert!(v["journal"]["bytes"].as_u64().unwrap() > 0);
    assert_eq!(v["consumers"][0]["name"], "ingester");
    assert!(run.terminate().success());

    // Stopped: not running, exit 2; the ingester caught up with everything.
    let (code, out) = status(&data, &["--api", NOBODY]);
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains(&format!("not running (API at {NOBODY} unreachable")),
        "{out}"
    );
    assert!(out.contains("0 B behind"), "{out}");

    // The segment is complete once a newer one exists; made old, it is due under
    // the config's one-day retention, and not under the default week if younger.
    let seg1 = data.join("journal/segment-00000000000000000001.jsonl");
    let size = std::fs::metadata(&seg1).unwrap().len();
    std::fs::write(data.join("journal/segment-00000000000000000002.jsonl"), "").unwrap();
    std::fs::File::options()
        .write(true)
        .open(&seg1)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(3 * 86_400))
        .unwrap();
    let cfg_arg = cfg.to_str().unwrap();
    let (_, json) = status(&data, &["--api", NOBODY, "--json", "--config", cfg_arg]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["journal"]["retention_secs"], 86_400);
    assert_eq!(v["journal"]["due"]["segments"], 1, "{v}");
    assert_eq!(v["journal"]["due"]["bytes"], size);
    let (_, out) = status(&data, &["--api", NOBODY]);
    assert!(
        out.contains("retention: 604800 s; due for deletion: 0 B in 0 segments"),
        "{out}"
    );
}

#[test]
fn status_without_a_data_dir_says_which_to_give() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out) = status(&dir.path().join("nope"), &[]);
    assert_eq!(code, 1);
    assert!(
        out.contains("no data dir at") && out.contains("--data-dir"),
        "{out}"
    );
}

#[test]
fn up_deletes_at_start_the_old_segments_every_consumer_is_past() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(
        &cfg,
        format!("[general]\njournal_retention = 1d\n[box]\nip = {ip}\nservices = http\n"),
    )
    .unwrap();
    let data = dir.path().join("data");
    let (run, _) = up(&cfg, &data, 25900, &[]);
    let ok = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", &format!("http://{ip}:25980/")])
        .status()
        .unwrap();
    assert!(ok.success());
    wait_events(&data, Duration::from_secs(30), |ev| !ev.is_empty());
    // Stopping drains the ingester: its offset is at the end of segment 1.
    assert!(run.terminate().success());

    let seg1 = data.join("journal/segment-00000000000000000001.jsonl");
    let seg2 = data.join("journal/segment-00000000000000000002.jsonl");
    std::fs::write(&seg2, "").unwrap();
    let old = SystemTime::now() - Duration::from_secs(3 * 86_400);
    for s in [&seg1, &seg2] {
        std::fs::File::options()
            .write(true)
            .open(s)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    // The database holds segment 1 entirely: deleting it loses nothing.
    let (_, json) = status(&data, &["--api", NOBODY, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["consumers"][0]["name"], "ingester");
    assert_eq!(v["consumers"][0]["lag_bytes"], 0, "{v}");

    let (run, _) = up(&cfg, &data, 25900, &[]);
    let end = std::time::Instant::now() + Duration::from_secs(30);
    while seg1.exists() && std::time::Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!seg1.exists(), "segment 1 was not pruned");
    // The newest segment stays however old.
    assert!(seg2.exists());
    assert!(run.terminate().success());
}
