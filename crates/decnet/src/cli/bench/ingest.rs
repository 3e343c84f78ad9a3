//! `decnet bench ingest`: events per second from journal to database, on
//! SQLite and, when `DECNET_DATABASE_URL` names one, PostgreSQL.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use decnet_core::paths::DataDir;
use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_intel::{IngestOptions, Ingester, NullNotifier};
use decnet_journal::{JournalOptions, JournalWriter};
use decnet_store::Store;

/// Events written to the journal for each run.
const EVENTS: usize = 50_000;

/// A realistic mix: sessions of connect, logins with credentials, commands, disconnect.
/// Writes whole sessions until at least `EVENTS` events; returns how many were written.
fn journal(dir: &std::path::Path) -> anyhow::Result<usize> {
    let mut w = JournalWriter::open(dir, JournalOptions::default())?;
    let mut n = 0usize;
    let mut i = 0u32;
    while n < EVENTS {
        i += 1;
        let src = format!("198.18.{}.{}:40000", (i / 250) % 250, i % 250 + 1)
            .parse()
            .context("source address")?;
        let dst = "127.42.250.1:22".parse().context("decky address")?;
        let sid = uuid::Uuid::now_v7();
        let decky = format!("bench-{}", i % 8);
        let mut push = |t: EventType, f: &dyn Fn(&mut Event)| -> anyhow::Result<()> {
            let mut e = Event::now(decky.as_str(), "ssh", t, src, dst);
            e.session_id = Some(sid);
            f(&mut e);
            w.append(&e)?;
            n += 1;
            Ok(())
        };
        push(EventType::Connect, &|_| {})?;
        for p in ["123456", "password", "root"] {
            push(EventType::LoginAttempt, &|e| {
                e.credential = Some(Credential::new("root", p.as_bytes(), SecretKind::Password));
            })?;
        }
        push(EventType::Command, &|e| {
            e.fields.insert("command".into(), "uname -a".into());
        })?;
        push(EventType::Disconnect, &|_| {})?;
    }
    w.sync()?;
    Ok(n)
}

async fn run_one(label: &str, store: Store, journal_dir: &std::path::Path) -> anyhow::Result<()> {
    let mut ing = Ingester::new(store.clone(), journal_dir, Arc::new(NullNotifier))
        .with_options(IngestOptions::default());
    let start = Instant::now();
    let mut total = 0usize;
    loop {
        let n = ing.ingest_once().await?;
        if n == 0 && ing.stats().batches > 0 && ing.ingest_once().await? == 0 {
            break;
        }
        total += n;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "ingest {label:<10} {total:>7} events in {secs:>6.2} s = {:>8.0} events/s ({} batches)",
        total as f64 / secs,
        ing.stats().batches
    );
    store.close().await;
    Ok(())
}

/// Runs the benchmark.
pub async fn run() -> anyhow::Result<ExitCode> {
    let dir = std::env::temp_dir().join(format!("decnet-bench-ingest-{}", std::process::id()));
    let journal_dir = DataDir::new(&dir).journal();
    let written = journal(&journal_dir)?;
    println!("journal: {written} events (sessions of connect, 3 logins with credentials, a command, disconnect)");
    let sqlite = Store::open_data_dir(&dir).await?;
    let r = run_one("sqlite", sqlite, &journal_dir).await;
    if r.is_ok() {
        if let Ok(url) = std::env::var(decnet_store::DATABASE_URL_ENV) {
            // A fresh schema keeps the run's rows apart from real data.
            let schema = decnet_store::scratch::PgSchema::create(&url).await?;
            let pg = Store::connect(&schema.url()).await?;
            let r2 = run_one("postgres", pg, &journal_dir).await;
            schema.drop_schema().await?;
            r2?;
        } else {
            println!("(set DECNET_DATABASE_URL=postgres://… to measure PostgreSQL too)");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    r?;
    Ok(ExitCode::SUCCESS)
}
