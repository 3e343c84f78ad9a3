//! The segment writer: appends to the newest segment, rolls by size, and
//! holds the journal's lock file so only one process writes it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

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
#[derive(Debug)]
pub struct JournalWriter {
    /// Held for the writer's lifetime: one writer per journal, across processes.
    _lock: File,
    dir: PathBuf,
    pub(crate) opts: JournalOptions,
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
