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
