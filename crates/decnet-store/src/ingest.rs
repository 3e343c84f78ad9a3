//! The write side: one transaction per ingested batch, opened by moving the
//! consumer's journal offset, so events, everything derived from them and
//! the offset commit together or not at all.

use decnet_core::journal_pos::JournalPos;
use decnet_core::Event;
use sqlx::{Any, AnyConnection, Transaction};
use uuid::Uuid;

use crate::query::{attacker_from_row, session_from_row, ATTACKER_COLS, SESSION_COLS};
use crate::sql::micros;
use crate::{ArtifactRecord, Attacker, CredentialRecord, Result, SessionRecord, Store, StoreError};

/// An open ingest transaction. Dropping it without [`commit`](Self::commit) rolls everything back.
#[derive(Debug)]
pub struct IngestTx {
    tx: Transaction<'static, Any>,
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Store {
    /// The durable journal position of `consumer`, if it ever committed one.
    pub async fn ingest_offset(&self, consumer: &str) -> Result<Option<JournalPos>> {
        let row: Option<(i64, i64)> =
            sqlx::query_as("SELECT segment, byte_offset FROM ingest_offsets WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(s, o)| JournalPos {
            segment: u64::try_from(s).unwrap_or(0),
            offset: u64::try_from(o).unwrap_or(0),
        }))
    }

    /// Opens a batch transaction moving `consumer` from `from` (`None`: it
    /// has no offset yet) to `to`. Fails with [`StoreError::OffsetMoved`] if
    /// the stored offset is not `from`, so two ingesters never apply the same
    /// batch. The offset write comes first so SQLite takes its write lock at
    /// once (waiting on `busy_timeout`) instead of failing on a later upgrade.
    pub async fn begin_ingest(
        &self,
        consumer: &str,
        from: Option<JournalPos>,
        to: JournalPos,
    ) -> Result<IngestTx> {
        let mut tx = self.pool.begin().await?;
        let now = micros(chrono::Utc::now());
        let moved = match from {
            None => sqlx::query(
                "INSERT INTO ingest_offsets (consumer, segment, byte_offset, updated_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT (consumer) DO NOTHING",
            )
            .bind(consumer)
            .bind(i64_of(to.segment))
            .bind(i64_of(to.offset))
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected(),
            Some(f) => sqlx::query(
                "UPDATE ingest_offsets SET segment = $2, byte_offset = $3, updated_at = $4 \
                 WHERE consumer = $1 AND segment = $5 AND byte_offset = $6",
            )
            .bind(consumer)
            .bind(i64_of(to.segment))
            .bind(i64_of(to.offset))
            .bind(now)
            .bind(i64_of(f.segment))
            .bind(i64_of(f.offset))
            .execute(&mut *tx)
            .await?
            .rows_affected(),
        };
        if moved != 1 {
            return Err(StoreError::OffsetMoved {
                consumer: consumer.to_owned(),
            });
        }
        Ok(IngestTx { tx })
    }
}

