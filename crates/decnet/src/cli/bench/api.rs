//! `decnet bench api`: the REST API's read paths over a SQLite store the size
//! of a busy fleet's (1,000,000 events from 100,000 attackers by default;
//! `--events N`, one attacker per 10 events), server and load generator in
//! this one process.
//!
//! - `GET /api/v1/logs?limit=50` at 64 and 256 keep-alive connections: req/s,
//!   p50, p99, against a baseline measured in the same run: a minimal hyper
//!   server on the same runtime answering the same 50-event body from memory
//!   (the ceiling of the HTTP stack). Ours and the baseline alternate, three
//!   rounds each; medians are printed with the ratio.
//! - p50/p99 of `/stats` and of every list and detail route at 8 connections
//!   (median of three rounds).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use decnet_api::{ApiConfig, AppState, JwtSecret};
use decnet_core::journal_pos::JournalPos;
use decnet_core::paths::DataDir;
use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_store::{
    ArtifactRecord, Attacker, BatchCounts, CredentialRecord, NewUser, Role, SessionRecord, Store,
};
use http_body_util::{BodyExt as _, Empty, Full};
use hyper_util::rt::TokioIo;
use uuid::Uuid;

/// Events per attacker (and per session).
const PER_ATTACKER: usize = 10;
/// Attackers per ingest transaction while filling.
const BATCH_ATTACKERS: usize = 1_000;
/// The request measured against the baseline.
const LOGS: &str = "/api/v1/logs?limit=50";
/// Rounds of each measurement (medians are printed).
const ROUNDS: usize = 3;
/// Connections for the per-route latencies.
const ROUTE_CONNS: usize = 8;

const DECKIES: usize = 8;
const SERVICES: [&str; 4] = ["ssh", "telnet", "ftp", "http"];
const PRINCIPALS: [&str; 5] = ["root", "admin", "ubuntu", "oracle", "test"];
const COMMON: [&str; 4] = ["123456", "password", "admin", "root"];

/// What the routes are asked about.
struct Fixture {
    attacker: Uuid,
    session: Uuid,
    events: usize,
    attackers: usize,
    credentials: usize,
}

