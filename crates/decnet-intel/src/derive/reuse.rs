//! Credential reuse: a secret tried against several deckies or principals.

use std::collections::BTreeSet;

use decnet_store::{IngestTx, ReuseGroup};
use serde_json::json;

use super::{rfc3339, BatchOutcome};
use crate::IntelError;

/// A secret whose reuse group may have grown in this batch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Candidate {
    /// SHA-256 of the secret bytes.
    pub(super) secret_sha256: String,
    /// Its secret kind's wire name.
    pub(super) secret_kind: String,
}

/// The batch's candidates, each once, in a stable order.
#[derive(Default)]
pub(super) struct Candidates(BTreeSet<Candidate>);

impl Candidates {
    /// Adds a candidate (again is a no-op).
    pub(super) fn add(&mut self, c: Candidate) {
        self.0.insert(c);
    }

    /// One `credential.reuse.detected` snapshot per group that is now a
    /// reuse. Only for notifications: nothing else needs the snapshot.
    pub(super) async fn report(
        &self,
        tx: &mut IngestTx,
        out: &mut BatchOutcome,
    ) -> Result<(), IntelError> {
        for c in &self.0 {
            if let Some(g) = tx.reuse_group(&c.secret_sha256, &c.secret_kind).await? {
                if is_reuse(&g) {
                    out.reuse.push(json!({
                        "secret_sha256": g.secret_sha256, "secret_kind": g.secret_kind,
                        "deckies": g.deckies, "principals": g.principals,
                        "attacker_uuids": g.attacker_uuids, "count": g.count,
                        "first_seen": rfc3339(g.first_seen), "last_seen": rfc3339(g.last_seen),
                    }));
                }
            }
        }
        Ok(())
    }
}

/// A secret counts as reused once tried against ≥ 2 deckies or for ≥ 2 principals.
fn is_reuse(g: &ReuseGroup) -> bool {
    g.deckies.len() >= 2 || g.principals.len() >= 2
}
