//! Stats counters: what a batch adds to the totals and per-value counts
//! behind `GET /stats`, added in the batch transaction so they commit with
//! the rows they count.
//!
//! Worked out from what the batch actually stored, with no lookup of its
//! own: an event counts once, when its insert returned it; an attacker when
//! its row is created (a source with no attacker row gained an event); a
//! session likewise; a credential with its event, when its secret decodes. A
//! replayed batch inserts nothing and therefore counts nothing twice.

use decnet_core::Event;
use decnet_store::{BatchCounts, IngestTx};

use crate::IntelError;

/// Adds what the batch stored to the counters: the `inserted` events, and
/// how many attacker and session rows it created.
pub(super) async fn count(
    tx: &mut IngestTx,
    inserted: &[&Event],
    attackers: usize,
    sessions: usize,
) -> Result<(), IntelError> {
    let mut c = BatchCounts::default();
    for e in inserted {
        c.event(e);
        if let Some(cred) = e.credential.as_ref().filter(|c| c.secret_bytes().is_some()) {
            c.credential(
                &cred.principal,
                cred.secret_kind.as_str(),
                cred.secret_printable.as_deref(),
            );
        }
    }
    for _ in 0..attackers {
        c.attacker();
    }
    for _ in 0..sessions {
        c.session();
    }
    if !c.is_empty() {
        tx.add_counts(&c).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use decnet_core::journal_pos::JournalPos;
    use decnet_core::{Credential, EventType, SecretKind};
    use decnet_store::testing::{ev, login, postgres_url, PgSchema};
    use decnet_store::{Dim, Store};
    use uuid::Uuid;

    use super::*;

    /// Applies `events` as the ingester does, in one committed batch.
    async fn ingest(store: &Store, events: &[Event]) -> super::super::BatchOutcome {
        let from = store.ingest_offset("t").await.unwrap();
        let to = JournalPos {
            segment: 1,
            offset: from.map_or(0, |o| o.offset) + 1,
        };
        let mut tx = store.begin_ingest("t", from, to).await.unwrap();
        let out = super::super::apply(&mut tx, events, false).await.unwrap();
        tx.commit().await.unwrap();
        out
    }

    /// A batch with a bit of everything the counters must get right.
    fn mixed() -> Vec<Event> {
        let sid = Uuid::now_v7();
        let mut s1 = ev(1, "web1", "ssh", EventType::Connect, "203.0.113.5");
        s1.session_id = Some(sid);
        let mut s2 = login(2, "web1", "203.0.113.5", "root", "hunter2");
        s2.session_id = Some(sid);
        let mut s3 = ev(3, "web1", "ssh", EventType::Command, "203.0.113.5");
        s3.session_id = Some(sid);
        let mut s4 = ev(4, "web1", "ssh", EventType::Disconnect, "203.0.113.5");
        s4.session_id = Some(sid);
        // A secret that is not a password, one whose base64 does not decode
        // (event kept, credential not hoisted), and a spray.
        let mut ntlm = ev(5, "dc1", "smb", EventType::LoginAttempt, "198.51.100.7");
        ntlm.credential = Some(Credential::new(
            "CORP\\bob",
            b"\x01\x02",
            SecretKind::NtlmsspV2,
        ));
        let mut broken = login(6, "dc1", "198.51.100.7", "eve", "x");
        if let Some(c) = broken.credential.as_mut() {
            c.secret_b64 = "%%% not base64".into();
            c.secret_printable = Some("x".into());
        }
        let mut out = vec![s1, s2, s3, s4, ntlm, broken];
        for (i, user) in ["root", "admin", "oracle"].into_iter().enumerate() {
            out.push(login(10 + i as i64, "db1", "192.0.2.9", user, "123456"));
        }
        // The same event twice in one batch is stored (and counted) once.
        let again = out[1].clone();
        out.push(again);
        out
    }

    async fn counters_match_recount(store: &Store) {
        let kept = store.counter_rows().await.unwrap();
        let recounted = store.recounted_rows().await.unwrap();
        assert_eq!(kept, recounted);
    }

    async fn each_backend<F, Fut>(body: F)
    where
        F: Fn(Store) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        body(store.clone()).await;
        store.close().await;
        if let Some(base) = postgres_url() {
            let schema = PgSchema::create(&base).await.unwrap();
            let store = Store::connect(&schema.url()).await.unwrap();
            body(store.clone()).await;
            store.close().await;
            schema.drop_schema().await.unwrap();
        }
    }

    #[tokio::test]
    async fn counters_equal_a_recount_after_a_mixed_batch_and_its_replay() {
        each_backend(|store| async move {
            let batch = mixed();
            let out = ingest(&store, &batch).await;
            assert_eq!((out.inserted, out.duplicates), (9, 1));
            counters_match_recount(&store).await;
            let s = store.stats(10).await.unwrap();
            assert_eq!(
                (s.events, s.attackers, s.credentials, s.sessions),
                (9, 3, 5, 1)
            );
            assert_eq!(s.top_passwords[0].value, "123456");
            assert_eq!(s.top_passwords[0].count, 3);
            assert!(s.top_passwords.iter().all(|c| c.value != "x"));

            // A replay derives nothing twice; new events of known sources and
            // sessions add only themselves.
            let mut more = batch.clone();
            let mut late = ev(20, "web1", "ssh", EventType::Command, "203.0.113.5");
            late.session_id = batch[0].session_id;
            more.push(late);
            more.push(login(21, "web2", "192.0.2.77", "root", "hunter2"));
            let out = ingest(&store, &more).await;
            assert_eq!((out.inserted, out.duplicates), (2, 10));
            counters_match_recount(&store).await;
            let s = store.stats(10).await.unwrap();
            assert_eq!(
                (s.events, s.attackers, s.credentials, s.sessions),
                (11, 4, 6, 1)
            );
            let root = s.top_principals.iter().find(|c| c.value == "root").unwrap();
            assert_eq!(root.count, 3);

            // Nothing new at all: no counter moves.
            let before = store.counter_rows().await.unwrap();
            ingest(&store, &more).await;
            assert_eq!(store.counter_rows().await.unwrap(), before);
        })
        .await;
    }

    #[tokio::test]
    async fn a_batch_of_many_distinct_sources_is_counted_in_chunks() {
        each_backend(|store| async move {
            // More distinct keys than one upsert or one lookup statement holds.
            let batch: Vec<Event> = (0..1_300)
                .map(|i| {
                    let ip = format!("10.{}.{}.{}", i / 65_536, (i / 256) % 256, i % 256);
                    login(i, "web1", &ip, "admin", &format!("pw{i}"))
                })
                .collect();
            ingest(&store, &batch).await;
            ingest(&store, &batch).await;
            counters_match_recount(&store).await;
            let s = store.stats(3).await.unwrap();
            assert_eq!(
                (s.events, s.attackers, s.credentials),
                (1_300, 1_300, 1_300)
            );
            assert_eq!(s.top_passwords.len(), 3);
            let mut c = BatchCounts::default();
            c.event(&batch[0]);
            assert_eq!(c.get(Dim::SrcIp, "10.0.0.0"), 1);
        })
        .await;
    }
}