/// The `i`-th of `list`, round and round.
fn pick(list: &[&'static str], i: usize) -> &'static str {
    list.get(i % list.len().max(1)).copied().unwrap_or_default()
}

fn ip_of(a: usize) -> String {
    format!("10.{}.{}.{}", (a >> 16) & 255, (a >> 8) & 255, a & 255)
}

/// Fills `store` through the ingest transaction's own writes, counters
/// included: per attacker one session of 10 events (connect, 3 login
/// attempts, 5 commands, disconnect), every 50th with a download.
async fn fill(store: &Store, events: usize) -> anyhow::Result<Fixture> {
    let attackers = (events / PER_ATTACKER).max(1);
    let dst: SocketAddr = "127.42.250.1:22".parse()?;
    let t0 = chrono::Utc::now() - chrono::Duration::days(7);
    let step_us = (7 * 86_400 * 1_000_000 / (attackers * PER_ATTACKER)) as i64;
    let mut offset = None;
    let mut credentials = 0;
    let mut first = None;
    for (b, start) in (0..attackers).step_by(BATCH_ATTACKERS).enumerate() {
        let to = JournalPos {
            segment: 1,
            offset: (b + 1) as u64,
        };
        let mut tx = store.begin_ingest("bench-api", offset, to).await?;
        let mut counts = BatchCounts::default();
        for a in start..(start + BATCH_ATTACKERS).min(attackers) {
            let uuid = Uuid::now_v7();
            let sid = Uuid::now_v7();
            let decky = format!("decky-{}", a % DECKIES);
            let service = pick(&SERVICES, a);
            let src: SocketAddr = format!("{}:40000", ip_of(a)).parse()?;
            let mut row = Attacker {
                uuid,
                ip: ip_of(a),
                first_seen: t0,
                last_seen: t0,
                event_count: 0,
                deckies: vec![decky.clone()],
                services: vec![service.into()],
                credential_count: 0,
                session_count: 1,
            };
            let mut session = SessionRecord {
                sid,
                attacker_uuid: uuid,
                decky: decky.clone(),
                service: service.into(),
                src_ip: row.ip.clone(),
                src_port: 40000,
                started_at: t0,
                ended_at: None,
                event_count: 0,
                command_count: 0,
                recording_sid: None,
                recording_shard: None,
                recording_bytes: None,
                recording_duration_s: None,
                recording_truncated: None,
            };
            for k in 0..PER_ATTACKER {
                let i = a * PER_ATTACKER + k;
                let t = match k {
                    0 => EventType::Connect,
                    1..=3 => EventType::LoginAttempt,
                    9 => EventType::Disconnect,
                    _ => EventType::Command,
                };
                let mut e = Event::now(decky.clone(), service, t, src, dst);
                e.ts = t0 + chrono::Duration::microseconds(i as i64 * step_us);
                e.session_id = Some(sid);
                match t {
                    EventType::LoginAttempt => {
                        let principal = pick(&PRINCIPALS, a + k);
                        // A third from a short common list, the rest a brute
                        // force of passwords never tried before.
                        let pw = if i.is_multiple_of(3) {
                            pick(&COMMON, i).to_owned()
                        } else {
                            format!("pw-{i}")
                        };
                        e.credential = Some(Credential::new(
                            principal,
                            pw.as_bytes(),
                            SecretKind::Password,
                        ));
                    }
                    EventType::Command => {
                        e.fields.insert(
                            "command".into(),
                            serde_json::json!("uname -a; id; cat /etc/passwd"),
                        );
                    }
                    _ => {}
                }
                tx.insert_event(&e, uuid).await?;
                counts.event(&e);
                if let Some(c) = &e.credential {
                    tx.insert_credential(&CredentialRecord {
                        event_id: e.id,
                        ts: e.ts,
                        attacker_uuid: uuid,
                        src_ip: row.ip.clone(),
                        decky: decky.clone(),
                        service: service.into(),
                        session_id: Some(sid),
                        principal: c.principal.clone(),
                        secret_printable: c.secret_printable.clone(),
                        secret_b64: c.secret_b64.clone(),
                        secret_kind: c.secret_kind.as_str().into(),
                        realm: None,
                        secret_sha256: decnet_intel::secret_sha256(
                            c.secret_bytes().unwrap_or_default().as_slice(),
                        ),
                        outcome: "failure".into(),
                    })
                    .await?;
                    counts.credential(
                        &c.principal,
                        c.secret_kind.as_str(),
                        c.secret_printable.as_deref(),
                    );
                    row.credential_count += 1;
                    credentials += 1;
                }
                if k == 4 && a % 50 == 0 {
                    tx.insert_artifact(&ArtifactRecord {
                        event_id: e.id,
                        ts: e.ts,
                        kind: "download".into(),
                        name: format!("http://203.0.113.9/x{a}.sh"),
                        sha256: None,
                        size: None,
                        decky: decky.clone(),
                        service: service.into(),
                        attacker_uuid: uuid,
                        session_id: Some(sid),
                    })
                    .await?;
                }
                if k == 0 {
                    row.first_seen = e.ts;
                    session.started_at = e.ts;
                }
                row.last_seen = e.ts;
                row.event_count += 1;
                session.event_count += 1;
                match t {
                    EventType::Command => session.command_count += 1,
                    EventType::Disconnect => session.ended_at = Some(e.ts),
                    _ => {}
                }
            }
            tx.save_attacker(&row).await?;
            tx.add_attacker_target(uuid, &decky, service).await?;
            tx.save_session(&session).await?;
            counts.attacker();
            counts.session();
            first.get_or_insert((uuid, sid));
        }
        tx.add_counts(&counts).await?;
        tx.commit().await?;
        offset = Some(to);
    }
    let (attacker, session) = first.context("no attacker stored")?;
    Ok(Fixture {
        attacker,
        session,
        events: attackers * PER_ATTACKER,
        attackers,
        credentials,
    })
}

/// One keep-alive connection sending GET `path` until `deadline`; latencies in µs.
async fn client(
    addr: SocketAddr,
    path: String,
    token: String,
    deadline: Instant,
) -> anyhow::Result<Vec<u32>> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let auth = format!("Bearer {token}");
    let mut lat = Vec::new();
    while Instant::now() < deadline {
        let req = hyper::Request::get(path.as_str())
            .header("host", "bench")
            .header("authorization", &auth)
            .body(Empty::<Bytes>::new())?;
        let start = Instant::now();
        sender.ready().await?;
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let body = resp.into_body().collect().await?.to_bytes();
        anyhow::ensure!(
            status == 200,
            "GET {path}: status {status}: {}",
            String::from_utf8_lossy(&body)
        );
        lat.push(u32::try_from(start.elapsed().as_micros()).unwrap_or(u32::MAX));
    }
    Ok(lat)
}

/// A body fetched once (for cursors, ids and the baseline's answer).
async fn get_once(addr: SocketAddr, path: &str, token: &str) -> anyhow::Result<Bytes> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = hyper::Request::get(path)
        .header("host", "bench")
        .header("authorization", format!("Bearer {token}"))
        .body(Empty::<Bytes>::new())?;
    let resp = sender.send_request(req).await?;
    anyhow::ensure!(resp.status() == 200, "GET {path}: status {}", resp.status());
    Ok(resp.into_body().collect().await?.to_bytes())
}

