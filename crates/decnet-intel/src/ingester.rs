//! The exactly-once loop: read a batch from the journal, apply it with its
//! new offset in one transaction, publish notifications after commit.
//!
//! A crash before commit leaves the old offset and none of the batch; a
//! crash after leaves both. On restart the reader resumes at the stored
//! offset, so each journal line is applied exactly once. Inserts are also
//! `ON CONFLICT DO NOTHING` on the event id, and derivations run only for
//! rows actually inserted, as a second line of defence.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use decnet_core::topics;
use decnet_journal::{JournalError, JournalPos, JournalReader, Record};
use decnet_store::{Store, StoreError};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::derive::{self, BatchOutcome};
use crate::{IntelError, Notifier};

/// Consumer name under which the ingester's offset is stored.
pub const CONSUMER: &str = "ingester";
/// Worker name in `system.<worker>.health`.
const WORKER: &str = "ingester";

/// Journal lines per transaction by default: large enough that the per-commit
/// fsync and statement overheads are spread thin, small enough that a batch
/// holds SQLite's write lock for a few hundred milliseconds at most (about
/// 0.35 s at a million stored events), which an API write waiting on it
/// (`Store::write` asks again every millisecond) sits out. Larger batches
/// ingest faster (4,000: +14 %, 8,000: +26 % at 300 k events) but hold it longer.
const DEFAULT_BATCH_MAX: usize = 2_000;
/// Journal lines per transaction on PostgreSQL: a batch there blocks no other
/// writer (row locks, not a database lock), so a larger one spreads the
/// per-batch statements and commit further (~15 % more events/s measured
/// with `decnet bench ingest` against 2,000).
const DEFAULT_BATCH_MAX_POSTGRES: usize = 8_000;

/// Ingester tuning.
#[derive(Debug, Clone, Copy)]
pub struct IngestOptions {
    /// Most journal lines per transaction.
    pub batch_max: usize,
    /// How long to wait for new journal lines once caught up.
    pub poll_interval: Duration,
    /// How often to publish `system.ingester.health`.
    pub heartbeat: Duration,
    /// Back-off after a failed batch (database down, disk full).
    pub retry: Duration,
}

impl IngestOptions {
    /// The defaults for a store on `backend` (batches sized for it).
    pub fn for_backend(backend: decnet_store::Backend) -> IngestOptions {
        let batch_max = match backend {
            decnet_store::Backend::Sqlite => DEFAULT_BATCH_MAX,
            decnet_store::Backend::Postgres => DEFAULT_BATCH_MAX_POSTGRES,
        };
        IngestOptions {
            batch_max,
            ..IngestOptions::default()
        }
    }
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            batch_max: DEFAULT_BATCH_MAX,
            poll_interval: Duration::from_millis(200),
            heartbeat: Duration::from_secs(30),
            retry: Duration::from_secs(1),
        }
    }
}

/// Running totals since the ingester started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Events inserted.
    pub events: u64,
    /// Transactions committed.
    pub batches: u64,
    /// Journal lines skipped as corrupt.
    pub corrupt: u64,
    /// Events skipped because their id was already stored.
    pub duplicates: u64,
    /// Batches that failed and were retried.
    pub failures: u64,
}

/// Moves events from the journal into the store, exactly once.
pub struct Ingester {
    store: Store,
    journal_dir: PathBuf,
    notifier: Arc<dyn Notifier>,
    opts: IngestOptions,
    /// Committed position, `None` until one is loaded from the store.
    committed: Option<Option<JournalPos>>,
    reader: Option<JournalReader>,
    /// The next batch, being read from the journal while the current one is
    /// applied; it starts where the current batch ends, so it is only used
    /// once that batch committed (a failure drops it).
    prefetch: Option<Prefetch>,
    stats: IngestStats,
    failing: Failing,
}

/// A journal read running on the blocking pool: the reader and what it read.
type Prefetch = tokio::task::JoinHandle<(JournalReader, ReadResult)>;
type ReadResult = Result<Vec<(Record, JournalPos)>, JournalError>;

