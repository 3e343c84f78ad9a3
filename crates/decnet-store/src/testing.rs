//! Helpers for tests that run against both backends: the test server's URL,
//! a throwaway PostgreSQL schema per test (so tests run in parallel on one
//! server) and event fixtures. Built only with the `testing` feature, which
//! only dev-dependencies turn on: none of this ships in the binary.

use chrono::{DateTime, TimeZone, Utc};
use decnet_core::journal_pos::JournalPos;
use decnet_core::{Credential, Event, EventType, SecretKind};
use uuid::Uuid;

pub use crate::scratch::PgSchema;
use crate::{Attacker, Store};

/// Names the PostgreSQL server tests use (`postgres://user:pass@host/db`).
pub const TEST_DATABASE_URL_ENV: &str = "DECNET_TEST_DATABASE_URL";

/// The test server's URL; `None` when unset, except under CI, where a
/// missing server must fail the run rather than quietly skip half the tests.
pub fn postgres_url() -> Option<String> {
    match std::env::var(TEST_DATABASE_URL_ENV) {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().to_owned()),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{TEST_DATABASE_URL_ENV} is unset under CI: the PostgreSQL half of the store tests \
             would be skipped (.ci/run starts a server and sets it)"
        ),
        _ => {
            // Test-support code: tell the person running the tests what was not covered.
            eprintln!(
                "SKIPPED: the PostgreSQL case ({TEST_DATABASE_URL_ENV} is unset; .ci/run starts a server and sets it)"
            );
            None
        }
    }
}

// Fixtures shared by the store's and the API's tests.

/// A fixed instant plus `secs`.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

/// An event of the given shape.
pub fn ev(secs: i64, decky: &str, service: &str, t: EventType, ip: &str) -> Event {
    let mut e = Event::now(
        decky,
        service,
        t,
        format!("{ip}:40000").parse().unwrap(),
        "127.42.0.10:22".parse().unwrap(),
    );
    e.ts = at(secs);
    e
}

/// A login attempt carrying a password.
pub fn login(secs: i64, decky: &str, ip: &str, user: &str, pass: &str) -> Event {
    let mut e = ev(secs, decky, "ssh", EventType::LoginAttempt, ip);
    e.credential = Some(Credential::new(user, pass.as_bytes(), SecretKind::Password));
    e
}

/// Stores events, one attacker per IP, in one committed batch with the
/// counters the ingester would add; returns each event's attacker.
pub async fn put(store: &Store, events: &[Event]) -> Vec<Uuid> {
    let from = store.ingest_offset("test").await.unwrap();
    let to = JournalPos {
        segment: 1,
        offset: from.map_or(0, |o| o.offset) + 1,
    };
    let mut tx = store.begin_ingest("test", from, to).await.unwrap();
    let mut out = Vec::new();
    let mut counts = crate::BatchCounts::default();
    for e in events {
        let ip = e.src_ip.to_string();
        counts.event(e);
        let a = match tx.attacker_for_ip(&ip).await.unwrap() {
            Some(mut a) => {
                a.event_count += 1;
                a.last_seen = a.last_seen.max(e.ts);
                a.first_seen = a.first_seen.min(e.ts);
                a
            }
            None => {
                counts.attacker();
                Attacker {
                    uuid: Uuid::now_v7(),
                    ip,
                    first_seen: e.ts,
                    last_seen: e.ts,
                    event_count: 1,
                    deckies: vec![e.decky.clone()],
                    services: vec![e.service.clone()],
                    credential_count: 0,
                    session_count: 0,
                }
            }
        };
        assert!(tx.insert_event(e, a.uuid).await.unwrap());
        tx.save_attacker(&a).await.unwrap();
        tx.add_attacker_target(a.uuid, &e.decky, &e.service)
            .await
            .unwrap();
        out.push(a.uuid);
    }
    tx.add_counts(&counts).await.unwrap();
    tx.commit().await.unwrap();
    out
}
