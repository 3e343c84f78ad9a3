//! The segment writer: appends to the newest segment, rolls by size, and
//! holds the journal's lock file so only one process writes it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use decnet_core::config::model::DiskWatermark;
use decnet_core::paths;
use decnet_core::Event;

use crate::segment::{list_segments, repair_torn_tail, segment_path};
use crate::{io_err, JournalError, JournalPos};

/// Writer tuning.
#[derive(Debug, Clone, Copy)]
pub struct JournalOptions {
    /// Roll to a new segment once the current one reaches this size.
    pub segment_max_bytes: u64,
    /// Longest an appended event may wait for fsync while events keep arriving.
    pub sync_interval: Duration,
    /// Events buffered between the deckies and the writer (senders wait when full).
    pub queue: usize,
    /// Free space the journal's filesystem must keep (`[general] disk_watermark`):
    /// below it the journal refuses events, leaving room for the database and ingester.
    pub watermark: DiskWatermark,
    /// How often the writer checks free space and, while degraded, retries.
    pub check_interval: Duration,
}

impl Default for JournalOptions {
    fn default() -> Self {
        JournalOptions {
            segment_max_bytes: 64 * 1024 * 1024,
            sync_interval: Duration::from_millis(50),
            queue: 65_536,
            watermark: DiskWatermark::DEFAULT,
            check_interval: Duration::from_secs(1),
        }
    }
}

/// Lines buffered in memory before they are written to the segment.
const BUF_BYTES: usize = 256 * 1024;
/// Size of the test write a recovering or starting writer makes.
const PROBE_BYTES: usize = 64 * 1024;
/// The test write's file, beside the segments.
const PROBE_FILE: &str = "writer.probe";

pub use decnet_core::space::Space;

/// Takes the journal's writer lock; it is held as long as the returned file is open.
fn lock_writer(dir: &Path) -> Result<File, JournalError> {
    let lock_path = paths::journal_writer_lock(dir);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io_err(&lock_path, "open lock file"))?;
    match lock.try_lock() {
        Ok(()) => Ok(lock),
        Err(fs::TryLockError::WouldBlock) => Err(JournalError::Locked(dir.to_path_buf())),
        Err(fs::TryLockError::Error(e)) => Err(io_err(&lock_path, "lock")(e)),
    }
}

/// Appends events to the newest segment, rolling by size.
///
/// It knows how much of the segment is synced, so after a failed write or
/// fsync [`discard_unsynced`](Self::discard_unsynced) cuts the segment back to
/// that length: no torn line and no line whose fsync failed stays behind.
/// Readers may already have read such lines, past the cut, so the next event
/// goes to a fresh segment rather than overwriting what they saw.
#[derive(Debug)]
pub struct JournalWriter {
    /// Held for the writer's lifetime: one writer per journal, across processes.
    _lock: File,
    dir: PathBuf,
    pub(crate) opts: JournalOptions,
    segment: u64,
    file: File,
    /// Appended lines not yet handed to the file.
    buf: Vec<u8>,
    /// Length of the segment including `buf`.
    len: u64,
    /// Length of the segment known to be on disk.
    synced: u64,
    written: u64,
    written_synced: u64,
    /// The segment still holds bytes past `synced` (a truncation failed).
    needs_truncate: bool,
    /// Readers may have seen bytes past `synced`: write on in a new segment.
    needs_roll: bool,
    #[cfg(test)]
    pub(crate) faults: Faults,
}

