//! Private by default: after `up` ran, nothing in the data dir is readable by
//! anyone else (or only by `--group`), and `up` started as root runs as an
//! unprivileged user without capabilities once its sockets are bound.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(30);

/// Every path under `root` (itself included) with its mode and group.
fn tree(root: &Path) -> Vec<(PathBuf, bool, u32, u32, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        out.push((p.clone(), m.is_dir(), m.mode() & 0o7777, m.uid(), m.gid()));
        if m.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    out
}

fn fleet(dir: &Path, ip: std::net::IpAddr) -> PathBuf {
    let cfg = dir.join("fleet.ini");
    std::fs::write(
        &cfg,
        format!(
            "[box]\nip = {ip}\nservices = ssh\n[box.ssh]\nusers = root:toor\nauth_delay_ms = 10\n"
        ),
    )
    .unwrap();
    cfg
}

/// Runs `up` with `env`, one SSH session, waits for its recording, stops; returns the data dir.
fn run_once(dir: &Path, port_offset: u16, env: &[(&str, &str)]) -> PathBuf {
    let ip = unique_ip();
    let cfg = fleet(dir, ip);
    let data = dir.join("data");
    let (run, _) = up(&cfg, &data, port_offset, env);
    ssh_session(ip, port_offset + 22, "uname -a");
    let ev = wait_events(&data, DEADLINE, |ev| {
        ev.iter().any(|e| e["event_type"] == "session_recorded")
    });
    assert!(
        ev.iter().any(|e| e["event_type"] == "session_recorded"),
        "{ev:#?}"
    );
    assert!(run.terminate().success());
    data
}

#[test]
fn after_up_every_file_is_0600_and_every_dir_0700_even_ones_left_by_older_versions() {
    if !have("sshpass") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // What an older version left behind: world-readable.
    std::fs::create_dir_all(data.join("journal")).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("journal"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(data.join("old-notes.txt"), "x").unwrap();
    std::fs::set_permissions(
        data.join("old-notes.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let data = run_once(dir.path(), 25500, &[]);
    let all = tree(&data);
    assert!(
        all.iter()
            .any(|(p, ..)| p.to_string_lossy().contains("transcripts")),
        "{all:#?}"
    );
    assert!(all.iter().any(|(p, ..)| p.ends_with("decnet.db")));
    for (p, is_dir, mode, ..) in &all {
        let want = if *is_dir { 0o700 } else { 0o600 };
        assert_eq!(*mode, want, "{} is {mode:o}", p.display());
    }
}

#[test]
fn with_a_group_the_data_dir_is_group_readable_but_secrets_are_not() {
    if !have("sshpass") || !have("getent") {
        return;
    }
    let group_exists = Command::new("getent")
        .args(["group", "nogroup"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !group_exists {
        eprintln!("skipped: no group `nogroup` on this host");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = run_once(dir.path(), 25600, &[("DECNET_GROUP", "nogroup")]);
    let gid = 65534;
    for (p, is_dir, mode, _, g) in tree(&data) {
        let rel = p.strip_prefix(&data).unwrap();
        let secret = rel == Path::new("jwt.secret")
            || rel == Path::new("installation.key")
            || (rel.starts_with("deckies") && !is_dir);
        let want = match (is_dir, secret) {
            (true, _) => 0o2750,
            (false, true) => 0o600,
            (false, false) => 0o640,
        };
        assert_eq!(mode, want, "{} is {mode:o}", p.display());
        assert_eq!(g, gid, "{} has group {g}", p.display());
    }
}

/// `Uid:` and `CapEff:` of `/proc/<pid>/status` (a process, or `PID/task/TID`);
/// `None` once it has exited.
fn proc_status(pid: &str) -> Option<(Vec<u32>, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uids = s
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect();
    let caps = s
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .unwrap()
        .trim();
    Some((uids, u64::from_str_radix(caps, 16).unwrap()))
}

#[test]
fn up_as_root_drops_to_the_given_user_without_capabilities_and_still_records() {
    if !nix_is_root() {
        eprintln!("skipped: the privilege-drop test needs root");
        return;
    }
    if !have("sshpass") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // `nobody` must reach the data dir through the temp dir.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ip = unique_ip();
    let cfg = fleet(dir.path(), ip);
    let data = dir.path().join("data");
    let (run, _) = up(&cfg, &data, 25700, &[("DECNET_USER", "nobody")]);
    // Every thread, not only the main one: the runtime's workers serve the deckies.
    let pid = run.child.id();
    let threads: Vec<u32> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
        .collect();
    assert!(threads.len() > 1, "{threads:?}");
    let mut checked = 0;
    for tid in threads {
        // A blocking-pool thread may finish between the listing and the read;
        // one that has exited holds no privilege.
        let Some((uids, caps)) = proc_status(&format!("{pid}/task/{tid}")) else {
            continue;
        };
        checked += 1;
        assert_eq!(
            uids, [65534; 4],
            "thread {tid}: real, effective, saved and fs uid"
        );
        assert_eq!(caps, 0, "thread {tid}: no effective capability left");
    }
    assert!(
        checked > 1,
        "the main thread and a runtime worker were checked"
    );

    // New files after the drop: the session's transcript shard, the database's writes.
    ssh_session(ip, 25722, "uname -a");
    let ev = wait_events(&data, DEADLINE, |ev| {
        ev.iter().any(|e| e["event_type"] == "session_recorded")
    });
    assert!(
        ev.iter().any(|e| e["event_type"] == "session_recorded"),
        "{ev:#?}"
    );
    let all = tree(&data);
    let shard = all
        .iter()
        .find(|(p, d, ..)| !d && p.to_string_lossy().contains("transcripts"))
        .unwrap_or_else(|| panic!("no transcript in {all:#?}"));
    assert_eq!(shard.3, 65534, "the transcript was written by nobody");
    assert!(run.terminate().success());
    for (p, _, _, uid, _) in tree(&data) {
        assert_eq!(uid, 65534, "{} is not nobody's", p.display());
    }
}

/// Whether the test runs as root.
fn nix_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .is_some_and(|u| u.split_whitespace().nth(1) == Some("0"))
}