/// One measurement: requests per second and latency percentiles in ms.
#[derive(Debug, Clone, Copy, Default)]
struct Run {
    rps: f64,
    p50: f64,
    p99: f64,
    failed: usize,
}

fn pct(sorted: &[u32], p: f64) -> f64 {
    let i = (sorted.len().saturating_sub(1) as f64 * p).round() as usize;
    sorted
        .get(i)
        .or(sorted.last())
        .map_or(0.0, |v| f64::from(*v) / 1000.0)
}

/// Drives `conns` connections at `path` for `secs`.
async fn load(addr: SocketAddr, path: &str, token: &str, conns: usize, secs: f64) -> Run {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let tasks: Vec<_> = (0..conns)
        .map(|_| tokio::spawn(client(addr, path.to_owned(), token.to_owned(), deadline)))
        .collect();
    let mut all = Vec::new();
    let mut failed = 0usize;
    for t in tasks {
        match t.await {
            Ok(Ok(l)) => all.extend(l),
            Ok(Err(e)) => {
                failed += 1;
                tracing::warn!(error = %e, "bench client failed");
            }
            Err(_) => failed += 1,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    all.sort_unstable();
    Run {
        rps: all.len() as f64 / secs,
        p50: pct(&all, 0.50),
        p99: pct(&all, 0.99),
        failed,
    }
}

/// Medians, field by field, of `runs`.
fn median(runs: &[Run]) -> Run {
    let m = |f: fn(&Run) -> f64| {
        let mut v: Vec<f64> = runs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    Run {
        rps: m(|r| r.rps),
        p50: m(|r| r.p50),
        p99: m(|r| r.p99),
        failed: runs.iter().map(|r| r.failed).sum(),
    }
}

/// The baseline: plain hyper answering `body` from memory on every request.
async fn baseline_server(
    listener: tokio::net::TcpListener,
    body: Bytes,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            r = listener.accept() => r,
        };
        let Ok((stream, _)) = accepted else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let body = body.clone();
        let svc = hyper::service::service_fn(move |_req| {
            let resp = hyper::Response::builder()
                .header("content-type", "application/json")
                .body(Full::new(body.clone()));
            async move { Ok::<_, Infallible>(resp.unwrap_or_default()) }
        });
        tokio::spawn(
            hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc),
        );
    }
}

fn ms(v: f64) -> String {
    format!("{v:>6.2} ms")
}

