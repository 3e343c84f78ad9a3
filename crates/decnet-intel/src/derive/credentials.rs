//! Credentials: the one an event carries, hoisted into its own row.

use std::net::IpAddr;

use decnet_core::fields::CredentialOutcome;
use decnet_core::Event;
use decnet_store::{Attacker, CredentialRecord, IngestTx};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::attackers::Attackers;
use super::reuse::Candidates;
use super::{rfc3339, BatchOutcome};
use crate::IntelError;

/// SHA-256 (lower-case hex) of a credential's exact secret bytes.
pub fn secret_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The batch's credentials, inserted together; beside each, its source so
/// it can be counted on its attacker once stored.
#[derive(Default)]
pub(super) struct Credentials {
    rows: Vec<CredentialRecord>,
    sources: Vec<IpAddr>,
}

impl Credentials {
    /// Queues `e`'s credential for attacker `a`.
    pub(super) fn hoist(&mut self, e: &Event, a: &Attacker) {
        let Some(c) = &e.credential else {
            return;
        };
        let Some(bytes) = c.secret_bytes() else {
            tracing::warn!(event = %e.id, "credential with invalid base64 secret; event kept, credential not hoisted");
            return;
        };
        self.rows.push(CredentialRecord {
            event_id: e.id,
            ts: e.ts,
            attacker_uuid: a.uuid,
            src_ip: e.src_ip.to_string(),
            decky: e.decky.clone(),
            service: e.service.clone(),
            session_id: e.session_id,
            principal: c.principal.clone(),
            secret_printable: c.secret_printable.clone(),
            secret_b64: c.secret_b64.clone(),
            secret_kind: c.secret_kind.as_str().to_owned(),
            realm: c.realm.clone(),
            secret_sha256: secret_sha256(&bytes),
            outcome: CredentialOutcome::of(e.event_type).as_str().to_owned(),
        });
        self.sources.push(e.src_ip);
    }

    /// Inserts the queued credentials (the store updates each secret's
    /// reuse summary with them), counts each inserted one on its attacker,
    /// and returns the secrets that are now a reuse and were new to a decky
    /// or a principal: their groups grew.
    pub(super) async fn save(
        self,
        tx: &mut IngestTx,
        attackers: &mut Attackers,
        notify: bool,
        out: &mut BatchOutcome,
    ) -> Result<Candidates, IntelError> {
        let done = tx.insert_credentials(&self.rows).await?;
        for (r, ip) in self.rows.into_iter().zip(self.sources) {
            if !done.inserted.contains(&r.event_id) {
                continue;
            }
            if let Some(a) = attackers.get_mut(&ip) {
                a.credential_count += 1;
            }
            if notify {
                out.credentials.push(json!({
                    "event_id": r.event_id, "attacker_uuid": r.attacker_uuid, "src_ip": r.src_ip,
                    "decky": r.decky, "service": r.service, "principal": r.principal,
                    "secret_kind": r.secret_kind, "secret_sha256": r.secret_sha256,
                    "outcome": r.outcome, "ts": rfc3339(r.ts),
                }));
            }
        }
        Ok(Candidates::of(done.secrets))
    }
}
