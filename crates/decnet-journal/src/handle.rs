//! The writer on its own OS thread, so fsync never stalls the async runtime.
//! It syncs whenever its queue drains, which batches naturally under load
//! (group commit), and answers each [`Append`] once the fsync covering it is done.
//!
//! The thread never dies of an I/O error. When a write or fsync fails (disk
//! full, EIO) or free space falls below the watermark, the journal turns
//! *degraded*: the events not yet synced are dropped unacknowledged (their
//! emitters report them unrecorded, so their sessions end unanswered), the
//! segment is cut back to what was synced, every new event is refused at once,
//! and the shared [`Condition`] says why, so the accept loops and `/health` see
//! it. Every check interval the thread retries (space above the watermark, a
//! test write and fsync, a fresh segment) and resumes by itself. Operators get
//! one error line when it starts, one a minute while it lasts, one when it ends.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use decnet_core::health::Condition;
use decnet_core::Event;
use tokio::sync::{mpsc, oneshot};

use crate::writer::{JournalOptions, JournalWriter};
use crate::{io_err, JournalError, JournalPos};

/// A request to append one event, with the signal that it is durable.
#[derive(Debug)]
pub struct Append {
    /// The event.
    pub event: Event,
    /// Fired once the event is on disk (fsynced); dropped unfired if the journal
    /// could not record it.
    pub durable: oneshot::Sender<()>,
}

impl Append {
    /// A request for `event` and the receiver that resolves once it is durable.
    pub fn new(event: Event) -> (Append, oneshot::Receiver<()>) {
        let (durable, synced) = oneshot::channel();
        (Append { event, durable }, synced)
    }
}

/// Summary the writer thread returns when the journal closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalStats {
    /// Events written.
    pub written: u64,
    /// Position after the last event.
    pub end: JournalPos,
}

/// The running writer: send [`Append`]s into [`sender`](Self::sender); [`close`](Self::close) drains and syncs.
#[derive(Debug)]
pub struct JournalHandle {
    dir: PathBuf,
    condition: Condition,
    tx: Option<mpsc::Sender<Append>>,
    thread: Option<std::thread::JoinHandle<Result<JournalStats, JournalError>>>,
}

impl JournalHandle {
    /// Opens the journal and starts its writer thread. Fails when free space is
    /// already below the watermark or a test write fails: a fleet that cannot
    /// record must not start answering.
    pub fn start(dir: &Path, opts: JournalOptions) -> Result<JournalHandle, JournalError> {
        JournalHandle::start_writer(JournalWriter::open(dir, opts)?)
    }

