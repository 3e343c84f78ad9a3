//! The journal's behaviour end to end: write, roll, crash, resume, read.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use decnet_core::{Event, EventType};

use crate::*;

fn ev(i: u32) -> Event {
    let mut e = Event::now(
        "d1",
        "ssh",
        EventType::Command,
        "10.0.0.1:1000".parse().unwrap(),
        "127.42.0.10:22".parse().unwrap(),
    );
    e.fields.insert("n".into(), i.into());
    e
}

fn read_all(dir: &Path, from: JournalPos) -> (Vec<Event>, JournalPos) {
    let mut r = JournalReader::open(dir, from);
    let mut out = Vec::new();
    loop {
        let batch = r.read_batch(1000).unwrap();
        if batch.is_empty() {
            break;
        }
        for (rec, _) in batch {
            match rec {
                Record::Event(e) => out.push(*e),
                Record::Corrupt { at, reason } => panic!("corrupt at {at}: {reason}"),
            }
        }
    }
    (out, r.position())
}

#[test]
fn events_round_trip_across_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        segment_max_bytes: 2_000,
        ..Default::default()
    };
    let mut w = JournalWriter::open(dir.path(), opts).unwrap();
    let events: Vec<Event> = (0..100).map(ev).collect();
    for e in &events {
        w.append(e).unwrap();
    }
    w.sync().unwrap();
    assert!(
        list_segments(dir.path()).unwrap().len() > 3,
        "should have rolled"
    );
    let (back, _) = read_all(dir.path(), JournalPos::START);
    assert_eq!(back, events);
}

#[test]
fn a_reader_resumes_from_its_position_without_loss_or_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        segment_max_bytes: 1_500,
        ..Default::default()
    };
    let mut w = JournalWriter::open(dir.path(), opts).unwrap();
    let events: Vec<Event> = (0..60).map(ev).collect();
    for e in &events[..25] {
        w.append(e).unwrap();
    }
    w.sync().unwrap();
    let mut r = JournalReader::open(dir.path(), JournalPos::START);
    let first: Vec<_> = r.read_batch(10).unwrap();
    assert_eq!(first.len(), 10);
    let resume_at = first.last().unwrap().1;
    assert_eq!(resume_at, r.position());
    // Writer restarts (new process), appends more; reader restarts from the saved position.
    drop(w);
    let mut w = JournalWriter::open(dir.path(), opts).unwrap();
    for e in &events[25..] {
        w.append(e).unwrap();
    }
    w.sync().unwrap();
    let saved: JournalPos = resume_at.to_string().parse().unwrap();
    let (rest, _) = read_all(dir.path(), saved);
    assert_eq!(rest, events[10..].to_vec());
}

#[test]
fn a_torn_tail_is_repaired_and_never_read() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(dir.path(), JournalOptions::default()).unwrap();
    w.append(&ev(1)).unwrap();
    w.sync().unwrap();
    drop(w);
    // A crash mid-write leaves half a line.
    let path = segment_path(dir.path(), 1);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(br#"{"id":"0190"#).unwrap();
    drop(f);
    // A reader stops before the partial line.
    let (seen, pos) = read_all(dir.path(), JournalPos::START);
    assert_eq!(seen.len(), 1);
    // The writer truncates it and carries on.
    let mut w = JournalWriter::open(dir.path(), JournalOptions::default()).unwrap();
    assert_eq!(w.position(), pos);
    w.append(&ev(2)).unwrap();
    w.sync().unwrap();
    let (seen, _) = read_all(dir.path(), JournalPos::START);
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[1].fields["n"], 2);
}

