//! Fair shares under slowloris floods: many sources, one source, pre-auth deadlines,
//! aggregated refusals and the descriptor budget.

#![allow(
    clippy::disallowed_methods,
    reason = "test clients read lines the test echo service wrote; no attacker bytes"
)]

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use decnet_core::catalog::{ListenerInfo, ServiceInfo};
use decnet_core::config::model::{Limits, ServiceConfig};
use decnet_core::{Event, EventType};
use decnet_engine::{Engine, EngineOptions};
use decnet_journal::JournalOptions;
use decnet_services::{Conn, ConnCtx, DeckyRuntime, Instance, Registry, Service, ServiceError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(20);

static LOGIN: ServiceInfo = ServiceInfo {
    name: "login",
    summary: "test: echoes every byte; `login\\n` authenticates; opts into the pre-auth deadline",
    listeners: &[ListenerInfo::tcp("login", 2323)],
    persona_keys: &[],
};

/// A service with a login step: until the peer sends `login\n`, the supervisor's
/// pre-auth deadline applies.
struct Login;

struct LoginInstance;

impl Service for Login {
    fn info(&self) -> &'static ServiceInfo {
        &LOGIN
    }
    fn instance(
        &self,
        _decky: Arc<DeckyRuntime>,
        _cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        Ok(Arc::new(LoginInstance))
    }
}

#[async_trait]
impl Instance for LoginInstance {
    async fn serve(&self, mut conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let mut seen = Vec::new();
        let mut buf = [0u8; 64];
        loop {
            let n = conn.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            seen.extend_from_slice(&buf[..n]);
            if seen.windows(6).any(|w| w == b"login\n") {
                ctx.pre_auth.done();
            }
            conn.write_all(&buf[..n]).await?;
        }
    }

    fn pre_auth_deadline(&self) -> bool {
        true
    }
}

fn registry() -> Registry {
    Registry::new(vec![Box::new(Echo), Box::new(Login)])
}

fn opts(dir: &Path, max_open_connections: Option<u64>) -> EngineOptions {
    EngineOptions {
        data_dir: dir.to_path_buf(),
        journal: JournalOptions::default(),
        max_open_connections,
    }
}

/// One decky `d1` running echo and login; returns the engine and both addresses.
async fn start(
    dir: &Path,
    limits: Limits,
    max_open_connections: Option<u64>,
) -> (Engine, SocketAddr, SocketAddr) {
    let mut d = decky("d1", unique_ip(), 0);
    d.services.push(ServiceConfig::defaults(&LOGIN, Some(0)));
    let engine = Engine::start(
        &fleet(vec![d], limits),
        &registry(),
        opts(dir, max_open_connections),
    )
    .await
    .unwrap();
    let echo = engine.addr_of("d1", "echo").unwrap();
    let login = engine.addr_of("d1", "login").unwrap();
    (engine, echo, login)
}

/// A fresh client source address (a loopback address of its own).
fn source() -> IpAddr {
    decnet_testkit::unique_ip(21)
}

/// Connects to `to` from `from`.
async fn connect_from(from: IpAddr, to: SocketAddr) -> BufReader<TcpStream> {
    let s = TcpSocket::new_v4().unwrap();
    s.bind(SocketAddr::new(from, 0)).unwrap();
    BufReader::new(s.connect(to).await.unwrap())
}

/// Whether the connection is served: a line sent comes back (false on a close).
async fn served(s: &mut BufReader<TcpStream>) -> bool {
    if s.get_mut().write_all(b"hi\n").await.is_err() {
        return false;
    }
    let mut line = String::new();
    match tokio::time::timeout(DEADLINE, s.read_line(&mut line)).await {
        Ok(Ok(_)) => line == "hi\n",
        Ok(Err(_)) => false,
        Err(_) => panic!("no answer and no close within {DEADLINE:?}"),
    }
}

/// Opens `per_source` connections from each of `sources` fresh sources to `to`,
/// each sending one line; returns every stream (served or not).
async fn flood(to: SocketAddr, sources: usize, per_source: usize) -> Vec<BufReader<TcpStream>> {
    let mut held = Vec::new();
    for _ in 0..sources {
        let ip = source();
        for _ in 0..per_source {
            let mut s = connect_from(ip, to).await;
            served(&mut s).await;
            held.push(s);
        }
    }
    held
}

fn evicted_disconnects(events: &[Event]) -> Vec<&Event> {
    events
        .iter()
        .filter(|e| e.event_type == EventType::Disconnect && e.fields["reason"] == "evicted")
        .collect()
}