impl std::fmt::Debug for Ingester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingester")
            .field("journal_dir", &self.journal_dir)
            .field("committed", &self.committed)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Ingester {
    /// An ingester reading `journal_dir` (`<data>/journal`) into `store`.
    pub fn new(
        store: Store,
        journal_dir: impl Into<PathBuf>,
        notifier: Arc<dyn Notifier>,
    ) -> Ingester {
        let opts = IngestOptions::for_backend(store.backend());
        Ingester {
            store,
            journal_dir: journal_dir.into(),
            notifier,
            opts,
            committed: None,
            reader: None,
            prefetch: None,
            stats: IngestStats::default(),
            failing: Failing::default(),
        }
    }

    /// Replaces the tuning.
    pub fn with_options(mut self, opts: IngestOptions) -> Ingester {
        self.opts = opts;
        self
    }

    /// Totals so far.
    pub fn stats(&self) -> IngestStats {
        self.stats
    }

    /// The journal directory being read.
    pub fn journal_dir(&self) -> &Path {
        &self.journal_dir
    }

    /// Reads at most one batch and commits it; returns the events inserted
    /// (0 when caught up, or when the batch held only corrupt lines or
    /// duplicates). On error nothing of the batch is kept and the next call
    /// re-reads it from the committed offset.
    pub async fn ingest_once(&mut self) -> Result<usize, IntelError> {
        match self.try_batch().await {
            Ok(out) => Ok(out.map_or(0, |o| o.inserted)),
            Err(e) => {
                // Forget the reader's position and the cached offset: both
                // are re-read from the store before the next attempt.
                self.reader = None;
                self.prefetch = None;
                self.committed = None;
                self.stats.failures += 1;
                Err(e)
            }
        }
    }

    async fn try_batch(&mut self) -> Result<Option<BatchOutcome>, IntelError> {
        let from = match self.committed {
            Some(c) => c,
            None => {
                let c = self.store.ingest_offset(CONSUMER).await?;
                self.committed = Some(c);
                self.reader = None;
                self.prefetch = None;
                c
            }
        };
        let max = self.opts.batch_max.max(1);
        let (reader, records) = match self.prefetch.take() {
            Some(next) => next.await?,
            None => {
                let reader = match self.reader.take() {
                    Some(r) => r,
                    None => {
                        JournalReader::open(&self.journal_dir, from.unwrap_or(JournalPos::START))
                    }
                };
                read(reader, max).await?
            }
        };
        let records = records?;
        let to = reader.position();
        if records.is_empty() {
            self.reader = Some(reader);
            return Ok(None);
        }
        // Parsing the next batch overlaps this one's transaction.
        self.prefetch = Some(tokio::task::spawn_blocking(move || {
            read_blocking(reader, max)
        }));
        let mut events = Vec::with_capacity(records.len());
        let mut corrupt = 0u64;
        for (rec, _) in records {
            match rec {
                Record::Event(e) => events.push(*e),
                Record::Corrupt { at, reason } => {
                    corrupt += 1;
                    tracing::warn!(%at, %reason, "skipping corrupt journal line");
                }
            }
        }
        let mut tx = self.store.begin_ingest(CONSUMER, from, to).await?;
        let out = derive::apply(&mut tx, &events, self.notifier.enabled()).await?;
        tx.commit().await?;
        self.committed = Some(Some(to));
        self.stats.batches += 1;
        self.stats.events += out.inserted as u64;
        self.stats.duplicates += out.duplicates as u64;
        self.stats.corrupt += corrupt;
        if out.duplicates > 0 {
            tracing::debug!(
                duplicates = out.duplicates,
                "journal events already stored were skipped"
            );
        }
        self.publish(&out);
        Ok(Some(out))
    }

    fn publish(&self, out: &BatchOutcome) {
        if !self.notifier.enabled() {
            return;
        }
        let n = &self.notifier;
        for p in &out.logs {
            n.publish(topics::SYSTEM_LOG, "event", p.clone());
        }
        for p in &out.observed {
            n.publish(topics::ATTACKER_OBSERVED, "attacker_observed", p.clone());
        }
        for p in &out.credentials {
            n.publish(
                topics::CREDENTIAL_CAPTURED,
                "credential_captured",
                p.clone(),
            );
        }
        for p in &out.honeytokens {
            n.publish(
                topics::CREDENTIAL_HONEYTOKEN_USED,
                "credential_honeytoken_used",
                p.clone(),
            );
        }
        for p in &out.reuse {
            n.publish(
                topics::CREDENTIAL_REUSE_DETECTED,
                "credential_reuse_detected",
                p.clone(),
            );
        }
    }

    fn heartbeat(&self, started: Instant) {
        if !self.notifier.enabled() {
            return;
        }
        let Ok(topic) = topics::system_health(WORKER) else {
            return;
        };
        let offset = self.committed.flatten().map(|o| o.to_string());
        self.notifier.publish(
            &topic,
            "health",
            json!({
                "worker": WORKER,
                "ts": Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
                "uptime_sec": started.elapsed().as_secs(),
                "events": self.stats.events,
                "batches": self.stats.batches,
                "corrupt": self.stats.corrupt,
                "failures": self.stats.failures,
                "offset": offset,
            }),
        );
    }

    /// Ingests until `shutdown`: back-to-back while behind, polling every
    /// `poll_interval` once caught up (the journal is always polled, bus or
    /// not), retrying failed batches after `retry`. Returns the totals.
    pub async fn run(mut self, shutdown: CancellationToken) -> IngestStats {
        let started = Instant::now();
        let mut next_beat = Instant::now();
        tracing::info!(journal = %self.journal_dir.display(), "ingester started");
        loop {
            if Instant::now() >= next_beat {
                self.heartbeat(started);
                next_beat = Instant::now() + self.opts.heartbeat;
            }
            let wait = match self.try_batch_logged().await {
                Ok(true) => Duration::ZERO,
                Ok(false) => self.opts.poll_interval,
                Err(backoff) => backoff,
            };
            if shutdown.is_cancelled() {
                break;
            }
            if !wait.is_zero() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        }
        tracing::info!(
            events = self.stats.events,
            batches = self.stats.batches,
            "ingester stopped"
        );
        self.stats
    }

    /// One batch; Ok(true) when more is probably waiting, Err(wait) after a failure.
    async fn try_batch_logged(&mut self) -> Result<bool, Duration> {
        let before = self.stats.batches;
        let result = self.ingest_once().await;
        let now = Instant::now();
        match result {
            // A committed batch means lines were there: go again at once and let
            // an empty read decide when to sleep.
            Ok(_) => {
                if let Some(outage) = self.failing.recovered(now) {
                    tracing::info!(
                        after_secs = outage.duration.as_secs(),
                        failures = outage.failures,
                        "ingest works again"
                    );
                }
                Ok(self.stats.batches > before)
            }
            Err(IntelError::Store(StoreError::OffsetMoved { .. })) => {
                tracing::warn!(
                    "ingest offset moved under this ingester (another one running?); re-reading it"
                );
                Err(self.opts.retry)
            }
            Err(e) => {
                let (wait, report) = self.failing.failed(now, self.opts.retry);
                match report {
                    Report::First => tracing::error!(
                        error = %e,
                        "ingest batch failed; retrying with backoff (the journal keeps every event meanwhile)"
                    ),
                    Report::Again { failures, since } => tracing::error!(
                        error = %e,
                        failures,
                        since_secs = since.as_secs(),
                        "ingest still failing; retrying with backoff"
                    ),
                    Report::Quiet => {}
                }
                Err(wait)
            }
        }
    }
}

