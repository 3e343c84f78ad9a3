//! The `docker_api` service driven by the docker CLI, curl and nmap.

use std::time::Duration;

use decnet_core::{Event, EventType};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::harness::{self, have, output, svc, unique_ip, Served};

const WAIT: Duration = Duration::from_secs(20);

/// dockerd 24.0.7's answer to `GET /_ping`, recorded from the real daemon,
/// `Date` blanked.
const DOCKERD_PING: &str = "HTTP/1.1 200 OK\r\nApi-Version: 1.43\r\nBuilder-Version: 2\r\n\
Cache-Control: no-cache, no-store, must-revalidate\r\nDocker-Experimental: false\r\nOstype: linux\r\n\
Pragma: no-cache\r\nServer: Docker/24.0.7 (linux)\r\nDate: X\r\nContent-Length: 2\r\n\
Content-Type: text/plain; charset=utf-8\r\n\r\nOK";

/// dockerd's 404 for a route it does not have: the router's handler, without
/// the middleware's headers (what nmap's GetRequest softmatch keys on).
const DOCKERD_404: &str = "HTTP/1.0 404 Not Found\r\nContent-Type: application/json\r\nDate: X\r\n\
Content-Length: 29\r\n\r\n{\"message\":\"page not found\"}\n";

async fn serve(slug: &str, data: &std::path::Path) -> Served {
    let d = harness::decky("dock", &unique_ip(), data, vec![svc(slug, &[])]);
    harness::serve(d, slug).await
}

