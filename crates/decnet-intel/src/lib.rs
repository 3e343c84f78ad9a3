//! DECNET intelligence: turns the journal into the store, exactly once.
//!
//! - [`Ingester`] (`ingester.rs`): reads the journal from its durable offset
//!   and commits each batch of events, everything derived from them and the
//!   new offset in one transaction.
//! - `derive.rs`: the derivations applied inside that transaction —
//!   attackers, sessions, credentials (and reuse), artifacts — and the
//!   notifications they produce.
//! - [`notify`]: where notifications go after commit ([`BusNotifier`] for
//!   the DECNET bus, a channel, nowhere).

mod derive;
mod ingester;
pub mod notify;

pub use derive::{secret_sha256, BatchOutcome};
pub use ingester::{IngestOptions, IngestStats, Ingester, CONSUMER};
pub use notify::{BusNotifier, ChannelNotifier, FnNotifier, Notification, Notifier, NullNotifier};

/// Ingester failures.
#[derive(Debug, thiserror::Error)]
pub enum IntelError {
    /// The store failed; the batch was rolled back and will be retried.
    #[error(transparent)]
    Store(#[from] decnet_store::StoreError),
    /// The journal could not be read.
    #[error(transparent)]
    Journal(#[from] decnet_journal::JournalError),
    /// The blocking journal read task died.
    #[error("journal reader task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}
