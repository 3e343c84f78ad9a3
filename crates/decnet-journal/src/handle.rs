//! The writer on its own OS thread, so fsync never stalls the async runtime.
//! It syncs whenever its queue drains, which batches naturally under load
//! (group commit), and answers each [`Append`] once the fsync covering it is done.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Instant;

use decnet_core::Event;
use tokio::sync::{mpsc, oneshot};

use crate::writer::{JournalOptions, JournalWriter};
use crate::{io_err, JournalError, JournalPos};

/// A request to append one event, with the signal that it is durable.
#[derive(Debug)]
pub struct Append {
    /// The event.
    pub event: Event,
    /// Fired once the event is on disk (fsynced); dropped unfired if the journal fails.
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
    tx: Option<mpsc::Sender<Append>>,
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
            dir: dir.to_path_buf(),
            tx: Some(tx),
            thread: Some(thread),
        })
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
    mut rx: mpsc::Receiver<Append>,
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