impl IngestTx {
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Inserts the event attributed to `attacker_uuid`; false if its id is already stored.
    pub async fn insert_event(&mut self, e: &Event, attacker_uuid: Uuid) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO events (id, ts, decky, service, event_type, src_ip, src_port, dst_ip, \
             dst_port, session_id, attacker_uuid, raw) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(e.id.to_string())
        .bind(micros(e.ts))
        .bind(e.decky.as_str())
        .bind(e.service.as_str())
        .bind(e.event_type.as_str())
        .bind(e.src_ip.to_string())
        .bind(i64::from(e.src_port))
        .bind(e.dst_ip.to_string())
        .bind(i64::from(e.dst_port))
        .bind(e.session_id.map(|s| s.to_string()))
        .bind(attacker_uuid.to_string())
        .bind(e.to_json_line())
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The most recently active attacker for `ip`, if any.
    pub async fn attacker_for_ip(&mut self, ip: &str) -> Result<Option<Attacker>> {
        let sql = format!(
            "SELECT {ATTACKER_COLS} FROM attackers WHERE ip = $1 \
             ORDER BY last_seen DESC, uuid DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(ip)
            .fetch_optional(self.conn())
            .await?;
        row.as_ref().map(attacker_from_row).transpose()
    }

    /// Inserts or overwrites an attacker row with these values.
    pub async fn save_attacker(&mut self, a: &Attacker) -> Result<()> {
        sqlx::query(
            "INSERT INTO attackers (uuid, ip, first_seen, last_seen, event_count, deckies, \
             services, credential_count, session_count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (uuid) DO UPDATE SET ip = excluded.ip, \
             first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
             event_count = excluded.event_count, deckies = excluded.deckies, \
             services = excluded.services, credential_count = excluded.credential_count, \
             session_count = excluded.session_count",
        )
        .bind(a.uuid.to_string())
        .bind(a.ip.as_str())
        .bind(micros(a.first_seen))
        .bind(micros(a.last_seen))
        .bind(i64_of(a.event_count))
        .bind(serde_json::to_string(&a.deckies).unwrap_or_else(|_| "[]".into()))
        .bind(serde_json::to_string(&a.services).unwrap_or_else(|_| "[]".into()))
        .bind(i64_of(a.credential_count))
        .bind(i64_of(a.session_count))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Records that an attacker touched a decky's service (idempotent).
    pub async fn add_attacker_target(
        &mut self,
        attacker: Uuid,
        decky: &str,
        service: &str,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO attacker_targets (attacker_uuid, decky, service) VALUES ($1, $2, $3) \
             ON CONFLICT (attacker_uuid, decky, service) DO NOTHING",
        )
        .bind(attacker.to_string())
        .bind(decky)
        .bind(service)
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// A session by id, as stored so far in this transaction.
    pub async fn session(&mut self, sid: Uuid) -> Result<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE sid = $1");
        let row = sqlx::query(&sql)
            .bind(sid.to_string())
            .fetch_optional(self.conn())
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Inserts or overwrites a session row.
    pub async fn save_session(&mut self, s: &SessionRecord) -> Result<()> {
        sqlx::query(
            "INSERT INTO sessions (sid, attacker_uuid, decky, service, src_ip, src_port, \
             started_at, ended_at, event_count, command_count, recording_shard, \
             recording_bytes, recording_duration_s, recording_truncated, recording_sid) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
             CAST($13 AS DOUBLE PRECISION), $14, $15) \
             ON CONFLICT (sid) DO UPDATE SET attacker_uuid = excluded.attacker_uuid, \
             decky = excluded.decky, service = excluded.service, src_ip = excluded.src_ip, \
             src_port = excluded.src_port, started_at = excluded.started_at, \
             ended_at = excluded.ended_at, event_count = excluded.event_count, \
             command_count = excluded.command_count, recording_shard = excluded.recording_shard, \
             recording_bytes = excluded.recording_bytes, \
             recording_duration_s = excluded.recording_duration_s, \
             recording_truncated = excluded.recording_truncated, \
             recording_sid = excluded.recording_sid",
        )
        .bind(s.sid.to_string())
        .bind(s.attacker_uuid.to_string())
        .bind(s.decky.as_str())
        .bind(s.service.as_str())
        .bind(s.src_ip.as_str())
        .bind(i64::from(s.src_port))
        .bind(micros(s.started_at))
        .bind(s.ended_at.map(micros))
        .bind(i64_of(s.event_count))
        .bind(i64_of(s.command_count))
        .bind(s.recording_shard.as_deref())
        .bind(s.recording_bytes.map(i64_of))
        // As text: sqlx's Any driver binds a NULL f64 as float4 on
        // PostgreSQL, which a float8 statement then refuses.
        .bind(s.recording_duration_s.map(|d| d.to_string()))
        .bind(s.recording_truncated.map(i64::from))
        .bind(s.recording_sid.map(|u| u.to_string()))
        .execute(self.conn())
        .await?;
        Ok(())
    }

    /// Whether this secret was already captured against `decky` (before this call's row).
    pub async fn secret_seen_on_decky(
        &mut self,
        sha256: &str,
        kind: &str,
        decky: &str,
    ) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(SECRET_SEEN_ON_DECKY)
            .bind(sha256)
            .bind(kind)
            .bind(decky)
            .fetch_optional(self.conn())
            .await?;
        Ok(row.is_some())
    }