/// Runs the benchmark: `events` stored, `duration` seconds per /logs round.
pub async fn run(duration: u64, events: usize) -> anyhow::Result<ExitCode> {
    let dir = super::tempfile_dir().context("temp dir")?;
    let store = Store::open_data_dir(dir.path()).await?;
    let t = Instant::now();
    let fx = fill(&store, events).await?;
    let stats = store.stats(1).await?;
    anyhow::ensure!(
        stats.events == fx.events as u64 && stats.attackers == fx.attackers as u64,
        "counters disagree with what was stored: {stats:?}"
    );
    println!(
        "stored:        {} events, {} attackers, {} credentials, {} sessions in {:.1} s",
        fx.events,
        fx.attackers,
        fx.credentials,
        fx.attackers,
        t.elapsed().as_secs_f64()
    );

    let secret = JwtSecret::load_or_generate(&DataDir::new(dir.path()).jwt_secret())?;
    let config = ApiConfig::default();
    let keys = decnet_api::auth::TokenKeys::new(&secret, config.token_ttl);
    let mut tokens = Vec::new();
    for (name, role) in [("bench", Role::Viewer), ("bench-admin", Role::Admin)] {
        let user = store
            .create_user(&NewUser {
                username: name.into(),
                password_hash: decnet_api::auth::hash_password("bench-password-123".into()).await?,
                role,
                must_change_password: false,
            })
            .await?;
        tokens.push(keys.issue(&user)?);
    }
    let (token, admin) = (tokens.remove(0), tokens.remove(0));
    let state = AppState::new(store.clone(), &secret, &config, dir.path());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(decnet_api::serve_on(listener, state, async {
        let _ = stopped.await;
    }));

    let body = get_once(addr, LOGS, &token).await?;
    let page: serde_json::Value = serde_json::from_slice(&body)?;
    anyhow::ensure!(
        page.get("items").and_then(|v| v.as_array()).map(Vec::len) == Some(50),
        "GET {LOGS} did not return 50 events"
    );
    let cursor = page
        .get("next_cursor")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let base_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_addr = base_listener.local_addr()?;
    let base_stop = tokio_util::sync::CancellationToken::new();
    let base = tokio::spawn(baseline_server(
        base_listener,
        body.clone(),
        base_stop.clone(),
    ));

    let secs = duration.max(1) as f64;
    println!(
        "request:       GET {LOGS} ({} bytes; bearer token, keep-alive; {ROUNDS} rounds of {secs} s, ours and the baseline alternating)",
        body.len()
    );
    println!("baseline:      plain hyper on the same runtime answering the same body from memory");
    for conns in [64usize, 256] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            ours.push(load(addr, LOGS, &token, conns, secs).await);
            theirs.push(load(base_addr, LOGS, &token, conns, secs).await);
        }
        let (o, b) = (median(&ours), median(&theirs));
        println!(
            "{conns:>4} conns:   ours {:>7.0} req/s  p50 {}  p99 {}   baseline {:>7.0} req/s  p50 {}  p99 {}   ratio {:.2}  ({} failed connections)",
            o.rps,
            ms(o.p50),
            ms(o.p99),
            b.rps,
            ms(b.p50),
            ms(b.p99),
            o.rps / b.rps.max(1.0),
            o.failed + b.failed,
        );
    }

    let a = fx.attacker;
    let routes: Vec<(String, &str)> = vec![
        ("/api/v1/stats".into(), &token),
        ("/api/v1/stats?top=100".into(), &token),
        (format!("/api/v1/logs?limit=50&cursor={cursor}"), &token),
        ("/api/v1/logs?limit=50&decky=decky-3".into(), &token),
        (
            "/api/v1/logs?limit=50&event_type=login_attempt".into(),
            &token,
        ),
        ("/api/v1/logs?limit=50&attacker_ip=10.0.1.2".into(), &token),
        (
            format!("/api/v1/logs?limit=50&session_id={}", fx.session),
            &token,
        ),
        ("/api/v1/logs/histogram?bucket=3600".into(), &token),
        ("/api/v1/attackers".into(), &token),
        ("/api/v1/attackers?sort=event_count".into(), &token),
        ("/api/v1/attackers?sort=first_seen".into(), &token),
        ("/api/v1/attackers?decky=decky-3".into(), &token),
        ("/api/v1/attackers?ip=10.0.1.2".into(), &token),
        (format!("/api/v1/attackers/{a}"), &token),
        (format!("/api/v1/attackers/{a}/events"), &token),
        (format!("/api/v1/attackers/{a}/credentials"), &token),
        (format!("/api/v1/attackers/{a}/sessions"), &token),
        (format!("/api/v1/attackers/{a}/artifacts"), &token),
        ("/api/v1/credentials".into(), &token),
        ("/api/v1/credentials?principal=admin".into(), &token),
        ("/api/v1/credentials/reuse".into(), &token),
        ("/api/v1/deckies".into(), &token),
        ("/api/v1/auth/me".into(), &token),
        ("/api/v1/users".into(), &admin),
    ];
    println!(
        "routes:        {ROUTE_CONNS} connections, median of {ROUNDS} rounds of 1 s; target p99 < 20 ms"
    );
    let mut slow = 0;
    for (path, tok) in &routes {
        if let Err(e) = get_once(addr, path, tok).await {
            println!("  FAILED {path}: {e}");
            slow += 1;
            continue;
        }
        let runs: Vec<Run> = {
            let mut v = Vec::new();
            for _ in 0..ROUNDS {
                v.push(load(addr, path, tok, ROUTE_CONNS, 1.0).await);
            }
            v
        };
        let r = median(&runs);
        if r.p99 >= 20.0 {
            slow += 1;
        }
        println!(
            "  {:<64} {:>7.0} req/s  p50 {}  p99 {}{}",
            path.replace(&cursor, "<cursor>"),
            r.rps,
            ms(r.p50),
            ms(r.p99),
            if r.p99 >= 20.0 { "  (over 20 ms)" } else { "" }
        );
    }
    println!("routes over 20 ms p99: {slow}");
    base_stop.cancel();
    let _ = base.await;
    let _ = stop.send(());
    let _ = server.await;
    store.close().await;
    Ok(ExitCode::SUCCESS)
}
