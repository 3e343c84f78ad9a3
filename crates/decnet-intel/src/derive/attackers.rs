//! Attribution: which attacker row an event belongs to, and what it adds to it.

use std::collections::{HashMap, HashSet};

use decnet_core::Event;
use decnet_store::{Attacker, IngestTx};
use serde_json::json;
use uuid::Uuid;

use super::{rfc3339, BatchOutcome};
use crate::IntelError;

struct Acc {
    row: Attacker,
    dirty: bool,
}

/// The batch's attacker rows by source IP, and the (decky, service) pairs they touched.
#[derive(Default)]
pub(super) struct Attackers {
    by_ip: HashMap<String, Acc>,
    targets: HashSet<(Uuid, String, String)>,
}

impl Attackers {
    /// Inserts `e` attributed to its source's attacker and returns that
    /// attacker, or `None` when the event was already stored (a duplicate).
    pub(super) async fn attribute(
        &mut self,
        tx: &mut IngestTx,
        e: &Event,
        notify: bool,
        out: &mut BatchOutcome,
    ) -> Result<Option<&mut Attacker>, IntelError> {
        let ip = e.src_ip.to_string();
        if !self.by_ip.contains_key(&ip) {
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
            self.by_ip.insert(ip.clone(), Acc { row, dirty: false });
        }
        let Some(acc) = self.by_ip.get_mut(&ip) else {
            return Ok(None);
        };
        if !tx.insert_event(e, acc.row.uuid).await? {
            out.duplicates += 1;
            return Ok(None);
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
        self.targets
            .insert((a.uuid, e.decky.clone(), e.service.clone()));
        Ok(Some(a))
    }

    /// Saves the attackers that gained events, then their targets.
    pub(super) async fn save(&self, tx: &mut IngestTx) -> Result<(), IntelError> {
        for acc in self.by_ip.values().filter(|a| a.dirty) {
            tx.save_attacker(&acc.row).await?;
        }
        for (uuid, decky, service) in &self.targets {
            tx.add_attacker_target(*uuid, decky, service).await?;
        }
        Ok(())
    }
}
