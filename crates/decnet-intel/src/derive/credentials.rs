//! Credentials: the one an event carries, hoisted into its own row.

use decnet_core::fields::CredentialOutcome;
use decnet_core::Event;
use decnet_store::{Attacker, CredentialRecord, IngestTx};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::reuse::Candidate;
use super::{rfc3339, BatchOutcome};
use crate::IntelError;

/// SHA-256 (lower-case hex) of a credential's exact secret bytes.
pub fn secret_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Stores `e`'s credential, counting it on attacker `a`; returns the secret as
/// a reuse candidate when it is new to this decky or principal.
pub(super) async fn hoist(
    tx: &mut IngestTx,
    e: &Event,
    a: &mut Attacker,
    notify: bool,
    out: &mut BatchOutcome,
) -> Result<Option<Candidate>, IntelError> {
    let Some(c) = &e.credential else {
        return Ok(None);
    };
    let Some(bytes) = c.secret_bytes() else {
        tracing::warn!(event = %e.id, "credential with invalid base64 secret; event kept, credential not hoisted");
        return Ok(None);
    };
    let ip = e.src_ip.to_string();
    let sha = secret_sha256(&bytes);
    let kind = c.secret_kind.as_str();
    let new_decky = !tx.secret_seen_on_decky(&sha, kind, &e.decky).await?;
    let new_principal = !tx
        .secret_seen_for_principal(&sha, kind, &c.principal)
        .await?;
    let outcome = CredentialOutcome::of(e.event_type).as_str();
    let rec = CredentialRecord {
        event_id: e.id,
        ts: e.ts,
        attacker_uuid: a.uuid,
        src_ip: ip.clone(),
        decky: e.decky.clone(),
        service: e.service.clone(),
        session_id: e.session_id,
        principal: c.principal.clone(),
        secret_printable: c.secret_printable.clone(),
        secret_b64: c.secret_b64.clone(),
        secret_kind: kind.to_owned(),
        realm: c.realm.clone(),
        secret_sha256: sha.clone(),
        outcome: outcome.to_owned(),
    };
    if !tx.insert_credential(&rec).await? {
        return Ok(None);
    }
    a.credential_count += 1;
    if notify {
        out.credentials.push(json!({
            "event_id": e.id, "attacker_uuid": a.uuid, "src_ip": ip,
            "decky": e.decky, "service": e.service, "principal": c.principal,
            "secret_kind": kind, "secret_sha256": sha, "outcome": outcome,
            "ts": rfc3339(e.ts),
        }));
    }
    Ok((new_decky || new_principal).then(|| Candidate {
        secret_sha256: sha,
        secret_kind: kind.to_owned(),
    }))
}
