//! `decnet bench ingest`: events per second from journal to database, on
//! SQLite and, when `DECNET_DATABASE_URL` names one, PostgreSQL.
//!
//! The journal holds an attack-shaped mix: a brute force against one
//! username (every password new), a password spray (one password, a new
//! username each time), SSH sessions from 100,000 distinct sources (connect,
//! login, two commands, disconnect). With `--baseline`, each round first
//! times a raw batched insert of the same rows (events, credentials,
//! sessions, attackers: plain multi-row INSERTs, no lookups, no derivation)
//! into a fresh database of the same kind, then ours into another, and
//! prints both and the ratio; the medians of three rounds close the report.
//! The rates over the first and the last 100,000 events show whether
//! ingest slows as the database grows; the baseline's show how much of that
//! the database itself does with the same rows.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use decnet_core::paths::DataDir;
use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_intel::{IngestOptions, Ingester, NullNotifier};
use decnet_journal::{JournalOptions, JournalWriter};
use decnet_store::Store;

/// Events of each 10-event cycle of the mix: 3 brute force, 2 spray, a 5-event session.
const CYCLE: usize = 10;
/// Distinct session sources in the mix.
const SOURCES: usize = 100_000;
/// Deckies the mix spreads over.
const DECKIES: usize = 20;
/// Events in the "first" and "last" windows of the flatness figure.
const WINDOW: usize = 100_000;
/// Rounds when a baseline is measured (the median is reported).
const ROUNDS: usize = 3;
/// Limits the run to some backends (`sqlite`, `postgres`, comma-separated).
const BACKENDS_ENV: &str = "DECNET_BENCH_INGEST_BACKENDS";
/// Overrides the batch size of both ours and the baseline, to compare sizes.
const BATCH_ENV: &str = "DECNET_BENCH_INGEST_BATCH";

/// The ingester's batch size on `backend`, unless [`BATCH_ENV`] sets one.
fn batch_max(backend: decnet_store::Backend) -> usize {
    std::env::var(BATCH_ENV)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(IngestOptions::for_backend(backend).batch_max)
        .max(1)
}

/// The `i`th event of the mix (ids and timestamps are fresh each call).
fn mix_event(i: usize) -> anyhow::Result<Event> {
    let c = i / CYCLE;
    let k = i % CYCLE;
    let decky = format!("bench-{:02}", c % DECKIES);
    let addr = |n: usize, port: u16| -> anyhow::Result<std::net::SocketAddr> {
        format!("198.18.{}.{}:{port}", (n / 250) % 250, n % 250 + 1)
            .parse()
            .context("bench source address")
    };
    let dst = |port: u16| -> anyhow::Result<std::net::SocketAddr> {
        format!("127.42.250.{}:{port}", c % DECKIES + 1)
            .parse()
            .context("bench decky address")
    };
    let e = match k {
        // Brute force: one username on one web decky, a new password every time,
        // from a few persistent sources.
        0..=2 => {
            let mut e = Event::now(
                "bench-web",
                "http",
                EventType::LoginAttempt,
                addr(SOURCES + c % 16, 50000)?,
                dst(80)?,
            );
            let pass = format!("bf-{i:08}");
            e.credential = Some(Credential::new(
                "admin",
                pass.as_bytes(),
                SecretKind::Password,
            ));
            e
        }
        // Spray: one password, a new username every time, across the deckies.
        3 | 4 => {
            let mut e = Event::now(
                decky.as_str(),
                "ssh",
                EventType::LoginAttempt,
                addr(SOURCES + 16 + c % 16, 50000)?,
                dst(22)?,
            );
            e.credential = Some(Credential::new(
                format!("user{i}"),
                b"Spring2026!",
                SecretKind::Password,
            ));
            e
        }
        // A session: each cycle's from the next of 100,000 distinct sources.
        _ => {
            let src = addr((c * 7919) % SOURCES, 40000 + (c % 20000) as u16)?;
            let sid = uuid::Uuid::from_u128(0xdec0_0000_0000_0000_0000_0000_0000_0000 | c as u128);
            let t = match k {
                5 => EventType::Connect,
                6 => EventType::LoginSuccess,
                7 | 8 => EventType::Command,
                _ => EventType::Disconnect,
            };
            let mut e = Event::now(decky.as_str(), "ssh", t, src, dst(22)?);
            e.session_id = Some(sid);
            match k {
                6 => {
                    let pass = match c % 4 {
                        0 => "123456",
                        1 => "toor",
                        2 => "admin",
                        _ => "raspberry",
                    };
                    e.credential = Some(Credential::new(
                        "root",
                        pass.as_bytes(),
                        SecretKind::Password,
                    ));
                }
                7 => {
                    e.fields.insert("command".into(), "uname -a".into());
                }
                8 => {
                    e.fields
                        .insert("command".into(), "cat /proc/cpuinfo | grep name".into());
                }
                _ => {}
            }
            e
        }
    };
    Ok(e)
}

