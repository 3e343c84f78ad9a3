//! Runs a test body against every available backend.

use std::future::Future;

use chrono::{DateTime, TimeZone, Utc};
use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_store::testing::{postgres_url, PgSchema};
use decnet_store::{Attacker, IngestOffset, Store};
use uuid::Uuid;

/// Runs `body` on a fresh SQLite store, then on a fresh PostgreSQL schema when configured.
pub async fn each_backend<F, Fut>(body: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(dir.path().to_str().unwrap()).await.unwrap();
    body(store.clone()).await;
    store.close().await;
    if let Some(base) = postgres_url() {
        let schema = PgSchema::create(&base).await.unwrap();
        let store = Store::connect(&schema.url()).await.unwrap();
        assert_eq!(store.backend(), decnet_store::Backend::Postgres);
        body(store.clone()).await;
        store.close().await;
        schema.drop_schema().await.unwrap();
    }
}

/// A fixed instant plus `secs`.
pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

/// An event with the given shape.
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

/// Stores events (and a bare attacker per IP) in one committed batch.
pub async fn put(store: &Store, events: &[Event]) -> Vec<Uuid> {
    let from = store.ingest_offset("test").await.unwrap();
    let to = IngestOffset {
        segment: 1,
        offset: from.map_or(0, |o| o.offset) + 1,
    };
    let mut tx = store.begin_ingest("test", from, to).await.unwrap();
    let mut out = Vec::new();
    for e in events {
        let ip = e.src_ip.to_string();
        let a = match tx.attacker_for_ip(&ip).await.unwrap() {
            Some(mut a) => {
                a.event_count += 1;
                a.last_seen = a.last_seen.max(e.ts);
                a.first_seen = a.first_seen.min(e.ts);
                a
            }
            None => Attacker {
                uuid: Uuid::now_v7(),
                ip,
                first_seen: e.ts,
                last_seen: e.ts,
                event_count: 1,
                deckies: vec![],
                services: vec![],
                credential_count: 0,
                session_count: 0,
            },
        };
        assert!(tx.insert_event(e, a.uuid).await.unwrap());
        tx.save_attacker(&a).await.unwrap();
        tx.add_attacker_target(a.uuid, &e.decky, &e.service)
            .await
            .unwrap();
        out.push(a.uuid);
    }
    tx.commit().await.unwrap();
    out
}
