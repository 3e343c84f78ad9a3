//! Credential reuse: a secret tried against several deckies or principals.
//!
//! The store keeps each secret's summary (counts, first and last capture)
//! in the batch transaction and returns it for every secret the batch
//! touched, so nothing here reads a group: a notification costs its
//! bounded samples, whatever the group's size.

use decnet_store::{IngestTx, SecretSummary, SecretTouched};
use serde_json::json;

use super::{rfc3339, BatchOutcome};
use crate::IntelError;

/// The batch's secrets whose reuse group may have grown.
#[derive(Default)]
pub(super) struct Candidates(Vec<SecretSummary>);

impl Candidates {
    /// The secrets of `touched` that gained a decky or a principal and are
    /// now a reuse: those that just became one and those that grew.
    pub(super) fn of(touched: Vec<SecretTouched>) -> Candidates {
        Candidates(
            touched
                .into_iter()
                .filter(|t| t.grew && t.summary.is_reuse())
                .map(|t| t.summary)
                .collect(),
        )
    }

    /// One `credential.reuse.detected` payload per candidate. Only for
    /// notifications: nothing else needs the samples.
    pub(super) async fn report(
        &self,
        tx: &mut IngestTx,
        out: &mut BatchOutcome,
    ) -> Result<(), IntelError> {
        for g in tx.reuse_groups(&self.0).await? {
            out.reuse.push(json!({
                "secret_sha256": g.secret_sha256, "secret_kind": g.secret_kind,
                "deckies": g.deckies, "principals": g.principals,
                "attacker_uuids": g.attacker_uuids,
                "decky_count": g.decky_count, "principal_count": g.principal_count,
                "attacker_count": g.attacker_count, "count": g.count,
                "first_seen": rfc3339(g.first_seen), "last_seen": rfc3339(g.last_seen),
            }));
        }
        Ok(())
    }
}
