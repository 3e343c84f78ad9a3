//! `scp` (legacy and SFTP modes) and `sftp` from the real OpenSSH client
//! against the decky: uploads become `file_upload` events whose bytes are
//! kept as artifacts named by their SHA-256, downloads `file_download` events.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use decnet_core::{Event, EventType};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::harness::{decky, have, serve, svc, unique_ip, Served};

pub(crate) async fn start(dir: &Path, name: &str) -> Served {
    let d = decky(
        name,
        &unique_ip(),
        dir,
        vec![svc("ssh", &[("auth_delay_ms", "5")])],
    );
    serve(d, "ssh").await
}

/// An OpenSSH tool (`scp`, `sftp`) logging in as root with the default password.
pub(crate) fn client(tool: &str, dir: &Path, port_flag: &str, s: &Served) -> Command {
    use std::os::unix::fs::PermissionsExt;
    let script = dir.join("askpass.sh");
    std::fs::write(&script, "#!/bin/sh\necho root\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut c = Command::new(tool);
    c.env("HOME", dir)
        .env("SSH_ASKPASS", &script)
        .env("SSH_ASKPASS_REQUIRE", "force")
        .env("DISPLAY", ":0")
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
        ])
        .args([
            "-o",
            "LogLevel=ERROR",
            "-o",
            "PreferredAuthentications=password",
        ])
        .args([port_flag, &s.addr.port().to_string()])
        .stdin(Stdio::null())
        .kill_on_drop(true);
    c
}

pub(crate) async fn run(mut c: Command) -> std::process::Output {
    tokio::time::timeout(Duration::from_secs(60), c.output())
        .await
        .expect("client finished in time")
        .expect("client ran")
}

async fn upload_event(s: &mut Served) -> Event {
    s.wait_type(EventType::FileUpload)
        .await
        .expect("file_upload")
}

pub(crate) fn payload(dir: &Path) -> (std::path::PathBuf, Vec<u8>) {
    let data: Vec<u8> = (0..70_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let p = dir.join("dropper.bin");
    std::fs::write(&p, &data).unwrap();
    (p, data)
}

fn assert_stored(s: &Served, e: &Event, data: &[u8], tool: &str) {
    let sha = hex::encode(Sha256::digest(data));
    assert_eq!(e.fields["sha256"], sha.as_str());
    assert_eq!(e.fields["size"], data.len() as u64);
    assert_eq!(e.fields["tool"], tool);
    let artifact = s.decky.artifacts_dir("ssh").join("uploads").join(&sha);
    assert_eq!(e.fields["stored"], true);
    assert_eq!(
        e.fields["artifact"],
        artifact.display().to_string().as_str()
    );
    let stored = std::fs::read(&artifact).unwrap();
    assert_eq!(stored, data, "the artifact holds the exact bytes");
}

#[tokio::test]
async fn legacy_scp_uploads_are_artifacts_and_events() {
    if !have("scp") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-scp-t").await;
    let (file, data) = payload(tmp.path());
    let mut c = client("scp", tmp.path(), "-P", &s);
    c.arg("-O")
        .arg(&file)
        .arg(format!("root@{}:/tmp/", s.addr.ip()));
    let out = run(c).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = upload_event(&mut s).await;
    assert_eq!(e.fields["name"], "/tmp/dropper.bin");
    assert_stored(&s, &e, &data, "scp");
}

#[tokio::test]
async fn scp_over_sftp_and_sftp_put_are_artifacts_and_events() {
    if !have("scp") || !have("sftp") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-sftp").await;
    let (file, data) = payload(tmp.path());
    let mut c = client("scp", tmp.path(), "-P", &s);
    c.arg(&file).arg(format!("root@{}:/tmp/x.bin", s.addr.ip()));
    let out = run(c).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = upload_event(&mut s).await;
    assert_eq!(e.fields["name"], "/tmp/x.bin");
    assert_stored(&s, &e, &data, "sftp");

    // Commands on stdin: `-b` would turn on BatchMode, which allows no password.
    let mut c = client("sftp", tmp.path(), "-P", &s);
    c.arg(format!("root@{}", s.addr.ip())).stdin(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(format!("put {} /var/tmp/y\nls /var/tmp\nbye\n", file.display()).as_bytes())
        .await
        .unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("sftp finished in time")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let e = upload_event(&mut s).await;
    assert_eq!(e.fields["name"], "/var/tmp/y");
    assert_stored(&s, &e, &data, "sftp");
}

#[tokio::test]
async fn scp_downloads_are_events_in_both_modes() {
    if !have("scp") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-scp-f").await;
    for (mode, tool) in [(Some("-O"), "scp"), (None, "sftp")] {
        let local = tmp.path().join(format!("passwd-{tool}"));
        let mut c = client("scp", tmp.path(), "-P", &s);
        if let Some(m) = mode {
            c.arg(m);
        }
        c.arg(format!("root@{}:/etc/passwd", s.addr.ip()))
            .arg(&local);
        let out = run(c).await;
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got = std::fs::read_to_string(&local).unwrap();
        assert!(got.starts_with("root:x:0:0:"), "{got}");
        let e = s
            .wait_type(EventType::FileDownload)
            .await
            .expect("file_download");
        assert_eq!(e.fields["name"], "/etc/passwd");
        assert_eq!(e.fields["tool"], tool);
        assert_eq!(e.fields["size"], got.len() as u64);
    }
}
