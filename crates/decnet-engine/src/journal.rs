//! The event journal (DESIGN §7): append-only JSON-lines segments under
//! `<data>/journal/`, rolled by size, fsynced in groups, and a reader that
//! resumes from a durable position.
//!
//! The journal is the source of truth for captured events. The writer runs on
//! its own OS thread so fsync never stalls the async runtime; it syncs whenever
//! its queue drains, which batches naturally under load (group commit).

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use decnet_core::Event;
use decnet_services::service::Pending;
use tokio::sync::{mpsc, oneshot};

/// Segment file name prefix.
const PREFIX: &str = "segment-";
/// Segment file name suffix.
const SUFFIX: &str = ".jsonl";
/// Longest line a reader accepts; anything longer is skipped as corrupt.
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Journal failures.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The journal directory or a segment could not be used.
    #[error("journal {path}: {op}: {source} (check that the data dir is writable and the disk is not full)")]
    Io {
        /// File or directory.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// Underlying error.
        source: io::Error,
    },
    /// Another process already writes this journal.
    #[error("journal {0} is already being written by another decnet process: stop it, or give this one its own --data-dir")]
    Locked(PathBuf),
    /// A position string is malformed.
    #[error("journal position {0:?} is not of the form SEGMENT:OFFSET")]
    BadPosition(String),
}

fn io_err<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> JournalError + 'a {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        op,
        source,
    }
}

/// A place in the journal: segment number and byte offset in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct JournalPos {
    /// Segment number (1-based; 0 means "before the first segment").
    pub segment: u64,
    /// Byte offset within the segment.
    pub offset: u64,
}

impl JournalPos {
    /// The very beginning of the journal.
    pub const START: JournalPos = JournalPos {
        segment: 0,
        offset: 0,
    };
}

impl fmt::Display for JournalPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

impl FromStr for JournalPos {
    type Err = JournalError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || JournalError::BadPosition(s.to_owned());
        let (a, b) = s.split_once(':').ok_or_else(bad)?;
        Ok(JournalPos {
            segment: a.parse().map_err(|_| bad())?,
            offset: b.parse().map_err(|_| bad())?,
        })
    }
}

/// Writer tuning.
#[derive(Debug, Clone, Copy)]
pub struct JournalOptions {
    /// Roll to a new segment once the current one reaches this size.
    pub segment_max_bytes: u64,
    /// Longest an appended event may wait for fsync while events keep arriving.
    pub sync_interval: Duration,
    /// Events buffered between the deckies and the writer (senders wait when full).
    pub queue: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_max_bytes: 64 * 1024 * 1024,
            sync_interval: Duration::from_millis(50),
            queue: 65_536,
        }
    }
}

/// `<dir>/segment-00000000000000000001.jsonl`.
pub fn segment_path(dir: &Path, segment: u64) -> PathBuf {
    dir.join(format!("{PREFIX}{segment:020}{SUFFIX}"))
}