    /// Starts the thread over an opened writer (tests hand one with faults planned).
    pub(crate) fn start_writer(writer: JournalWriter) -> Result<JournalHandle, JournalError> {
        let dir = writer.dir().to_path_buf();
        if let Some(reason) = writer.below_watermark() {
            return Err(JournalError::LowSpace(reason));
        }
        writer.probe()?;
        let (tx, rx) = mpsc::channel(writer.opts.queue.max(1));
        // The thread's own clock: it waits for events or the next check, whichever first.
        let clock = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .map_err(io_err(&dir, "start writer clock"))?;
        let condition = Condition::new();
        let pump = Pump::new(writer, condition.clone());
        let thread = std::thread::Builder::new()
            .name("decnet-journal".into())
            .spawn(move || pump.run(rx, &clock))
            .map_err(io_err(&dir, "start writer thread"))?;
        Ok(JournalHandle {
            dir,
            condition,
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// The journal's health: degraded (with the reason) while it cannot record.
    pub fn condition(&self) -> Condition {
        self.condition.clone()
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A sender for events; each request's `durable` signal fires after the fsync that covers it.
    /// The journal closes once every sender is dropped and [`close`](Self::close) is called.
    pub fn sender(&self) -> Option<mpsc::Sender<Append>> {
        self.tx.clone()
    }

    /// Stops accepting new senders, waits for every queued event to be written and synced.
    /// Every other sender must have been dropped, or this waits for them.
    pub fn close(mut self) -> Result<JournalStats, JournalError> {
        self.tx = None;
        let thread_err = |what: &str| JournalError::Io {
            path: self.dir.clone(),
            op: "close the journal writer",
            source: io::Error::other(what.to_owned()),
        };
        match self.thread.take().map(|t| t.join()) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(thread_err("the writer thread panicked")),
            None => Err(thread_err("already closed")),
        }
    }
}

/// Free space is checked again after this much has been written, even within a check interval.
const CHECK_BYTES: u64 = 4 * 1024 * 1024;
/// While degraded, the error line repeats at most this often.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// The journal being unable to record, since when, and the last report.
struct Degraded {
    since: Instant,
    reported: Instant,
    /// Refusals since the last report (events here, connections at the gates).
    refused: u64,
    /// Refusals since it began.
    refused_total: u64,
}

/// The writer thread's state.
struct Pump {
    w: JournalWriter,
    condition: Condition,
    /// Durability signals of events appended but not yet synced.
    unsynced: Vec<oneshot::Sender<()>>,
    last_sync: Instant,
    next_check: Instant,
    written_since_check: u64,
    degraded: Option<Degraded>,
}

impl Pump {
    fn new(w: JournalWriter, condition: Condition) -> Pump {
        let now = Instant::now();
        Pump {
            next_check: now + w.opts.check_interval,
            w,
            condition,
            unsynced: Vec::new(),
            last_sync: now,
            written_since_check: 0,
            degraded: None,
        }
    }

    fn run(
        mut self,
        mut rx: mpsc::Receiver<Append>,
        clock: &tokio::runtime::Runtime,
    ) -> Result<JournalStats, JournalError> {
        loop {
            if Instant::now() >= self.next_check {
                self.tick();
            }
            match rx.try_recv() {
                Ok(a) => self.append(a),
                Err(mpsc::error::TryRecvError::Empty) => {
                    // Queue drained: make everything so far durable before waiting.
                    self.sync();
                    let wait = self.next_check.saturating_duration_since(Instant::now());
                    // The timer must be made inside the clock's context.
                    match clock.block_on(async { tokio::time::timeout(wait, rx.recv()).await }) {
                        Ok(Some(a)) => self.append(a),
                        Ok(None) => break,
                        // Time for the next check.
                        Err(_) => {}
                    }
                }
                Err(mpsc::error::TryRecvError::Disconnected) => break,
            }
        }
        if !self.unsynced.is_empty() {
            self.w.sync()?;
            self.acknowledge();
        }
        Ok(JournalStats {
            written: self.w.written(),
            end: self.w.position(),
        })
    }

    fn append(&mut self, a: Append) {
        if self.degraded.is_none() && self.written_since_check >= CHECK_BYTES {
            self.check_space();
        }
        if self.degraded.is_some() {
            // Dropping the durable signal refuses the event: its session ends unanswered.
            self.condition.note_refused();
            return;
        }
        match self.w.append(&a.event) {
            Ok(n) => {
                self.unsynced.push(a.durable);
                self.written_since_check += n;
                if self.last_sync.elapsed() >= self.w.opts.sync_interval {
                    self.sync();
                }
            }
            Err(e) => self.fail(&e),
        }
    }

    fn sync(&mut self) {
        self.last_sync = Instant::now();
        if self.unsynced.is_empty() {
            return;
        }
        match self.w.sync() {
            Ok(()) => self.acknowledge(),
            Err(e) => self.fail(&e),
        }
    }

    fn acknowledge(&mut self) {
        for ack in self.unsynced.drain(..) {
            // A waiter that gave up (connection closed) needs no answer.
            let _ = ack.send(());
        }
    }

    /// A write or fsync failed: nothing unsynced is acknowledged, the segment is
    /// cut back, and the journal refuses events until it recovers.
    fn fail(&mut self, e: &JournalError) {
        // Degraded first, so whoever learns of a refusal already sees why.
        self.enter_degraded(e.degraded_reason(), self.unsynced.len());
        // Dropped unfired: each emitter learns its event was not recorded.
        self.unsynced.clear();
        if let Err(cut) = self.w.discard_unsynced() {
            tracing::debug!(error = %cut, "journal: cutting the segment back failed; retrying on recovery");
        }
    }

    fn check_space(&mut self) {
        self.written_since_check = 0;
        if let Some(reason) = self.w.below_watermark() {
            // What is already written got in before the watermark: keep it.
            self.sync();
            self.enter_degraded(format!("journal: {reason}"), 0);
        }
    }

    fn enter_degraded(&mut self, reason: String, lost: usize) {
        self.condition.set_degraded(reason.clone());
        if self.degraded.is_some() {
            return;
        }
        // Refusals counted before this spell belong to no report.
        let _ = self.condition.take_refused();
        let now = Instant::now();
        self.degraded = Some(Degraded {
            since: now,
            reported: now,
            refused: 0,
            refused_total: 0,
        });
        self.next_check = now + self.w.opts.check_interval;
        tracing::error!(
            %reason,
            unacknowledged = lost,
            "journal cannot record: deckies stop answering until it can (retrying every {:?})",
            self.w.opts.check_interval
        );
    }

    /// Every check interval: the watermark while healthy, recovery while degraded.
    fn tick(&mut self) {
        self.next_check = Instant::now() + self.w.opts.check_interval;
        let Some(mut d) = self.degraded.take() else {
            self.check_space();
            return;
        };
        let refused = self.condition.take_refused();
        d.refused += refused;
        d.refused_total += refused;
        let blocked = match self.w.below_watermark() {
            Some(reason) => Some(format!("journal: {reason}")),
            None => self.w.recover().err().map(|e| e.degraded_reason()),
        };
        match blocked {
            None => {
                self.condition.clear();
                self.written_since_check = 0;
                tracing::info!(
                    after_secs = d.since.elapsed().as_secs(),
                    refused = d.refused_total,
                    "journal records again: deckies answer again"
                );
            }
            Some(reason) => {
                self.condition.set_degraded(reason.clone());
                if d.reported.elapsed() >= REPORT_EVERY {
                    tracing::error!(
                        %reason,
                        since_secs = d.since.elapsed().as_secs(),
                        refused = d.refused,
                        "journal still cannot record; deckies are not answering"
                    );
                    d.reported = Instant::now();
                    d.refused = 0;
                }
                self.degraded = Some(d);
            }
        }
    }
}
