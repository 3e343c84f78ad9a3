//! The CLI's commands as an operator runs them.

use std::io::Read as _;
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(30);

fn write_config(dir: &std::path::Path, ip: std::net::IpAddr) -> std::path::PathBuf {
    let path = dir.join("fleet.ini");
    std::fs::write(
        &path,
        format!(
            "[general]\ndriver = loopback\n\n[web1]\nip = {ip}\nservices = http\n\n[web1.http]\nserver_header = Apache/2.4.41 (Ubuntu)\n"
        ),
    )
    .unwrap();
    path
}

#[test]
fn up_runs_a_config_file_records_events_and_stops_cleanly_on_sigterm() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = write_config(dir.path(), ip);
    let data = dir.path().join("data");
    let (run, table) = up(&cfg, &data, 20000, &[]);
    let row = table
        .iter()
        .find(|l| l.starts_with("web1"))
        .expect("decky row");
    assert!(
        row.contains(&ip.to_string()) && row.contains("http:20080"),
        "{row}"
    );

    let out = std::process::Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null", "-A", "e2e-agent"])
        .arg(format!("http://{ip}:20080/index.html"))
        .output()
        .unwrap();
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.contains("server: apache/2.4.41 (ubuntu)"), "{head}");

    // `events` reads the journal while `up` is still writing it. The
    // connection's disconnect is awaited too, so no event of it is still on
    // its way while the filters below compare two reads.
    let ev = wait_events(&data, DEADLINE, |ev| {
        ev.iter().any(|e| e["event_type"] == "http_request")
            && ev.iter().any(|e| e["event_type"] == "disconnect")
    });
    let req = ev
        .iter()
        .find(|e| e["event_type"] == "http_request")
        .expect("http_request event");
    assert_eq!(req["decky"], "web1");
    assert_eq!(req["dst_ip"], ip.to_string());
    assert_eq!(req["dst_port"], 20080);
    assert_eq!(req["fields"]["path"], "/index.html");
    assert_eq!(req["fields"]["user_agent"], "e2e-agent");

    // Filters: another service, or a time after every event, match nothing.
    assert!(events(&data, &["--service", "ssh"]).is_empty());
    assert!(events(&data, &["--since", "2999-01-01T00:00:00Z"]).is_empty());
    let all = events(&data, &[]);
    let first_ts = all[0]["ts"].as_str().unwrap().to_owned();
    assert_eq!(events(&data, &["--since", &first_ts]).len(), all.len());

    let status = run.terminate();
    assert!(status.success(), "exit status {status}");
    // After a clean stop every connection's disconnect is on disk.
    let ev = events(&data, &["--decky", "web1", "--type", "disconnect"]);
    assert!(!ev.is_empty());
    assert!(ev.iter().all(|e| e["event_type"] == "disconnect"));
}

#[test]
fn events_follow_prints_new_events_as_they_are_captured() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = write_config(dir.path(), ip);
    let data = dir.path().join("data");
    let (run, _) = up(&cfg, &data, 21000, &[]);

    let mut follow = decnet();
    follow
        .args(["events", "--follow", "--type", "http_request", "--data-dir"])
        .arg(&data);
    let follower = Running::spawn(follow);
    let status = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null"])
        .arg(format!("http://{ip}:21080/followed"))
        .status()
        .unwrap();
    assert!(status.success());
    let lines = follower.wait_line("/followed", DEADLINE);
    let e: serde_json::Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(e["event_type"], "http_request");
    assert_eq!(e["fields"]["path"], "/followed");
    drop(follower);
    assert!(run.terminate().success());
}

