//! Journal → store: derivations, notifications, replay, polling.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use decnet_core::journal_pos::JournalPos;
use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_intel::{
    ChannelNotifier, IngestOptions, Ingester, Notification, NullNotifier, CONSUMER,
};
use decnet_journal::{JournalOptions, JournalWriter};
use decnet_store::testing::{postgres_url, PgSchema};
use decnet_store::{EventFilter, PageRequest, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub(crate) async fn each_backend<F, Fut>(body: F)
where
    F: Fn(Store, tempfile::TempDir) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    body(store.clone(), dir).await;
    store.close().await;
    if let Some(base) = postgres_url() {
        let schema = PgSchema::create(&base).await.unwrap();
        let store = Store::connect(&schema.url()).await.unwrap();
        body(store.clone(), tempfile::tempdir().unwrap()).await;
        store.close().await;
        schema.drop_schema().await.unwrap();
    }
}

fn ev(decky: &str, t: EventType, ip: &str, sid: Uuid) -> Event {
    let mut e = Event::now(
        decky,
        "ssh",
        t,
        format!("{ip}:5000").parse().unwrap(),
        "127.42.0.10:22".parse().unwrap(),
    );
    e.session_id = Some(sid);
    e
}

/// One attacker session on `decky`: connect, logins, commands, a download, a recording, disconnect.
fn session(decky: &str, ip: &str, user: &str, pass: &str) -> Vec<Event> {
    let sid = Uuid::now_v7();
    let mut out = vec![ev(decky, EventType::Connect, ip, sid)];
    let mut l = ev(decky, EventType::LoginAttempt, ip, sid);
    l.credential = Some(Credential::new(user, pass.as_bytes(), SecretKind::Password));
    out.push(l);
    let mut l = ev(decky, EventType::LoginSuccess, ip, sid);
    l.credential = Some(Credential::new(user, pass.as_bytes(), SecretKind::Password));
    out.push(l);
    for cmd in ["uname -a", "id"] {
        let mut c = ev(decky, EventType::Command, ip, sid);
        c.fields.insert("command".into(), cmd.into());
        out.push(c);
    }
    let mut d = ev(decky, EventType::FileDownload, ip, sid);
    d.fields
        .insert("url".into(), "http://198.51.100.1/x.sh".into());
    d.fields.insert("tool".into(), "wget".into());
    out.push(d);
    let mut r = ev(decky, EventType::SessionRecorded, ip, sid);
    r.fields
        .insert("sid".into(), Uuid::now_v7().to_string().into());
    r.fields.insert(
        "shard".into(),
        "artifacts/x/ssh/transcripts/sessions-2026-01-01.jsonl".into(),
    );
    r.fields.insert("bytes".into(), 321.into());
    r.fields.insert("duration_s".into(), 1.5.into());
    r.fields.insert("truncated".into(), false.into());
    out.push(r);
    out.push(ev(decky, EventType::Disconnect, ip, sid));
    out
}

/// Writes `events` to a journal of small segments, a corrupt line after the first `corrupt_after`.
pub(crate) fn write(dir: &Path, events: &[Event], corrupt_after: Option<usize>) {
    let opts = JournalOptions {
        segment_max_bytes: 4_000,
        ..Default::default()
    };
    let mut w = JournalWriter::open(dir, opts).unwrap();
    for (i, e) in events.iter().enumerate() {
        w.append(e).unwrap();
        if corrupt_after == Some(i) {
            w.sync().unwrap();
            let seg = decnet_journal::list_segments(dir).unwrap();
            let path = decnet_journal::segment_path(dir, *seg.last().unwrap());
            let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
            std::io::Write::write_all(&mut f, b"{not an event}\n").unwrap();
        }
    }
    w.sync().unwrap();
}

/// Moves the stored ingest offset back to the journal's start, as if it had
/// been lost; returns the offset it replaced.
pub(crate) async fn rewind(store: &Store) -> Option<JournalPos> {
    let cur = store.ingest_offset(CONSUMER).await.unwrap();
    store
        .begin_ingest(CONSUMER, cur, JournalPos::default())
        .await
        .unwrap()
        .commit()
        .await
        .unwrap();
    cur
}

/// Ingests until two reads in a row find nothing; the events ingested.
pub(crate) async fn drain(ing: &mut Ingester) -> usize {
    let mut total = 0;
    loop {
        let n = ing.ingest_once().await.unwrap();
        if n == 0 && ing.ingest_once().await.unwrap() == 0 {
            return total;
        }
        total += n;
    }
}

fn collect(rx: &mut mpsc::Receiver<Notification>) -> Vec<Notification> {
    let mut v = Vec::new();
    while let Ok(n) = rx.try_recv() {
        v.push(n);
    }
    v
}