fn undated(t: &str) -> String {
    t.split("\r\n")
        .map(|l| {
            if l.starts_with("Date: ") {
                "Date: X"
            } else {
                l
            }
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

// Capped with `take`: answers here are a few hundred bytes.
#[allow(clippy::disallowed_methods)]
async fn raw(s: &Served, request: &[u8]) -> String {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(request).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(WAIT, (&mut c).take(1 << 20).read_to_end(&mut out))
        .await
        .expect("the daemon closes")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

fn docker(s: &Served, config: &std::path::Path, args: &[&str]) -> tokio::process::Command {
    let mut c = tokio::process::Command::new("docker");
    c.env("DOCKER_HOST", format!("tcp://{}", s.addr))
        .env("DOCKER_CONFIG", config)
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CONTEXT")
        .args(args);
    c
}

async fn command(s: &mut Served, op: &str) -> Event {
    let op = op.to_owned();
    s.wait_for(WAIT, move |e| {
        e.event_type == EventType::Command && e.fields.get("op") == Some(&Value::from(op.as_str()))
    })
    .await
    .unwrap_or_else(|| panic!("no command event"))
}

#[tokio::test]
async fn ping_and_unknown_routes_are_dockerds_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve("docker_api", dir.path()).await;
    let ping = raw(
        &s,
        b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    // Our close is Go's `Connection: close` after the sniffed type.
    assert_eq!(
        undated(&ping),
        DOCKERD_PING.replace(
            "Content-Type: text/plain; charset=utf-8\r\n\r\n",
            "Content-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
        )
    );
    if have("curl") {
        let out = output({
            let mut c = tokio::process::Command::new("curl");
            c.args([
                "-s",
                "-i",
                "--max-time",
                "10",
                &format!("http://{}/_ping", s.addr),
            ]);
            c
        })
        .await;
        assert_eq!(undated(&String::from_utf8_lossy(&out.stdout)), DOCKERD_PING);
    }
    let nf = raw(&s, b"GET / HTTP/1.0\r\n\r\n").await;
    assert_eq!(undated(&nf), DOCKERD_404);
    let too_new = raw(&s, b"GET /v1.99/version HTTP/1.0\r\n\r\n").await;
    assert!(
        too_new.starts_with("HTTP/1.0 400 Bad Request\r\nApi-Version: 1.43\r\n"),
        "{too_new}"
    );
    assert!(too_new.ends_with(
        "{\"message\":\"client version 1.99 is too new. Maximum supported API version is 1.43\"}\n"
    ));
    // Go's refusal of an HTTP/1.1 request without Host (nmap's docker probe).
    let no_host = raw(&s, b"GET /version HTTP/1.1\r\n\r\n").await;
    assert_eq!(
        no_host,
        "HTTP/1.1 400 Bad Request: missing required Host header\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Connection: close\r\n\r\n400 Bad Request: missing required Host header"
    );
}

#[tokio::test]
async fn docker_version_and_ps_see_the_persona_daemon() {
    if !have("docker") {
        eprintln!("skipped: no docker CLI");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = serve("docker_api", dir.path()).await;
    let cfg = tempfile::tempdir().unwrap();
    let v = output(docker(&s, cfg.path(), &["version"])).await;
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(text.contains("Docker Engine - Community"), "{text}");
    assert!(text.contains("24.0.7"), "{text}");
    assert!(text.contains("1.43 (minimum version 1.12)"), "{text}");
    assert!(text.contains("go1.20.10"), "{text}");
    let ps = output(docker(
        &s,
        cfg.path(),
        &["ps", "--format", "{{.Image}} {{.Names}}"],
    ))
    .await;
    let text = String::from_utf8_lossy(&ps.stdout);
    assert!(
        ps.status.success(),
        "{}",
        String::from_utf8_lossy(&ps.stderr)
    );
    assert!(text.lines().count() >= 2, "{text}");
    assert!(
        text.lines().all(|l| l.contains(":") && l.ends_with("-1")),
        "{text}"
    );
    let info = output(docker(
        &s,
        cfg.path(),
        &["info", "--format", "{{.Name}} {{.ServerVersion}}"],
    ))
    .await;
    assert_eq!(
        String::from_utf8_lossy(&info.stdout).trim(),
        "dock-host 24.0.7"
    );
}

#[tokio::test]
async fn docker_run_is_captured_with_its_image_and_command() {
    if !have("docker") {
        eprintln!("skipped: no docker CLI");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("docker_api", dir.path()).await;
    let cfg = tempfile::tempdir().unwrap();
    let mut c = docker(&s, cfg.path(), &["run", "--rm", "alpine", "id"]);
    c.stdin(std::process::Stdio::null()).kill_on_drop(true);
    // The capture is what matters; a client stuck at attach is killed.
    let run = tokio::time::timeout(Duration::from_secs(30), c.output()).await;
    let e = command(&mut s, "container_create").await;
    assert_eq!(e.fields["image"], "alpine");
    assert_eq!(e.fields["cmd"], serde_json::json!(["id"]));
    assert_eq!(e.fields["command"], "id");
    assert_eq!(e.fields["privileged"], false);
    let id = e.fields["container_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 64);
    let start = command(&mut s, "container_start").await;
    assert_eq!(
        start.fields["container_id"]
            .as_str()
            .map(|c| id.starts_with(c)),
        Some(true)
    );
    let out = run.expect("docker run ends").unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .starts_with("uid=0(root) gid=0(root) groups=0(root),1(bin)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[tokio::test]
async fn a_privileged_host_mount_and_an_exec_are_commands() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("docker_api", dir.path()).await;
    let base = format!("http://{}/v1.41", s.addr);
    let curl = |args: Vec<String>| {
        let mut c = tokio::process::Command::new("curl");
        c.arg("-s").arg("--max-time").arg("10").args(args);
        c
    };
    let body = r#"{"Image":"ubuntu","Cmd":["chroot","/host","bash"],"HostConfig":{"Binds":["/:/host"],"Privileged":true}}"#;
    let out = output(curl(vec![
        "-H".into(),
        "Content-Type: application/json".into(),
        "-d".into(),
        body.into(),
        format!("{base}/containers/create?name=pwn"),
    ]))
    .await;
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["Warnings"], serde_json::json!([]));
    let id = created["Id"].as_str().unwrap().to_owned();
    let e = command(&mut s, "container_create").await;
    assert_eq!(e.fields["binds"], serde_json::json!(["/:/host"]));
    assert_eq!(e.fields["privileged"], true);
    assert_eq!(e.fields["name"], "pwn");
    assert_eq!(e.fields["command"], "chroot /host bash");
    let out = output(curl(vec![
        "-d".into(),
        r#"{"Cmd":["cat","/etc/shadow"],"AttachStdout":true}"#.into(),
        "-H".into(),
        "Content-Type: application/json".into(),
        format!("{base}/containers/{}/exec", &id[..12]),
    ]))
    .await;
    let exec: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = command(&mut s, "exec_create").await;
    assert_eq!(e.fields["command"], "cat /etc/shadow");
    assert_eq!(e.fields["exec_id"], exec["Id"]);
    let out = output(curl(vec![
        "-X".into(),
        "POST".into(),
        "-D".into(),
        "-".into(),
        format!("{base}/images/create?fromImage=evil/miner&tag=v2"),
    ]))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Transfer-Encoding: chunked"), "{text}");
    assert!(text.contains("Pulling from evil/miner"), "{text}");
    let e = command(&mut s, "image_pull").await;
    assert_eq!(e.fields["image"], "evil/miner");
    assert_eq!(e.fields["tag"], "v2");
}

#[tokio::test]
async fn the_tls_listener_serves_the_same_api() {
    if !have("curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve("docker_api_tls", dir.path()).await;
    let out = output({
        let mut c = tokio::process::Command::new("curl");
        c.args([
            "-sk",
            "--max-time",
            "10",
            &format!("https://{}/version", s.addr),
        ]);
        c
    })
    .await;
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ApiVersion"], "1.43");
    let e = s
        .wait_for(WAIT, |e| e.event_type == EventType::HttpRequest)
        .await
        .unwrap();
    assert_eq!(e.fields["tls"], true);
    assert_eq!(e.fields["tls_version"], "TLSv1.3");
    assert_eq!(e.fields["tls_cipher"], "TLS_AES_128_GCM_SHA256");
}

#[tokio::test]
async fn nmap_names_the_docker_daemon_and_its_version() {
    if !have("nmap") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = serve("docker_api", dir.path()).await;
    let out = output({
        let mut c = tokio::process::Command::new("nmap");
        c.args([
            "-sV",
            "-Pn",
            "-n",
            "--version-intensity",
            "7",
            "-p",
            &s.addr.port().to_string(),
            &s.addr.ip().to_string(),
        ]);
        c
    })
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    // The HTTPOptions probe's match: dockerd's OPTIONS answer, headers in Go's order.
    assert!(
        text.contains("open  docker  Docker 24.0.7 (API 1.43)"),
        "{text}"
    );
    assert!(text.contains("OS: linux"), "{text}");
}
