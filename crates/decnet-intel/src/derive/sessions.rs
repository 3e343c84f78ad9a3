//! Sessions: one row per `session_id`, its span, counts and recording.

use std::collections::HashMap;

use decnet_core::fields::{EventBody, SessionRecorded};
use decnet_core::{Event, EventType};
use decnet_store::{Attacker, IngestTx, SessionRecord};
use uuid::Uuid;

use crate::IntelError;

/// The batch's sessions by id.
#[derive(Default)]
pub(super) struct Sessions {
    by_sid: HashMap<Uuid, SessionRecord>,
    /// Sessions the batch opened (no stored row).
    opened: usize,
}

impl Sessions {
    /// The stored sessions of the `inserted` events, looked up in one query.
    pub(super) async fn load(tx: &mut IngestTx, inserted: &[&Event]) -> Result<Self, IntelError> {
        let mut sids: Vec<Uuid> = inserted.iter().filter_map(|e| e.session_id).collect();
        sids.sort_unstable();
        sids.dedup();
        Ok(Sessions {
            by_sid: tx.sessions(&sids).await?,
            opened: 0,
        })
    }

    /// Adds `e` to its session, opening one (and counting it on attacker `a`) when new.
    pub(super) fn track(&mut self, e: &Event, a: &mut Attacker) {
        let Some(sid) = e.session_id else {
            return;
        };
        let opened = &mut self.opened;
        let s = self.by_sid.entry(sid).or_insert_with(|| {
            *opened += 1;
            a.session_count += 1;
            SessionRecord {
                sid,
                attacker_uuid: a.uuid,
                decky: e.decky.clone(),
                service: e.service.clone(),
                src_ip: e.src_ip.to_string(),
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
        });
        s.event_count += 1;
        s.started_at = s.started_at.min(e.ts);
        match e.event_type {
            EventType::Disconnect => s.ended_at = Some(e.ts),
            EventType::Command => s.command_count += 1,
            EventType::SessionRecorded => {
                if let Some(r) = SessionRecorded::from_event(e) {
                    s.recording_sid = r.sid;
                    s.recording_shard = r.shard;
                    s.recording_bytes = r.bytes;
                    s.recording_duration_s = r.duration_s;
                    s.recording_truncated = r.truncated;
                }
            }
            _ => {}
        }
    }

    /// Session rows the batch creates.
    pub(super) fn opened(&self) -> usize {
        self.opened
    }

    /// Saves every session the batch touched.
    pub(super) async fn save(&self, tx: &mut IngestTx) -> Result<(), IntelError> {
        let rows: Vec<&SessionRecord> = self.by_sid.values().collect();
        tx.save_sessions(&rows).await?;
        Ok(())
    }
}