#[tokio::test]
async fn a_journal_becomes_events_attackers_sessions_credentials_and_notifications() {
    each_backend(|store, dir| async move {
        let journal = dir.path().join("journal");
        let mut events = session("d1", "10.9.0.1", "root", "toor");
        events.extend(session("d2", "10.9.0.1", "admin", "toor"));
        events.extend(session("d1", "10.9.0.2", "pi", "raspberry"));
        write(&journal, &events, Some(3));
        let (tx, mut rx) = mpsc::channel(10_000);
        let mut ing = Ingester::new(store.clone(), &journal, Arc::new(ChannelNotifier(tx)))
            .with_options(IngestOptions {
                batch_max: 7,
                ..Default::default()
            });
        assert_eq!(drain(&mut ing).await, events.len());
        assert_eq!(ing.stats().corrupt, 1);
        let stats = store.stats(10).await.unwrap();
        assert_eq!(
            (
                stats.events,
                stats.attackers,
                stats.credentials,
                stats.sessions
            ),
            (events.len() as u64, 2, 6, 3)
        );
        for e in &events {
            let s = store.event(e.id).await.unwrap().unwrap();
            assert_eq!(s.raw, e.to_json_line());
        }
        let page = store
            .list_attackers(
                &Default::default(),
                Default::default(),
                &PageRequest::first(10),
            )
            .await
            .unwrap();
        let a1 = page.items.iter().find(|a| a.ip == "10.9.0.1").unwrap();
        assert_eq!(a1.event_count, 16);
        assert_eq!(a1.deckies, vec!["d1", "d2"]);
        assert_eq!((a1.credential_count, a1.session_count), (4, 2));
        let sess = store
            .attacker_sessions(a1.uuid, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(sess.items.len(), 2);
        for s in &sess.items {
            assert_eq!((s.event_count, s.command_count), (8, 2));
            assert!(s.ended_at.is_some());
            assert_eq!(s.recording_bytes, Some(321));
            assert_eq!(s.recording_truncated, Some(false));
            assert!(s.recording_sid.is_some() && s.recording_shard.is_some());
        }
        let arts = store
            .attacker_artifacts(a1.uuid, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(arts.items.len(), 2);
        assert_eq!(arts.items[0].kind, "download");
        assert_eq!(arts.items[0].name, "http://198.51.100.1/x.sh");
        let creds = store
            .attacker_credentials(a1.uuid, &PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(
            creds.items[0].secret_sha256,
            decnet_intel::secret_sha256(b"toor")
        );
        assert!(creds.items.iter().any(|c| c.outcome == "success"));
        let reuse = store
            .credential_reuse(&decnet_store::PageRequest::first(10))
            .await
            .unwrap()
            .items;
        assert_eq!(reuse.len(), 1);
        assert_eq!(reuse[0].deckies, vec!["d1", "d2"]);

        let notes = collect(&mut rx);
        let on = |t: &str| notes.iter().filter(|n| n.topic == t).collect::<Vec<_>>();
        assert_eq!(on("system.log").len(), events.len());
        let log = &on("system.log")[0].payload;
        for k in ["id", "decky", "service", "event_type", "src_ip", "ts"] {
            assert!(log.get(k).is_some(), "system.log lacks {k}");
        }
        assert_eq!(
            on("attacker.observed").len(),
            2,
            "one first sighting per IP"
        );
        assert_eq!(on("credential.captured").len(), 6);
        assert!(on("credential.captured")
            .iter()
            .all(|n| n.payload.get("secret_b64").is_none()));
        let reuse_notes = on("credential.reuse.detected");
        assert!(!reuse_notes.is_empty());
        assert_eq!(
            reuse_notes.last().unwrap().payload["deckies"],
            serde_json::json!(["d1", "d2"])
        );
    })
    .await;
}

#[tokio::test]
async fn replaying_the_journal_derives_nothing_twice() {
    each_backend(|store, dir| async move {
        let journal = dir.path().join("journal");
        let events = session("d1", "10.9.1.1", "root", "toor");
        write(&journal, &events, None);
        let mut ing = Ingester::new(store.clone(), &journal, Arc::new(NullNotifier));
        assert_eq!(drain(&mut ing).await, events.len());
        let before = store.stats(10).await.unwrap();
        let attacker_before = store
            .list_attackers(
                &Default::default(),
                Default::default(),
                &PageRequest::first(10),
            )
            .await
            .unwrap();
        // Rewind the durable offset to the start, as if it had been lost.
        let cur = rewind(&store).await;
        let mut again = Ingester::new(store.clone(), &journal, Arc::new(NullNotifier));
        assert_eq!(drain(&mut again).await, 0);
        assert_eq!(again.stats().duplicates, events.len() as u64);
        assert_eq!(store.stats(10).await.unwrap(), before);
        let attacker_after = store
            .list_attackers(
                &Default::default(),
                Default::default(),
                &PageRequest::first(10),
            )
            .await
            .unwrap();
        assert_eq!(attacker_after, attacker_before);
        assert_eq!(store.ingest_offset(CONSUMER).await.unwrap(), cur);
    })
    .await;
}

#[tokio::test]
async fn with_the_bus_off_the_ingester_polls_the_journal() {
    each_backend(|store, dir| async move {
        let journal = dir.path().join("journal");
        std::fs::create_dir_all(&journal).unwrap();
        let ing = Ingester::new(store.clone(), &journal, Arc::new(NullNotifier)).with_options(
            IngestOptions {
                poll_interval: Duration::from_millis(20),
                ..Default::default()
            },
        );
        let stop = CancellationToken::new();
        let task = tokio::spawn(ing.run(stop.clone()));
        // Two rounds of events, each written while the ingester is already
        // running; nobody tells it, so only its polling can find them.
        let first = session("d3", "10.9.2.1", "u", "p");
        write(&journal, &first, None);
        wait_for_count(&store, first.len()).await;
        let second = session("d3", "10.9.2.2", "v", "q");
        write(&journal, &second, None);
        let events: Vec<_> = first.iter().chain(&second).cloned().collect();
        wait_for_count(&store, events.len()).await;
        stop.cancel();
        let stats = task.await.unwrap();
        assert_eq!(stats.events, events.len() as u64);
    })
    .await;
}

#[tokio::test]
async fn heartbeats_go_out_on_system_ingester_health() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let (tx, mut rx) = mpsc::channel(100);
    let ing = Ingester::new(
        store,
        dir.path().join("journal"),
        Arc::new(ChannelNotifier(tx)),
    )
    .with_options(IngestOptions {
        heartbeat: Duration::from_millis(30),
        poll_interval: Duration::from_millis(10),
        ..Default::default()
    });
    let stop = CancellationToken::new();
    let task = tokio::spawn(ing.run(stop.clone()));
    let mut beats = 0;
    while beats < 2 {
        let n = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n.topic, "system.ingester.health");
        assert_eq!(n.payload["worker"], "ingester");
        beats += 1;
    }
    stop.cancel();
    task.await.unwrap();
}

#[tokio::test]
async fn notifications_reach_the_bus_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let journal = dir.path().join("journal");
    let mut events = session("d1", "10.9.3.1", "root", "toor");
    events.extend(session("d2", "10.9.3.2", "root", "toor"));
    // A login with a planted credential, as a decky marks it.
    let planted = serde_json::json!({
        "principal": "helpdesk",
        "planted": [{"decky": "mail", "service": "imap", "document": "mail \"Maintenance\""}],
        "valid_on": ["d2"],
    });
    let token_sid = Uuid::now_v7();
    let mut used = ev("d2", EventType::LoginSuccess, "10.9.3.3", token_sid);
    used.credential = Some(Credential::new(
        "helpdesk",
        b"Winter96?",
        SecretKind::Password,
    ));
    used.fields.insert("honeytoken".into(), planted.clone());
    events.push(used.clone());
    write(&journal, &events, None);
    let bus = Arc::new(decnet_bus::FakeBus::new());
    let mut ing = Ingester::new(
        store.clone(),
        &journal,
        Arc::new(decnet_intel::BusNotifier(bus.clone())),
    );
    drain(&mut ing).await;
    assert_eq!(bus.published_on("system.log").len(), events.len());
    assert_eq!(bus.published_on("attacker.observed").len(), 3);
    assert_eq!(bus.published_on("credential.captured").len(), 5);
    let tokens = bus.published_on("credential.honeytoken.used");
    assert_eq!(tokens.len(), 1, "only the planted credential's event");
    assert_eq!(tokens[0].payload["id"], serde_json::json!(used.id));
    assert_eq!(tokens[0].payload["principal"], "helpdesk");
    assert_eq!(tokens[0].payload["honeytoken"], planted);
    let reuse = bus.published_on("credential.reuse.detected");
    assert_eq!(reuse.len(), 1);
    assert_eq!(reuse[0].payload["deckies"], serde_json::json!(["d1", "d2"]));
}

/// Waits (up to 20 s) until the store holds `n` events.
async fn wait_for_count(store: &decnet_store::Store, n: usize) {
    const POLL: Duration = Duration::from_millis(20);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let page = store
            .list_events(&EventFilter::default(), &PageRequest::first(500))
            .await
            .unwrap();
        if page.items.len() == n {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "ingester never picked up the events ({} of {n})",
            page.items.len()
        );
        tokio::time::sleep(POLL).await;
    }
}
