//! Stopping a fleet whatever the ingest backlog (issue 8): `decnet up` with a
//! hundred deckies, a journal far ahead of the database, open decky
//! connections and a half-sent API request exits on SIGTERM well before a
//! generous deadline; the database then holds exactly the journal's events up
//! to the stored offset, and the next start ingests the rest, each event once.

use std::collections::HashSet;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use decnet_core::journal_pos::JournalPos;
use decnet_core::{Credential, Event, EventType, SecretKind};
use decnet_journal::{JournalOptions, JournalReader, JournalWriter, Record};
use decnet_store::Store;
use uuid::Uuid;

use crate::support::{api_addr, stored_ids, up, wait_exit};

/// Far more than the ingester moves before the stop, so the stop meets a backlog.
const BACKLOG: usize = 30_000;
/// Deckies in the fleet (one group; `amount` allows at most 100).
const DECKIES: u32 = 100;
/// Ports of this test (diskfull and api use 23000).
const PORT_OFFSET: u16 = 24000;
/// A correctness bound, not a speed target: the stop is bounded at all.
const STOP_DEADLINE: Duration = Duration::from_secs(20);
/// How often the test polls the database.
const POLL: Duration = Duration::from_millis(100);

/// A brute force against one username, every password distinct.
fn write_backlog(journal: &Path) {
    let mut w = JournalWriter::open(journal, JournalOptions::default()).unwrap();
    let dst = "127.0.0.1:80".parse().unwrap();
    for i in 0..BACKLOG {
        let src = format!("198.18.{}.{}:40000", (i / 250) % 250, i % 250 + 1)
            .parse()
            .unwrap();
        let mut e = Event::now("backlog", "http", EventType::LoginAttempt, src, dst);
        e.credential = Some(Credential::new(
            "admin",
            format!("pw-{i}").as_bytes(),
            SecretKind::Password,
        ));
        w.append(&e).unwrap();
    }
    w.sync().unwrap();
}

/// Every event id in the journal, and those whose line ends at or before `upto`.
fn journal_ids(journal: &Path, upto: JournalPos) -> (Vec<Uuid>, Vec<Uuid>) {
    let mut r = JournalReader::open(journal, JournalPos::START);
    let (mut all, mut before) = (Vec::new(), Vec::new());
    loop {
        let batch = r.read_batch(10_000).unwrap();
        if batch.is_empty() {
            return (all, before);
        }
        for (rec, end) in batch {
            if let Record::Event(e) = rec {
                all.push(e.id);
                if end <= upto {
                    before.push(e.id);
                }
            }
        }
    }
}

fn as_set(ids: &[Uuid]) -> HashSet<Uuid> {
    ids.iter().copied().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn up_stops_in_bounded_time_with_a_backlog_and_the_next_start_resumes_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let journal = data.join("journal");
    write_backlog(&journal);
    // A band of loopback addresses of this test process's own.
    let first = Ipv4Addr::new(127, 181, (std::process::id() % 250 + 1) as u8, 1);
    let cfg = dir.path().join("fleet.ini");
    std::fs::write(
        &cfg,
        format!(
            "[general]\ndriver = loopback\nip_start = {first}\n\n[host]\namount = {DECKIES}\nservices = ssh, http\n"
        ),
    )
    .unwrap();
    let (run, lines) = up(&cfg, &data, PORT_OFFSET, &[]);

    // The stop meets what it must tear down: idle decky connections, and an
    // API connection whose request head is half sent.
    let mut open = Vec::new();
    for i in 0..20u32 {
        let ip = IpAddr::V4(Ipv4Addr::from(u32::from(first) + i % DECKIES));
        let port = PORT_OFFSET + if i % 2 == 0 { 22 } else { 80 };
        open.push(TcpStream::connect(SocketAddr::new(ip, port)).unwrap());
    }
    let mut api = TcpStream::connect(api_addr(&lines)).unwrap();
    api.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();

    // Stop once the ingester is under way (a batch committed), not before.
    let store = Store::open_data_dir(&data).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while store.ingest_offset("ingester").await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the ingester never committed a batch"
        );
        tokio::time::sleep(POLL).await;
    }
    let mut run = run;
    let pid = run.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let stopping = Instant::now();
    let status = wait_exit(&mut run.child, STOP_DEADLINE);
    let took = stopping.elapsed();
    assert!(status.success(), "exit status {status}");
    assert!(
        took < STOP_DEADLINE,
        "stopping took {took:?} (the bound is {STOP_DEADLINE:?})"
    );
    drop(open);
    drop(api);

    // What the stop left: exactly the journal up to the stored offset.
    let offset = store
        .ingest_offset("ingester")
        .await
        .unwrap()
        .expect("an offset is stored");
    let (all, before) = journal_ids(&journal, offset);
    assert!(
        all.len() > BACKLOG,
        "the run's own events are in the journal"
    );
    let stored = stored_ids(&store).await;
    assert_eq!(stored.len(), before.len(), "lost or duplicated at the stop");
    assert_eq!(as_set(&stored), as_set(&before));

    // The next start picks up from the offset and ingests the rest, once.
    let mut next = Command::new(env!("CARGO_BIN_EXE_decnet"));
    next.args(["worker", "ingester", "--data-dir"])
        .arg(&data)
        .env("DECNET_LOG", "warn")
        .env_remove("DECNET_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut worker = next.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while store.stats(1).await.unwrap().events < all.len() as u64 {
        assert!(Instant::now() < deadline, "the next start never caught up");
        tokio::time::sleep(POLL).await;
    }
    let pid = worker.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(wait_exit(&mut worker, STOP_DEADLINE).success());
    let stored = stored_ids(&store).await;
    assert_eq!(
        stored.len(),
        all.len(),
        "lost or duplicated after the restart"
    );
    assert_eq!(as_set(&stored), as_set(&all));
    store.close().await;
}