/// Writes `n` events of the mix to a journal in `dir`.
fn journal(dir: &Path, n: usize) -> anyhow::Result<()> {
    let mut w = JournalWriter::open(dir, JournalOptions::default())?;
    for i in 0..n {
        w.append(&mix_event(i)?)?;
    }
    w.sync()?;
    Ok(())
}

/// One timed run.
#[derive(Debug, Clone, Copy)]
struct Run {
    events: usize,
    secs: f64,
    /// Events/s over the first and the last window (ours only).
    first: f64,
    last: f64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.events as f64 / self.secs.max(1e-9)
    }
}

/// Ours: the ingester draining the journal into `store`.
async fn ours(store: Store, journal_dir: &Path, n: usize) -> anyhow::Result<Run> {
    let opts = IngestOptions {
        batch_max: batch_max(store.backend()),
        ..IngestOptions::for_backend(store.backend())
    };
    let mut ing =
        Ingester::new(store.clone(), journal_dir, Arc::new(NullNotifier)).with_options(opts);
    let window = WINDOW.min(n / 2).max(1);
    let start = Instant::now();
    let mut total = 0usize;
    let mut first_done = None;
    let mut last_from = None;
    loop {
        let before = ing.stats().batches;
        let got = ing.ingest_once().await?;
        total += got;
        if first_done.is_none() && total >= window {
            first_done = Some((start.elapsed(), total));
        }
        if last_from.is_none() && total >= n.saturating_sub(window) {
            last_from = Some((start.elapsed(), total));
        }
        // An empty read commits nothing: the journal is drained.
        if ing.stats().batches == before {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    store.close().await;
    anyhow::ensure!(total == n, "ingested {total} events of {n}");
    let (t1, n1) = first_done.unwrap_or((Duration::ZERO, 0));
    let (t2, n2) = last_from.unwrap_or((Duration::ZERO, 0));
    Ok(Run {
        events: total,
        secs,
        first: n1 as f64 / t1.as_secs_f64().max(1e-9),
        last: (total - n2) as f64 / (secs - t2.as_secs_f64()).max(1e-9),
    })
}

/// Most placeholders per baseline statement (under both backends' limits).
const MAX_BINDS: usize = 30_000;

/// The baseline's rows for one batch of events, as bound values.
#[derive(Default)]
struct Rows {
    events: Vec<Vec<Val>>,
    credentials: Vec<Vec<Val>>,
    sessions: Vec<Vec<Val>>,
    attackers: Vec<Vec<Val>>,
}

enum Val {
    I(i64),
    T(String),
    /// A NULL text.
    N,
    /// A NULL integer (PostgreSQL refuses a text NULL in a bigint column).
    NI,
}

const EVENTS_SQL: (&str, usize) = (
    "INSERT INTO events (id, ts, decky, service, event_type, src_ip, src_port, dst_ip, \
     dst_port, session_id, attacker_uuid, raw) VALUES ",
    12,
);
const CREDENTIALS_SQL: (&str, usize) = (
    "INSERT INTO credentials (event_id, ts, attacker_uuid, src_ip, decky, service, \
     session_id, principal, secret_printable, secret_b64, secret_kind, realm, \
     secret_sha256, outcome) VALUES ",
    14,
);
const SESSIONS_SQL: (&str, usize) = (
    "INSERT INTO sessions (sid, attacker_uuid, decky, service, src_ip, src_port, \
     started_at, ended_at, event_count, command_count) VALUES ",
    10,
);
const ATTACKERS_SQL: (&str, usize) = (
    "INSERT INTO attackers (uuid, ip, first_seen, last_seen, event_count, deckies, \
     services, credential_count, session_count) VALUES ",
    9,
);

/// Plain multi-row INSERTs of `rows`, as many per statement as the bind
/// limit allows: anonymous `?` placeholders on SQLite (as Python's
/// `executemany` binds; named ones make binding quadratic), `$N` on PostgreSQL.
async fn insert_plain(
    conn: &mut sqlx::AnyConnection,
    sigil: char,
    (head, cols): (&str, usize),
    rows: &[Vec<Val>],
) -> anyhow::Result<()> {
    for chunk in rows.chunks((MAX_BINDS / cols).max(1)) {
        let mut sql = String::from(head);
        let mut n = 0;
        for (r, _) in chunk.iter().enumerate() {
            sql.push_str(if r == 0 { "(" } else { ", (" });
            for c in 0..cols {
                n += 1;
                if c > 0 {
                    sql.push_str(", ");
                }
                if sigil == '?' {
                    sql.push('?');
                } else {
                    sql.push_str(&format!("${n}"));
                }
            }
            sql.push(')');
        }
        let mut q = sqlx::query(&sql);
        for v in chunk.iter().flatten() {
            q = match v {
                Val::I(i) => q.bind(*i),
                Val::T(s) => q.bind(s.as_str()),
                Val::N => q.bind(None::<String>),
                Val::NI => q.bind(None::<i64>),
            };
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// The baseline: the rows ours writes for the same mix, built outside the
/// clock and inserted in transactions of the ingester's batch size.
async fn baseline(store: Store, n: usize) -> anyhow::Result<Run> {
    let batch = batch_max(store.backend());
    let sigil = match store.backend() {
        decnet_store::Backend::Sqlite => '?',
        decnet_store::Backend::Postgres => '$',
    };
    let mut attackers = std::collections::HashMap::new();
    let mut sessions = std::collections::HashSet::new();
    let mut timed = Duration::ZERO;
    let window = WINDOW.min(n / 2).max(1);
    let (mut first_done, mut last_from) = (None, None);
    let mut i = 0;
    while i < n {
        if last_from.is_none() && i >= n.saturating_sub(window) {
            last_from = Some((timed, i));
        }
        let mut rows = Rows::default();
        for j in i..(i + batch).min(n) {
            let e = mix_event(j)?;
            let ip = e.src_ip.to_string();
            let ts = e.ts.timestamp_micros();
            let a = *attackers.entry(ip.clone()).or_insert_with(|| {
                let u = uuid::Uuid::now_v7();
                rows.attackers.push(vec![
                    Val::T(u.to_string()),
                    Val::T(ip.clone()),
                    Val::I(ts),
                    Val::I(ts),
                    Val::I(1),
                    Val::T(format!("[\"{}\"]", e.decky)),
                    Val::T(format!("[\"{}\"]", e.service)),
                    Val::I(0),
                    Val::I(0),
                ]);
                u
            });
            let sid = e.session_id.map(|s| s.to_string());
            if let Some(s) = &sid {
                if sessions.insert(s.clone()) {
                    rows.sessions.push(vec![
                        Val::T(s.clone()),
                        Val::T(a.to_string()),
                        Val::T(e.decky.clone()),
                        Val::T(e.service.clone()),
                        Val::T(ip.clone()),
                        Val::I(i64::from(e.src_port)),
                        Val::I(ts),
                        Val::NI,
                        Val::I(1),
                        Val::I(0),
                    ]);
                }
            }
            if let Some(c) = &e.credential {
                rows.credentials.push(vec![
                    Val::T(e.id.to_string()),
                    Val::I(ts),
                    Val::T(a.to_string()),
                    Val::T(ip.clone()),
                    Val::T(e.decky.clone()),
                    Val::T(e.service.clone()),
                    sid.clone().map_or(Val::N, Val::T),
                    Val::T(c.principal.clone()),
                    c.secret_printable.clone().map_or(Val::N, Val::T),
                    Val::T(c.secret_b64.clone()),
                    Val::T(c.secret_kind.as_str().to_owned()),
                    Val::N,
                    Val::T(decnet_intel::secret_sha256(
                        &c.secret_bytes().unwrap_or_default(),
                    )),
                    Val::T("failure".into()),
                ]);
            }
            rows.events.push(vec![
                Val::T(e.id.to_string()),
                Val::I(ts),
                Val::T(e.decky.clone()),
                Val::T(e.service.clone()),
                Val::T(e.event_type.as_str().to_owned()),
                Val::T(ip),
                Val::I(i64::from(e.src_port)),
                Val::T(e.dst_ip.to_string()),
                Val::I(i64::from(e.dst_port)),
                sid.map_or(Val::N, Val::T),
                Val::T(a.to_string()),
                Val::T(e.to_json_line()),
            ]);
        }
        let t = Instant::now();
        let mut tx = store.pool().begin().await?;
        insert_plain(&mut tx, sigil, EVENTS_SQL, &rows.events).await?;
        insert_plain(&mut tx, sigil, CREDENTIALS_SQL, &rows.credentials).await?;
        insert_plain(&mut tx, sigil, SESSIONS_SQL, &rows.sessions).await?;
        insert_plain(&mut tx, sigil, ATTACKERS_SQL, &rows.attackers).await?;
        tx.commit().await?;
        timed += t.elapsed();
        i += batch;
        if first_done.is_none() && i >= window {
            first_done = Some((timed, i.min(n)));
        }
    }
    store.close().await;
    let (t1, n1) = first_done.unwrap_or((Duration::ZERO, 0));
    let (t2, n2) = last_from.unwrap_or((Duration::ZERO, 0));
    let secs = timed.as_secs_f64();
    Ok(Run {
        events: n,
        secs,
        first: n1 as f64 / t1.as_secs_f64().max(1e-9),
        last: (n - n2) as f64 / (secs - t2.as_secs_f64()).max(1e-9),
    })
}

/// Where one run's database lives: a fresh SQLite file or a fresh PostgreSQL schema.
enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    fn label(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Runs `f` against a fresh, migrated database, then removes it.
    async fn fresh<F, Fut>(&self, f: F) -> anyhow::Result<Run>
    where
        F: FnOnce(Store) -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<Run>>,
    {
        match self {
            Backend::Sqlite => {
                let dir = super::tempfile_dir()?;
                let store = Store::open_data_dir(dir.path()).await?;
                f(store).await
            }
            Backend::Postgres(url) => {
                let schema = decnet_store::scratch::PgSchema::create(url).await?;
                let store = Store::connect(&schema.url()).await?;
                let r = f(store).await;
                schema.drop_schema().await?;
                r
            }
        }
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(0.0)
}

/// Runs the benchmark over `n` events; with `with_baseline`, three rounds of baseline then ours.
pub async fn run(n: usize, with_baseline: bool) -> anyhow::Result<ExitCode> {
    let dir = super::tempfile_dir()?;
    let journal_dir = DataDir::new(dir.path()).journal();
    let t = Instant::now();
    journal(&journal_dir, n)?;
    println!(
        "journal: {n} events in {:.1} s: per 10, 3 brute force (user admin, every password new), \
         2 spray (one password, every username new), a session of 5 (connect, login, 2 commands, \
         disconnect) from up to {SOURCES} distinct sources; batches of {} events on SQLite, \
         {} on PostgreSQL",
        t.elapsed().as_secs_f64(),
        batch_max(decnet_store::Backend::Sqlite),
        batch_max(decnet_store::Backend::Postgres)
    );
    let mut backends = vec![Backend::Sqlite];
    match std::env::var(decnet_store::DATABASE_URL_ENV) {
        Ok(url) if url.starts_with("postgres") => backends.push(Backend::Postgres(url)),
        _ => println!("(set DECNET_DATABASE_URL=postgres://… to measure PostgreSQL too)"),
    }
    if let Ok(only) = std::env::var(BACKENDS_ENV) {
        backends.retain(|b| only.split(',').any(|o| o.trim() == b.label()));
        anyhow::ensure!(
            !backends.is_empty(),
            "{BACKENDS_ENV}={only:?} names no backend this run has: use sqlite and/or \
             postgres (postgres needs DECNET_DATABASE_URL)"
        );
    }
    let window = WINDOW.min(n / 2).max(1);
    for b in &backends {
        let label = b.label();
        let rounds = if with_baseline { ROUNDS } else { 1 };
        let (mut ours_r, mut base_r, mut ratios, mut flat) = (vec![], vec![], vec![], vec![]);
        let mut base_flat = vec![];
        for round in 1..=rounds {
            let base = if with_baseline {
                Some(b.fresh(|s| baseline(s, n)).await?)
            } else {
                None
            };
            let o = b.fresh(|s| ours(s, &journal_dir, n)).await?;
            let mut line = format!(
                "{label:<8} round {round}: ours {:>8.0} events/s ({} in {:.2} s); first {window} {:>8.0}/s, last {window} {:>8.0}/s (last/first {:.2})",
                o.rate(),
                o.events,
                o.secs,
                o.first,
                o.last,
                o.last / o.first.max(1e-9),
            );
            if let Some(bs) = base {
                let ratio = o.rate() / bs.rate().max(1e-9);
                line.push_str(&format!(
                    "; baseline {:>8.0} events/s ({:.2} s, last/first {:.2}); ratio {ratio:.2}",
                    bs.rate(),
                    bs.secs,
                    bs.last / bs.first.max(1e-9)
                ));
                base_r.push(bs.rate());
                base_flat.push(bs.last / bs.first.max(1e-9));
                ratios.push(ratio);
            }
            println!("{line}");
            ours_r.push(o.rate());
            flat.push(o.last / o.first.max(1e-9));
        }
        if with_baseline {
            println!(
                "{label:<8} median of {rounds}: ours {:.0} events/s, baseline {:.0} events/s, ratio {:.2}, last/first {:.2} (baseline's {:.2})",
                median(ours_r),
                median(base_r),
                median(ratios),
                median(flat),
                median(base_flat)
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