/// Every evicted connection's session has a `limit_exceeded` naming `limit`.
fn assert_evictions_name(events: &[Event], limit: &str, max: u64) {
    for d in evicted_disconnects(events) {
        let lim: Vec<&Event> = events
            .iter()
            .filter(|e| e.event_type == EventType::LimitExceeded && e.session_id == d.session_id)
            .collect();
        assert_eq!(lim.len(), 1, "one limit event per evicted session");
        assert_eq!(lim[0].fields["limit"], limit);
        assert_eq!(lim[0].fields["max"], max);
        assert_eq!(lim[0].fields["evicted"], true);
    }
}

/// Connections of the decky that are open now, by the journal: connects less disconnects.
fn live(events: &[Event]) -> usize {
    of_type(events, EventType::Connect).len() - of_type(events, EventType::Disconnect).len()
}

#[tokio::test]
async fn forty_slow_sources_filling_a_decky_cannot_lock_out_a_fresh_visitor() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections_per_decky: 16,
        max_decky_connections_per_source: 4,
        ..Limits::DEFAULT
    };
    let (engine, echo, login) = start(dir.path(), limits, None).await;
    let _slow = flood(echo, 40, 3).await;

    // The decky is full of slow connections; a newcomer still gets served, on
    // another service and on the flooded one, by taking a busiest source's slot.
    let mut other = connect_from(source(), login).await;
    assert!(
        served(&mut other).await,
        "a fresh visitor on another service"
    );
    let mut same = connect_from(source(), echo).await;
    assert!(
        served(&mut same).await,
        "a fresh visitor on the flooded service"
    );

    let events = wait_journal(dir.path(), DEADLINE, |ev| live(ev) == 16).await;
    assert_eq!(live(&events), 16, "the decky holds its cap, no more");
    // Every source's first connection and both newcomers got in: a source holding
    // nothing always beats the busiest one; the flood rotated through the slots.
    let connects = of_type(&events, EventType::Connect).len();
    assert!(connects >= 40 + 2, "{connects} admitted");
    assert_eq!(evicted_disconnects(&events).len(), connects - 16);
    assert_evictions_name(&events, "max_connections_per_decky", 16);
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_flooded_service_leaves_the_rest_of_the_decky_to_the_other_services() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections_per_decky: 16,
        max_connections_per_service: 12,
        ..Limits::DEFAULT
    };
    let (engine, echo, login) = start(dir.path(), limits, None).await;
    let _slow = flood(echo, 40, 1).await;
    let mut other = connect_from(source(), login).await;
    assert!(served(&mut other).await, "room is left for another service");
    let mut same = connect_from(source(), echo).await;
    assert!(
        served(&mut same).await,
        "a fresh source takes a slot of the service"
    );

    let events = wait_journal(dir.path(), DEADLINE, |ev| live(ev) == 13).await;
    assert_eq!(
        live(&events),
        13,
        "12 on the flooded service, 1 on the other"
    );
    assert_eq!(evicted_disconnects(&events).len(), 40 + 1 - 12);
    // Only the service's share was ever full, never the decky.
    assert_evictions_name(&events, "max_connections_per_service", 12);
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn one_source_gets_its_share_of_the_decky_and_the_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_connections_per_decky: 16,
        max_decky_connections_per_source: 4,
        ..Limits::DEFAULT
    };
    let (engine, echo, login) = start(dir.path(), limits, None).await;
    let hog = source();
    let mut mine = Vec::new();
    let mut answered = 0;
    for i in 0..10 {
        let to = if i % 2 == 0 { echo } else { login };
        let mut s = connect_from(hog, to).await;
        if served(&mut s).await {
            answered += 1;
        }
        mine.push(s);
    }
    assert_eq!(
        answered, 4,
        "one source holds at most its share, on any service"
    );
    for _ in 0..3 {
        let mut s = connect_from(source(), echo).await;
        assert!(served(&mut s).await, "another visitor is served");
    }
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::LimitExceeded).is_empty()
    })
    .await;
    let lim = of_type(&events, EventType::LimitExceeded);
    assert_eq!(
        lim.len(),
        1,
        "the first refusal is recorded, the rest counted"
    );
    assert_eq!(lim[0].fields["limit"], "max_decky_connections_per_source");
    assert_eq!(lim[0].fields["max"], 4);
    assert_eq!(lim[0].src_ip, hog);
    assert!(
        evicted_disconnects(&events).is_empty(),
        "nobody was evicted"
    );
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refusal_flood_is_one_event_now_and_one_count_for_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        max_decky_connections_per_source: 1,
        ..Limits::DEFAULT
    };
    let (engine, echo, _) = start(dir.path(), limits, None).await;
    let flooder = source();
    let mut holder = connect_from(flooder, echo).await;
    assert!(served(&mut holder).await);
    for _ in 0..50 {
        let mut s = connect_from(flooder, echo).await;
        // Closed unanswered: by then the supervisor has counted the refusal.
        assert!(!served(&mut s).await);
    }
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::LimitExceeded).is_empty()
    })
    .await;
    assert_eq!(of_type(&events, EventType::LimitExceeded).len(), 1);
    // The window is still open; shutdown reports its count rather than losing it.
    drop(holder);
    engine.shutdown().await.unwrap();
    let events = wait_journal(dir.path(), Duration::ZERO, |_| true).await;
    let lim = of_type(&events, EventType::LimitExceeded);
    assert_eq!(lim.len(), 2, "{lim:?}");
    assert!(lim[0].fields.get("count").is_none());
    assert_eq!(lim[1].fields["limit"], "max_decky_connections_per_source");
    assert_eq!(lim[1].fields["count"], 49);
    assert_eq!(lim[1].fields["window_secs"], 60);
    assert_eq!(lim[1].src_ip, flooder);
    assert_eq!(lim[1].decky, "d1");
}

