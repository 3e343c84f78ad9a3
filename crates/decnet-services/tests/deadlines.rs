//! Pre-authentication deadlines the protocols keep themselves (the supervisor
//! adds its own): a client that trickles its SSH identification line or stalls
//! in the key exchange, or trickles an HTTP request head, holds its slot for
//! `pre_auth_timeout` at most. Paused time: an hour passes in milliseconds.

use std::sync::Arc;
use std::time::Duration;

use decnet_core::config::model::Limits;
use decnet_core::{Event, EventType};
use decnet_services::DeckyRuntime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::harness::{decky, have, serve, svc, unique_ip, Served};

async fn start(dir: &std::path::Path, name: &str, slug: &str, limits: Limits) -> Served {
    let d = decky(
        name,
        &unique_ip(),
        dir,
        vec![svc(slug, &[("auth_delay_ms", "5")])],
    );
    let d = Arc::new(DeckyRuntime {
        config: d.config.clone(),
        seed: d.seed.clone(),
        data_dir: d.data_dir.clone(),
        limits,
        bait: Default::default(),
        prefix: 24,
    });
    serve(d, slug).await
}

/// Sends `first`, then `trickle` one byte every `every`, reading whatever comes
/// back; returns how long the server kept the connection open.
async fn held_for(s: &Served, first: &[u8], trickle: &[u8], every: Duration) -> Duration {
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let started = Instant::now();
    c.write_all(first).await.unwrap();
    let mut pending = trickle.iter();
    let mut buf = [0u8; 4096];
    loop {
        tokio::select! {
            r = c.read(&mut buf) => match r {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            },
            () = tokio::time::sleep(every), if pending.len() > 0 => {
                if let Some(b) = pending.next() {
                    if c.write_all(&[*b]).await.is_err() {
                        return started.elapsed();
                    }
                }
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(4000),
            "connection never closed"
        );
    }
}

/// The `limit_exceeded` event that closed the connection; nothing calls it a scan.
async fn limit_event(s: &mut Served) -> Event {
    let e = s
        .wait_type(EventType::LimitExceeded)
        .await
        .expect("limit_exceeded");
    let rest = s.drain(Duration::from_millis(200)).await;
    assert!(
        rest.iter()
            .all(|e| !matches!(e.event_type, EventType::Scan | EventType::ProtocolError)),
        "{rest:?}"
    );
    e
}

/// Closed at the deadline: not before, and not at the next trickled byte or
/// the 300 s idle timeout (paused time may run a few seconds past while the
/// close crosses loopback).
fn at_deadline(held: Duration, deadline: Duration) {
    assert!(
        held >= deadline && held < deadline + Duration::from_secs(10),
        "held {held:?}, deadline {deadline:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn ssh_a_half_identification_line_is_closed_at_the_pre_auth_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-dl-half", "ssh", Limits::DEFAULT).await;
    let held = held_for(&s, b"SSH-2.0-Open", b"", Duration::from_secs(1)).await;
    at_deadline(held, Limits::DEFAULT.pre_auth_timeout);
    let e = limit_event(&mut s).await;
    assert_eq!(e.fields["limit"], "pre_auth_timeout");
    assert_eq!(e.fields["max_secs"], 60);
}

#[tokio::test(start_paused = true)]
async fn ssh_an_identification_line_trickled_byte_by_byte_does_not_extend_the_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-dl-trickle", "ssh", Limits::DEFAULT).await;
    // A byte every 4 s never lets the 300 s idle timeout fire.
    let held = held_for(
        &s,
        b"S",
        b"SH-2.0-OpenSSH_9.6p1 Debian-3\r\n",
        Duration::from_secs(4),
    )
    .await;
    at_deadline(held, Limits::DEFAULT.pre_auth_timeout);
    assert_eq!(
        limit_event(&mut s).await.fields["limit"],
        "pre_auth_timeout"
    );
}

#[tokio::test(start_paused = true)]
async fn ssh_a_client_stalling_in_the_key_exchange_is_closed_at_the_pre_auth_deadline() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "ssh-dl-kex", "ssh", Limits::DEFAULT).await;
    // A whole identification line, then the first bytes of a KEXINIT packet.
    let held = held_for(
        &s,
        b"SSH-2.0-OpenSSH_9.6\r\n\x00\x00\x04\x00\x0a\x14",
        b"\x00\x01\x02\x03",
        Duration::from_secs(10),
    )
    .await;
    at_deadline(held, Limits::DEFAULT.pre_auth_timeout);
    let e = limit_event(&mut s).await;
    assert_eq!(e.fields["limit"], "pre_auth_timeout");
    assert_eq!(e.fields["client_version"], "SSH-2.0-OpenSSH_9.6");
}

