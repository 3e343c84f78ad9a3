//! `decnet audit`: the demo fleet, started by the audit itself, gives no tell
//! and runs every check; a decky whose persona contradicts itself is caught
//! under the right check id; an unreachable fleet is exit code 2.

use decnet_testkit::is_root;
use std::path::Path;

use decnet_core::paths::DataDir;

use crate::support::{decnet, unique_ip};

/// Port offset of the demo fleet here (no other test runs the demo fleet).
const DEMO_OFFSET: &str = "26000";

/// A data dir with a fixed installation key, so the audited deckies (their
/// seeds, host keys, certificates) are the same on every run.
fn data_dir(dir: &Path) -> std::path::PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(DataDir::new(&data).installation_key(), [7u8; 32]).unwrap();
    data
}

/// Runs `decnet audit --json` with `args`; returns the exit code and the report.
fn audit(args: &[&str], data: &Path) -> (i32, serde_json::Value, String) {
    let out = decnet()
        .args(["audit", "--json", "--data-dir"])
        .arg(data)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn checks<'a>(report: &'a serde_json::Value, decky: &str) -> Vec<&'a serde_json::Value> {
    report["deckies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["decky"] == decky)
        .unwrap_or_else(|| panic!("{decky} missing from {report:#}"))["checks"]
        .as_array()
        .unwrap()
        .iter()
        .collect()
}

#[test]
fn the_demo_fleet_gives_no_tell_and_every_check_runs() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    let (code, report, stderr) = audit(&["--port-offset", DEMO_OFFSET], &data);
    assert_eq!(report["tells"], 0, "{report:#}\n{stderr}");
    assert_eq!(code, 0, "{stderr}");
    let names: Vec<&str> = report["deckies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["decky"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["demo-01", "demo-02", "demo-03"]);
    for id in decnet_audit::CHECKS {
        let ran = names.iter().flat_map(|n| checks(&report, n)).any(|c| {
            c["id"] == *id
                && (c["status"] == "pass" || (*id == "os.ttl-matches-family" && !is_root()))
        });
        assert!(ran, "{id} passed on no decky: {report:#}");
    }
    for n in &names {
        let d = &report["deckies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["decky"] == *n)
            .unwrap();
        assert_eq!(d["passed"], d["run"], "{d:#}");
    }
}

#[test]
fn a_decky_announcing_another_distros_openssh_is_a_tell_under_its_check_id() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    // A Debian box announcing Ubuntu's OpenSSH: a detector reads the banner's
    // vendor against the shell's /etc/os-release.
    std::fs::write(
        &cfg,
        format!(
            "[general]\ndriver = loopback\n\n[odd]\nip = {ip}\nservices = ssh\ndistro = debian\n\n\
             [odd.ssh]\nssh_version = SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\n"
        ),
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (code, report, stderr) = audit(&["--config", cfg, "--port-offset", "26100"], &data);
    assert_eq!(code, 1, "{report:#}\n{stderr}");
    let tells: Vec<&str> = checks(&report, "odd")
        .into_iter()
        .filter(|c| c["status"] == "tell")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in ["ssh.banner-matches-family", "os.family-consistent"] {
        assert!(tells.contains(&id), "{id} not reported: {report:#}");
    }
    let family = checks(&report, "odd")
        .into_iter()
        .find(|c| c["id"] == "ssh.banner-matches-family")
        .unwrap();
    assert_eq!(family["seen"], "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6");
    assert!(
        family["expected"].as_str().unwrap().contains("Debian-"),
        "{family}"
    );
    // The text report names the tell with what was expected and seen.
    let out = decnet()
        .args([
            "audit",
            "--config",
            cfg,
            "--port-offset",
            "26100",
            "--data-dir",
        ])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text.contains("TELL ssh.banner-matches-family\n    expected: "),
        "{text}"
    );
    assert!(
        text.contains("    seen:     SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"),
        "{text}"
    );
}

#[test]
fn auditing_a_fleet_that_is_not_running_is_exit_code_2_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(
        &cfg,
        format!("[general]\ndriver = loopback\n\n[gone]\nip = {ip}\nservices = ssh\n"),
    )
    .unwrap();
    let (code, _, stderr) = audit(
        &[
            "--running",
            "--config",
            cfg.to_str().unwrap(),
            "--port-offset",
            "26200",
        ],
        &data,
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("cannot reach gone's ssh listener"),
        "{stderr}"
    );
    assert!(stderr.contains("is the fleet running"), "{stderr}");
    // Without an installation key there is no fleet to match.
    let empty = dir.path().join("empty");
    let (code, _, stderr) = audit(&["--running"], &empty);
    assert_eq!(code, 2);
    assert!(stderr.contains("pass the --data-dir"), "{stderr}");
}

#[test]
fn a_running_fleet_is_audited_where_it_listens() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(
        &cfg,
        format!("[general]\ndriver = loopback\n\n[web]\nip = {ip}\narchetype = web-server\n"),
    )
    .unwrap();
    let (mut run, _) = crate::support::up(&cfg, &data, 26300, &[]);
    let (code, report, stderr) = audit(
        &[
            "--running",
            "--config",
            cfg.to_str().unwrap(),
            "--port-offset",
            "26300",
        ],
        &data,
    );
    let _ = run.child.kill();
    let _ = run.child.wait();
    assert_eq!(code, 0, "{report:#}\n{stderr}");
    let ids: Vec<&str> = checks(&report, "web")
        .into_iter()
        .filter(|c| c["status"] == "pass")
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in [
        "ssh.kexinit-matches-release",
        "shell.ps-lists-running-services",
        "http.missing-host-answer",
        "tls.certificate-shape",
    ] {
        assert!(ids.contains(&id), "{id}: {report:#}");
    }
}

#[test]
fn a_centos_7_decky_gives_no_ssh_tell_its_cbc_ciphers_included() {
    let dir = tempfile::tempdir().unwrap();
    let data = data_dir(dir.path());
    let ip = unique_ip();
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(
        &cfg,
        format!(
            "[general]\ndriver = loopback\n\n[el7]\nip = {ip}\nservices = ssh\ndistro = centos7\n"
        ),
    )
    .unwrap();
    let (code, report, stderr) = audit(
        &["--config", cfg.to_str().unwrap(), "--port-offset", "26400"],
        &data,
    );
    let ssh: Vec<&serde_json::Value> = checks(&report, "el7")
        .into_iter()
        .filter(|c| c["id"].as_str().unwrap().starts_with("ssh."))
        .collect();
    let tells: Vec<&&serde_json::Value> = ssh.iter().filter(|c| c["status"] == "tell").collect();
    assert!(tells.is_empty(), "{tells:#?}\n{stderr}");
    for id in ["ssh.kexinit-matches-release", "ssh.hassh-matches-release"] {
        assert!(
            ssh.iter().any(|c| c["id"] == id && c["status"] == "pass"),
            "{id} did not pass: {report:#}"
        );
    }
    assert_eq!(code, 0, "{report:#}\n{stderr}");
}
