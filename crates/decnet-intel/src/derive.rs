//! Derivations applied inside the batch transaction, only for events that
//! were actually inserted (a replayed event derives nothing twice).
//!
//! Attribution: an attacker is an observation of a source. An event goes to
//! the most recently active attacker row for its `src_ip`; a new attacker
//! (fresh UUIDv7) is created only for an IP never seen before. `ip` is not
//! unique so later correlation may split or merge observations without
//! changing keys.
//!
//! Sessions are keyed by the event's `session_id`: started at its first
//! event, ended at `disconnect`, `command` events counted, the transcript
//! taken from `session_recorded`. Artifacts: `file_upload` with its
//! `sha256`/`size`/`name` fields, and `file_download` as kind `download`
//! with the URL as name and no hash (we never fetch it; the URL is the IOC).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, SecondsFormat, Utc};
use decnet_core::{Event, EventType};
use decnet_store::{
    ArtifactRecord, Attacker, CredentialRecord, IngestTx, ReuseGroup, SessionRecord,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::IntelError;

/// SHA-256 (lower-case hex) of a credential's exact secret bytes.
pub fn secret_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

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

struct AttackerAcc {
    row: Attacker,
    dirty: bool,
}

/// Applies `events` in `tx`; `notify` says whether to build notification payloads.
pub(crate) async fn apply(
    tx: &mut IngestTx,
    events: &[Event],
    notify: bool,
) -> Result<BatchOutcome, IntelError> {
    let mut out = BatchOutcome::default();
    let mut attackers: HashMap<String, AttackerAcc> = HashMap::new();
    let mut targets: HashSet<(Uuid, String, String)> = HashSet::new();
    let mut sessions: HashMap<Uuid, SessionRecord> = HashMap::new();
    let mut reuse_candidates: BTreeMap<(String, String), ()> = BTreeMap::new();

    for e in events {
        let ip = e.src_ip.to_string();
        if !attackers.contains_key(&ip) {
            let row = match tx.attacker_for_ip(&ip).await? {
                Some(a) => a,
                None => Attacker {
                    uuid: Uuid::now_v7(),
                    ip: ip.clone(),
                    first_seen: e.ts,
                    last_seen: e.ts,
                    event_count: 0,
                    deckies: Vec::new(),
                    services: Vec::new(),
                    credential_count: 0,
                    session_count: 0,
                },
            };
            attackers.insert(ip.clone(), AttackerAcc { row, dirty: false });
        }
        let Some(acc) = attackers.get_mut(&ip) else {
            continue;
        };
        if !tx.insert_event(e, acc.row.uuid).await? {
            out.duplicates += 1;
            continue;
        }
        out.inserted += 1;
        let a = &mut acc.row;
        if a.event_count == 0 && notify {
            out.observed.push(json!({
                "attacker_uuid": a.uuid, "ip": ip, "first_seen": rfc3339(e.ts),
                "decky": e.decky, "service": e.service,
            }));
        }
        acc.dirty = true;
        a.event_count += 1;
        a.first_seen = a.first_seen.min(e.ts);
        a.last_seen = a.last_seen.max(e.ts);
        if !a.deckies.contains(&e.decky) {
            a.deckies.push(e.decky.clone());
        }
        if !a.services.contains(&e.service) {
            a.services.push(e.service.clone());
        }
        targets.insert((a.uuid, e.decky.clone(), e.service.clone()));
        let attacker_uuid = a.uuid;

        // Sessions.
        let sid = e.session_id;
        if let Some(sid) = sid {
            if let std::collections::hash_map::Entry::Vacant(slot) = sessions.entry(sid) {
                let s = match tx.session(sid).await? {
                    Some(s) => s,
                    None => {
                        a.session_count += 1;
                        SessionRecord {
                            sid,
                            attacker_uuid,
                            decky: e.decky.clone(),
                            service: e.service.clone(),
                            src_ip: ip.clone(),
                            src_port: e.src_port,
                            started_at: e.ts,
                            ended_at: None,
                            event_count: 0,
                            command_count: 0,
                            recording_sid: None,
                            recording_shard: None,
                            recording_bytes: None,
                            recording_duration_s: None,
                            recording_truncated: None,
                        }
                    }
                };
                slot.insert(s);
            }
            if let Some(s) = sessions.get_mut(&sid) {
                s.event_count += 1;
                s.started_at = s.started_at.min(e.ts);
                match e.event_type {
                    EventType::Disconnect => s.ended_at = Some(e.ts),
                    EventType::Command => s.command_count += 1,
                    EventType::SessionRecorded => {
                        let f = &e.fields;
                        s.recording_sid = f
                            .get("sid")
                            .and_then(Value::as_str)
                            .and_then(|v| Uuid::parse_str(v).ok());
                        s.recording_shard =
                            f.get("shard").and_then(Value::as_str).map(str::to_owned);
                        s.recording_bytes = f.get("bytes").and_then(Value::as_u64);
                        s.recording_duration_s = f.get("duration_s").and_then(Value::as_f64);
                        s.recording_truncated = f.get("truncated").and_then(Value::as_bool);
                    }
                    _ => {}
                }
            }
        }

        // Credentials.
        if let Some(c) = &e.credential {
            match c.secret_bytes() {
                None => {
                    tracing::warn!(event = %e.id, "credential with invalid base64 secret; event kept, credential not hoisted")
                }
                Some(bytes) => {
                    let sha = secret_sha256(&bytes);
                    let kind = c.secret_kind.as_str();
                    let new_decky = !tx.secret_seen_on_decky(&sha, kind, &e.decky).await?;
                    let new_principal = !tx
                        .secret_seen_for_principal(&sha, kind, &c.principal)
                        .await?;
                    let rec = CredentialRecord {
                        event_id: e.id,
                        ts: e.ts,
                        attacker_uuid,
                        src_ip: ip.clone(),
                        decky: e.decky.clone(),
                        service: e.service.clone(),
                        session_id: sid,
                        principal: c.principal.clone(),
                        secret_printable: c.secret_printable.clone(),
                        secret_b64: c.secret_b64.clone(),
                        secret_kind: kind.to_owned(),
                        realm: c.realm.clone(),
                        secret_sha256: sha.clone(),
                        outcome: match e.event_type {
                            EventType::LoginSuccess => "success",
                            EventType::LoginAttempt => "failure",
                            _ => "observed",
                        }
                        .to_owned(),
                    };
                    if tx.insert_credential(&rec).await? {
                        a.credential_count += 1;
                        if notify {
                            out.credentials.push(json!({
                                "event_id": e.id, "attacker_uuid": attacker_uuid, "src_ip": ip,
                                "decky": e.decky, "service": e.service, "principal": c.principal,
                                "secret_kind": kind, "secret_sha256": sha, "outcome": rec.outcome,
                                "ts": rfc3339(e.ts),
                            }));
                        }
                        if new_decky || new_principal {
                            reuse_candidates.insert((sha, kind.to_owned()), ());
                        }
                    }
                }
            }
        }

        // Artifacts.
        let art = match e.event_type {
            EventType::FileUpload => Some(ArtifactRecord {
                event_id: e.id,
                ts: e.ts,
                kind: "upload".into(),
                name: ["name", "filename", "path"]
                    .iter()
                    .find_map(|k| e.fields.get(*k).and_then(Value::as_str))
                    .unwrap_or("")
                    .to_owned(),
                sha256: e
                    .fields
                    .get("sha256")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
                size: e.fields.get("size").and_then(Value::as_u64),
                decky: e.decky.clone(),
                service: e.service.clone(),
                attacker_uuid,
                session_id: sid,
            }),
            EventType::FileDownload => {
                e.fields
                    .get("url")
                    .and_then(Value::as_str)
                    .map(|url| ArtifactRecord {
                        event_id: e.id,
                        ts: e.ts,
                        kind: "download".into(),
                        name: url.to_owned(),
                        sha256: None,
                        size: None,
                        decky: e.decky.clone(),
                        service: e.service.clone(),
                        attacker_uuid,
                        session_id: sid,
                    })
            }
            _ => None,
        };
        if let Some(art) = art {
            tx.insert_artifact(&art).await?;
        }

        if notify {
            out.logs.push(json!({
                "id": e.id, "decky": e.decky, "service": e.service,
                "event_type": e.event_type.as_str(), "src_ip": ip, "ts": rfc3339(e.ts),
            }));
        }
    }

    for acc in attackers.values().filter(|a| a.dirty) {
        tx.save_attacker(&acc.row).await?;
    }
    for (uuid, decky, service) in &targets {
        tx.add_attacker_target(*uuid, decky, service).await?;
    }
    for s in sessions.values() {
        tx.save_session(s).await?;
    }
    // One snapshot per group that gained a target in this batch.
    for (sha, kind) in reuse_candidates.keys() {
        if let Some(g) = tx.reuse_group(sha, kind).await? {
            if is_reuse(&g) && notify {
                out.reuse.push(json!({
                    "secret_sha256": g.secret_sha256, "secret_kind": g.secret_kind,
                    "deckies": g.deckies, "principals": g.principals,
                    "attacker_uuids": g.attacker_uuids, "count": g.count,
                    "first_seen": rfc3339(g.first_seen), "last_seen": rfc3339(g.last_seen),
                }));
            }
        }
    }
    Ok(out)
}

/// A secret counts as reused once tried against ≥ 2 deckies or for ≥ 2 principals.
fn is_reuse(g: &ReuseGroup) -> bool {
    g.deckies.len() >= 2 || g.principals.len() >= 2
}