#[test]
fn deploy_dry_run_prints_the_plan_without_binding() {
    let dir = tempfile::tempdir().unwrap();
    let out = decnet()
        .args([
            "deploy",
            "--deckies",
            "3",
            "--archetype",
            "linux-server",
            "--ip-start",
            "127.42.9.10",
            "--dry-run",
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let deckies = plan["deckies"].as_array().unwrap();
    assert_eq!(deckies.len(), 3);
    let ips: Vec<&str> = deckies.iter().map(|d| d["ip"].as_str().unwrap()).collect();
    assert_eq!(ips, ["127.42.9.10", "127.42.9.11", "127.42.9.12"]);
    for d in deckies {
        let svcs: Vec<&str> = d["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(svcs, ["ssh", "http"]);
        assert_eq!(d["os_family"], "linux");
    }
    // Nothing was bound: the addresses are free.
    std::net::TcpListener::bind("127.42.9.10:0").unwrap();
    // The same request gives the same plan (hostnames come from the kept installation key).
    let again = decnet()
        .args([
            "deploy",
            "--deckies",
            "3",
            "--archetype",
            "linux-server",
            "--ip-start",
            "127.42.9.10",
            "--dry-run",
            "--json",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.stdout, out.stdout);
}

#[test]
fn an_archetype_needing_unimplemented_services_is_listed_and_refused() {
    let out = decnet().args(["archetypes"]).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let row = text
        .lines()
        .find(|l| l.starts_with("windows-workstation"))
        .unwrap();
    assert!(row.contains("no: needs smb, rdp"), "{row}");
    let row = text
        .lines()
        .find(|l| l.starts_with("linux-server"))
        .unwrap();
    assert!(row.contains("yes"), "{row}");

    let dir = tempfile::tempdir().unwrap();
    let out = decnet()
        .args([
            "deploy",
            "--archetype",
            "windows-workstation",
            "--dry-run",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("windows-workstation")
            && err.contains("smb")
            && err.contains("not implemented"),
        "{err}"
    );
}

#[test]
fn services_lists_only_implemented_services() {
    let out = decnet().args(["services", "--json"]).output().unwrap();
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"ssh") && names.contains(&"http"),
        "{names:?}"
    );
    assert!(!names.contains(&"smb"), "{names:?}");
    // `https` is the TLS listener of `http`, named in `services` lists as before.
    let http = list
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "http")
        .unwrap();
    let https = http["listeners"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "https")
        .unwrap();
    assert_eq!(https["tls"], true);
    assert_eq!(https["default_port"], 443);
}

#[test]
fn an_unprivileged_user_is_told_which_listener_failed_and_the_three_fixes() {
    // Needs root to drop to an unprivileged user; as a normal user the kernel refuses anyway.
    let root = unsafe_free_is_root();
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = write_config(dir.path(), ip);
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let mut cmd = if root {
        for p in [dir.path(), data.as_path(), cfg.as_path()] {
            std::process::Command::new("chmod")
                .arg("a+rwx")
                .arg(p)
                .status()
                .unwrap();
        }
        // The build dir may sit under a directory only root can enter: run a copy.
        let bin = dir.path().join("decnet");
        std::fs::copy(env!("CARGO_BIN_EXE_decnet"), &bin).unwrap();
        let mut c = std::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(&bin);
        c.env("DECNET_LOG", "warn")
            .env("DECNET_API_LISTEN", "127.0.0.1:0");
        c
    } else {
        decnet()
    };
    cmd.args(["up", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let status = wait_exit(&mut child, DEADLINE);
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
        .unwrap_or_default();
    if start.trim().parse::<u16>().unwrap_or(1024) <= 80 {
        eprintln!("SKIPPED: this host lets unprivileged users bind port 80");
        return;
    }
    assert!(!status.success());
    assert!(
        err.contains(&format!("{ip}:80")) && err.contains("web1") && err.contains("http"),
        "{err}"
    );
    assert!(
        err.contains("root")
            && err.contains("setcap cap_net_bind_service=+ep")
            && err.contains("ip_unprivileged_port_start"),
        "{err}"
    );
    assert!(err.contains("--port-offset"), "{err}");
}

fn unsafe_free_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[test]
fn the_config_reference_in_docs_is_what_the_binary_prints() {
    let out = decnet().arg("config-reference").output().unwrap();
    assert!(out.status.success());
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/config.md");
    let committed = std::fs::read_to_string(&doc).unwrap();
    assert!(
        committed == String::from_utf8(out.stdout).unwrap(),
        "docs/config.md is stale: regenerate it with `decnet config-reference > docs/config.md`"
    );
}

#[test]
fn a_failed_first_start_still_shows_the_admin_password_on_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let cfg = write_config(dir.path(), ip);
    let data = dir.path().join("data");
    // Another program holds the decky's port: the first start fails.
    let squatter = std::net::TcpListener::bind((ip, 25080)).unwrap();
    let out = decnet()
        .args(["up", "--port-offset", "25000", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(&data)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("password"), "{stdout}");
    drop(squatter);
    // The next start creates the admin and shows its password.
    let (run, lines) = up(&cfg, &data, 25000, &[]);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("log in to the API as `admin` with password")),
        "{lines:#?}"
    );
    assert!(run.terminate().success());
}

#[test]
fn the_openapi_document_in_docs_is_what_the_binary_serves() {
    let out = decnet().arg("openapi").output().unwrap();
    assert!(out.status.success());
    let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let committed = std::fs::read_to_string(&doc).unwrap();
    assert!(
        committed == String::from_utf8(out.stdout).unwrap(),
        "docs/openapi.json is stale: regenerate it with `decnet openapi > docs/openapi.json`"
    );
}

/// The deckies `up --dry-run` plans for the first ```ini block after `heading` in the README.
fn readme_plan(heading: &str) -> (Vec<String>, serde_json::Value, tempfile::TempDir) {
    let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    let text = std::fs::read_to_string(readme).unwrap();
    let section = text.find(heading).expect("README has the section");
    let start = section
        + text[section..]
            .find("```ini\n")
            .expect("an ini example in the section")
        + "```ini\n".len();
    let len = text[start..].find("```").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("example.ini");
    std::fs::write(&cfg, &text[start..start + len]).unwrap();
    let out = decnet()
        .args(["up", "--dry-run", "--json", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let names = plan["deckies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_owned())
        .collect();
    (names, plan, dir)
}

#[test]
fn the_readme_example_config_resolves() {
    let (names, plan, dir) = readme_plan("## Config file");
    assert_eq!(names, ["gateway", "web-01", "web-02", "web-03"]);
    assert_eq!(plan["deckies"][0]["ip"], "127.42.0.1");
    // Nothing was bound and no API started: the data dir holds no database.
    assert!(!dir.path().join("decnet.db").exists());

    // The tour's mail and file servers deploy with the services their archetypes name.
    let (names, plan, _) = readme_plan("### Follow an intruder");
    assert_eq!(names, ["mail", "files"]);
    let services = |i: usize| -> Vec<String> {
        plan["deckies"][i]["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(services(0), ["smtp", "pop3", "imap"]);
    assert_eq!(services(1), ["ftp", "ssh"]);
}

#[test]
fn an_api_listening_beyond_loopback_is_flagged_as_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write_config(dir.path(), unique_ip());
    let data = dir.path().join("data");
    // Binding the wildcard sends nothing anywhere; port 0 takes any free port.
    let (run, _) = up(&cfg, &data, 21000, &[("DECNET_API_LISTEN", "0.0.0.0:0")]);
    let end = std::time::Instant::now() + Duration::from_secs(10);
    let mut seen = Vec::new();
    let warned = loop {
        let left = end.saturating_duration_since(std::time::Instant::now());
        match run.stderr.recv_timeout(left) {
            Ok(l) if l.contains("speaks plain HTTP") => break true,
            Ok(l) => seen.push(l),
            Err(_) => break false,
        }
    };
    assert!(warned, "no plain-HTTP warning on stderr: {seen:#?}");
    assert!(run.terminate().success());
}

#[test]
fn dry_run_refuses_a_persona_value_up_would_refuse_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("fleet.ini");
    // `users` is free text to the loader; only the SSH service knows it needs user:password.
    std::fs::write(
        &cfg,
        "[general]\nport_offset = 20000\n\n[web]\nservices = ssh, http\n\n[web.ssh]\nusers = bob\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let run = |extra: &[&str]| {
        decnet()
            .arg("up")
            .args(extra)
            .arg("--config")
            .arg(&cfg)
            .arg("--data-dir")
            .arg(&data)
            .args(["--listen", "127.0.0.1:0"])
            .output()
            .unwrap()
    };
    let dry = run(&["--dry-run"]);
    assert!(!dry.status.success());
    let dry_err = String::from_utf8_lossy(&dry.stderr);
    assert!(
        dry_err.contains("fleet.ini:8 [web.ssh] `users`") && dry_err.contains("user:password"),
        "{dry_err}"
    );
    // The dry run built the instances elsewhere: no keys or certificates in the data dir.
    assert!(!data.join("deckies").exists());
    let up = run(&[]);
    assert!(!up.status.success());
    let up_err = String::from_utf8_lossy(&up.stderr);
    assert!(up_err.contains("fleet.ini:8 [web.ssh] `users`"), "{up_err}");
}