#[test]
fn a_partial_line_is_left_for_the_next_read() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir_all(dir.path()).unwrap();
    let path = segment_path(dir.path(), 1);
    let line = ev(7).to_json_line();
    let (a, b) = line.split_at(20);
    fs::write(&path, a).unwrap();
    let mut r = JournalReader::open(dir.path(), JournalPos::START);
    assert!(r.read_batch(10).unwrap().is_empty());
    assert_eq!(r.position().offset, 0);
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(b.as_bytes()).unwrap();
    f.write_all(b"\n").unwrap();
    let got = r.read_batch(10).unwrap();
    assert_eq!(got.len(), 1);
    assert!(matches!(&got[0].0, Record::Event(e) if e.fields["n"] == 7));
}

#[test]
fn corrupt_and_oversized_lines_are_reported_and_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let path = segment_path(dir.path(), 1);
    let mut content = b"not json\n".to_vec();
    content.extend(std::iter::repeat_n(b'x', MAX_LINE_BYTES + 10));
    content.push(b'\n');
    content.extend(ev(3).to_json_line().as_bytes());
    content.push(b'\n');
    fs::write(&path, &content).unwrap();
    let mut r = JournalReader::open(dir.path(), JournalPos::START);
    let got = r.read_batch(10).unwrap();
    assert_eq!(got.len(), 3);
    assert!(matches!(got[0].0, Record::Corrupt { .. }));
    assert!(matches!(got[1].0, Record::Corrupt { .. }));
    assert!(matches!(&got[2].0, Record::Event(_)));
    assert_eq!(r.position().offset, content.len() as u64);
}

#[test]
fn the_writer_thread_drains_everything_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let h = JournalHandle::start(dir.path(), JournalOptions::default()).unwrap();
    let tx = h.sender().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    rt.block_on(async {
        // Nobody waits for durability here: close() alone must drain and sync.
        for i in 0..5000 {
            let (append, _) = Append::new(ev(i));
            tx.send(append).await.unwrap();
        }
    });
    drop(tx);
    let stats = h.close().unwrap();
    assert_eq!(stats.written, 5000);
    let (seen, end) = read_all(dir.path(), JournalPos::START);
    assert_eq!(seen.len(), 5000);
    assert_eq!(end, stats.end);
    let ns: Vec<u64> = seen
        .iter()
        .map(|e| e.fields["n"].as_u64().unwrap())
        .collect();
    assert_eq!(ns, (0..5000).collect::<Vec<_>>());
}

#[test]
fn the_durable_signal_fires_only_once_the_event_is_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let h = JournalHandle::start(dir.path(), JournalOptions::default()).unwrap();
    let tx = h.sender().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    for i in 0..20 {
        let (append, synced) = Append::new(ev(i));
        rt.block_on(async {
            tx.send(append).await.unwrap();
            synced.await.unwrap();
        });
        // Read straight from the file: the writer has flushed and synced it.
        let (seen, _) = read_all(dir.path(), JournalPos::START);
        assert_eq!(seen.len() as u32, i + 1);
    }
    drop(tx);
    h.close().unwrap();
}

#[test]
fn one_writer_per_journal() {
    let dir = tempfile::tempdir().unwrap();
    let w = JournalWriter::open(dir.path(), JournalOptions::default()).unwrap();
    let err = JournalWriter::open(dir.path(), JournalOptions::default()).unwrap_err();
    assert!(matches!(err, JournalError::Locked(_)), "{err}");
    assert!(err.to_string().contains("--data-dir"));
    drop(w);
    JournalWriter::open(dir.path(), JournalOptions::default()).unwrap();
}

proptest::proptest! {
    #[test]
    fn any_split_of_writes_reads_back_exactly(sizes in proptest::collection::vec(1usize..5, 1..30), max in 300u64..3000) {
        let dir = tempfile::tempdir().unwrap();
        let opts = JournalOptions { segment_max_bytes: max, ..Default::default() };
        let mut all = Vec::new();
        let mut i = 0;
        for n in sizes {
            // Each chunk is written by a fresh writer, as across restarts.
            let mut w = JournalWriter::open(dir.path(), opts).unwrap();
            for _ in 0..n { let e = ev(i); i += 1; w.append(&e).unwrap(); all.push(e); }
            w.sync().unwrap();
        }
        let (seen, _) = read_all(dir.path(), JournalPos::START);
        proptest::prop_assert_eq!(seen, all);
    }
}

