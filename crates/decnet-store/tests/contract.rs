//! Every repository function, on every backend.

use std::collections::HashSet;

use decnet_core::journal_pos::JournalPos;
use decnet_core::EventType;
use decnet_store::{
    ArtifactRecord, AttackerFilter, AttackerSort, CredentialFilter, CredentialRecord, EventFilter,
    NewUser, PageRequest, Role, SessionRecord, Store, StoreError,
};
use sqlx::Row;
use uuid::Uuid;

use crate::support::{at, each_backend, ev, login, put};

async fn all_events(store: &Store, f: &EventFilter, limit: u32) -> Vec<Uuid> {
    let mut out = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .list_events(f, &PageRequest::after(limit, cursor))
            .await
            .unwrap();
        out.extend(page.items.iter().map(|e| e.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return out,
        }
    }
}

#[tokio::test]
async fn dollar_placeholders_bind_by_number_on_both_backends() {
    each_backend(|store| async move {
        let row = sqlx::query("SELECT $2 - $1 AS d, $1 + $1 AS twice, $3 AS s")
            .bind(5i64)
            .bind(12i64)
            .bind("x")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(row.try_get::<i64, _>("d").unwrap(), 7);
        assert_eq!(row.try_get::<i64, _>("twice").unwrap(), 10);
        assert_eq!(row.try_get::<String, _>("s").unwrap(), "x");
        store.ping().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn reconnecting_reapplies_no_migration() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::connect(dir.path().to_str().unwrap()).await.unwrap();
    put(&a, &[ev(1, "d1", "ssh", EventType::Connect, "10.0.0.1")]).await;
    a.close().await;
    let b = Store::open_data_dir(dir.path()).await.unwrap();
    assert_eq!(b.stats(5).await.unwrap().events, 1);
    assert!(dir.path().join("decnet.db").exists());
    let mode: (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(b.pool())
        .await
        .unwrap();
    assert_eq!(mode.0, "wal");
}

/// Every pooled connection checkpoints the WAL at 64 MiB, not SQLite's 4 MiB,
/// and cuts the file back to 64 MiB after.
#[tokio::test]
async fn sqlite_connections_space_out_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let mut conns = Vec::new();
    for _ in 0..2 {
        conns.push(store.pool().acquire().await.unwrap());
    }
    for conn in &mut conns {
        let (pages,): (i64,) = sqlx::query_as("PRAGMA wal_autocheckpoint")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(pages, 16384);
        let (limit,): (i64,) = sqlx::query_as("PRAGMA journal_size_limit")
            .fetch_one(&mut **conn)
            .await
            .unwrap();
        assert_eq!(limit, 64 << 20);
    }
}

#[tokio::test]
async fn the_offset_moves_only_from_where_it_was() {
    each_backend(|store| async move {
        assert_eq!(store.ingest_offset("ingester").await.unwrap(), None);
        let p1 = JournalPos {
            segment: 1,
            offset: 100,
        };
        let p2 = JournalPos {
            segment: 2,
            offset: 7,
        };
        store
            .begin_ingest("ingester", None, p1)
            .await
            .unwrap()
            .commit()
            .await
            .unwrap();
        assert_eq!(store.ingest_offset("ingester").await.unwrap(), Some(p1));
        // A second "first batch" or a stale start is refused.
        assert!(matches!(
            store.begin_ingest("ingester", None, p2).await,
            Err(StoreError::OffsetMoved { .. })
        ));
        assert!(matches!(
            store.begin_ingest("ingester", Some(p2), p2).await,
            Err(StoreError::OffsetMoved { .. })
        ));
        // A dropped transaction leaves both the offset and its events untouched.
        let mut tx = store.begin_ingest("ingester", Some(p1), p2).await.unwrap();
        let e = ev(1, "d1", "ssh", EventType::Connect, "10.0.0.1");
        assert!(tx.insert_event(&e, Uuid::now_v7()).await.unwrap());
        drop(tx);
        assert_eq!(store.ingest_offset("ingester").await.unwrap(), Some(p1));
        assert!(store.event(e.id).await.unwrap().is_none());
        // Same event twice: the second insert is a no-op.
        let mut tx = store.begin_ingest("ingester", Some(p1), p2).await.unwrap();
        assert!(tx.insert_event(&e, Uuid::now_v7()).await.unwrap());
        assert!(!tx.insert_event(&e, Uuid::now_v7()).await.unwrap());
        tx.commit().await.unwrap();
        assert_eq!(store.ingest_offset("ingester").await.unwrap(), Some(p2));
        let stored = store.event(e.id).await.unwrap().unwrap();
        assert_eq!(stored.raw, e.to_json_line());
        assert_eq!(stored.ts, e.ts);
        assert_eq!(stored.src_port, 40000);
    })
    .await;
}

#[tokio::test]
async fn event_filters_each_narrow_the_list() {
    each_backend(|store| async move {
        let mut a = ev(10, "d1", "ssh", EventType::Connect, "10.0.0.1");
        a.session_id = Some(Uuid::now_v7());
        let b = ev(20, "d2", "http", EventType::HttpRequest, "10.0.0.2");
        let c = login(30, "d1", "10.0.0.2", "root", "hunter2");
        let uuids = put(&store, &[a.clone(), b.clone(), c.clone()]).await;
        let ids = |v: Vec<Uuid>| v.into_iter().collect::<Vec<_>>();
        let q = |f: EventFilter| {
            let store = store.clone();
            async move { all_events(&store, &f, 10).await }
        };
        assert_eq!(ids(q(EventFilter::default()).await), vec![c.id, b.id, a.id]);
        let f = EventFilter {
            decky: Some("d1".into()),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![c.id, a.id]);
        let f = EventFilter {
            service: Some("http".into()),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![b.id]);
        let f = EventFilter {
            event_type: Some("login_attempt".into()),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![c.id]);
        let f = EventFilter {
            attacker_ip: Some("10.0.0.2".into()),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![c.id, b.id]);
        let f = EventFilter {
            attacker_uuid: Some(uuids[0]),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![a.id]);
        let f = EventFilter {
            session_id: a.session_id,
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![a.id]);
        let f = EventFilter {
            start: Some(at(20)),
            end: Some(at(30)),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![b.id]);
        let f = EventFilter {
            search: Some("HUNTER".into()),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![c.id], "search is case-insensitive");
        let f = EventFilter {
            decky: Some("d1".into()),
            search: Some("root".into()),
            start: Some(at(0)),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![c.id]);
    })
    .await;
}

#[tokio::test]
async fn search_treats_percent_underscore_and_backslash_literally() {
    each_backend(|store| async move {
        let mk = |secs, v: &str| {
            let mut e = ev(secs, "d1", "http", EventType::HttpRequest, "10.0.0.9");
            e.fields.insert("path".into(), v.into());
            e
        };
        let pct = mk(1, "/a%b");
        let under = mk(2, "/a_b");
        let plain = mk(3, "/axb");
        let slash = mk(4, "/c\\d");
        put(
            &store,
            &[pct.clone(), under.clone(), plain.clone(), slash.clone()],
        )
        .await;
        let s = |needle: &str| {
            let store = store.clone();
            let f = EventFilter {
                search: Some(needle.into()),
                ..Default::default()
            };
            async move { all_events(&store, &f, 50).await }
        };
        assert_eq!(s("/a%b").await, vec![pct.id]);
        assert_eq!(s("/a_b").await, vec![under.id]);
        assert_eq!(s("/axb").await, vec![plain.id]);
        assert_eq!(s("%").await, vec![pct.id]);
        assert_eq!(
            s("c\\\\d").await,
            vec![slash.id],
            "JSON escapes the backslash"
        );
        let long = EventFilter {
            search: Some("x".repeat(513)),
            ..Default::default()
        };
        assert!(matches!(
            store.list_events(&long, &PageRequest::first(10)).await,
            Err(StoreError::Invalid {
                field: "search",
                ..
            })
        ));
    })
    .await;
}

#[tokio::test]
async fn pages_neither_skip_nor_repeat_while_rows_arrive() {
    each_backend(|store| async move {
        // Many events share a timestamp so the id tie-breaker is exercised.
        let first: Vec<_> = (0..230)
            .map(|i| ev(i / 3, "d1", "ssh", EventType::Command, "10.1.0.1"))
            .collect();
        put(&store, &first).await;
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut round = 0;
        loop {
            let page = store
                .list_events(&EventFilter::default(), &PageRequest::after(37, cursor))
                .await
                .unwrap();
            assert!(page.items.len() <= 37);
            seen.extend(page.items.iter().map(|e| e.id));
            // Newer and older rows arrive between pages.
            round += 1;
            put(
                &store,
                &[
                    ev(1000 + round, "d2", "ssh", EventType::Command, "10.1.0.2"),
                    ev(-1000 - round, "d2", "ssh", EventType::Command, "10.1.0.2"),
                ],
            )
            .await;
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "a row was repeated");
        for e in &first {
            assert!(unique.contains(&e.id), "row {} was skipped", e.id);
        }
        // Limits and cursors are validated.
        for bad in [0, 501] {
            assert!(matches!(
                store
                    .list_events(&EventFilter::default(), &PageRequest::first(bad))
                    .await,
                Err(StoreError::Invalid { field: "limit", .. })
            ));
        }
        assert!(matches!(
            store
                .list_events(
                    &EventFilter::default(),
                    &PageRequest::after(10, Some("garbage!".into()))
                )
                .await,
            Err(StoreError::Invalid {
                field: "cursor",
                ..
            })
        ));
        let last = store
            .list_events(&EventFilter::default(), &PageRequest::first(500))
            .await
            .unwrap();
        assert!(last.next_cursor.is_none());
    })
    .await;
}

#[tokio::test]
async fn histogram_counts_every_bucket() {
    each_backend(|store| async move {
        let evs: Vec<_> = [0, 5, 59, 60, 61, 179, 300]
            .into_iter()
            .map(|s| ev(s, "d1", "ssh", EventType::Connect, "10.2.0.1"))
            .collect();
        put(&store, &evs).await;
        let h = store
            .histogram(&EventFilter::default(), 60, at(0), at(180))
            .await
            .unwrap();
        let counts: Vec<u64> = h.iter().map(|b| b.count).collect();
        assert_eq!(counts, vec![3, 2, 1]);
        assert_eq!(h[1].start, at(60));
        let f = EventFilter {
            decky: Some("other".into()),
            ..Default::default()
        };
        let h = store.histogram(&f, 60, at(0), at(180)).await.unwrap();
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 0);
        assert!(store
            .histogram(&EventFilter::default(), 0, at(0), at(1))
            .await
            .is_err());
    })
    .await;
}

fn cred(e: &decnet_core::Event, attacker: Uuid) -> CredentialRecord {
    let c = e.credential.clone().unwrap();
    CredentialRecord {
        event_id: e.id,
        ts: e.ts,
        attacker_uuid: attacker,
        src_ip: e.src_ip.to_string(),
        decky: e.decky.clone(),
        service: e.service.clone(),
        session_id: e.session_id,
        principal: c.principal,
        secret_printable: c.secret_printable,
        secret_b64: c.secret_b64.clone(),
        secret_kind: c.secret_kind.as_str().into(),
        realm: c.realm,
        secret_sha256: format!("sha-of-{}", c.secret_b64),
        outcome: "failure".into(),
    }
}

#[tokio::test]
async fn attackers_credentials_sessions_and_artifacts_read_back() {
    each_backend(|store| async move {
        let l1 = login(10, "d1", "10.3.0.1", "root", "toor");
        let l2 = login(20, "d2", "10.3.0.1", "admin", "toor");
        let l3 = login(30, "d2", "10.3.0.2", "root", "123456");
        let l4 = login(40, "d3", "10.3.0.2", "root", "123456");
        let l5 = login(50, "d3", "10.3.0.3", "solo", "unique");
        let evs = [l1.clone(), l2.clone(), l3.clone(), l4.clone(), l5.clone()];
        let atk = put(&store, &evs).await;
        let (a1, a2) = (atk[0], atk[2]);
        assert_eq!(atk[1], a1);
        let from = store.ingest_offset("test").await.unwrap();
        let mut tx = store
            .begin_ingest(
                "test",
                from,
                JournalPos {
                    segment: 9,
                    offset: 0,
                },
            )
            .await
            .unwrap();
        for (e, a) in evs.iter().zip(&atk) {
            assert!(tx.insert_credential(&cred(e, *a)).await.unwrap());
        }
        assert!(!tx.insert_credential(&cred(&l1, a1)).await.unwrap());
        let c = cred(&l1, a1);
        assert!(tx
            .secret_seen_on_decky(&c.secret_sha256, "password", "d1")
            .await
            .unwrap());
        assert!(!tx
            .secret_seen_on_decky(&c.secret_sha256, "password", "d9")
            .await
            .unwrap());
        assert!(tx
            .secret_seen_for_principal(&c.secret_sha256, "password", "admin")
            .await
            .unwrap());
        let sid = Uuid::now_v7();
        let session = SessionRecord {
            sid,
            attacker_uuid: a1,
            decky: "d1".into(),
            service: "ssh".into(),
            src_ip: "10.3.0.1".into(),
            src_port: 40000,
            started_at: at(10),
            ended_at: Some(at(70)),
            event_count: 4,
            command_count: 2,
            recording_sid: Some(Uuid::now_v7()),
            recording_shard: Some("artifacts/d1/ssh/transcripts/sessions-2023-11-14.jsonl".into()),
            recording_bytes: Some(1234),
            recording_duration_s: Some(60.5),
            recording_truncated: Some(false),
        };
        tx.save_session(&session).await.unwrap();
        assert_eq!(tx.session(sid).await.unwrap().as_ref(), Some(&session));
        let art = ArtifactRecord {
            event_id: l1.id,
            ts: at(15),
            kind: "download".into(),
            name: "http://198.51.100.7/x.sh".into(),
            sha256: None,
            size: None,
            decky: "d1".into(),
            service: "ssh".into(),
            attacker_uuid: a1,
            session_id: Some(sid),
        };
        assert!(tx.insert_artifact(&art).await.unwrap());
        assert!(!tx.insert_artifact(&art).await.unwrap());
        let g = tx
            .reuse_group(&c.secret_sha256, "password")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(g.principals, vec!["admin", "root"]);
        tx.commit().await.unwrap();
        // The counters the ingester would have added for these hand-written rows.
        store.rebuild_counters().await.unwrap();

        // Attackers: detail, sorts, filters, pagination.
        let d = store.attacker(a1).await.unwrap().unwrap();
        assert_eq!((d.ip.as_str(), d.event_count), ("10.3.0.1", 2));
        assert_eq!((d.first_seen, d.last_seen), (at(10), at(20)));
        let all = store
            .list_attackers(
                &AttackerFilter::default(),
                AttackerSort::LastSeen,
                &PageRequest::first(2),
            )
            .await
            .unwrap();
        assert_eq!(all.items.len(), 2);
        assert_eq!(all.items[0].ip, "10.3.0.3");
        let rest = store
            .list_attackers(
                &AttackerFilter::default(),
                AttackerSort::LastSeen,
                &PageRequest::after(2, all.next_cursor.clone()),
            )
            .await
            .unwrap();
        assert_eq!(
            rest.items.iter().map(|a| a.uuid).collect::<Vec<_>>(),
            vec![a1]
        );
        assert!(rest.next_cursor.is_none());
        let by_first = store
            .list_attackers(
                &AttackerFilter::default(),
                AttackerSort::FirstSeen,
                &PageRequest::first(10),
            )
            .await
            .unwrap();
        assert_eq!(by_first.items.last().unwrap().uuid, a1);
        let by_count = store
            .list_attackers(
                &AttackerFilter::default(),
                AttackerSort::EventCount,
                &PageRequest::first(1),
            )
            .await
            .unwrap();
        assert_eq!(by_count.items[0].event_count, 2);
        let by_count2 = store
            .list_attackers(
                &AttackerFilter::default(),
                AttackerSort::EventCount,
                &PageRequest::after(1, by_count.next_cursor),
            )
            .await
            .unwrap();
        assert_eq!(by_count2.items[0].event_count, 2);
        assert_ne!(by_count2.items[0].uuid, by_count.items[0].uuid);
        let f = AttackerFilter {
            decky: Some("d2".into()),
            ..Default::default()
        };
        let on_d2 = store
            .list_attackers(&f, AttackerSort::LastSeen, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(
            on_d2.items.iter().map(|a| a.uuid).collect::<Vec<_>>(),
            vec![a2, a1]
        );
        let f = AttackerFilter {
            ip: Some("10.3.0.2".into()),
            service: Some("ssh".into()),
            ..Default::default()
        };
        let by_ip = store
            .list_attackers(&f, AttackerSort::LastSeen, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(
            by_ip.items.iter().map(|a| a.uuid).collect::<Vec<_>>(),
            vec![a2]
        );
        let f = AttackerFilter {
            service: Some("http".into()),
            ..Default::default()
        };
        assert!(store
            .list_attackers(&f, AttackerSort::LastSeen, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty());

        // Per-attacker views.
        let ev1 = store
            .attacker_events(a1, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(
            ev1.items.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![l2.id, l1.id]
        );
        let cr1 = store
            .attacker_credentials(a1, &PageRequest::first(1))
            .await
            .unwrap();
        assert_eq!(cr1.items[0].event_id, l2.id);
        assert!(cr1.next_cursor.is_some());
        assert_eq!(cr1.items[0].secret_printable.as_deref(), Some("toor"));
        let ss = store
            .attacker_sessions(a1, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(ss.items, vec![session.clone()]);
        assert_eq!(store.session(sid).await.unwrap(), Some(session));
        assert_eq!(store.session(Uuid::now_v7()).await.unwrap(), None);
        let arts = store
            .attacker_artifacts(a1, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(arts.items, vec![art]);
        assert!(store
            .attacker_artifacts(a2, &PageRequest::first(10))
            .await
            .unwrap()
            .items
            .is_empty());

        // Credentials list filters.
        let q = |f: CredentialFilter| {
            let store = store.clone();
            async move {
                store
                    .list_credentials(&f, &PageRequest::first(50))
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|c| c.event_id)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(q(CredentialFilter::default()).await.len(), 5);
        let f = CredentialFilter {
            principal: Some("root".into()),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![l4.id, l3.id, l1.id]);
        let f = CredentialFilter {
            decky: Some("d3".into()),
            service: Some("ssh".into()),
            secret_kind: Some("password".into()),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![l5.id, l4.id]);
        let f = CredentialFilter {
            attacker_uuid: Some(a2),
            ..Default::default()
        };
        assert_eq!(q(f).await, vec![l4.id, l3.id]);
        let f = CredentialFilter {
            secret_kind: Some("ntlmssp_v2".into()),
            ..Default::default()
        };
        assert!(q(f).await.is_empty());

        // Reuse: "toor" for two principals on two deckies, "123456" on two deckies.
        let reuse = store
            .credential_reuse(&decnet_store::PageRequest::first(10))
            .await
            .unwrap()
            .items;
        assert_eq!(reuse.len(), 2);
        let toor = reuse
            .iter()
            .find(|g| g.secret_printable.as_deref() == Some("toor"))
            .unwrap();
        assert_eq!(toor.deckies, vec!["d1", "d2"]);
        assert_eq!(toor.principals, vec!["admin", "root"]);
        assert_eq!(toor.attacker_uuids, vec![a1]);
        assert_eq!(
            (toor.count, toor.first_seen, toor.last_seen),
            (2, at(10), at(20))
        );
        let six = reuse
            .iter()
            .find(|g| g.secret_printable.as_deref() == Some("123456"))
            .unwrap();
        assert_eq!(six.deckies, vec!["d2", "d3"]);
        assert_eq!(six.principals, vec!["root"]);
        // One group per page: the same groups, in the same ranked order, each once.
        let mut walked = Vec::new();
        let mut cursor = None;
        loop {
            let page = store
                .credential_reuse(&decnet_store::PageRequest::after(1, cursor))
                .await
                .unwrap();
            walked.extend(page.items.into_iter().map(|g| g.secret_sha256));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        let ranked: Vec<String> = reuse.iter().map(|g| g.secret_sha256.clone()).collect();
        assert_eq!(walked, ranked);

        // Stats.
        let s = store.stats(2).await.unwrap();
        assert_eq!(
            (s.events, s.attackers, s.credentials, s.sessions),
            (5, 3, 5, 1)
        );
        assert_eq!(s.top_src_ips[0].count, 2);
        assert_eq!(s.top_src_ips.len(), 2);
        assert_eq!(s.top_deckies[0].value, "d2");
        assert_eq!(s.top_services[0].value, "ssh");
        assert_eq!(s.top_event_types[0].value, "login_attempt");
        assert_eq!(
            (
                s.top_principals[0].value.as_str(),
                s.top_principals[0].count
            ),
            ("root", 3)
        );
        assert_eq!(
            s.top_passwords
                .iter()
                .map(|c| c.value.as_str())
                .collect::<Vec<_>>(),
            vec!["123456", "toor"]
        );
    })
    .await;
}

#[tokio::test]
async fn users_crud_with_unique_usernames() {
    each_backend(|store| async move {
        let new = NewUser {
            username: "admin".into(),
            password_hash: "$argon2id$x".into(),
            role: Role::Admin,
            must_change_password: true,
        };
        let u = store.create_user(&new).await.unwrap();
        assert!(matches!(
            store.create_user(&new).await,
            Err(StoreError::Conflict("username"))
        ));
        assert!(store
            .create_user(&NewUser {
                username: String::new(),
                ..new.clone()
            })
            .await
            .is_err());
        assert_eq!(
            store.user_by_username("admin").await.unwrap().as_ref(),
            Some(&u)
        );
        assert_eq!(store.user(u.uuid).await.unwrap().as_ref(), Some(&u));
        assert_eq!(store.user_by_username("nobody").await.unwrap(), None);
        let v = store
            .create_user(&NewUser {
                username: "viewer".into(),
                role: Role::Viewer,
                must_change_password: false,
                ..new.clone()
            })
            .await
            .unwrap();
        let names: Vec<_> = store
            .list_users()
            .await
            .unwrap()
            .into_iter()
            .map(|u| u.username)
            .collect();
        assert_eq!(names, vec!["admin", "viewer"]);
        assert!(store
            .set_password(u.uuid, "$argon2id$y", false)
            .await
            .unwrap());
        let u2 = store.user(u.uuid).await.unwrap().unwrap();
        assert_eq!(
            (u2.password_hash.as_str(), u2.must_change_password),
            ("$argon2id$y", false)
        );
        assert!(u2.updated_at >= u.updated_at);
        assert!(store.set_role(v.uuid, Role::Admin).await.unwrap());
        assert_eq!(store.user(v.uuid).await.unwrap().unwrap().role, Role::Admin);
        let cut = store.bump_tokens_valid_from(v.uuid).await.unwrap().unwrap();
        assert!(cut >= v.tokens_valid_from);
        assert_eq!(
            store.user(v.uuid).await.unwrap().unwrap().tokens_valid_from,
            cut
        );
        assert!(store.delete_user(v.uuid).await.unwrap());
        assert!(!store.delete_user(v.uuid).await.unwrap());
        assert!(!store.set_role(v.uuid, Role::Viewer).await.unwrap());
        assert!(!store.set_password(v.uuid, "h", true).await.unwrap());
        assert_eq!(store.bump_tokens_valid_from(v.uuid).await.unwrap(), None);
        // The name is free again once its user is gone.
        store
            .create_user(&NewUser {
                username: "viewer".into(),
                ..new
            })
            .await
            .unwrap();
    })
    .await;
}
