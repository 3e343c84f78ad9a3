//! Derivations applied inside the batch transaction, only for events that
//! were actually inserted (a replayed event derives nothing twice).
//!
//! [`apply`] works a batch at a time so an event costs the same however much
//! is stored: each module first loads what the batch needs in one query per
//! table (attackers by IP, sessions by id),
//! the events go in as multi-row inserts, then [`apply`] walks the inserted
//! events once, in journal order, handing each to the modules below, and
//! finally each module writes what it accumulated in multi-row statements:
//! - `attackers`: attribution. An attacker is an observation of a source. An
//!   event goes to the most recently active attacker row for its `src_ip`; a
//!   new attacker (fresh UUIDv7) is created only for an IP never seen before.
//!   `ip` is not unique so later correlation may split or merge observations
//!   without changing keys. Inserting the events (and skipping duplicates:
//!   an id already stored, or repeated in the batch) happens here.
//! - `sessions`: keyed by the event's `session_id`: started at its first
//!   event, ended at `disconnect`, `command` events counted, the transcript
//!   taken from `session_recorded`.
//! - `credentials`: every carried credential, with its outcome and the SHA-256
//!   of its secret; the store keeps each secret's reuse summary with it (one
//!   row per secret, one per (secret, decky | principal | attacker) pair), and
//!   a secret it had never seen on that decky or for that principal is a
//!   candidate for reuse.
//! - `artifacts`: `file_upload` with its hash, size and name, and
//!   `file_download` of a URL as kind `download` with the URL as name and no
//!   hash (we never fetch it; the URL is the IOC).
//! - `reuse`: one snapshot per secret whose group gained a decky or principal
//!   and is a reuse: the maintained counts and bounded samples, built only
//!   when notifications go out (nothing else reads it).
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
use decnet_core::fields::names;
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
    /// `credential.honeytoken.used` payloads: login events that presented a planted credential.
    pub honeytokens: Vec<Value>,
}

fn rfc3339(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Applies `events` in `tx`; `notify` says whether to build notification payloads.
///
/// Every step reads or writes the whole batch at once (one lookup per table,
/// multi-row inserts), so an event costs the same however much is stored.
pub(crate) async fn apply(
    tx: &mut IngestTx,
    events: &[Event],
    notify: bool,
) -> Result<BatchOutcome, IntelError> {
    let mut out = BatchOutcome::default();
    // Attribution and the event rows themselves: only what was inserted derives anything.
    let mut attackers = attackers::Attackers::load(tx, events).await?;
    let inserted = attackers.insert(tx, events, &mut out).await?;

    let mut sessions = sessions::Sessions::load(tx, &inserted).await?;
    let mut credentials = credentials::Credentials::default();
    let mut artifacts = artifacts::Artifacts::default();
    for e in &inserted {
        let a = attackers.observe(e, notify, &mut out);
        sessions.track(e, a);
        credentials.hoist(e, a);
        artifacts.record(e, a.uuid);
        if notify {
            if let Some(token) = e.fields.get(names::HONEYTOKEN) {
                out.honeytokens.push(json!({
                    "id": e.id, "decky": e.decky, "service": e.service,
                    "event_type": e.event_type.as_str(), "src_ip": e.src_ip.to_string(),
                    "ts": rfc3339(e.ts),
                    "principal": e.credential.as_ref().map(|c| c.principal.as_str()),
                    "honeytoken": token,
                }));
            }
            out.logs.push(json!({
                "id": e.id, "decky": e.decky, "service": e.service,
                "event_type": e.event_type.as_str(), "src_ip": e.src_ip.to_string(),
                "ts": rfc3339(e.ts),
            }));
        }
    }

    let reuse = credentials
        .save(tx, &mut attackers, notify, &mut out)
        .await?;
    artifacts.save(tx).await?;
    attackers.save(tx).await?;
    sessions.save(tx).await?;
    // Counted from what was stored: no lookup of its own.
    counters::count(tx, &inserted, attackers.created(), sessions.opened()).await?;
    if notify {
        reuse.report(tx, &mut out).await?;
    }
    // Batch summary: `inserted` holds exactly the events this batch added.
    Ok(out)
}
