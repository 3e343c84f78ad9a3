//! Attribution: which attacker row an event belongs to, and what it adds to it.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use decnet_core::Event;
use decnet_store::{Attacker, IngestTx};
use serde_json::json;
use uuid::Uuid;

use super::{rfc3339, BatchOutcome};
use crate::IntelError;

struct Acc {
    row: Attacker,
    dirty: bool,
    /// No stored row: saving it creates one.
    fresh: bool,
}

/// The batch's attacker rows by source IP, and the (decky, service) pairs they touched.
pub(super) struct Attackers {
    by_ip: HashMap<IpAddr, Acc>,
    targets: HashSet<(Uuid, String, String)>,
}

impl Attackers {
    /// The attacker of every source IP in `events`, looked up in one query; a
    /// fresh one (new UUIDv7, no events yet) for an IP never seen before.
    pub(super) async fn load(tx: &mut IngestTx, events: &[Event]) -> Result<Self, IntelError> {
        let mut ips: Vec<String> = events.iter().map(|e| e.src_ip.to_string()).collect();
        ips.sort_unstable();
        ips.dedup();
        let keys: Vec<&str> = ips.iter().map(String::as_str).collect();
        let mut stored = tx.attackers_for_ips(&keys).await?;
        let mut by_ip = HashMap::with_capacity(ips.len());
        for e in events {
            if by_ip.contains_key(&e.src_ip) {
                continue;
            }
            let ip = e.src_ip.to_string();
            let (row, fresh) = match stored.remove(&ip) {
                Some(row) => (row, false),
                None => (fresh(ip, e), true),
            };
            by_ip.insert(
                e.src_ip,
                Acc {
                    row,
                    dirty: false,
                    fresh,
                },
            );
        }
        Ok(Attackers {
            by_ip,
            targets: HashSet::new(),
        })
    }

    /// Inserts `events` attributed to their sources' attackers and returns
    /// those actually inserted, in journal order; an event whose id is already
    /// stored, or came earlier in the batch, is counted as a duplicate.
    pub(super) async fn insert<'e>(
        &self,
        tx: &mut IngestTx,
        events: &'e [Event],
        out: &mut BatchOutcome,
    ) -> Result<Vec<&'e Event>, IntelError> {
        let mut rows = Vec::with_capacity(events.len());
        let mut ids = HashSet::with_capacity(events.len());
        for e in events {
            let Some(acc) = self.by_ip.get(&e.src_ip) else {
                continue;
            };
            if ids.insert(e.id) {
                rows.push((e, acc.row.uuid));
            }
        }
        let stored = tx.insert_events(&rows).await?;
        let inserted: Vec<&Event> = rows
            .into_iter()
            .map(|(e, _)| e)
            .filter(|e| stored.contains(&e.id))
            .collect();
        out.inserted += inserted.len();
        out.duplicates += events.len() - inserted.len();
        Ok(inserted)
    }

    /// Counts the inserted event `e` on its attacker and returns that attacker.
    pub(super) fn observe(
        &mut self,
        e: &Event,
        notify: bool,
        out: &mut BatchOutcome,
    ) -> &mut Attacker {
        // `load` saw every IP of the batch; the fallback only keeps this total.
        let acc = self.by_ip.entry(e.src_ip).or_insert_with(|| Acc {
            row: fresh(e.src_ip.to_string(), e),
            dirty: false,
            fresh: true,
        });
        let a = &mut acc.row;
        if a.event_count == 0 {
            // A new attacker's span starts at its first inserted event.
            a.first_seen = e.ts;
            a.last_seen = e.ts;
            if notify {
                out.observed.push(json!({
                    "attacker_uuid": a.uuid, "ip": a.ip, "first_seen": rfc3339(e.ts),
                    "decky": e.decky, "service": e.service,
                }));
            }
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
        a
    }

    /// The batch's attacker for `ip`, if it has one.
    pub(super) fn get_mut(&mut self, ip: &IpAddr) -> Option<&mut Attacker> {
        self.by_ip.get_mut(ip).map(|acc| &mut acc.row)
    }

    /// Attacker rows the batch creates: new sources that gained an event.
    pub(super) fn created(&self) -> usize {
        self.by_ip.values().filter(|a| a.fresh && a.dirty).count()
    }

    /// Saves the attackers that gained events, then their targets.
    pub(super) async fn save(&self, tx: &mut IngestTx) -> Result<(), IntelError> {
        let rows: Vec<&Attacker> = self
            .by_ip
            .values()
            .filter(|a| a.dirty)
            .map(|a| &a.row)
            .collect();
        tx.save_attackers(&rows).await?;
        let targets: Vec<(Uuid, &str, &str)> = self
            .targets
            .iter()
            .map(|(u, d, s)| (*u, d.as_str(), s.as_str()))
            .collect();
        tx.add_attacker_targets(&targets).await?;
        Ok(())
    }
}

/// A new attacker for `ip`, first seen with `e`, no events counted yet.
fn fresh(ip: String, e: &Event) -> Attacker {
    Attacker {
        uuid: Uuid::now_v7(),
        ip,
        first_seen: e.ts,
        last_seen: e.ts,
        event_count: 0,
        deckies: Vec::new(),
        services: Vec::new(),
        credential_count: 0,
        session_count: 0,
    }
}