/// Segment numbers present in `dir`, ascending.
pub fn list_segments(dir: &Path) -> Result<Vec<u64>, JournalError> {
    let mut out = Vec::new();
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(io_err(dir, "list segments")(e)),
    };
    for entry in rd {
        let entry = entry.map_err(io_err(dir, "list segments"))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push(n);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Appends events to the newest segment, rolling by size.
#[derive(Debug)]
pub struct JournalWriter {
    /// Held for the writer's lifetime: one writer per journal, across processes.
    _lock: File,
    dir: PathBuf,
    opts: JournalOptions,
    segment: u64,
    file: io::BufWriter<File>,
    len: u64,
    dirty: bool,
    written: u64,
}

impl JournalWriter {
    /// Opens the journal in `dir`, creating it; repairs a torn last line left by a crash.
    pub fn open(dir: &Path, opts: JournalOptions) -> Result<JournalWriter, JournalError> {
        fs::create_dir_all(dir).map_err(io_err(dir, "create journal directory"))?;
        let lock_path = dir.join("writer.lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path, "open lock file"))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(JournalError::Locked(dir.to_path_buf()))
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(&lock_path, "lock")(e)),
        }
        let segment = list_segments(dir)?.last().copied().unwrap_or(1);
        let path = segment_path(dir, segment);
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path, "open segment"))?;
        let len = repair_torn_tail(&mut file).map_err(io_err(&path, "repair segment"))?;
        Ok(JournalWriter {
            _lock: lock,
            dir: dir.to_path_buf(),
            opts,
            segment,
            file: io::BufWriter::with_capacity(256 * 1024, file),
            len,
            dirty: false,
            written: 0,
        })
    }

    /// Where the next event will be written.
    pub fn position(&self) -> JournalPos {
        JournalPos {
            segment: self.segment,
            offset: self.len,
        }
    }

    /// Events appended since open.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends one event (buffered until [`sync`](Self::sync)).
    pub fn append(&mut self, event: &Event) -> Result<(), JournalError> {
        if self.len >= self.opts.segment_max_bytes {
            self.roll()?;
        }
        let mut line = event.to_json_line();
        line.push('\n');
        let path = segment_path(&self.dir, self.segment);
        self.file
            .write_all(line.as_bytes())
            .map_err(io_err(&path, "append"))?;
        self.len += line.len() as u64;
        self.dirty = true;
        self.written += 1;
        Ok(())
    }

    /// Flushes buffered lines and fsyncs the segment.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if !self.dirty {
            return Ok(());
        }
        let path = segment_path(&self.dir, self.segment);
        self.file.flush().map_err(io_err(&path, "flush"))?;
        self.file
            .get_ref()
            .sync_data()
            .map_err(io_err(&path, "fsync"))?;
        self.dirty = false;
        Ok(())
    }

    fn roll(&mut self) -> Result<(), JournalError> {
        self.sync()?;
        let next = self.segment + 1;
        let path = segment_path(&self.dir, next);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path, "create segment"))?;
        // The new directory entry must survive a crash too, or a reader could
        // find the old segment complete and the new one missing.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        self.file = io::BufWriter::with_capacity(256 * 1024, file);
        self.segment = next;
        self.len = 0;
        Ok(())
    }
}

/// Truncates a final line with no newline (a write torn by a crash); returns the length.
fn repair_torn_tail(file: &mut File) -> io::Result<u64> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(0);
    }
    let mut reader = BufReader::new(&mut *file);
    let mut good = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            break;
        }
        if buf.last() == Some(&b'\n') {
            good += n as u64;
        } else {
            break;
        }
    }
    if good < len {
        tracing::warn!(
            torn_bytes = len - good,
            "journal segment ended in a torn line (crash while writing); truncating it"
        );
        file.set_len(good)?;
        file.sync_all()?;
    }
    file.seek(SeekFrom::End(0))?;
    Ok(good)
}

/// Summary the writer thread returns when the journal closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalStats {
    /// Events written.
    pub written: u64,
    /// Position after the last event.
    pub end: JournalPos,
}

/// The running writer: send events into [`sender`](Self::sender); [`close`](Self::close) drains and syncs.
#[derive(Debug)]
pub struct JournalHandle {
    tx: Option<mpsc::Sender<Pending>>,
    thread: Option<std::thread::JoinHandle<Result<JournalStats, JournalError>>>,
}

