//! What a bot writes through the shell, over the real OpenSSH client: droppers
//! built with `printf` and `echo -e` become `file_upload` events whose bytes
//! are kept as artifacts beside SFTP's, and a file uploaded with `scp` is in
//! the shell of the same connection.

use std::path::{Path, PathBuf};

use decnet_core::{Event, EventType};
use sha2::{Digest, Sha256};

use crate::harness::{have, Served};
use crate::ssh_transfer::{client, payload, run, start};

/// Checks a shell `file_upload` names `path`, its sha256 and an artifact holding exactly `data`.
fn assert_kept(s: &Served, e: &Event, path: &str, data: &[u8]) {
    let sha = hex::encode(Sha256::digest(data));
    assert_eq!(e.fields["name"], path, "{e:?}");
    assert_eq!(e.fields["sha256"], sha.as_str());
    assert_eq!(e.fields["size"], data.len() as u64);
    assert_eq!(e.fields["tool"], "shell");
    assert_eq!(e.fields["stored"], true);
    assert_eq!(e.fields["truncated"], false);
    let artifact = s.decky.artifacts_dir("ssh").join("uploads").join(&sha);
    assert_eq!(
        e.fields["artifact"],
        artifact.display().to_string().as_str()
    );
    assert_eq!(
        std::fs::read(&artifact).unwrap(),
        data,
        "the artifact holds the exact bytes"
    );
}

#[tokio::test]
async fn printf_and_echo_e_droppers_are_kept_as_artifacts() {
    if !have("ssh") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "shell-drop").await;
    // The line as a Mirai-style loader types it, escapes interpreted by the decky's shell.
    let line = r"cd /tmp || cd /var/run; printf '\x7f\x45\x4c\x46\x02\x01\x01\x00\x00\x00' > .x; echo -e '\x7fELF\x01\x01\x01\x00\x02\x00\x28' > /var/tmp/.y; chmod +x .x /var/tmp/.y; ./.x; /var/tmp/.y";
    let mut c = client("ssh", tmp.path(), "-p", &s);
    c.arg(format!("root@{}", s.addr.ip())).arg(line);
    let out = run(c).await;
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let a = s
        .wait_type(EventType::FileUpload)
        .await
        .expect("file_upload");
    let b = s
        .wait_type(EventType::FileUpload)
        .await
        .expect("file_upload");
    assert_kept(&s, &a, "/tmp/.x", b"\x7fELF\x02\x01\x01\x00\x00\x00");
    assert_kept(
        &s,
        &b,
        "/var/tmp/.y",
        b"\x7fELF\x01\x01\x01\x00\x02\x00\x28\n",
    );
    assert_eq!(a.fields["command"], line);
}

/// A control master (`ssh -M`), stopped with `ssh -O exit` when dropped.
struct Master {
    socket: PathBuf,
    dest: String,
}

impl Drop for Master {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ssh")
            .arg("-S")
            .arg(&self.socket)
            .args(["-O", "exit"])
            .arg(&self.dest)
            .stderr(std::process::Stdio::null())
            .status();
    }
}

fn via(master: &Master, mut c: tokio::process::Command) -> tokio::process::Command {
    c.arg("-o")
        .arg(format!("ControlPath={}", master.socket.display()));
    c
}

async fn open_master(dir: &Path, s: &Served) -> Master {
    let master = Master {
        socket: dir.join("ctl"),
        dest: format!("root@{}", s.addr.ip()),
    };
    let mut c = via(&master, client("ssh", dir, "-p", s));
    c.args([
        "-o",
        "ControlMaster=yes",
        "-o",
        "ControlPersist=60",
        "-f",
        "-N",
    ])
    .arg(&master.dest);
    let out = run(c).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    master
}

#[tokio::test]
async fn a_file_scp_uploaded_is_in_the_shell_of_the_same_connection() {
    if !have("ssh") || !have("scp") {
        eprintln!("skipped: needs the OpenSSH client");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "shell-scp").await;
    let master = open_master(tmp.path(), &s).await;
    let (file, data) = payload(tmp.path());
    let mut c = via(&master, client("scp", tmp.path(), "-P", &s));
    c.arg(&file).arg(format!("{}:/tmp/", master.dest));
    let out = run(c).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let up = s
        .wait_type(EventType::FileUpload)
        .await
        .expect("file_upload");
    assert_eq!(up.fields["name"], "/tmp/dropper.bin");
    assert_eq!(up.fields["stored"], true);

    let mut c = via(&master, client("ssh", tmp.path(), "-p", &s));
    c.arg(&master.dest)
        .arg("ls -l /tmp/dropper.bin; sha256sum /tmp/dropper.bin");
    let out = run(c).await;
    let text = String::from_utf8_lossy(&out.stdout);
    let sha = hex::encode(Sha256::digest(&data));
    assert!(
        text.contains(&format!(" {} ", data.len())) && text.contains(&sha),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Seen again in the shell, the upload is no second capture.
    let again = s
        .drain(std::time::Duration::from_millis(500))
        .await
        .into_iter()
        .filter(|e| e.event_type == EventType::FileUpload)
        .count();
    assert_eq!(again, 0);
}