impl JournalWriter {
    /// Opens the journal in `dir`, creating it; repairs a torn last line left by a crash.
    pub fn open(dir: &Path, opts: JournalOptions) -> Result<JournalWriter, JournalError> {
        fs::create_dir_all(dir).map_err(io_err(dir, "create journal directory"))?;
        let lock = lock_writer(dir)?;
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
            file,
            buf: Vec::with_capacity(BUF_BYTES),
            len,
            synced: len,
            written: 0,
            written_synced: 0,
            needs_truncate: false,
            needs_roll: false,
            #[cfg(test)]
            faults: Faults::default(),
        })
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the next event will be written.
    pub fn position(&self) -> JournalPos {
        JournalPos {
            segment: self.segment,
            offset: self.len,
        }
    }

    /// Events appended since open (less those discarded after a failure).
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Appends one event (buffered until [`sync`](Self::sync)); returns the bytes it took.
    pub fn append(&mut self, event: &Event) -> Result<u64, JournalError> {
        if self.needs_truncate {
            self.truncate_to_synced()?;
        }
        if self.len >= self.opts.segment_max_bytes || self.needs_roll {
            self.roll()?;
        }
        // Serialised straight into the buffer: the same bytes as `to_json_line`,
        // without a string of its own per event.
        let start = self.buf.len();
        if serde_json::to_writer(&mut self.buf, event).is_err() {
            // Cannot happen for an `Event` (strings, numbers and JSON maps); if it
            // ever did, the line is written as `to_json_line` would have it.
            self.buf.truncate(start);
            self.buf.extend_from_slice(event.to_json_line().as_bytes());
        }
        self.buf.push(b'\n');
        let n = (self.buf.len() - start) as u64;
        self.len += n;
        self.written += 1;
        if self.buf.len() >= BUF_BYTES {
            self.write_out()?;
        }
        Ok(n)
    }

    /// Hands the buffered lines to the file (not yet durable).
    pub(crate) fn write_out(&mut self) -> Result<(), JournalError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let path = segment_path(&self.dir, self.segment);
        #[cfg(test)]
        self.faults.write(&mut self.file, &self.buf, &path)?;
        self.file
            .write_all(&self.buf)
            .map_err(io_err(&path, "append"))?;
        self.buf.clear();
        Ok(())
    }

    /// Writes buffered lines and fsyncs the segment.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.len == self.synced {
            return Ok(());
        }
        self.write_out()?;
        let path = segment_path(&self.dir, self.segment);
        #[cfg(test)]
        self.faults.fsync(&path)?;
        self.file.sync_data().map_err(io_err(&path, "fsync"))?;
        self.synced = self.len;
        self.written_synced = self.written;
        Ok(())
    }

    /// After a failed append or sync: forgets every event not yet synced and cuts
    /// the segment back to its synced length. Events synced before stay intact.
    /// If the cut itself fails it is retried before the next append.
    pub fn discard_unsynced(&mut self) -> Result<(), JournalError> {
        self.buf.clear();
        self.len = self.synced;
        self.written = self.written_synced;
        self.needs_roll = true;
        self.needs_truncate = true;
        self.truncate_to_synced()
    }

    fn truncate_to_synced(&mut self) -> Result<(), JournalError> {
        let path = segment_path(&self.dir, self.segment);
        if self.file.set_len(self.synced).is_err() {
            // The handle may be what is broken (EIO): a fresh one may still truncate.
            self.file = OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io_err(&path, "reopen segment"))?;
            self.file
                .set_len(self.synced)
                .map_err(io_err(&path, "truncate segment"))?;
        }
        // Best effort: should a crash undo the cut, the lines that come back are whole
        // (the torn tail is repaired at open) and were only ever unacknowledged.
        let _ = self.file.sync_all();
        self.needs_truncate = false;
        Ok(())
    }

    /// Free and total space of the journal's filesystem.
    pub fn space(&self) -> io::Result<Space> {
        #[cfg(test)]
        if let Some(space) = self.faults.space() {
            return Ok(space);
        }
        Space::of(&self.dir)
    }

    /// Free space is below the watermark: the reason, naming free and required bytes.
    pub fn below_watermark(&self) -> Option<String> {
        // A filesystem that cannot say how full it is is not refused for it: the
        // write itself will tell.
        let space = self.space().ok()?;
        let required = self.opts.watermark.threshold(space.total);
        (space.free < required).then(|| {
            format!(
                "free space below the watermark: {} free, {} required ({})",
                mib(space.free),
                mib(required),
                self.dir.display()
            )
        })
    }

    /// A test write and fsync beside the segments: can the journal write at all?
    pub fn probe(&self) -> Result<(), JournalError> {
        let path = self.dir.join(PROBE_FILE);
        #[cfg(test)]
        self.faults.probe(&path)?;
        let result = (|| {
            let mut f = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?;
            f.write_all(&[b'\n'; PROBE_BYTES])?;
            f.sync_data()
        })();
        let _ = fs::remove_file(&path);
        result.map_err(io_err(&path, "test write"))
    }

    /// Makes the writer ready to append again after a failure: finishes the cut,
    /// checks that a write and fsync succeed, and moves to a fresh segment.
    pub fn recover(&mut self) -> Result<(), JournalError> {
        if self.needs_truncate {
            self.truncate_to_synced()?;
        }
        self.probe()?;
        if self.needs_roll {
            self.roll()?;
        }
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
        self.file = file;
        self.segment = next;
        self.len = 0;
        self.synced = 0;
        self.needs_roll = false;
        Ok(())
    }
}

