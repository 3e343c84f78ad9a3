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
use decnet_journal::{JournalPos, JournalReader, Record};
use decnet_store::{Store, StoreError};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::derive::{self, BatchOutcome};
use crate::{IntelError, Notifier};

/// Consumer name under which the ingester's offset is stored.
pub const CONSUMER: &str = "ingester";
/// Worker name in `system.<worker>.health`.
const WORKER: &str = "ingester";

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

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            batch_max: 500,
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
    stats: IngestStats,
}

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
        Ingester {
            store,
            journal_dir: journal_dir.into(),
            notifier,
            opts: IngestOptions::default(),
            committed: None,
            reader: None,
            stats: IngestStats::default(),
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
                c
            }
        };
        let reader = match self.reader.take() {
            Some(r) => r,
            None => JournalReader::open(&self.journal_dir, from.unwrap_or(JournalPos::START)),
        };
        let max = self.opts.batch_max.max(1);
        // File reads block; keep them off the async workers.
        let (reader, records) = tokio::task::spawn_blocking(move || {
            let mut reader = reader;
            let r = reader.read_batch(max);
            (reader, r)
        })
        .await?;
        let records = records?;
        let to = reader.position();
        self.reader = Some(reader);
        if records.is_empty() {
            return Ok(None);
        }
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
                Err(()) => self.opts.retry,
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

    /// One batch; Ok(true) when more is probably waiting.
    async fn try_batch_logged(&mut self) -> Result<bool, ()> {
        let before = self.stats.batches;
        match self.ingest_once().await {
            // A committed batch means lines were there: go again at once and let
            // an empty read decide when to sleep.
            Ok(_) => Ok(self.stats.batches > before),
            Err(IntelError::Store(StoreError::OffsetMoved { .. })) => {
                tracing::warn!(
                    "ingest offset moved under this ingester (another one running?); re-reading it"
                );
                Err(())
            }
            Err(e) => {
                tracing::error!(error = %e, "ingest batch failed; it will be retried");
                Err(())
            }
        }
    }
}
