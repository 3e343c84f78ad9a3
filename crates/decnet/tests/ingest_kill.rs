//! Kill test for the ingester (DESIGN §7): `decnet worker ingester` is
//! SIGKILLed at random points while the journal grows, then restarted; the
//! database ends up holding exactly the journal's events, and the derived
//! attackers, credentials and sessions agree with a recomputation.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use decnet_core::journal_pos::JournalPos;
use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_journal::{JournalOptions, JournalWriter};
use decnet_store::testing::{postgres_url, PgSchema};
use decnet_store::{AttackerSort, PageRequest, Store};
use uuid::Uuid;

use crate::support::{stored_ids, wait_exit};

/// How often the test re-counts stored events while the ingester catches up.
const POLL: Duration = Duration::from_millis(100);

/// Tiny xorshift so kill points vary run to run without a dependency.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Rng(u64::from(nanos) | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn append_sessions(w: &mut JournalWriter, rng: &mut Rng, n: usize, out: &mut Vec<Event>) {
    for _ in 0..n {
        let ip = format!("198.51.100.{}", rng.below(40) + 1);
        let decky = format!("decky-{}", rng.below(4));
        let sid = Uuid::now_v7();
        let mk = |t: EventType| {
            let mut e = Event::now(
                decky.as_str(),
                "ssh",
                t,
                format!("{ip}:4{:04}", sid.as_u128() % 10_000)
                    .parse()
                    .unwrap(),
                "127.42.0.10:22".parse().unwrap(),
            );
            e.session_id = Some(sid);
            e
        };
        let mut batch = vec![mk(EventType::Connect)];
        for _ in 0..2 {
            let mut l = mk(EventType::LoginAttempt);
            let pass = ["123456", "root", "admin", "letmein"][rng.below(4) as usize];
            let user = ["root", "admin"][rng.below(2) as usize];
            l.credential = Some(Credential::new(user, pass.as_bytes(), SecretKind::Password));
            batch.push(l);
        }
        let mut c = mk(EventType::Command);
        c.fields.insert("command".into(), "cat /etc/passwd".into());
        batch.push(c);
        batch.push(mk(EventType::Disconnect));
        for e in batch {
            w.append(&e).unwrap();
            out.push(e);
        }
    }
    w.sync().unwrap();
}

fn spawn_ingester(data: &Path, url: Option<&str>) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_decnet"));
    cmd.args(["worker", "ingester", "--data-dir"])
        .arg(data)
        .env("DECNET_LOG", "warn")
        .env_remove("DECNET_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if let Some(u) = url {
        cmd.args(["--database-url", u]);
    }
    cmd.spawn().unwrap()
}

async fn count_events(store: &Store) -> u64 {
    store.stats(1).await.unwrap().events
}

async fn kill_and_restart(url: Option<String>) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let journal = data.join("journal");
    let mut w = JournalWriter::open(
        &journal,
        JournalOptions {
            segment_max_bytes: 150_000,
            ..Default::default()
        },
    )
    .unwrap();
    let mut rng = Rng::seeded();
    let mut all = Vec::new();
    // The store the test reads through; the child opens its own.
    let store = match &url {
        Some(u) => Store::connect(u).await.unwrap(),
        None => Store::open_data_dir(data).await.unwrap(),
    };
    let mut behind = 0;
    for _round in 0..6 {
        append_sessions(&mut w, &mut rng, 200, &mut all);
        let mut child = spawn_ingester(data, url.as_deref());
        tokio::time::sleep(Duration::from_millis(50 + rng.below(400))).await;
        // The stream goes on while the ingester works.
        append_sessions(&mut w, &mut rng, 100, &mut all);
        tokio::time::sleep(Duration::from_millis(rng.below(400))).await;
        if count_events(&store).await < all.len() as u64 {
            behind += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    // Most kills must land while the ingester still has work, or the test proves little.
    assert!(behind >= 1, "no kill landed while the ingester was behind");
    // A last run catches up.
    let mut child = spawn_ingester(data, url.as_deref());
    let deadline = Instant::now() + Duration::from_secs(300);
    while count_events(&store).await < all.len() as u64 {
        assert!(Instant::now() < deadline, "ingester never caught up");
        tokio::time::sleep(POLL).await;
    }
    // A clean stop: once the process has exited, any duplicate it could
    // write is already in the database.
    let pid = child.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(wait_exit(&mut child, Duration::from_secs(60)).success());

    // Exactly the journal's events.
    let ids = stored_ids(&store).await;
    assert_eq!(ids.len(), all.len(), "lost or duplicated events");
    let stored: HashSet<Uuid> = ids.into_iter().collect();
    let journaled: HashSet<Uuid> = all.iter().map(|e| e.id).collect();
    assert_eq!(stored, journaled);
    let end = w.position();
    assert_eq!(
        store.ingest_offset("ingester").await.unwrap(),
        Some(JournalPos {
            segment: end.segment,
            offset: end.offset
        })
    );

    // Derived rows agree with a recomputation from the journal.
    #[derive(Default, Debug, PartialEq)]
    struct Expect {
        events: u64,
        creds: u64,
        sessions: HashSet<Uuid>,
        first: Option<chrono::DateTime<chrono::Utc>>,
        last: Option<chrono::DateTime<chrono::Utc>>,
    }
    let mut expect: BTreeMap<String, Expect> = BTreeMap::new();
    let mut commands: HashMap<Uuid, u64> = HashMap::new();
    for e in &all {
        let x = expect.entry(e.src_ip.to_string()).or_default();
        x.events += 1;
        x.creds += u64::from(e.credential.is_some());
        x.sessions.extend(e.session_id);
        x.first = Some(x.first.map_or(e.ts, |f| f.min(e.ts)));
        x.last = Some(x.last.map_or(e.ts, |l| l.max(e.ts)));
        if e.event_type == EventType::Command {
            *commands.entry(e.session_id.unwrap()).or_default() += 1;
        }
    }
    let attackers = store
        .list_attackers(
            &Default::default(),
            AttackerSort::LastSeen,
            &PageRequest::first(500),
        )
        .await
        .unwrap();
    assert!(attackers.next_cursor.is_none());
    assert_eq!(
        attackers.items.len(),
        expect.len(),
        "one attacker per source IP"
    );
    for a in &attackers.items {
        let x = &expect[&a.ip];
        assert_eq!(a.event_count, x.events, "events of {}", a.ip);
        assert_eq!(a.credential_count, x.creds, "credentials of {}", a.ip);
        assert_eq!(
            a.session_count,
            x.sessions.len() as u64,
            "sessions of {}",
            a.ip
        );
        assert_eq!((Some(a.first_seen), Some(a.last_seen)), (x.first, x.last));
    }
    let stats = store.stats(5).await.unwrap();
    assert_eq!(
        stats.credentials,
        all.iter().filter(|e| e.credential.is_some()).count() as u64
    );
    assert_eq!(stats.sessions, commands.len() as u64);
    for (sid, n) in commands.iter().take(50) {
        let s = store.session(*sid).await.unwrap().unwrap();
        assert_eq!((s.command_count, s.event_count), (*n, 5));
        assert!(s.ended_at.is_some());
    }
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_ingester_leaves_exactly_the_journal_in_sqlite() {
    kill_and_restart(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_ingester_leaves_exactly_the_journal_in_postgres() {
    let Some(base) = postgres_url() else {
        eprintln!("DECNET_TEST_DATABASE_URL unset: PostgreSQL kill test skipped");
        return;
    };
    let schema = PgSchema::create(&base).await.unwrap();
    kill_and_restart(Some(schema.url())).await;
    schema.drop_schema().await.unwrap();
}