/// Reads up to `max` journal lines off the async workers (file reads block).
async fn read(
    reader: JournalReader,
    max: usize,
) -> Result<(JournalReader, ReadResult), IntelError> {
    Ok(tokio::task::spawn_blocking(move || read_blocking(reader, max)).await?)
}

fn read_blocking(mut reader: JournalReader, max: usize) -> (JournalReader, ReadResult) {
    let r = reader.read_batch(max);
    (reader, r)
}

/// Longest wait between retries of a failing batch.
const MAX_RETRY: Duration = Duration::from_secs(30);
/// A failure that persists is logged again at most this often (a full disk
/// must not turn into one error line per retry).
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// Consecutive failed batches: the backoff and when they were last reported.
#[derive(Debug, Default)]
struct Failing {
    spell: Option<Spell>,
}

#[derive(Debug)]
struct Spell {
    since: Instant,
    reported: Instant,
    failures: u64,
    wait: Duration,
}

/// Whether a failure is logged.
#[derive(Debug, PartialEq, Eq)]
enum Report {
    /// The first of a spell.
    First,
    /// A minute or more after the last report: failures since the spell began.
    Again { failures: u64, since: Duration },
    /// Logged recently enough.
    Quiet,
}

/// A spell of failures that ended.
#[derive(Debug, PartialEq, Eq)]
struct Outage {
    duration: Duration,
    failures: u64,
}

impl Failing {
    /// A batch failed at `now`: how long to wait, and whether to say so.
    fn failed(&mut self, now: Instant, first_wait: Duration) -> (Duration, Report) {
        let Some(s) = self.spell.as_mut() else {
            self.spell = Some(Spell {
                since: now,
                reported: now,
                failures: 1,
                wait: first_wait,
            });
            return (first_wait, Report::First);
        };
        s.failures += 1;
        s.wait = (s.wait * 2).min(MAX_RETRY.max(first_wait));
        let report = if now.duration_since(s.reported) >= REPORT_EVERY {
            s.reported = now;
            Report::Again {
                failures: s.failures,
                since: now.duration_since(s.since),
            }
        } else {
            Report::Quiet
        };
        (s.wait, report)
    }

    /// A batch succeeded: the spell that ended, if any.
    fn recovered(&mut self, now: Instant) -> Option<Outage> {
        self.spell.take().map(|s| Outage {
            duration: now.duration_since(s.since),
            failures: s.failures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_persisting_failure_backs_off_and_is_reported_once_a_minute() {
        let mut f = Failing::default();
        let t0 = Instant::now();
        let retry = Duration::from_secs(1);
        assert_eq!(f.failed(t0, retry), (retry, Report::First));
        let mut waits = Vec::new();
        let mut reports = 0;
        let mut t = t0;
        for _ in 0..200 {
            let (wait, report) = f.failed(t, retry);
            waits.push(wait);
            if report != Report::Quiet {
                reports += 1;
            }
            t += wait;
        }
        assert_eq!(&waits[..5], &[2, 4, 8, 16, 30].map(Duration::from_secs));
        assert!(waits.iter().all(|w| *w <= MAX_RETRY));
        // 200 failures over ~100 minutes: about one line a minute, not one per failure.
        let minutes = t.duration_since(t0).as_secs() / 60;
        assert!(reports <= minutes + 1, "{reports} reports in {minutes} min");
        assert!(
            reports >= minutes.saturating_sub(1),
            "{reports} reports in {minutes} min"
        );
        let outage = f.recovered(t).unwrap();
        assert_eq!(outage.failures, 201);
        // The next failure starts a new spell, reported at once, with the short wait.
        assert_eq!(f.failed(t, retry), (retry, Report::First));
    }
}
