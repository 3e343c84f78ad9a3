//! Derivations applied inside the batch transaction, only for events that
//! were actually inserted (a replayed event derives nothing twice).
//!
//! [`apply`] walks the batch once and hands each inserted event to one
//! module per thing derived, in this order, then flushes what they
//! accumulated:
//! - `attackers`: attribution. An attacker is an observation of a source. An
//!   event goes to the most recently active attacker row for its `src_ip`; a
//!   new attacker (fresh UUIDv7) is created only for an IP never seen before.
//!   `ip` is not unique so later correlation may split or merge observations
//!   without changing keys. Inserting the event (and skipping a duplicate)
//!   happens here.
//! - `sessions`: keyed by the event's `session_id`: started at its first
//!   event, ended at `disconnect`, `command` events counted, the transcript
//!   taken from `session_recorded`.
//! - `credentials`: every carried credential, with its outcome and the SHA-256
//!   of its secret, the candidates for reuse.
//! - `artifacts`: `file_upload` with its hash, size and name, and
//!   `file_download` of a URL as kind `download` with the URL as name and no
//!   hash (we never fetch it; the URL is the IOC).
//! - `reuse`: one snapshot per secret whose group gained a decky or principal.
//!
//! Event fields are read through `decnet_core::fields`, the types services
//! write them with.

mod artifacts;
mod attackers;
mod counters;
mod credentials;
mod reuse;
mod sessions;

use chrono::{DateTime, SecondsFormat, Utc};
use decnet_core::Event;
use decnet_store::IngestTx;
use serde_json::{json, Value};

use crate::IntelError;

pub use credentials::secret_sha256;

/// What one committed batch produced, for notifications and counters.
#[derive(Debug, Default, Clone)]
pub struct BatchOutcome {
    /// Events inserted.
    pub inserted: usize,
    /// Events whose id was already stored (skipped).
    pub duplicates: usize,
    /// `system.log` payloads, one per inserted event.
    pub logs: Vec<Value>,
    /// `attacker.observed` payloads (first sighting).
    pub observed: Vec<Value>,
    /// `credential.captured` payloads (no secret, only its hash).
    pub credentials: Vec<Value>,
    /// `credential.reuse.detected` payloads: groups that gained a decky or principal.
    pub reuse: Vec<Value>,
}

fn rfc3339(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Applies `events` in `tx`; `notify` says whether to build notification payloads.
pub(crate) async fn apply(
    tx: &mut IngestTx,
    events: &[Event],
    notify: bool,
) -> Result<BatchOutcome, IntelError> {
    let mut out = BatchOutcome::default();
    let mut attackers = attackers::Attackers::default();
    let mut sessions = sessions::Sessions::default();
    let mut reuse = reuse::Candidates::default();
    counters::count(tx, events).await?;

    for e in events {
        let Some(a) = attackers.attribute(tx, e, notify, &mut out).await? else {
            continue;
        };
        sessions.track(tx, e, a).await?;
        if let Some(candidate) = credentials::hoist(tx, e, a, notify, &mut out).await? {
            reuse.add(candidate);
        }
        artifacts::record(tx, e, a.uuid).await?;
        if notify {
            out.logs.push(json!({
                "id": e.id, "decky": e.decky, "service": e.service,
                "event_type": e.event_type.as_str(), "src_ip": e.src_ip.to_string(),
                "ts": rfc3339(e.ts),
            }));
        }
    }

    attackers.save(tx).await?;
    sessions.save(tx).await?;
    reuse.report(tx, notify, &mut out).await?;
    Ok(out)
}
