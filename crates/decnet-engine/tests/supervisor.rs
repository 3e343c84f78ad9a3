//! Listener supervision: lifecycle events, limits, panics, binding errors, shutdown.

#![allow(
    clippy::disallowed_methods,
    reason = "test clients read lines the test echo service wrote; no attacker bytes"
)]

use std::time::Duration;

use decnet_core::config::model::Limits;
use decnet_core::EventType;
use decnet_engine::{Engine, EngineError, EngineOptions};
use decnet_journal::JournalOptions;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::*;

fn opts(dir: &std::path::Path) -> EngineOptions {
    EngineOptions {
        data_dir: dir.to_path_buf(),
        journal: JournalOptions::default(),
        max_open_connections: None,
    }
}

const DEADLINE: Duration = Duration::from_secs(10);

/// One decky `d1` on `ip` running the echo service on any port; returns the engine and that port's address.
async fn start_one(
    data: &std::path::Path,
    ip: std::net::IpAddr,
    limits: Limits,
) -> (Engine, std::net::SocketAddr) {
    let engine = Engine::start(
        &fleet(vec![decky("d1", ip, 0)], limits),
        &registry(),
        opts(data),
    )
    .await
    .unwrap();
    let addr = engine.addr_of("d1", "echo").unwrap();
    (engine, addr)
}

#[tokio::test]
async fn a_connection_yields_connect_events_and_disconnect_with_one_session_id() {
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let (engine, addr) = start_one(dir.path(), ip, Limits::DEFAULT).await;
    let mut s = BufReader::new(TcpStream::connect(addr).await.unwrap());
    s.get_mut().write_all(b"hello\n").await.unwrap();
    let mut line = String::new();
    s.read_line(&mut line).await.unwrap();
    assert_eq!(line, "hello\n");
    s.get_mut().write_all(b"quit\n").await.unwrap();
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::Disconnect).is_empty()
    })
    .await;
    let types: Vec<EventType> = events.iter().map(|e| e.event_type).collect();
    assert_eq!(
        types,
        vec![
            EventType::Connect,
            EventType::Command,
            EventType::Command,
            EventType::Disconnect
        ]
    );
    let sid = events[0].session_id.unwrap();
    assert!(events
        .iter()
        .all(|e| e.session_id == Some(sid) && e.decky == "d1" && e.service == "echo"));
    let local = s.get_ref().local_addr().unwrap();
    assert_eq!(events[0].src_port, local.port());
    assert_eq!(events[0].dst_ip, ip);
    assert_eq!(events[3].fields["reason"], "closed");
    assert_eq!(events[3].fields["bytes_in"], 11);
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_panicking_service_ends_only_its_own_connection() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, addr) = start_one(dir.path(), unique_ip(), Limits::DEFAULT).await;
    let mut survivor = BufReader::new(TcpStream::connect(addr).await.unwrap());
    survivor.get_mut().write_all(b"one\n").await.unwrap();
    let mut line = String::new();
    survivor.read_line(&mut line).await.unwrap();

    let mut victim = TcpStream::connect(addr).await.unwrap();
    victim.write_all(b"panic\n").await.unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        victim.read(&mut buf).await.unwrap_or(0),
        0,
        "the panicking connection is closed"
    );

    // The other connection and new connections are still served.
    line.clear();
    survivor.get_mut().write_all(b"two\n").await.unwrap();
    survivor.read_line(&mut line).await.unwrap();
    assert_eq!(line, "two\n");
    let mut fresh = BufReader::new(TcpStream::connect(addr).await.unwrap());
    fresh.get_mut().write_all(b"three\n").await.unwrap();
    line.clear();
    fresh.read_line(&mut line).await.unwrap();
    assert_eq!(line, "three\n");

    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        ev.iter()
            .any(|e| e.event_type == EventType::Disconnect && e.fields["reason"] == "service_panic")
    })
    .await;
    assert_eq!(
        events
            .iter()
            .filter(
                |e| e.event_type == EventType::Disconnect && e.fields["reason"] == "service_panic"
            )
            .count(),
        1
    );
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_per_source_limit_refuses_extra_connections_with_an_event() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections_per_source: 2,
        ..Limits::DEFAULT
    };
    let (engine, addr) = start_one(dir.path(), unique_ip(), limits).await;
    let mut held = Vec::new();
    for i in 0..2 {
        let mut s = BufReader::new(TcpStream::connect(addr).await.unwrap());
        s.get_mut()
            .write_all(format!("c{i}\n").as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        held.push(s);
    }
    let mut extra = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(
        extra.read(&mut buf).await.unwrap_or(0),
        0,
        "third connection is closed at once"
    );
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::LimitExceeded).is_empty()
    })
    .await;
    let lim = of_type(&events, EventType::LimitExceeded);
    assert_eq!(lim.len(), 1);
    assert_eq!(lim[0].fields["limit"], "max_connections_per_source");
    assert_eq!(lim[0].fields["max"], 2);
    // The held connections were not disturbed.
    for s in &mut held {
        s.get_mut().write_all(b"still\n").await.unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        assert_eq!(line, "still\n");
    }
    // Releasing one frees a slot.
    drop(held.pop());
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::Disconnect).is_empty()
    })
    .await;
    assert_eq!(of_type(&events, EventType::Disconnect).len(), 1);
    let mut again = BufReader::new(TcpStream::connect(addr).await.unwrap());
    again.get_mut().write_all(b"back\n").await.unwrap();
    let mut line = String::new();
    again.read_line(&mut line).await.unwrap();
    assert_eq!(line, "back\n");
    engine.shutdown().await.unwrap();
}

