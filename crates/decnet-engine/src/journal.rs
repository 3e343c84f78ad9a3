//! The task that feeds the journal: services hand events to an [`Emitter`]
//! (decnet-services' intake); this task forwards each one, with its
//! durability signal, to the `decnet-journal` writer thread. `emit` still
//! returns only after the fsync covering its event, because the signal the
//! emitter waits on is the one the writer fires.
//!
//! Events submitted with slack (a refusal that answers after a tarpit delay
//! anyway) are held here until the earliest of them is due, then handed over
//! together: one writer wake-up and one fsync for the batch instead of one per
//! event. Any event without slack sends the held ones first, so the journal
//! keeps the order in which events were submitted.

use std::io;
use std::path::Path;

use decnet_core::health::Condition;
use decnet_journal::{Append, JournalError, JournalHandle, JournalOptions, JournalStats};
use decnet_services::service::Pending;
use decnet_services::Emitter;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long closing waits for the last emitters to go before it stops waiting.
/// The engine closes the journal only after its connections have ended, so an
/// emitter still held then belongs to a stuck session; the fleet's whole stop
/// must fit in 5 s, so this is short.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Most events moved from the intake to the writer per wake-up.
const FORWARD_BATCH: usize = 256;

/// Most events held for a later sync; past it they go to the writer at once,
/// which bounds the memory a flood of tarpitted attempts can pin here.
const HELD_MAX: usize = 4096;

/// The journal writer and the task feeding it from the services' intake.
#[derive(Debug)]
pub struct JournalFeed {
    handle: JournalHandle,
    task: JoinHandle<()>,
    emitter: Emitter,
    /// Cancelled when closing: held events go to the writer at once, and so does every later one.
    closing: CancellationToken,
}

impl JournalFeed {
    /// Opens the journal in `dir` and starts feeding it; inside a Tokio runtime.
    pub fn start(dir: &Path, opts: JournalOptions) -> Result<JournalFeed, JournalError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| JournalError::Io {
            path: dir.to_path_buf(),
            op: "start the journal feed (needs a Tokio runtime)",
            source: io::Error::other(e.to_string()),
        })?;
        let handle = JournalHandle::start(dir, opts)?;
        let Some(journal) = handle.sender() else {
            return Err(JournalError::Io {
                path: dir.to_path_buf(),
                op: "open intake",
                source: io::Error::other("journal closed at start"),
            });
        };
        let (tx, rx) = mpsc::channel(opts.queue.max(1));
        // Task names need tokio_unstable; a span names it in traces instead.
        let span = tracing::debug_span!("journal-feed");
        let closing = CancellationToken::new();
        let task = runtime.spawn(tracing::Instrument::instrument(
            forward(rx, journal, closing.clone()),
            span,
        ));
        Ok(JournalFeed {
            handle,
            task,
            emitter: Emitter::durable(tx),
            closing,
        })
    }

    /// The journal's health: degraded, with the reason, while it cannot record.
    pub fn condition(&self) -> Condition {
        self.handle.condition()
    }

    /// The intake: `emit` returns once the journal has fsynced the event.
    pub fn emitter(&self) -> Emitter {
        self.emitter.clone()
    }

    /// Waits for every emitter to be dropped, then drains and syncs the journal.
    pub async fn close(self) -> Result<JournalStats, JournalError> {
        let JournalFeed {
            handle,
            task,
            emitter,
            closing,
        } = self;
        drop(emitter);
        closing.cancel();
        let dir = handle.dir().to_path_buf();
        let joined = |e: tokio::task::JoinError| JournalError::Io {
            path: dir.clone(),
            op: "join journal feed",
            source: io::Error::other(e.to_string()),
        };
        let mut task = task;
        match tokio::time::timeout(CLOSE_GRACE, &mut task).await {
            Ok(done) => done.map_err(joined)?,
            Err(_) => {
                // A session stuck inside a service (one whose event could not be
                // recorded, parked for good) still holds an emitter: shutdown must
                // not wait on it. Everything handed over was forwarded long ago.
                tracing::warn!(
                    "journal: a session still holds the event intake at shutdown; closing the journal without waiting for it"
                );
                task.abort();
                let _ = task.await;
            }
        }
        // The writer thread joins after draining; keep the runtime free meanwhile.
        tokio::task::spawn_blocking(move || handle.close())
            .await
            .map_err(joined)?
    }
}

