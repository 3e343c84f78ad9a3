//! `decnet bench api`: requests per second and latency percentiles of
//! `GET /api/v1/logs?limit=50` over a SQLite store of 100,000 events, at 64
//! and 256 concurrent keep-alive connections, server and load generator in
//! this one process.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use decnet_api::{ApiConfig, AppState, JwtSecret};
use decnet_core::journal_pos::JournalPos;
use decnet_core::paths::DataDir;
use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_store::{Attacker, NewUser, Role, Store};
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;

/// Events stored before measuring.
const EVENTS: usize = 100_000;
/// Events per ingest transaction while filling the store.
const BATCH: usize = 5_000;
/// The request measured.
const PATH: &str = "/api/v1/logs?limit=50";

/// Fills `store` with `EVENTS` events from 500 sources over 8 deckies.
async fn fill(store: &Store) -> anyhow::Result<()> {
    let dst: SocketAddr = "127.42.250.1:22".parse()?;
    let mut attackers: std::collections::HashMap<String, Attacker> = Default::default();
    let mut offset = None;
    let t0 = chrono::Utc::now() - chrono::Duration::days(1);
    for b in 0..EVENTS / BATCH {
        let to = JournalPos {
            segment: 1,
            offset: (b + 1) as u64,
        };
        let mut tx = store.begin_ingest("bench-api", offset, to).await?;
        let mut touched = std::collections::BTreeSet::new();
        for i in b * BATCH..(b + 1) * BATCH {
            let src: SocketAddr =
                format!("198.18.{}.{}:40000", (i / 250) % 2, i % 250 + 1).parse()?;
            let t = match i % 4 {
                0 => EventType::Connect,
                1 => EventType::LoginAttempt,
                2 => EventType::Command,
                _ => EventType::Disconnect,
            };
            let mut e = Event::now(format!("bench-{}", i % 8), "ssh", t, src, dst);
            e.ts = t0 + chrono::Duration::milliseconds(i as i64 * 500);
            if t == EventType::LoginAttempt {
                e.credential = Some(Credential::new("root", b"123456", SecretKind::Password));
            }
            if t == EventType::Command {
                e.fields.insert(
                    "command".into(),
                    serde_json::json!("uname -a; id; cat /etc/passwd"),
                );
            }
            let ip = e.src_ip.to_string();
            let a = attackers.entry(ip.clone()).or_insert_with(|| Attacker {
                uuid: uuid::Uuid::now_v7(),
                ip,
                first_seen: e.ts,
                last_seen: e.ts,
                event_count: 0,
                deckies: vec![],
                services: vec!["ssh".into()],
                credential_count: 0,
                session_count: 0,
            });
            a.event_count += 1;
            a.last_seen = e.ts;
            tx.insert_event(&e, a.uuid).await?;
            touched.insert(a.ip.clone());
        }
        for ip in touched {
            if let Some(a) = attackers.get(&ip) {
                tx.save_attacker(a).await?;
            }
        }
        tx.commit().await?;
        offset = Some(to);
    }
    Ok(())
}

/// One keep-alive connection sending `PATH` until `deadline`; latencies in µs.
async fn client(addr: SocketAddr, token: String, deadline: Instant) -> anyhow::Result<Vec<u32>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let auth = format!("Bearer {token}");
    let mut lat = Vec::new();
    while Instant::now() < deadline {
        let req = hyper::Request::get(PATH)
            .header("host", "bench")
            .header("authorization", &auth)
            .body(Empty::<Bytes>::new())?;
        let start = Instant::now();
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        anyhow::ensure!(resp.status() == 200, "status {}", resp.status());
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::ensure!(body.len() > 1000, "short body");
        lat.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    Ok(lat)
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    let i = (sorted.len().saturating_sub(1) as f64 * p).round() as usize;
    sorted
        .get(i)
        .or(sorted.last())
        .map_or(0.0, |v| f64::from(*v) / 1000.0)
}

/// Runs the benchmark for `duration` seconds per concurrency level.
pub async fn run(duration: u64) -> anyhow::Result<ExitCode> {
    let dir = super::tempfile_dir().context("temp dir")?;
    let store = Store::open_data_dir(dir.path()).await?;
    let t = Instant::now();
    fill(&store).await?;
    println!(
        "stored:        {EVENTS} events in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let secret = JwtSecret::load_or_generate(&DataDir::new(dir.path()).jwt_secret())?;
    let user = store
        .create_user(&NewUser {
            username: "bench".into(),
            password_hash: decnet_api::auth::hash_password("bench-password-123".into()).await?,
            role: Role::Viewer,
            must_change_password: false,
        })
        .await?;
    let config = ApiConfig::default();
    let token = decnet_api::auth::TokenKeys::new(&secret, config.token_ttl).issue(&user)?;
    let state = AppState::new(store.clone(), &secret, &config, dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(decnet_api::serve_on(listener, state, async {
        let _ = stopped.await;
    }));

    println!("request:       GET {PATH} (bearer token, keep-alive, {duration} s per level)");
    for conns in [64usize, 256] {
        let deadline = Instant::now() + Duration::from_secs(duration);
        let started = Instant::now();
        let tasks: Vec<_> = (0..conns)
            .map(|_| tokio::spawn(client(addr, token.clone(), deadline)))
            .collect();
        let mut all = Vec::new();
        let mut errors = 0usize;
        for t in tasks {
            match t.await {
                Ok(Ok(l)) => all.extend(l),
                Ok(Err(e)) => {
                    errors += 1;
                    tracing::warn!(error = %e, "bench client failed");
                }
                Err(_) => errors += 1,
            }
        }
        let secs = started.elapsed().as_secs_f64();
        all.sort_unstable();
        println!(
            "{conns:>4} conns:   {:>7.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests, {errors} failed connections)",
            all.len() as f64 / secs,
            pct(&all, 0.50),
            pct(&all, 0.99),
            all.len(),
        );
    }
    let _ = stop.send(());
    let _ = server.await;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