impl JournalHandle {
    /// Opens the journal and starts its writer thread.
    pub fn start(dir: &Path, opts: JournalOptions) -> Result<JournalHandle, JournalError> {
        let writer = JournalWriter::open(dir, opts)?;
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        let thread = std::thread::Builder::new()
            .name("decnet-journal".into())
            .spawn(move || run_writer(writer, rx))
            .map_err(io_err(dir, "start writer thread"))?;
        Ok(JournalHandle {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// A sender for events; each event's `durable` signal fires after the fsync that covers it.
    /// The journal closes once every sender is dropped and [`close`](Self::close) is called.
    pub fn sender(&self) -> Option<mpsc::Sender<Pending>> {
        self.tx.clone()
    }

    /// Stops accepting new senders, waits for every queued event to be written and synced.
    /// Every other sender must have been dropped, or this waits for them.
    pub fn close(mut self) -> Result<JournalStats, JournalError> {
        self.tx = None;
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(JournalError::Io {
                path: PathBuf::new(),
                op: "journal writer thread panicked",
                source: io::Error::other("panic"),
            }),
            None => Err(JournalError::Io {
                path: PathBuf::new(),
                op: "close",
                source: io::Error::other("already closed"),
            }),
        }
    }
}

/// Appended events whose durability signal waits for the next fsync.
struct Unsynced(Vec<oneshot::Sender<()>>);

impl Unsynced {
    fn sync(&mut self, w: &mut JournalWriter) -> Result<(), JournalError> {
        w.sync()?;
        for ack in self.0.drain(..) {
            // A waiter that gave up (connection closed) needs no answer.
            let _ = ack.send(());
        }
        Ok(())
    }
}

fn run_writer(
    mut w: JournalWriter,
    mut rx: mpsc::Receiver<Pending>,
) -> Result<JournalStats, JournalError> {
    let mut last_sync = Instant::now();
    let interval = w.opts.sync_interval;
    let mut unsynced = Unsynced(Vec::new());
    loop {
        match rx.try_recv() {
            Ok(p) => {
                w.append(&p.event)?;
                unsynced.0.push(p.durable);
                if last_sync.elapsed() >= interval {
                    unsynced.sync(&mut w)?;
                    last_sync = Instant::now();
                }
            }
            Err(mpsc::error::TryRecvError::Empty) => {
                // Queue drained: make everything so far durable before waiting.
                unsynced.sync(&mut w)?;
                last_sync = Instant::now();
                match rx.blocking_recv() {
                    Some(p) => {
                        w.append(&p.event)?;
                        unsynced.0.push(p.durable);
                    }
                    None => break,
                }
            }
            Err(mpsc::error::TryRecvError::Disconnected) => break,
        }
    }
    unsynced.sync(&mut w)?;
    Ok(JournalStats {
        written: w.written(),
        end: w.position(),
    })
}

/// One line read from the journal.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A well-formed event.
    Event(Box<Event>),
    /// A line that is not an event (kept so the reader can say where).
    Corrupt {
        /// Where it starts.
        at: JournalPos,
        /// Why it was refused.
        reason: String,
    },
}

/// Reads complete lines from a position onwards, across segments.
#[derive(Debug)]
pub struct JournalReader {
    dir: PathBuf,
    pos: JournalPos,
    reader: Option<BufReader<File>>,
}

impl JournalReader {
    /// A reader starting at `pos` (use [`JournalPos::START`] for the beginning).
    pub fn open(dir: &Path, pos: JournalPos) -> JournalReader {
        JournalReader {
            dir: dir.to_path_buf(),
            pos,
            reader: None,
        }
    }

    /// Position after the last record returned: persist it to resume.
    pub fn position(&self) -> JournalPos {
        self.pos
    }

    fn open_current(&mut self) -> Result<bool, JournalError> {
        if self.reader.is_some() {
            return Ok(true);
        }
        let segments = list_segments(&self.dir)?;
        // Resume in the requested segment, or the first one after it if it is gone.
        let Some(&seg) = segments.iter().find(|&&s| s >= self.pos.segment.max(1)) else {
            return Ok(false);
        };
        if seg != self.pos.segment {
            self.pos = JournalPos {
                segment: seg,
                offset: 0,
            };
        }
        let path = segment_path(&self.dir, seg);
        let mut f = File::open(&path).map_err(io_err(&path, "open segment"))?;
        f.seek(SeekFrom::Start(self.pos.offset))
            .map_err(io_err(&path, "seek"))?;
        self.reader = Some(BufReader::with_capacity(256 * 1024, f));
        Ok(true)
    }