#[tokio::test(start_paused = true)]
async fn the_pre_auth_deadline_closes_a_trickling_connection() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        pre_auth_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(5),
        ..Limits::DEFAULT
    };
    let (engine, _, login) = start(dir.path(), limits, None).await;
    let started = tokio::time::Instant::now();
    let mut s = TcpStream::connect(login).await.unwrap();
    // One byte every 2 s: never idle, never authenticated.
    let mut echoed = 0;
    loop {
        if s.write_all(b"x").await.is_err() {
            break;
        }
        let mut b = [0u8; 1];
        match s.read(&mut b).await {
            Ok(1) => echoed += 1,
            _ => break,
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let lived = started.elapsed();
    assert!(
        // The supervisor's deadline is the backstop behind the protocol's own.
        lived >= Duration::from_secs(65) && lived < Duration::from_secs(68),
        "closed after {lived:?}"
    );
    assert!(
        echoed > 5,
        "the trickle was served meanwhile ({echoed} bytes)"
    );
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::Disconnect).is_empty()
    })
    .await;
    let lim = of_type(&events, EventType::LimitExceeded);
    assert_eq!(lim.len(), 1);
    assert_eq!(lim[0].fields["limit"], "pre_auth_timeout");
    assert_eq!(lim[0].fields["max"], 60);
    assert_eq!(
        of_type(&events, EventType::Disconnect)[0].fields["reason"],
        "pre_auth_timeout"
    );
    engine.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn an_authenticated_connection_outlives_the_pre_auth_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let limits = Limits {
        pre_auth_timeout: Duration::from_secs(60),
        ..Limits::DEFAULT
    };
    let (engine, _, login) = start(dir.path(), limits, None).await;
    let mut authed = BufReader::new(TcpStream::connect(login).await.unwrap());
    authed.get_mut().write_all(b"login\n").await.unwrap();
    let mut line = String::new();
    authed.read_line(&mut line).await.unwrap();
    assert_eq!(line, "login\n");
    // Nothing but this connection's own timers runs meanwhile (the login service
    // records nothing), so paused time stays in step with it.
    tokio::time::sleep(Duration::from_secs(90)).await;
    assert!(
        served(&mut authed).await,
        "past the deadline, authenticated"
    );
    engine.shutdown().await.unwrap();
    let events = wait_journal(dir.path(), Duration::ZERO, |_| true).await;
    assert!(of_type(&events, EventType::LimitExceeded).is_empty());
}

#[tokio::test]
async fn the_descriptor_budget_refuses_with_max_open_files() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, echo, login) = start(dir.path(), Limits::DEFAULT, Some(2)).await;
    let mut a = connect_from(source(), echo).await;
    let mut b = connect_from(source(), login).await;
    assert!(served(&mut a).await && served(&mut b).await);
    let mut c = connect_from(source(), echo).await;
    assert!(
        !served(&mut c).await,
        "the budget is spent, across services"
    );
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::LimitExceeded).is_empty()
    })
    .await;
    let lim = of_type(&events, EventType::LimitExceeded);
    assert_eq!(lim[0].fields["limit"], "max_open_files");
    assert_eq!(lim[0].fields["max"], 2);
    // A closed connection gives its descriptor back.
    drop(a);
    wait_journal(dir.path(), DEADLINE, |ev| {
        !of_type(ev, EventType::Disconnect).is_empty()
    })
    .await;
    let mut d = connect_from(source(), echo).await;
    assert!(served(&mut d).await);
    engine.shutdown().await.unwrap();
}