// ---- Faults: the writer never dies, never leaves a torn line, resumes by itself. ----

use std::time::{Duration, Instant};

use decnet_core::config::model::DiskWatermark;

/// Options for fault tests: checks every few milliseconds instead of every second.
fn quick() -> JournalOptions {
    JournalOptions {
        check_interval: Duration::from_millis(5),
        ..Default::default()
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Sends `e` and reports whether the journal acknowledged it as durable.
fn recorded(
    rt: &tokio::runtime::Runtime,
    tx: &tokio::sync::mpsc::Sender<Append>,
    e: Event,
) -> bool {
    let (append, synced) = Append::new(e);
    rt.block_on(async {
        tx.send(append).await.unwrap();
        synced.await.is_ok()
    })
}

/// Polls `cond` until it holds, failing after a deadline.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting until {what}");
        std::thread::yield_now();
    }
}

fn numbers(dir: &Path) -> Vec<u64> {
    read_all(dir, JournalPos::START)
        .0
        .iter()
        .map(|e| e.fields["n"].as_u64().unwrap())
        .collect()
}

#[test]
fn a_failed_write_cuts_the_segment_back_to_what_was_synced() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(dir.path(), JournalOptions::default()).unwrap();
    for i in 0..3 {
        w.append(&ev(i)).unwrap();
    }
    w.sync().unwrap();
    let synced = fs::metadata(segment_path(dir.path(), 1)).unwrap().len();
    w.faults.set(|p| p.disk_full = true);
    w.append(&ev(3)).unwrap();
    w.append(&ev(4)).unwrap();
    let err = w.sync().unwrap_err();
    assert_eq!(
        err.degraded_reason(),
        format!(
            "journal: no space left on device ({})",
            segment_path(dir.path(), 1).display()
        )
    );
    // Half a batch reached the file, as a real ENOSPC leaves it.
    assert!(fs::metadata(segment_path(dir.path(), 1)).unwrap().len() > synced);
    w.discard_unsynced().unwrap();
    assert_eq!(
        fs::metadata(segment_path(dir.path(), 1)).unwrap().len(),
        synced
    );
    assert_eq!(
        numbers(dir.path()),
        vec![0, 1, 2],
        "no torn or unsynced line left"
    );
    assert_eq!(w.written(), 3);
    // While the disk stays full, recovery fails; once it has room, writing goes on.
    assert!(w.recover().is_err());
    w.faults.set(|p| p.disk_full = false);
    w.recover().unwrap();
    w.append(&ev(5)).unwrap();
    w.sync().unwrap();
    assert_eq!(numbers(dir.path()), vec![0, 1, 2, 5]);
}

#[test]
fn a_reader_that_saw_unsynced_lines_reads_on_cleanly_after_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut w = JournalWriter::open(dir.path(), JournalOptions::default()).unwrap();
    w.append(&ev(0)).unwrap();
    w.append(&ev(1)).unwrap();
    w.sync().unwrap();
    w.append(&ev(2)).unwrap();
    w.write_out().unwrap();
    // The reader gets the written but unsynced line, then its fsync fails.
    let mut r = JournalReader::open(dir.path(), JournalPos::START);
    assert_eq!(r.read_batch(10).unwrap().len(), 3);
    w.faults.set(|p| p.fsync_eio = true);
    w.append(&ev(3)).unwrap();
    let err = w.sync().unwrap_err();
    assert!(err.degraded_reason().contains("fsync"), "{err}");
    w.discard_unsynced().unwrap();
    w.faults.set(|p| p.fsync_eio = false);
    w.recover().unwrap();
    w.append(&ev(4)).unwrap();
    w.sync().unwrap();
    // New lines go to a fresh segment, so the reader's offset past the cut never
    // lands inside them.
    let rest = r.read_batch(10).unwrap();
    assert_eq!(rest.len(), 1);
    assert!(matches!(&rest[0].0, Record::Event(e) if e.fields["n"] == 4));
    assert_eq!(numbers(dir.path()), vec![0, 1, 4]);
}

