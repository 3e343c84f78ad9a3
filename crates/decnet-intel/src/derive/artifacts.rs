//! Artifacts: files sent to a decky, and URLs it was asked to fetch.

use decnet_core::fields::{Direction, EventBody, FileRef, FileTransfer};
use decnet_core::Event;
use decnet_store::{ArtifactRecord, IngestTx};
use uuid::Uuid;

use crate::IntelError;

/// The batch's artifacts, inserted together.
#[derive(Default)]
pub(super) struct Artifacts(Vec<ArtifactRecord>);

impl Artifacts {
    /// Queues the artifact `e` names, if any, for attacker `attacker_uuid`.
    pub(super) fn record(&mut self, e: &Event, attacker_uuid: Uuid) {
        let Some(t) = FileTransfer::from_event(e) else {
            return;
        };
        let (kind, name, sha256, size) = match (t.direction, t.target) {
            (Direction::Upload, FileRef::Name(n) | FileRef::Url(n)) => {
                ("upload", n, t.sha256, t.size)
            }
            // The URL is the indicator (we never fetch it); a file a peer read from
            // our own fake disk is not one.
            (Direction::Download, FileRef::Url(url)) => ("download", url, None, None),
            (Direction::Download, FileRef::Name(_)) => return,
        };
        self.0.push(ArtifactRecord {
            event_id: e.id,
            ts: e.ts,
            kind: kind.into(),
            name,
            sha256,
            size,
            decky: e.decky.clone(),
            service: e.service.clone(),
            attacker_uuid,
            session_id: e.session_id,
        });
    }

    /// Inserts every queued artifact.
    pub(super) async fn save(&self, tx: &mut IngestTx) -> Result<(), IntelError> {
        tx.insert_artifacts(&self.0).await?;
        Ok(())
    }
}