/// Regression: slots went back only after the closing events were synced, so a
/// source reconnecting right after a close found them still taken and was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slots_are_released_at_close_so_a_reconnect_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections_per_source: 1,
        max_decky_connections_per_source: 1,
        max_connections_per_service: 1,
        max_connections_per_decky: 1,
        ..Limits::DEFAULT
    };
    let (engine, addr) = start_one(dir.path(), unique_ip(), limits).await;
    const ROUNDS: usize = 50;
    for i in 0..ROUNDS {
        let mut s = BufReader::new(TcpStream::connect(addr).await.unwrap());
        s.get_mut()
            .write_all(format!("r{i}\n").as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
        assert_eq!(line, format!("r{i}\n"), "round {i} was served");
        // The server closes; once the close is seen, the slot must be free.
        s.get_mut().write_all(b"quit\n").await.unwrap();
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await.unwrap();
    }
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        of_type(ev, EventType::Disconnect).len() == ROUNDS
    })
    .await;
    assert_eq!(of_type(&events, EventType::Connect).len(), ROUNDS);
    assert!(of_type(&events, EventType::LimitExceeded).is_empty());
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_per_decky_limit_counts_every_source() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections_per_decky: 1,
        ..Limits::DEFAULT
    };
    let (engine, addr) = start_one(dir.path(), unique_ip(), limits).await;
    let mut first = BufReader::new(TcpStream::connect(addr).await.unwrap());
    first.get_mut().write_all(b"x\n").await.unwrap();
    let mut line = String::new();
    first.read_line(&mut line).await.unwrap();
    let mut second = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(second.read(&mut buf).await.unwrap_or(0), 0);
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::LimitExceeded).is_empty()
    })
    .await;
    assert_eq!(
        of_type(&events, EventType::LimitExceeded)[0].fields["limit"],
        "max_connections_per_decky"
    );
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_idle_connection_is_closed_with_a_limit_event() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        idle_timeout: Duration::from_millis(300),
        ..Limits::DEFAULT
    };
    let (engine, addr) = start_one(dir.path(), unique_ip(), limits).await;
    let mut s = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 4];
    // The server closes the silent connection; the read returns EOF.
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .expect("server should close")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::Disconnect).is_empty()
    })
    .await;
    let lim = of_type(&events, EventType::LimitExceeded);
    assert_eq!(lim.len(), 1);
    assert_eq!(lim[0].fields["limit"], "idle_timeout");
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_connection_outliving_the_session_timeout_is_ended() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        session_timeout: Duration::from_millis(400),
        ..Limits::DEFAULT
    };
    let (engine, addr) = start_one(dir.path(), unique_ip(), limits).await;
    let mut s = BufReader::new(TcpStream::connect(addr).await.unwrap());
    // Keep talking so the idle limit never trips.
    let mut ended = false;
    let give_up = std::time::Instant::now() + DEADLINE;
    while std::time::Instant::now() < give_up {
        if s.get_mut().write_all(b"ping\n").await.is_err() {
            ended = true;
            break;
        }
        let mut line = String::new();
        match tokio::time::timeout(DEADLINE, s.read_line(&mut line)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                ended = true;
                break;
            }
            _ => {}
        }
    }
    assert!(ended, "the session deadline should end the connection");
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::Disconnect).is_empty()
    })
    .await;
    assert_eq!(
        of_type(&events, EventType::LimitExceeded)[0].fields["limit"],
        "session_timeout"
    );
    assert_eq!(
        of_type(&events, EventType::Disconnect)[0].fields["reason"],
        "session_timeout"
    );
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn two_deckies_on_one_address_and_port_are_refused_naming_both() {
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let err = Engine::start(
        &fleet(
            vec![decky("alpha", ip, 4242), decky("beta", ip, 4242)],
            Limits::DEFAULT,
        ),
        &registry(),
        opts(dir.path()),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EngineError::Config(_)), "{msg}");
    assert!(
        msg.contains("decky `alpha` service `echo`")
            && msg.contains("decky `beta` service `echo`")
            && msg.contains(&format!("{ip}:4242")),
        "{msg}"
    );
}

#[tokio::test]
async fn a_port_taken_by_another_program_stops_start_and_releases_what_was_bound() {
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let squatter = std::net::TcpListener::bind((ip, 0)).unwrap();
    let taken = squatter.local_addr().unwrap().port();
    let free = {
        let l = std::net::TcpListener::bind((ip, 0)).unwrap();
        l.local_addr().unwrap().port()
    };
    let err = Engine::start(
        &fleet(
            vec![decky("first", ip, free), decky("second", ip, taken)],
            Limits::DEFAULT,
        ),
        &registry(),
        opts(dir.path()),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, EngineError::Bind { .. }), "{msg}");
    assert!(
        msg.contains(&format!("{ip}:{taken}")) && msg.contains("already uses"),
        "{msg}"
    );
    // The first decky's socket was released.
    std::net::TcpListener::bind((ip, free)).expect("released port can be bound again");
}

#[tokio::test]
async fn shutdown_closes_listeners_and_flushes_every_event() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, addr) = start_one(dir.path(), unique_ip(), Limits::DEFAULT).await;
    let mut s = BufReader::new(TcpStream::connect(addr).await.unwrap());
    for i in 0..100 {
        s.get_mut()
            .write_all(format!("line {i}\n").as_bytes())
            .await
            .unwrap();
        let mut line = String::new();
        s.read_line(&mut line).await.unwrap();
    }
    let stats = engine.shutdown().await.unwrap();
    // connect + 100 commands + disconnect (reason shutdown), all durable.
    assert_eq!(stats.written, 102);
    let events = wait_journal(dir.path(), Duration::ZERO, |_| true).await;
    assert_eq!(events.len(), 102);
    assert_eq!(events.last().unwrap().fields["reason"], "shutdown");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "listener is closed"
    );
}