/// Forwards intake requests to the writer until every emitter is gone, holding
/// those with slack until the earliest of them is due.
async fn forward(
    mut rx: mpsc::Receiver<Pending>,
    journal: mpsc::Sender<Append>,
    closing: CancellationToken,
) {
    let mut batch = Vec::with_capacity(FORWARD_BATCH);
    let mut held = Held::default();
    loop {
        let due = held.due;
        let n = tokio::select! {
            biased;
            n = rx.recv_many(&mut batch, FORWARD_BATCH) => n,
            () = closing.cancelled(), if !held.is_empty() => 0,
            () = sleep_until(due) => 0,
        };
        let open = n > 0 || !rx.is_closed() || !rx.is_empty();
        let now = Instant::now();
        for Pending {
            event,
            durable,
            slack,
        } in batch.drain(..)
        {
            let append = Append { event, durable };
            let keep = !slack.is_zero() && !closing.is_cancelled() && held.len() < HELD_MAX;
            let sent = if keep {
                held.push(append, now + slack);
                true
            } else {
                // Held events were submitted first: they go first.
                held.send(&journal).await && journal.send(append).await.is_ok()
            };
            // If the writer has stopped, the requests drop here and their
            // emitters report that the events could not be recorded.
            if !sent {
                return;
            }
        }
        let flush = !open || closing.is_cancelled() || held.due.is_some_and(|d| d <= now);
        if flush && !held.send(&journal).await {
            return;
        }
        if !open {
            return;
        }
    }
}

/// Resolves at `due`, never when there is none.
async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Events submitted with slack, waiting for the earliest of them to be due.
#[derive(Default)]
struct Held {
    events: Vec<Append>,
    due: Option<Instant>,
}

impl Held {
    fn len(&self) -> usize {
        self.events.len()
    }

    fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    fn push(&mut self, a: Append, due: Instant) {
        self.events.push(a);
        self.due = Some(self.due.map_or(due, |d| d.min(due)));
    }