    /// Whether this secret was already captured for `principal`.
    pub async fn secret_seen_for_principal(
        &mut self,
        sha256: &str,
        kind: &str,
        principal: &str,
    ) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(SECRET_SEEN_FOR_PRINCIPAL)
            .bind(sha256)
            .bind(kind)
            .bind(principal)
            .fetch_optional(self.conn())
            .await?;
        Ok(row.is_some())
    }

    /// Inserts a credential; false if its event already has one.
    pub async fn insert_credential(&mut self, c: &CredentialRecord) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO credentials (event_id, ts, attacker_uuid, src_ip, decky, service, \
             session_id, principal, secret_printable, secret_b64, secret_kind, realm, \
             secret_sha256, outcome) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(c.event_id.to_string())
        .bind(micros(c.ts))
        .bind(c.attacker_uuid.to_string())
        .bind(c.src_ip.as_str())
        .bind(c.decky.as_str())
        .bind(c.service.as_str())
        .bind(c.session_id.map(|s| s.to_string()))
        .bind(c.principal.as_str())
        .bind(c.secret_printable.as_deref())
        .bind(c.secret_b64.as_str())
        .bind(c.secret_kind.as_str())
        .bind(c.realm.as_deref())
        .bind(c.secret_sha256.as_str())
        .bind(c.outcome.as_str())
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// The reuse group of a secret as of this transaction.
    pub async fn reuse_group(
        &mut self,
        sha256: &str,
        kind: &str,
    ) -> Result<Option<crate::ReuseGroup>> {
        crate::query::reuse_group_on(self.conn(), sha256, kind).await
    }

    /// Inserts an artifact; false if its event already has one.
    pub async fn insert_artifact(&mut self, a: &ArtifactRecord) -> Result<bool> {
        let n = sqlx::query(
            "INSERT INTO artifacts (event_id, ts, kind, name, sha256, size, decky, service, \
             attacker_uuid, session_id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(a.event_id.to_string())
        .bind(micros(a.ts))
        .bind(a.kind.as_str())
        .bind(a.name.as_str())
        .bind(a.sha256.as_deref())
        .bind(a.size.map(i64_of))
        .bind(a.decky.as_str())
        .bind(a.service.as_str())
        .bind(a.attacker_uuid.to_string())
        .bind(a.session_id.map(|s| s.to_string()))
        .execute(self.conn())
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Commits events, derivations and the new offset atomically.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// Per captured credential: was this secret seen on this decky before?
const SECRET_SEEN_ON_DECKY: &str = "SELECT 1 FROM credentials WHERE secret_sha256 = $1 \
     AND secret_kind = $2 AND decky = $3 LIMIT 1";
/// Per captured credential: was this secret seen for this principal before?
const SECRET_SEEN_FOR_PRINCIPAL: &str = "SELECT 1 FROM credentials WHERE secret_sha256 = $1 \
     AND secret_kind = $2 AND principal = $3 LIMIT 1";

#[cfg(test)]
mod plan_tests {
    use super::*;

    /// The plan SQLite chooses for `sql` (its detail column, one line per step).
    async fn plan(store: &crate::Store, sql: &str) -> String {
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {sql}"))
                .bind("sha")
                .bind("password")
                .bind("admin")
                .fetch_all(store.pool())
                .await
                .unwrap();
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("\n")
    }

    /// A brute force against one username must not make each new password search
    /// every credential of that username: both per-credential questions are one
    /// lookup in an index that starts with the secret.
    #[tokio::test]
    async fn per_credential_lookups_search_by_secret_not_by_principal() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open_data_dir(dir.path()).await.unwrap();
        for (sql, index) in [
            (SECRET_SEEN_FOR_PRINCIPAL, "credentials_secret_principal"),
            (SECRET_SEEN_ON_DECKY, "credentials_secret_decky"),
        ] {
            let p = plan(&store, sql).await;
            assert!(
                p.contains(&format!(
                    "USING COVERING INDEX {index} (secret_sha256=? AND secret_kind=? AND"
                )),
                "{sql}: {p}"
            );
            assert!(!p.contains("SCAN"), "{sql}: {p}");
        }
        store.close().await;
    }
}