    /// Reads up to `max` records; returns fewer (possibly none) at the end of the journal.
    pub fn read_batch(&mut self, max: usize) -> Result<Vec<(Record, JournalPos)>, JournalError> {
        let mut out = Vec::new();
        let mut line = Vec::new();
        while out.len() < max {
            if !self.open_current()? {
                break;
            }
            let Some(reader) = self.reader.as_mut() else {
                break;
            };
            line.clear();
            let path = segment_path(&self.dir, self.pos.segment);
            let mut n = read_line_capped(reader, &mut line, MAX_LINE_BYTES + 1)
                .map_err(io_err(&path, "read"))?;
            if n == 0 {
                // End of this segment so far. The writer creates the next segment
                // only after this one is complete and synced, so once a newer one
                // exists, one more read finds anything appended meanwhile.
                let segments = list_segments(&self.dir)?;
                let Some(&next) = segments.iter().find(|&&s| s > self.pos.segment) else {
                    break;
                };
                n = read_line_capped(reader, &mut line, MAX_LINE_BYTES + 1)
                    .map_err(io_err(&path, "read"))?;
                if n == 0 {
                    self.pos = JournalPos {
                        segment: next,
                        offset: 0,
                    };
                    self.reader = None;
                    continue;
                }
            }
            if line.last() != Some(&b'\n') {
                // A line still being written: leave it for the next call.
                if let Some(r) = self.reader.as_mut() {
                    r.seek(SeekFrom::Start(self.pos.offset))
                        .map_err(io_err(&path, "seek"))?;
                }
                break;
            }
            let at = self.pos;
            self.pos.offset += n as u64;
            let record = if n > MAX_LINE_BYTES {
                Record::Corrupt {
                    at,
                    reason: format!("line longer than {MAX_LINE_BYTES} bytes"),
                }
            } else {
                match serde_json::from_slice::<Event>(&line) {
                    Ok(e) => Record::Event(Box::new(e)),
                    Err(e) => Record::Corrupt {
                        at,
                        reason: e.to_string(),
                    },
                }
            };
            out.push((record, self.pos));
        }
        Ok(out)
    }
}

/// `read_until(b'\n')` that stops storing after `cap` bytes but still consumes the line.
fn read_line_capped<R: BufRead>(r: &mut R, out: &mut Vec<u8>, cap: usize) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let (done, used) = {
            let buf = r.fill_buf()?;
            if buf.is_empty() {
                return Ok(total);
            }
            let nl = buf.iter().position(|&b| b == b'\n');
            let line_len = nl.map_or(buf.len(), |i| i + 1);
            let room = cap.saturating_sub(out.len());
            out.extend(buf.iter().take(line_len.min(room)));
            if nl.is_some() && line_len > room {
                // Keep the newline so the caller sees a complete (over-long) line.
                out.push(b'\n');
            }
            (nl.is_some(), line_len)
        };
        r.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::EventType;

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
                let (durable, _) = oneshot::channel();
                tx.send(Pending {
                    event: ev(i),
                    durable,
                })
                .await
                .unwrap();
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
    fn emit_returns_only_after_the_event_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let h = JournalHandle::start(dir.path(), JournalOptions::default()).unwrap();
        let emitter = decnet_services::Emitter::durable(h.sender().unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for i in 0..20 {
            rt.block_on(emitter.emit(ev(i)));
            // Read straight from the file: the writer has flushed and synced it.
            let (seen, _) = read_all(dir.path(), JournalPos::START);
            assert_eq!(seen.len() as u32, i + 1);
        }
        drop(emitter);
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

    #[test]
    fn positions_parse_and_print() {
        let p = JournalPos {
            segment: 3,
            offset: 99,
        };
        assert_eq!(p.to_string().parse::<JournalPos>().unwrap(), p);
        assert!("3".parse::<JournalPos>().is_err());
        assert!("a:b".parse::<JournalPos>().is_err());
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
}