#[tokio::test(start_paused = true)]
async fn http_a_trickled_request_head_is_a_header_timeout_not_a_protocol_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut s = start(tmp.path(), "http-dl-head", "http", Limits::DEFAULT).await;
    let held = held_for(
        &s,
        b"GET / HTTP/1.1\r\nHost: x\r\n",
        b"X-a: b\r\nX-c: d\r\n",
        Duration::from_secs(5),
    )
    .await;
    // nginx's client_header_timeout, the default pre-auth deadline too.
    at_deadline(held, Duration::from_secs(60));
    let e = limit_event(&mut s).await;
    assert_eq!(e.fields["limit"], "header_timeout");
    assert_eq!(e.fields["max_secs"], 60);
    assert!(e.fields["data_len"].as_u64().unwrap() >= 26);
}

#[tokio::test(start_paused = true)]
async fn http_a_shorter_pre_auth_deadline_shortens_the_header_timeout() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = Limits {
        pre_auth_timeout: Duration::from_secs(10),
        ..Limits::DEFAULT
    };
    let mut s = start(tmp.path(), "http-dl-short", "http", limits).await;
    let held = held_for(&s, b"GET / HT", b"", Duration::from_secs(1)).await;
    at_deadline(held, Duration::from_secs(10));
    let e = limit_event(&mut s).await;
    assert_eq!(e.fields["limit"], "header_timeout");
    assert_eq!(e.fields["max_secs"], 10);
}

#[tokio::test]
async fn ssh_a_logged_in_session_outlives_the_pre_auth_deadline() {
    if !have("sshpass") {
        return;
    }
    use std::process::Stdio;
    let tmp = tempfile::tempdir().unwrap();
    // Long enough for a loaded CI machine to finish the key exchange and login.
    let deadline = Duration::from_secs(5);
    let limits = Limits {
        pre_auth_timeout: deadline,
        ..Limits::DEFAULT
    };
    let mut s = start(tmp.path(), "ssh-dl-authed", "ssh", limits).await;
    let mut c = tokio::process::Command::new("sshpass");
    c.args(["-p", "root", "ssh", "-tt"])
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-o", "PreferredAuthentications=password"])
        .args(["-p", &s.addr.port().to_string()])
        .arg(format!("root@{}", s.addr.ip()))
        .env("HOME", tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = c.spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    s.wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    // The deadline passing is the condition under test, not a synchronisation.
    tokio::time::sleep(deadline + Duration::from_millis(500)).await;
    stdin.write_all(b"echo still-here\n").await.unwrap();
    let e = s.wait_type(EventType::Command).await.expect("command");
    assert_eq!(e.fields["command"], "echo still-here");
    stdin.write_all(b"exit\n").await.unwrap();
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("still-here"));
    assert!(!s
        .drain(Duration::from_millis(200))
        .await
        .iter()
        .any(|e| e.event_type == EventType::LimitExceeded));
}

/// One SSH connection served outside the harness, so the test owns the `serve`
/// task, the emitter and the limits: what the supervisor does, by hand.
struct One {
    addr: std::net::SocketAddr,
    ctx: decnet_services::ConnCtx,
    trip: decnet_services::conn::TripFlag,
    serve: tokio::task::JoinHandle<Result<(), decnet_services::ServiceError>>,
}

async fn serve_one(
    dir: &std::path::Path,
    name: &str,
    emitter: decnet_services::Emitter,
    limits: Limits,
) -> (
    tokio::net::TcpListener,
    impl FnOnce(TcpStream) -> One + Send,
) {
    use decnet_services::{Conn, ConnCtx, Registry};
    let d = decky(
        name,
        &unique_ip(),
        dir,
        vec![svc("ssh", &[("auth_delay_ms", "5")])],
    );
    let d = Arc::new(DeckyRuntime {
        config: d.config.clone(),
        seed: d.seed.clone(),
        data_dir: d.data_dir.clone(),
        limits,
        bait: Default::default(),
        prefix: 24,
    });
    let registry = Registry::builtin();
    let service = registry.get("ssh").unwrap();
    let info = service.info().listener("ssh").unwrap();
    let instance = service.instance(d.clone(), &d.config.services[0]).unwrap();
    let listener = tokio::net::TcpListener::bind((d.config.ip, 0))
        .await
        .unwrap();
    let accept = move |stream: TcpStream| {
        let peer = stream.peer_addr().unwrap();
        let local = stream.local_addr().unwrap();
        let ctx = ConnCtx {
            decky: d.clone(),
            service: "ssh",
            listener: info,
            peer,
            local,
            session_id: uuid::Uuid::now_v7(),
            accepted: tokio::time::Instant::now(),
            emitter,
            abort: Default::default(),
            pre_auth: Default::default(),
            slots: Default::default(),
        };
        let conn = Conn::new(Box::new(stream), peer, local, &d.limits);
        let trip = conn.trip_flag();
        let c2 = ctx.clone();
        let serve = tokio::spawn(async move { instance.serve(conn, c2).await });
        One {
            addr: local,
            ctx,
            trip,
            serve,
        }
    };
    (listener, accept)
}