    /// Hands every held event to the writer, in submission order; false if it has stopped.
    async fn send(&mut self, journal: &mpsc::Sender<Append>) -> bool {
        self.due = None;
        for a in self.events.drain(..) {
            if journal.send(a).await.is_err() {
                return false;
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::{Event, EventType};
    use decnet_journal::{JournalPos, JournalReader, Record};

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

    fn count(dir: &Path) -> usize {
        let mut r = JournalReader::open(dir, JournalPos::START);
        let mut n = 0;
        loop {
            let batch = r.read_batch(1000).unwrap();
            if batch.is_empty() {
                return n;
            }
            n += batch
                .iter()
                .filter(|(rec, _)| matches!(rec, Record::Event(_)))
                .count();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn emit_returns_only_after_the_event_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let feed = JournalFeed::start(dir.path(), JournalOptions::default()).unwrap();
        let emitter = feed.emitter();
        for i in 0..20 {
            emitter.emit(ev(i)).await;
            // Read straight from the file: the writer has flushed and synced it.
            assert_eq!(count(dir.path()), i as usize + 1);
        }
        drop(emitter);
        let stats = feed.close().await.unwrap();
        assert_eq!(stats.written, 20);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_does_not_wait_forever_on_an_emitter_a_stuck_session_holds() {
        let dir = tempfile::tempdir().unwrap();
        let feed = JournalFeed::start(dir.path(), JournalOptions::default()).unwrap();
        let stuck = feed.emitter();
        assert!(stuck.emit(ev(0)).await);
        let closing = tokio::spawn(feed.close());
        let stats = tokio::time::timeout(CLOSE_GRACE * 4, closing)
            .await
            .expect("close returns although an emitter is still held")
            .unwrap()
            .unwrap();
        assert_eq!(stats.written, 1);
        // The held emitter now reports that nothing more can be recorded.
        assert!(!stuck.emit(ev(1)).await);
    }

    /// The `n` field of every event in the journal, in journal order.
    fn ns(dir: &Path) -> Vec<u64> {
        let mut r = JournalReader::open(dir, JournalPos::START);
        let mut out = Vec::new();
        loop {
            let batch = r.read_batch(1000).unwrap();
            if batch.is_empty() {
                return out;
            }
            for (rec, _) in batch {
                if let Record::Event(e) = rec {
                    out.push(e.fields["n"].as_u64().unwrap());
                }
            }
        }
    }

    /// Lets every ready task run without letting paused time move.
    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
    }

    const HOUR: std::time::Duration = std::time::Duration::from_secs(3600);

    #[tokio::test(start_paused = true)]
    async fn an_event_with_slack_is_held_until_it_is_due() {
        let dir = tempfile::tempdir().unwrap();
        let feed = JournalFeed::start(dir.path(), JournalOptions::default()).unwrap();
        let emitter = feed.emitter();
        let receipt = emitter.submit(ev(1), HOUR).await;
        settle().await;
        assert!(ns(dir.path()).is_empty(), "held, not yet written");
        // Awaiting lets paused time run to the due time.
        assert!(receipt.recorded().await);
        assert_eq!(ns(dir.path()), vec![1]);
        drop(emitter);
        assert_eq!(feed.close().await.unwrap().written, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn an_event_without_slack_takes_the_held_ones_first() {
        let dir = tempfile::tempdir().unwrap();
        let feed = JournalFeed::start(dir.path(), JournalOptions::default()).unwrap();
        let emitter = feed.emitter();
        let r1 = emitter.submit(ev(1), HOUR).await;
        let r2 = emitter.submit(ev(2), HOUR).await;
        settle().await;
        assert!(ns(dir.path()).is_empty());
        assert!(emitter.emit(ev(3)).await);
        // On disk in submission order by the time the unheld event is.
        assert_eq!(ns(dir.path()), vec![1, 2, 3]);
        assert!(r1.recorded().await && r2.recorded().await);
        drop(emitter);
        assert_eq!(feed.close().await.unwrap().written, 3);
    }

    #[tokio::test(start_paused = true)]
    async fn close_writes_held_events_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let feed = JournalFeed::start(dir.path(), JournalOptions::default()).unwrap();
        let emitter = feed.emitter();
        let receipt = emitter.submit(ev(1), HOUR).await;
        settle().await;
        drop(emitter);
        let started = tokio::time::Instant::now();
        let stats = feed.close().await.unwrap();
        assert_eq!(stats.written, 1);
        assert!(started.elapsed() < HOUR, "close did not wait for the slack");
        assert!(receipt.recorded().await);
        assert_eq!(ns(dir.path()), vec![1]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn close_drains_what_emitters_handed_over() {
        let dir = tempfile::tempdir().unwrap();
        let feed = JournalFeed::start(dir.path(), JournalOptions::default()).unwrap();
        let emitters: Vec<Emitter> = (0..4).map(|_| feed.emitter()).collect();
        let tasks: Vec<_> = emitters
            .into_iter()
            .enumerate()
            .map(|(k, e)| {
                tokio::spawn(async move {
                    for i in 0..250 {
                        e.emit(ev(k as u32 * 1000 + i)).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let stats = feed.close().await.unwrap();
        assert_eq!(stats.written, 1000);
        assert_eq!(count(dir.path()), 1000);
    }
}