#[test]
fn the_writer_thread_turns_degraded_on_disk_full_and_resumes_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let w = JournalWriter::open(dir.path(), quick()).unwrap();
    let faults = w.faults.clone();
    let h = JournalHandle::start_writer(w).unwrap();
    let health = h.condition();
    let tx = h.sender().unwrap();
    let rt = rt();
    assert!(recorded(&rt, &tx, ev(0)));
    assert!(health.is_ok());

    faults.set(|p| p.disk_full = true);
    assert!(
        !recorded(&rt, &tx, ev(1)),
        "an event that hit ENOSPC is not acknowledged"
    );
    let reason = health.degraded().unwrap();
    assert!(
        reason.starts_with("journal: no space left on device ("),
        "{reason}"
    );
    // Refused at once while degraded, and the thread is still alive to say so.
    assert!(!recorded(&rt, &tx, ev(2)));

    faults.set(|p| p.disk_full = false);
    wait_until("the journal recovers", || health.is_ok());
    assert!(recorded(&rt, &tx, ev(3)));
    drop(tx);
    let stats = h.close().unwrap();
    assert_eq!(stats.written, 2);
    assert_eq!(numbers(dir.path()), vec![0, 3]);
}

#[test]
fn below_the_watermark_the_journal_refuses_before_the_disk_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        watermark: DiskWatermark {
            bytes: Some(4 << 20),
            percent: None,
        },
        ..quick()
    };
    let w = JournalWriter::open(dir.path(), opts).unwrap();
    let faults = w.faults.clone();
    let roomy = Space {
        free: 50 << 20,
        total: 100 << 20,
    };
    faults.set(|p| p.space = Some(roomy));
    let h = JournalHandle::start_writer(w).unwrap();
    let health = h.condition();
    let tx = h.sender().unwrap();
    let rt = rt();
    assert!(recorded(&rt, &tx, ev(0)));

    faults.set(|p| {
        p.space = Some(Space {
            free: 3 << 20,
            total: 100 << 20,
        })
    });
    wait_until("the watermark is noticed", || !health.is_ok());
    assert_eq!(
        health.degraded().unwrap(),
        format!(
            "journal: free space below the watermark: 3.0 MiB free, 4.0 MiB required ({})",
            dir.path().display()
        )
    );
    assert!(!recorded(&rt, &tx, ev(1)));

    faults.set(|p| p.space = Some(roomy));
    wait_until("space is back", || health.is_ok());
    assert!(recorded(&rt, &tx, ev(2)));
    drop(tx);
    h.close().unwrap();
    assert_eq!(numbers(dir.path()), vec![0, 2]);
}

#[test]
fn starting_below_the_watermark_or_on_a_full_disk_fails_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let opts = JournalOptions {
        watermark: DiskWatermark {
            bytes: Some(4 << 20),
            percent: None,
        },
        ..quick()
    };
    let w = JournalWriter::open(dir.path(), opts).unwrap();
    w.faults.set(|p| {
        p.space = Some(Space {
            free: 3 << 20,
            total: 100 << 20,
        })
    });
    let err = JournalHandle::start_writer(w).unwrap_err().to_string();
    assert!(
        err.starts_with(
            "journal: free space below the watermark: 3.0 MiB free, 4.0 MiB required ("
        ),
        "{err}"
    );
    assert!(err.contains("disk_watermark"), "says what to do: {err}");

    let w = JournalWriter::open(dir.path(), opts).unwrap();
    w.faults.set(|p| p.disk_full = true);
    let err = JournalHandle::start_writer(w).unwrap_err().to_string();
    assert!(
        err.contains("test write") && err.contains("os error 28"),
        "{err}"
    );
    // Nothing was left behind by the failed starts.
    assert!(numbers(dir.path()).is_empty());
}
