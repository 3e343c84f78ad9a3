//! Sessions: one row per `session_id`, its span, counts and recording.

use std::collections::hash_map::Entry;
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
}

impl Sessions {
    /// Adds `e` to its session, opening one (and counting it on attacker `a`) when new.
    pub(super) async fn track(
        &mut self,
        tx: &mut IngestTx,
        e: &Event,
        a: &mut Attacker,
    ) -> Result<(), IntelError> {
        let Some(sid) = e.session_id else {
            return Ok(());
        };
        let s = match self.by_sid.entry(sid) {
            Entry::Occupied(slot) => slot.into_mut(),
            Entry::Vacant(slot) => {
                let s = match tx.session(sid).await? {
                    Some(s) => s,
                    None => {
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
                    }
                };
                slot.insert(s)
            }
        };
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
        Ok(())
    }

    /// Saves every session the batch touched.
    pub(super) async fn save(&self, tx: &mut IngestTx) -> Result<(), IntelError> {
        for s in self.by_sid.values() {
            tx.save_session(s).await?;
        }
        Ok(())
    }
}