/// `3.1 MiB`.
fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Test seam: failures the writer acts as if the disk had returned.
#[cfg(test)]
#[derive(Debug, Clone, Default)]
pub(crate) struct Faults(std::sync::Arc<std::sync::Mutex<FaultPlan>>);

/// What [`Faults`] makes fail.
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct FaultPlan {
    /// Writes store half their bytes, then fail with ENOSPC; probes fail.
    pub disk_full: bool,
    /// fsync fails with EIO.
    pub fsync_eio: bool,
    /// Reported instead of the filesystem's real space.
    pub space: Option<Space>,
}

#[cfg(test)]
impl Faults {
    /// Changes the plan.
    pub fn set(&self, f: impl FnOnce(&mut FaultPlan)) {
        f(&mut self.0.lock().unwrap());
    }

    fn write(&self, file: &mut File, buf: &[u8], path: &Path) -> Result<(), JournalError> {
        if !self.0.lock().unwrap().disk_full {
            return Ok(());
        }
        // A real ENOSPC lands part of the data first: the torn line must be cut.
        file.write_all(&buf[..buf.len() / 2]).unwrap();
        Err(io_err(path, "append")(io::Error::from_raw_os_error(28)))
    }

    fn fsync(&self, path: &Path) -> Result<(), JournalError> {
        if self.0.lock().unwrap().fsync_eio {
            return Err(io_err(path, "fsync")(io::Error::from_raw_os_error(5)));
        }
        Ok(())
    }

    fn probe(&self, path: &Path) -> Result<(), JournalError> {
        if self.0.lock().unwrap().disk_full {
            return Err(io_err(path, "test write")(io::Error::from_raw_os_error(28)));
        }
        Ok(())
    }

    fn space(&self) -> Option<Space> {
        self.0.lock().unwrap().space
    }
}

#[cfg(test)]
mod line_tests {
    use super::*;
    use decnet_core::{Credential, EventType, SecretKind};

    #[test]
    fn each_line_is_the_events_json_line_and_a_newline() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::open(dir.path(), JournalOptions::default()).unwrap();
        let mut events = Vec::new();
        for i in 0..3u32 {
            let mut e = Event::now(
                "d1",
                "ssh",
                EventType::LoginAttempt,
                "10.0.0.1:1000".parse().unwrap(),
                "127.42.0.10:22".parse().unwrap(),
            );
            e.fields.insert("n".into(), i.into());
            e.fields.insert("quote".into(), "a \"b\" \\ c\u{1}".into());
            e.credential = Some(Credential::new("root", b"pw\n\xff", SecretKind::Password));
            let n = w.append(&e).unwrap();
            assert_eq!(n, e.to_json_line().len() as u64 + 1);
            events.push(e);
        }
        w.sync().unwrap();
        let expected: String = events
            .iter()
            .map(|e| format!("{}\n", e.to_json_line()))
            .collect();
        let on_disk = fs::read_to_string(segment_path(dir.path(), 1)).unwrap();
        assert_eq!(on_disk, expected);
        assert_eq!(w.position().offset, expected.len() as u64);
    }
}