/// Reads until the server closes; false if it is still open after `within`.
async fn closes_within(c: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 4096];
    tokio::time::timeout(within, async {
        loop {
            match c.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn ssh_ending_serve_closes_the_connection_russh_serves_in_its_own_task() {
    let tmp = tempfile::tempdir().unwrap();
    let (tx, _rx) = tokio::sync::mpsc::channel(64);
    let (listener, accept) = serve_one(
        tmp.path(),
        "ssh-abort",
        decnet_services::Emitter::new(tx),
        Limits::DEFAULT,
    )
    .await;
    let addr = listener.local_addr().unwrap();
    let mut c = TcpStream::connect(addr).await.unwrap();
    let one = accept(listener.accept().await.unwrap().0);
    assert_eq!(one.addr, addr);
    c.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await.unwrap();
    let mut id = [0u8; 8];
    c.read_exact(&mut id).await.unwrap();
    assert_eq!(&id, b"SSH-2.0-");
    // What the supervisor does at the session deadline or on an abort.
    one.serve.abort();
    assert!(
        closes_within(&mut c, Duration::from_secs(10)).await,
        "the connection outlived its serve task"
    );
}

#[tokio::test]
async fn ssh_an_attempt_the_journal_cannot_record_ends_the_session_unanswered() {
    if !have("sshpass") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    drop(rx); // a journal that records nothing
    let (listener, accept) = serve_one(
        tmp.path(),
        "ssh-unrecorded",
        decnet_services::Emitter::new(tx),
        Limits::DEFAULT,
    )
    .await;
    let addr = listener.local_addr().unwrap();
    let mut c = tokio::process::Command::new("sshpass");
    c.args(["-p", "root", "ssh"])
        .args(["-o", "StrictHostKeyChecking=no"])
        .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"])
        .args(["-o", "PreferredAuthentications=password"])
        .args(["-p", &addr.port().to_string()])
        .arg(format!("root@{}", addr.ip()))
        .arg("true")
        .env("HOME", tmp.path())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let client = tokio::spawn(async move { c.output().await });
    let one = accept(listener.accept().await.unwrap().0);
    let out = tokio::time::timeout(Duration::from_secs(30), client)
        .await
        .expect("the client was not left hanging")
        .unwrap()
        .unwrap();
    // root/root is a configured account: recorded, it would have logged in.
    assert!(!out.status.success(), "the unrecorded login was let in");
    assert_eq!(one.ctx.abort.reason(), Some("not_recorded"));
}

#[tokio::test(start_paused = true)]
async fn ssh_an_idle_close_is_the_idle_limit_not_a_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let limits = Limits {
        idle_timeout: Duration::from_secs(5),
        ..Limits::DEFAULT
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let (listener, accept) = serve_one(
        tmp.path(),
        "ssh-idle",
        decnet_services::Emitter::new(tx),
        limits,
    )
    .await;
    let mut c = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let one = accept(listener.accept().await.unwrap().0);
    let started = Instant::now();
    c.write_all(b"SSH-2.0-OpenSSH_9.6\r\n").await.unwrap();
    assert!(closes_within(&mut c, Duration::from_secs(100)).await);
    at_deadline(started.elapsed(), limits.idle_timeout);
    assert!(one.serve.await.unwrap().is_ok());
    // The supervised connection's trip is what the supervisor reports as
    // `limit_exceeded` (`idle_timeout`); the SSH layer adds no `scan`.
    assert_eq!(one.trip.get(), Some(decnet_services::conn::LimitTrip::Idle));
    assert!(rx.try_recv().is_err(), "no event from the SSH layer");
}
