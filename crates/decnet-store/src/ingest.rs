//! The write side: one transaction per ingested batch, opened by moving the
//! consumer's journal offset, so events, everything derived from them and
//! the offset commit together or not at all.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use decnet_core::journal_pos::JournalPos;
use decnet_core::Event;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row, Transaction};
use uuid::Uuid;

use crate::query::{attacker_from_row, session_from_row};
use crate::sql::{col_uuid, micros};
use crate::{
    ArtifactRecord, Attacker, Backend, CredentialRecord, CredentialsInserted, Result, ReuseGroup,
    SecretSummary, SecretTouched, SessionRecord, Store, StoreError,
};

/// An open ingest transaction. Dropping it without [`commit`](Self::commit) rolls everything back.
#[derive(Debug)]
pub struct IngestTx {
    tx: Transaction<'static, Any>,
    backend: Backend,
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
        let mut tx = self.ingest.begin().await?;
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
        Ok(IngestTx {
            tx,
            backend: self.backend,
        })
    }
}

impl IngestTx {
    pub(crate) fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Runs `stmt` over every row, with this backend's placeholders.
    async fn run<'a>(
        &mut self,
        stmt: &Rows,
        rows: impl Iterator<Item = Vec<Val<'a>>>,
    ) -> Result<Vec<AnyRow>> {
        let sigil = placeholder(self.backend);
        run_rows(&mut self.tx, stmt, sigil, rows).await
    }

    /// Inserts `rows` (each event with the attacker it is attributed to) and
    /// returns the ids actually inserted: an id already stored (or repeated
    /// within `rows`) is skipped.
    pub async fn insert_events(&mut self, rows: &[(&Event, Uuid)]) -> Result<HashSet<Uuid>> {
        let vals = rows.iter().map(|(e, a)| {
            vec![
                Val::text(e.id.to_string()),
                Val::Int(micros(e.ts)),
                Val::str(&e.decky),
                Val::str(&e.service),
                Val::str(e.event_type.as_str()),
                Val::text(e.src_ip.to_string()),
                Val::Int(i64::from(e.src_port)),
                Val::text(e.dst_ip.to_string()),
                Val::Int(i64::from(e.dst_port)),
                Val::OptText(e.session_id.map(|s| Cow::Owned(s.to_string()))),
                Val::text(a.to_string()),
                Val::text(e.to_json_line()),
            ]
        });
        let rows = self.run(&INSERT_EVENTS, vals).await?;
        uuids(&rows, "id")
    }

    /// Inserts the event attributed to `attacker_uuid`; false if its id is already stored.
    pub async fn insert_event(&mut self, e: &Event, attacker_uuid: Uuid) -> Result<bool> {
        Ok(self
            .insert_events(&[(e, attacker_uuid)])
            .await?
            .contains(&e.id))
    }

    /// The most recently active attacker of each of `ips` that has one.
    pub async fn attackers_for_ips(&mut self, ips: &[&str]) -> Result<HashMap<String, Attacker>> {
        let mut out: HashMap<String, Attacker> = HashMap::new();
        let keys = ips.iter().map(|ip| vec![Val::str(ip)]);
        for r in self.run(&ATTACKERS_BY_IP, keys).await? {
            let a = attacker_from_row(&r)?;
            let newer = out
                .get(&a.ip)
                .is_none_or(|b| (a.last_seen, a.uuid) > (b.last_seen, b.uuid));
            if newer {
                out.insert(a.ip.clone(), a);
            }
        }
        Ok(out)
    }

    /// The most recently active attacker for `ip`, if any.
    pub async fn attacker_for_ip(&mut self, ip: &str) -> Result<Option<Attacker>> {
        Ok(self.attackers_for_ips(&[ip]).await?.remove(ip))
    }

    /// Inserts or overwrites attacker rows (each uuid at most once).
    pub async fn save_attackers(&mut self, rows: &[&Attacker]) -> Result<()> {
        let vals = rows.iter().map(|a| {
            vec![
                Val::text(a.uuid.to_string()),
                Val::str(&a.ip),
                Val::Int(micros(a.first_seen)),
                Val::Int(micros(a.last_seen)),
                Val::Int(i64_of(a.event_count)),
                Val::text(serde_json::to_string(&a.deckies).unwrap_or_else(|_| "[]".into())),
                Val::text(serde_json::to_string(&a.services).unwrap_or_else(|_| "[]".into())),
                Val::Int(i64_of(a.credential_count)),
                Val::Int(i64_of(a.session_count)),
            ]
        });
        self.run(&SAVE_ATTACKERS, vals).await?;
        Ok(())
    }

    /// Inserts or overwrites an attacker row with these values.
    pub async fn save_attacker(&mut self, a: &Attacker) -> Result<()> {
        self.save_attackers(&[a]).await
    }

    /// Records that attackers touched deckies' services: (attacker, decky, service), idempotent.
    pub async fn add_attacker_targets(&mut self, rows: &[(Uuid, &str, &str)]) -> Result<()> {
        let vals = rows
            .iter()
            .map(|(a, d, s)| vec![Val::text(a.to_string()), Val::str(d), Val::str(s)]);
        self.run(&ADD_TARGETS, vals).await?;
        Ok(())
    }

    /// Records that an attacker touched a decky's service (idempotent).
    pub async fn add_attacker_target(
        &mut self,
        attacker: Uuid,
        decky: &str,
        service: &str,
    ) -> Result<()> {
        self.add_attacker_targets(&[(attacker, decky, service)])
            .await
    }

    /// The stored sessions among `sids`, as of this transaction.
    pub async fn sessions(&mut self, sids: &[Uuid]) -> Result<HashMap<Uuid, SessionRecord>> {
        let keys = sids.iter().map(|s| vec![Val::text(s.to_string())]);
        self.run(&SESSIONS_BY_SID, keys)
            .await?
            .iter()
            .map(|r| session_from_row(r).map(|s| (s.sid, s)))
            .collect()
    }

    /// A session by id, as stored so far in this transaction.
    pub async fn session(&mut self, sid: Uuid) -> Result<Option<SessionRecord>> {
        Ok(self.sessions(&[sid]).await?.remove(&sid))
    }

    /// Inserts or overwrites session rows (each sid at most once).
    pub async fn save_sessions(&mut self, rows: &[&SessionRecord]) -> Result<()> {
        let vals = rows.iter().map(|s| {
            vec![
                Val::text(s.sid.to_string()),
                Val::text(s.attacker_uuid.to_string()),
                Val::str(&s.decky),
                Val::str(&s.service),
                Val::str(&s.src_ip),
                Val::Int(i64::from(s.src_port)),
                Val::Int(micros(s.started_at)),
                Val::OptInt(s.ended_at.map(micros)),
                Val::Int(i64_of(s.event_count)),
                Val::Int(i64_of(s.command_count)),
                Val::OptText(s.recording_shard.as_deref().map(Cow::Borrowed)),
                Val::OptInt(s.recording_bytes.map(i64_of)),
                // As text: sqlx's Any driver binds a NULL f64 as float4 on
                // PostgreSQL, which a float8 statement then refuses.
                Val::OptText(s.recording_duration_s.map(|d| Cow::Owned(d.to_string()))),
                Val::OptInt(s.recording_truncated.map(i64::from)),
                Val::OptText(s.recording_sid.map(|u| Cow::Owned(u.to_string()))),
            ]
        });
        self.run(&SAVE_SESSIONS, vals).await?;
        Ok(())
    }

    /// Inserts or overwrites a session row.
    pub async fn save_session(&mut self, s: &SessionRecord) -> Result<()> {
        self.save_sessions(&[s]).await
    }

    /// Whether this secret was already captured against `decky`.
    pub async fn secret_seen_on_decky(
        &mut self,
        sha256: &str,
        kind: &str,
        decky: &str,
    ) -> Result<bool> {
        self.pair_exists(SECRET_ON_DECKY, sha256, kind, decky).await
    }

    /// Whether this secret was already captured for `principal`.
    pub async fn secret_seen_for_principal(
        &mut self,
        sha256: &str,
        kind: &str,
        principal: &str,
    ) -> Result<bool> {
        self.pair_exists(SECRET_FOR_PRINCIPAL, sha256, kind, principal)
            .await
    }

    async fn pair_exists(&mut self, sql: &str, sha256: &str, kind: &str, v: &str) -> Result<bool> {
        let row: Option<(i64,)> = sqlx::query_as(sql)
            .bind(sha256)
            .bind(kind)
            .bind(v)
            .fetch_optional(self.conn())
            .await?;
        Ok(row.is_some())
    }

    /// Inserts credentials and keeps each secret's reuse summary: the pairs
    /// (secret with decky, principal, attacker) it was seen in, and its row
    /// in `credential_secrets`, all from what the inserts return. Only
    /// credentials actually inserted count, and a distinct count grows only
    /// by pairs actually inserted, so replaying a batch counts nothing twice.
    /// Per batch: one upsert per secret touched, primary-key probes only,
    /// however large a secret's group already is.
    pub async fn insert_credentials(
        &mut self,
        rows: &[CredentialRecord],
    ) -> Result<CredentialsInserted> {
        let vals = rows.iter().map(|c| {
            vec![
                Val::text(c.event_id.to_string()),
                Val::Int(micros(c.ts)),
                Val::text(c.attacker_uuid.to_string()),
                Val::str(&c.src_ip),
                Val::str(&c.decky),
                Val::str(&c.service),
                Val::OptText(c.session_id.map(|s| Cow::Owned(s.to_string()))),
                Val::str(&c.principal),
                Val::OptText(c.secret_printable.as_deref().map(Cow::Borrowed)),
                Val::str(&c.secret_b64),
                Val::str(&c.secret_kind),
                Val::OptText(c.realm.as_deref().map(Cow::Borrowed)),
                Val::str(&c.secret_sha256),
                Val::str(&c.outcome),
            ]
        });
        let inserted = uuids(&self.run(&INSERT_CREDENTIALS, vals).await?, "event_id")?;
        let stored: Vec<&CredentialRecord> = rows
            .iter()
            .filter(|c| inserted.contains(&c.event_id))
            .collect();
        // Each secret's inline values: stored ones for secrets seen before,
        // the batch's first for new ones (migration 0006).
        let keys: BTreeSet<&str> = stored.iter().map(|c| c.secret_sha256.as_str()).collect();
        let mut known: HashMap<(String, String), [Option<String>; 3]> = HashMap::new();
        for r in self
            .run(&SECRET_FIRSTS, keys.iter().map(|k| vec![Val::str(k)]))
            .await?
        {
            known.insert(
                (r.try_get("secret_sha256")?, r.try_get("secret_kind")?),
                [
                    r.try_get("first_decky")?,
                    r.try_get("first_principal")?,
                    r.try_get("first_attacker")?,
                ],
            );
        }
        // What the inserted credentials add to each secret, and its new pairs.
        let mut adds: BTreeMap<(String, String), SecretAdd<'_>> = BTreeMap::new();
        let mut pairs: [HashSet<(&str, &str, Cow<'_, str>)>; 3] = Default::default();
        for c in stored {
            let key = (c.secret_sha256.as_str(), c.secret_kind.as_str());
            let ts = micros(c.ts);
            let values = [
                Cow::Borrowed(c.decky.as_str()),
                Cow::Borrowed(c.principal.as_str()),
                Cow::Owned(c.attacker_uuid.to_string()),
            ];
            let a = adds
                .entry((key.0.to_owned(), key.1.to_owned()))
                .or_insert_with_key(|k| {
                    let (firsts, distinct) = match known.remove(k) {
                        Some(firsts) => (firsts, [0; 3]),
                        // A new secret: its first values are inline and count once each.
                        None => (values.clone().map(|v| Some(v.into_owned())), [1; 3]),
                    };
                    SecretAdd {
                        printable: None,
                        n: 0,
                        distinct,
                        first: ts,
                        last: ts,
                        firsts,
                    }
                });
            a.n += 1;
            a.first = a.first.min(ts);
            a.last = a.last.max(ts);
            if a.printable.is_none() {
                a.printable = c.secret_printable.as_deref();
            }
            for ((set, v), inline) in pairs.iter_mut().zip(values).zip(&a.firsts) {
                if inline.as_deref() != Some(v.as_ref()) {
                    set.insert((key.0, key.1, v));
                }
            }
        }
        for (d, (stmt, set)) in [
            &ADD_SECRET_DECKIES,
            &ADD_SECRET_PRINCIPALS,
            &ADD_SECRET_ATTACKERS,
        ]
        .into_iter()
        .zip(pairs)
        .enumerate()
        {
            let vals = set
                .iter()
                .map(|(s, k, v)| vec![Val::str(s), Val::str(k), Val::str(v)]);
            for r in self.run(stmt, vals).await? {
                let s: String = r.try_get("secret_sha256")?;
                let k: String = r.try_get("secret_kind")?;
                if let Some(a) = adds.get_mut(&(s, k)) {
                    if let Some(n) = a.distinct.get_mut(d) {
                        *n += 1;
                    }
                }
            }
        }
        let vals = adds.iter().map(|((s, k), a)| {
            vec![
                Val::str(s),
                Val::str(k),
                Val::OptText(a.printable.map(Cow::Borrowed)),
                Val::Int(a.n),
                Val::Int(a.distinct[0]),
                Val::Int(a.distinct[1]),
                Val::Int(a.distinct[2]),
                Val::Int(a.first),
                Val::Int(a.last),
                Val::OptText(a.firsts[0].as_deref().map(Cow::Borrowed)),
                Val::OptText(a.firsts[1].as_deref().map(Cow::Borrowed)),
                Val::OptText(a.firsts[2].as_deref().map(Cow::Borrowed)),
            ]
        });
        let mut secrets = Vec::with_capacity(adds.len());
        for r in self.run(&ADD_SECRETS, vals).await? {
            let summary = crate::reuse::summary_from_row(&r)?;
            let grew = adds
                .get(&(summary.secret_sha256.clone(), summary.secret_kind.clone()))
                .is_some_and(|a| a.distinct[0] > 0 || a.distinct[1] > 0);
            secrets.push(SecretTouched { summary, grew });
        }
        secrets.sort_by(|a, b| {
            (&a.summary.secret_sha256, &a.summary.secret_kind)
                .cmp(&(&b.summary.secret_sha256, &b.summary.secret_kind))
        });
        Ok(CredentialsInserted { inserted, secrets })
    }

    /// Inserts a credential; false if its event already has one.
    pub async fn insert_credential(&mut self, c: &CredentialRecord) -> Result<bool> {
        let done = self.insert_credentials(std::slice::from_ref(c)).await?;
        Ok(done.inserted.contains(&c.event_id))
    }

    /// The reuse group of a secret as of this transaction (bounded samples).
    pub async fn reuse_group(
        &mut self,
        sha256: &str,
        kind: &str,
    ) -> Result<Option<crate::ReuseGroup>> {
        crate::query::reuse_group_on(self.conn(), sha256, kind).await
    }

    /// The reuse groups of `secrets` as of this transaction: each summary
    /// with its bounded samples, read by index from the pair tables.
    pub async fn reuse_groups(&mut self, secrets: &[SecretSummary]) -> Result<Vec<ReuseGroup>> {
        crate::reuse::with_samples(self.conn(), secrets).await
    }

    /// Inserts artifacts; returns the event ids whose artifact was inserted.
    pub async fn insert_artifacts(&mut self, rows: &[ArtifactRecord]) -> Result<HashSet<Uuid>> {
        let vals = rows.iter().map(|a| {
            vec![
                Val::text(a.event_id.to_string()),
                Val::Int(micros(a.ts)),
                Val::str(&a.kind),
                Val::str(&a.name),
                Val::OptText(a.sha256.as_deref().map(Cow::Borrowed)),
                Val::OptInt(a.size.map(i64_of)),
                Val::str(&a.decky),
                Val::str(&a.service),
                Val::text(a.attacker_uuid.to_string()),
                Val::OptText(a.session_id.map(|s| Cow::Owned(s.to_string()))),
            ]
        });
        let rows = self.run(&INSERT_ARTIFACTS, vals).await?;
        uuids(&rows, "event_id")
    }

    /// Inserts an artifact; false if its event already has one.
    pub async fn insert_artifact(&mut self, a: &ArtifactRecord) -> Result<bool> {
        let inserted = self.insert_artifacts(std::slice::from_ref(a)).await?;
        Ok(inserted.contains(&a.event_id))
    }

    /// Commits events, derivations and the new offset atomically.
    pub async fn commit(self) -> Result<()> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// What a batch adds to one secret's summary.
struct SecretAdd<'a> {
    printable: Option<&'a str>,
    n: i64,
    /// New (secret, decky), (secret, principal) and (secret, attacker) pairs.
    distinct: [i64; 3],
    first: i64,
    last: i64,
    /// The secret's inline decky, principal and attacker (the pair tables
    /// hold its others): stored, or this batch's first for a new secret.
    /// `None` only for a summary written without them: then every value is
    /// a pair.
    firsts: [Option<String>; 3],
}

/// One bound value of a row.
enum Val<'a> {
    Int(i64),
    OptInt(Option<i64>),
    Text(Cow<'a, str>),
    OptText(Option<Cow<'a, str>>),
}

impl<'a> Val<'a> {
    fn str(s: &'a str) -> Val<'a> {
        Val::Text(Cow::Borrowed(s))
    }

    fn text(s: String) -> Val<'a> {
        Val::Text(Cow::Owned(s))
    }
}

/// A statement over many rows: `head`, then `VALUES` groups built from
/// `cols` (each `{}` becomes a placeholder), then `tail`.
struct Rows {
    head: &'static str,
    cols: &'static [&'static str],
    tail: &'static str,
}

/// Most placeholders in one statement: under SQLite's 32,766 and PostgreSQL's 65,535.
const MAX_BINDS: usize = 30_000;
/// Most rows in one statement, so a statement's text and its SQLite
/// transaction step stay small.
const MAX_ROWS: usize = 1024;

/// Row counts of successive statements for `n` rows of `cols` columns:
/// full chunks, then powers of two for the rest, so a handful of statement
/// texts serve every batch and stay in the driver's prepared-statement cache.
fn chunk_sizes(n: usize, cols: usize) -> impl Iterator<Item = usize> {
    let cap = pow2_floor(MAX_ROWS.min(MAX_BINDS / cols.max(1)).max(1));
    let mut left = n;
    std::iter::from_fn(move || {
        if left == 0 {
            return None;
        }
        let size = if left >= cap { cap } else { pow2_floor(left) };
        left -= size;
        Some(size)
    })
}

/// The largest power of two ≤ `n` (`n` ≥ 1).
fn pow2_floor(n: usize) -> usize {
    1 << (usize::BITS - 1 - n.max(1).leading_zeros())
}

/// The placeholder style: anonymous `?` on SQLite, bound by position;
/// `$N` on PostgreSQL. SQLite keeps the names of `$N` and `?N` parameters in
/// a list that binding searches once per parameter, which made a
/// thousand-row statement's binding quadratic (half of ingest's time).
fn placeholder(backend: Backend) -> char {
    match backend {
        Backend::Sqlite => '?',
        Backend::Postgres => '$',
    }
}

/// `head (…), (…) tail` for `rows` rows: `?` placeholders, or `$N` numbered from 1.
fn statement(stmt: &Rows, rows: usize, sigil: char) -> String {
    let mut text =
        String::with_capacity(stmt.head.len() + stmt.tail.len() + rows * 8 * stmt.cols.len());
    text.push_str(stmt.head);
    let mut n = 0usize;
    for r in 0..rows {
        text.push_str(if r == 0 { "(" } else { ", (" });
        for (c, col) in stmt.cols.iter().enumerate() {
            if c > 0 {
                text.push_str(", ");
            }
            n += 1;
            let p = if sigil == '?' {
                "?".to_owned()
            } else {
                format!("{sigil}{n}")
            };
            text.push_str(&col.replace("{}", &p));
        }
        text.push(')');
    }
    text.push_str(stmt.tail);
    text
}

/// Runs `stmt` over every row (in as few statements as the bind limits
/// allow) and returns the rows they produced.
async fn run_rows<'a>(
    conn: &mut AnyConnection,
    stmt: &Rows,
    sigil: char,
    rows: impl Iterator<Item = Vec<Val<'a>>>,
) -> Result<Vec<AnyRow>> {
    let rows: Vec<Vec<Val<'a>>> = rows.collect();
    let mut out = Vec::new();
    let mut rest = rows.as_slice();
    for size in chunk_sizes(rows.len(), stmt.cols.len()) {
        let (chunk, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        let text = statement(stmt, chunk.len(), sigil);
        let mut q = sqlx::query(&text);
        for v in chunk.iter().flatten() {
            q = match v {
                Val::Int(i) => q.bind(*i),
                Val::OptInt(i) => q.bind(*i),
                Val::Text(s) => q.bind(s.as_ref()),
                Val::OptText(s) => q.bind(s.as_deref()),
            };
        }
        out.extend(q.fetch_all(&mut *conn).await?);
    }
    Ok(out)
}

/// The UUIDs in column `col` of `rows`.
fn uuids(rows: &[AnyRow], col: &'static str) -> Result<HashSet<Uuid>> {
    rows.iter().map(|r| col_uuid(r, col)).collect()
}

const INSERT_EVENTS: Rows = Rows {
    head: "INSERT INTO events (id, ts, decky, service, event_type, src_ip, src_port, dst_ip, \
           dst_port, session_id, attacker_uuid, raw) VALUES ",
    cols: &["{}"; 12],
    tail: " ON CONFLICT (id) DO NOTHING RETURNING id",
};

/// Every attacker row of the given IPs (the caller keeps the most recent of each).
const ATTACKERS_BY_IP: Rows = Rows {
    head: "SELECT uuid, ip, first_seen, last_seen, event_count, deckies, services, \
           credential_count, session_count FROM attackers WHERE ip IN (",
    cols: &["{}"],
    tail: ")",
};

const SAVE_ATTACKERS: Rows = Rows {
    head: "INSERT INTO attackers (uuid, ip, first_seen, last_seen, event_count, deckies, \
           services, credential_count, session_count) VALUES ",
    cols: &["{}"; 9],
    tail: " ON CONFLICT (uuid) DO UPDATE SET ip = excluded.ip, \
           first_seen = excluded.first_seen, last_seen = excluded.last_seen, \
           event_count = excluded.event_count, deckies = excluded.deckies, \
           services = excluded.services, credential_count = excluded.credential_count, \
           session_count = excluded.session_count",
};

const ADD_TARGETS: Rows = Rows {
    head: "INSERT INTO attacker_targets (attacker_uuid, decky, service) VALUES ",
    cols: &["{}"; 3],
    tail: " ON CONFLICT (attacker_uuid, decky, service) DO NOTHING",
};

const SESSIONS_BY_SID: Rows = Rows {
    head: "SELECT sid, attacker_uuid, decky, service, src_ip, src_port, started_at, ended_at, \
           event_count, command_count, recording_sid, recording_shard, recording_bytes, \
           recording_duration_s, recording_truncated FROM sessions WHERE sid IN (",
    cols: &["{}"],
    tail: ")",
};

const SAVE_SESSIONS: Rows = Rows {
    head: "INSERT INTO sessions (sid, attacker_uuid, decky, service, src_ip, src_port, \
           started_at, ended_at, event_count, command_count, recording_shard, \
           recording_bytes, recording_duration_s, recording_truncated, recording_sid) VALUES ",
    cols: &[
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "{}",
        "CAST({} AS DOUBLE PRECISION)",
        "{}",
        "{}",
    ],
    tail: " ON CONFLICT (sid) DO UPDATE SET attacker_uuid = excluded.attacker_uuid, \
           decky = excluded.decky, service = excluded.service, src_ip = excluded.src_ip, \
           src_port = excluded.src_port, started_at = excluded.started_at, \
           ended_at = excluded.ended_at, event_count = excluded.event_count, \
           command_count = excluded.command_count, recording_shard = excluded.recording_shard, \
           recording_bytes = excluded.recording_bytes, \
           recording_duration_s = excluded.recording_duration_s, \
           recording_truncated = excluded.recording_truncated, \
           recording_sid = excluded.recording_sid",
};

/// Where each secret was seen: new (secret, kind, decky) pairs come back.
/// The pair tables' primary keys answer "seen on this decky / for this
/// principal before?" with no other index to choose, however lopsided the
/// credentials (one username, a million passwords; one password, a million
/// usernames).
const ADD_SECRET_DECKIES: Rows = Rows {
    head: "INSERT INTO credential_secret_deckies (secret_sha256, secret_kind, decky) VALUES ",
    cols: &["{}"; 3],
    tail: " ON CONFLICT (secret_sha256, secret_kind, decky) DO NOTHING \
           RETURNING secret_sha256, secret_kind",
};

/// Likewise per principal.
const ADD_SECRET_PRINCIPALS: Rows = Rows {
    head: "INSERT INTO credential_secret_principals (secret_sha256, secret_kind, principal) \
           VALUES ",
    cols: &["{}"; 3],
    tail: " ON CONFLICT (secret_sha256, secret_kind, principal) DO NOTHING \
           RETURNING secret_sha256, secret_kind",
};

/// Likewise per attacker.
const ADD_SECRET_ATTACKERS: Rows = Rows {
    head: "INSERT INTO credential_secret_attackers (secret_sha256, secret_kind, attacker_uuid) \
           VALUES ",
    cols: &["{}"; 3],
    tail: " ON CONFLICT (secret_sha256, secret_kind, attacker_uuid) DO NOTHING \
           RETURNING secret_sha256, secret_kind",
};

/// Adds a batch's credentials to each secret's summary; the summary comes
/// back as it now stands. Each secret occurs once per statement.
const ADD_SECRETS: Rows = Rows {
    head: "INSERT INTO credential_secrets (secret_sha256, secret_kind, secret_printable, n, \
           n_deckies, n_principals, n_attackers, first_seen, last_seen, first_decky, \
           first_principal, first_attacker) VALUES ",
    cols: &["{}"; 12],
    tail: " ON CONFLICT (secret_sha256, secret_kind) DO UPDATE SET \
           secret_printable = COALESCE(credential_secrets.secret_printable, \
           excluded.secret_printable), \
           n = credential_secrets.n + excluded.n, \
           n_deckies = credential_secrets.n_deckies + excluded.n_deckies, \
           n_principals = credential_secrets.n_principals + excluded.n_principals, \
           n_attackers = credential_secrets.n_attackers + excluded.n_attackers, \
           first_seen = CASE WHEN excluded.first_seen < credential_secrets.first_seen \
           THEN excluded.first_seen ELSE credential_secrets.first_seen END, \
           last_seen = CASE WHEN excluded.last_seen > credential_secrets.last_seen \
           THEN excluded.last_seen ELSE credential_secrets.last_seen END \
           RETURNING secret_sha256, secret_kind, secret_printable, n, n_deckies, \
           n_principals, n_attackers, first_seen, last_seen",
};

/// The inline values of the batch's secrets already stored, by hash (the
/// primary key's first column; the kind is matched in memory).
const SECRET_FIRSTS: Rows = Rows {
    head: "SELECT secret_sha256, secret_kind, first_decky, first_principal, first_attacker \
           FROM credential_secrets WHERE secret_sha256 IN (",
    cols: &["{}"],
    tail: ")",
};

/// Was this secret seen on this decky before?
const SECRET_ON_DECKY: &str = "SELECT 1 FROM credential_secrets \
     WHERE secret_sha256 = $1 AND secret_kind = $2 AND first_decky = $3 \
     UNION ALL SELECT 1 FROM credential_secret_deckies \
     WHERE secret_sha256 = $1 AND secret_kind = $2 AND decky = $3";
/// Was this secret seen for this principal before?
const SECRET_FOR_PRINCIPAL: &str = "SELECT 1 FROM credential_secrets \
     WHERE secret_sha256 = $1 AND secret_kind = $2 AND first_principal = $3 \
     UNION ALL SELECT 1 FROM credential_secret_principals \
     WHERE secret_sha256 = $1 AND secret_kind = $2 AND principal = $3";

const INSERT_CREDENTIALS: Rows = Rows {
    head: "INSERT INTO credentials (event_id, ts, attacker_uuid, src_ip, decky, service, \
           session_id, principal, secret_printable, secret_b64, secret_kind, realm, \
           secret_sha256, outcome) VALUES ",
    cols: &["{}"; 14],
    tail: " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
};

const INSERT_ARTIFACTS: Rows = Rows {
    head: "INSERT INTO artifacts (event_id, ts, kind, name, sha256, size, decky, service, \
           attacker_uuid, session_id) VALUES ",
    cols: &["{}"; 10],
    tail: " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
};

#[cfg(test)]
mod plan_tests {
    use super::*;

    /// Every multi-row statement ingest runs per batch, for three rows.
    fn per_batch_statements() -> Vec<(&'static str, String)> {
        [
            ("insert events", &INSERT_EVENTS),
            ("attackers by ip", &ATTACKERS_BY_IP),
            ("save attackers", &SAVE_ATTACKERS),
            ("add targets", &ADD_TARGETS),
            ("sessions by sid", &SESSIONS_BY_SID),
            ("save sessions", &SAVE_SESSIONS),
            ("insert credentials", &INSERT_CREDENTIALS),
            ("secret inline values", &SECRET_FIRSTS),
            ("secret seen on decky", &ADD_SECRET_DECKIES),
            ("secret seen for principal", &ADD_SECRET_PRINCIPALS),
            ("secret seen by attacker", &ADD_SECRET_ATTACKERS),
            ("secret summaries", &ADD_SECRETS),
            ("insert artifacts", &INSERT_ARTIFACTS),
        ]
        .into_iter()
        .map(|(name, stmt)| (name, statement(stmt, 3, '?')))
        .chain([
            ("secret on decky", SECRET_ON_DECKY.to_owned()),
            ("secret for principal", SECRET_FOR_PRINCIPAL.to_owned()),
            ("reuse samples", crate::reuse::samples_sql(3)),
        ])
        .collect()
    }

    /// The lookups, with what each must search by.
    fn lookups(sigil: char) -> [(&'static str, String, &'static str, &'static str); 5] {
        [
            (
                "secret inline values",
                statement(&SECRET_FIRSTS, 3, sigil),
                "credential_secrets_pkey",
                "PRIMARY KEY (secret_sha256=?)",
            ),
            (
                "attackers by ip",
                statement(&ATTACKERS_BY_IP, 3, sigil),
                "attackers_ip",
                "attackers_ip (ip=?)",
            ),
            (
                "sessions by sid",
                statement(&SESSIONS_BY_SID, 3, sigil),
                "sessions_pkey",
                "sqlite_autoindex_sessions_1 (sid=?)",
            ),
            (
                "secret on decky",
                SECRET_ON_DECKY.to_owned(),
                "credential_secret_deckies_pkey",
                "PRIMARY KEY (secret_sha256=? AND secret_kind=? AND decky=?)",
            ),
            (
                "secret for principal",
                SECRET_FOR_PRINCIPAL.to_owned(),
                "credential_secret_principals_pkey",
                "PRIMARY KEY (secret_sha256=? AND secret_kind=? AND principal=?)",
            ),
        ]
    }

    /// `EXPLAIN QUERY PLAN` of `sql` with every placeholder bound to text (one line per step).
    async fn sqlite_plan(store: &crate::Store, sql: &str) -> String {
        let binds = sql.matches(['$', '?']).count();
        let text = format!("EXPLAIN QUERY PLAN {sql}");
        let mut q = sqlx::query(&text);
        for i in 0..binds {
            q = q.bind(format!("v{i}"));
        }
        let rows = q.fetch_all(store.pool()).await.unwrap();
        rows.iter()
            .map(|r| r.try_get::<String, _>("detail").unwrap())
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A line of `plan` that reads a whole table (reading back a subquery's
    /// own bounded result, a co-routine, is not one).
    fn sqlite_scan(plan: &str) -> Option<&str> {
        plan.lines().find(|l| {
            let l = l.trim_start();
            let coroutine = l
                .strip_prefix("SCAN ")
                .is_some_and(|name| plan.contains(&format!("CO-ROUTINE {name}\n")));
            l.starts_with("SCAN ")
                && !l.starts_with("SCAN 3-ROW VALUES")
                && !l.contains("CONSTANT ROW")
                && !coroutine
        })
    }

    #[test]
    fn statements_come_in_a_few_sizes_under_the_bind_limit() {
        let sizes: Vec<usize> = chunk_sizes(3_000, 12).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 3_000);
        assert!(sizes
            .iter()
            .all(|s| s.is_power_of_two() && s * 12 <= MAX_BINDS));
        assert_eq!(chunk_sizes(0, 3).count(), 0);
        assert_eq!(chunk_sizes(7, 3).collect::<Vec<_>>(), [4, 2, 1]);
        assert_eq!(
            statement(&SAVE_SESSIONS, 2, '$').matches("CAST($").count(),
            2,
            "the cast applies per row"
        );
        assert!(statement(&ADD_TARGETS, 2, '$').contains("($1, $2, $3), ($4, $5, $6)"));
        assert!(statement(&ADD_TARGETS, 2, '?').contains("(?, ?, ?), (?, ?, ?)"));
    }

    /// What attacks leave behind: a brute force (one username, every
    /// password new) and a spray (one password, every username new), from a
    /// few hundred sources, each login in its own session.
    async fn load_attacks(store: &crate::Store, n: usize) {
        let mut tx = store
            .begin_ingest(
                "plan",
                None,
                JournalPos {
                    segment: 1,
                    offset: 1,
                },
            )
            .await
            .unwrap();
        for chunk in 0..n / 1000 {
            let (mut events, mut creds, mut attackers, mut sessions) =
                (vec![], vec![], vec![], vec![]);
            for i in chunk * 1000..(chunk + 1) * 1000 {
                let ip = format!("198.18.{}.{}", i % 300 / 250, i % 250);
                // Each brute-force password on five deckies, so every pair
                // table holds thousands of rows besides the inline values.
                let (user, sha) = if i % 2 == 0 {
                    ("admin".to_owned(), format!("{:064x}", i / 10))
                } else {
                    (format!("user{i}"), "5".repeat(64))
                };
                let mut e = crate::testing::login(0, &format!("d{}", i % 5), &ip, &user, "x");
                e.session_id = Some(Uuid::now_v7());
                let a = crate::Attacker {
                    uuid: Uuid::now_v7(),
                    ip: ip.clone(),
                    first_seen: e.ts,
                    last_seen: e.ts,
                    event_count: 1,
                    deckies: vec![],
                    services: vec![],
                    credential_count: 1,
                    session_count: 1,
                };
                creds.push(CredentialRecord {
                    event_id: e.id,
                    ts: e.ts,
                    attacker_uuid: a.uuid,
                    src_ip: ip.clone(),
                    decky: e.decky.clone(),
                    service: e.service.clone(),
                    session_id: e.session_id,
                    principal: user,
                    secret_printable: None,
                    secret_b64: String::new(),
                    secret_kind: "password".into(),
                    realm: None,
                    secret_sha256: sha,
                    outcome: "failure".into(),
                });
                sessions.push(SessionRecord {
                    sid: e.session_id.unwrap(),
                    attacker_uuid: a.uuid,
                    decky: e.decky.clone(),
                    service: e.service.clone(),
                    src_ip: ip,
                    src_port: 1,
                    started_at: e.ts,
                    ended_at: None,
                    event_count: 1,
                    command_count: 0,
                    recording_sid: None,
                    recording_shard: None,
                    recording_bytes: None,
                    recording_duration_s: None,
                    recording_truncated: None,
                });
                attackers.push(a);
                events.push(e);
            }
            let rows: Vec<_> = events
                .iter()
                .zip(&attackers)
                .map(|(e, a)| (e, a.uuid))
                .collect();
            tx.insert_events(&rows).await.unwrap();
            tx.insert_credentials(&creds).await.unwrap();
            tx.save_attackers(&attackers.iter().collect::<Vec<_>>())
                .await
                .unwrap();
            tx.save_sessions(&sessions.iter().collect::<Vec<_>>())
                .await
                .unwrap();
        }
        tx.commit().await.unwrap();
    }

    /// A brute force against one username must not make each new password
    /// search every credential of that username, nor a spray each new username
    /// every credential of that password: nothing ingest runs per batch scans
    /// a table, and each lookup is one probe of the index it names.
    #[tokio::test]
    async fn per_batch_queries_are_index_lookups_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open_data_dir(dir.path()).await.unwrap();
        for (name, sql) in per_batch_statements() {
            let p = sqlite_plan(&store, &sql).await;
            assert_eq!(sqlite_scan(&p), None, "{name} scans: {p}");
        }
        // And with rows loaded and analysed, so statistics cannot move a plan.
        load_attacks(&store, 4_000).await;
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
        for (name, sql, _, index) in lookups('?') {
            let p = sqlite_plan(&store, &sql).await;
            assert_eq!(sqlite_scan(&p), None, "{name} scans: {p}");
            assert!(p.contains(index), "{name} should search {index}: {p}");
            assert!(!p.contains("credentials_principal"), "{name}: {p}");
        }
        store.close().await;
    }

    /// The reuse list, first page and after a cursor, and a group's samples
    /// (read per page, and per batch for notifications): walks of the partial
    /// index of reused secrets and prefix scans of the pair tables' primary
    /// keys, in index order (no sort), never the credentials.
    #[tokio::test]
    async fn reuse_reads_are_index_walks_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open_data_dir(dir.path()).await.unwrap();
        load_attacks(&store, 4_000).await;
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
        let first = sqlite_plan(&store, &crate::reuse::list_sql(false)).await;
        assert_eq!(
            first.trim(),
            "SCAN credential_secrets USING INDEX credential_secrets_reused",
            "the first page walks the reused secrets' index from its start"
        );
        let after = sqlite_plan(&store, &crate::reuse::list_sql(true)).await;
        assert_eq!(
            after.trim(),
            "SEARCH credential_secrets USING INDEX credential_secrets_reused \
             ((n,secret_kind,secret_sha256)<(?,?,?))",
            "a later page seeks its cursor"
        );
        let samples = sqlite_plan(&store, &crate::reuse::samples_sql(2)).await;
        assert_eq!(sqlite_scan(&samples), None, "{samples}");
        assert!(!samples.contains("TEMP B-TREE"), "{samples}");
        for table in [
            "credential_secret_deckies",
            "credential_secret_principals",
            "credential_secret_attackers",
        ] {
            assert_eq!(
                samples
                    .matches(&format!(
                        "SEARCH {table} USING PRIMARY KEY (secret_sha256=? AND secret_kind=?)"
                    ))
                    .count(),
                2,
                "{samples}"
            );
        }
        store.close().await;
    }

    /// The same on PostgreSQL, over 20,000 analysed attack rows.
    #[tokio::test]
    async fn reuse_reads_are_index_walks_on_postgres() {
        let Some(base) = crate::testing::postgres_url() else {
            return;
        };
        let schema = crate::scratch::PgSchema::create(&base).await.unwrap();
        let store = crate::Store::connect(&schema.url()).await.unwrap();
        load_attacks(&store, 20_000).await;
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
        let plan = |sql: String, binds: Vec<Val<'static>>| {
            let store = store.clone();
            async move {
                let text = format!("EXPLAIN {sql}");
                let mut q = sqlx::query(&text);
                for v in &binds {
                    q = match v {
                        Val::Int(i) => q.bind(*i),
                        Val::Text(s) => q.bind(s.to_string()),
                        _ => unreachable!(),
                    };
                }
                let rows = q.fetch_all(store.pool()).await.unwrap();
                rows.iter()
                    .map(|r| r.try_get::<String, _>(0).unwrap())
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        };
        let first = plan(crate::reuse::list_sql(false), vec![Val::Int(51)]).await;
        let after = plan(
            crate::reuse::list_sql(true),
            vec![
                Val::Int(5),
                Val::text("password".into()),
                Val::text("5".repeat(64)),
                Val::Int(51),
            ],
        )
        .await;
        for p in [&first, &after] {
            assert!(p.contains("credential_secrets_reused"), "{p}");
            assert!(!p.contains("Seq Scan") && !p.contains("Sort"), "{p}");
        }
        let mut binds = vec![];
        for _ in 0..2 {
            binds.push(Val::text("5".repeat(64)));
            binds.push(Val::text("password".into()));
        }
        let samples = plan(crate::reuse::samples_sql(2), binds).await;
        assert!(
            !samples.contains("Seq Scan") && !samples.contains("Sort"),
            "{samples}"
        );
        for index in [
            "credential_secret_deckies_pkey",
            "credential_secret_principals_pkey",
            "credential_secret_attackers_pkey",
        ] {
            assert_eq!(samples.matches(index).count(), 2, "{samples}");
        }
        store.close().await;
        schema.drop_schema().await.unwrap();
    }

    /// The same on PostgreSQL, whose planner may prefer a sequential scan or
    /// another index on a near-empty table: 20,000 attack rows are loaded and
    /// analysed first.
    #[tokio::test]
    async fn per_batch_queries_are_index_lookups_on_postgres() {
        let Some(base) = crate::testing::postgres_url() else {
            return;
        };
        let schema = crate::scratch::PgSchema::create(&base).await.unwrap();
        let store = crate::Store::connect(&schema.url()).await.unwrap();
        load_attacks(&store, 20_000).await;
        sqlx::query("ANALYZE").execute(store.pool()).await.unwrap();
        for (name, sql, index, _) in lookups('$') {
            let text = format!("EXPLAIN {sql}");
            let mut q = sqlx::query(&text);
            let keys: &[&str] = match name {
                "attackers by ip" => &["198.18.0.1", "198.18.0.2", "198.18.1.3"],
                "sessions by sid" => &["a", "b", "c"],
                "secret on decky" => &["5555", "password", "d1"],
                "secret inline values" => &["5555", "0", "1"],
                _ => &["5555", "password", "admin"],
            };
            for k in keys {
                q = q.bind(*k);
            }
            let rows = q.fetch_all(store.pool()).await.unwrap();
            let p = rows
                .iter()
                .map(|r| r.try_get::<String, _>(0).unwrap())
                .collect::<Vec<_>>()
                .join("\n");
            assert!(!p.contains("Seq Scan"), "{name}: {p}");
            assert!(!p.contains("credentials_principal"), "{name}: {p}");
            assert!(p.contains(index), "{name} should search {index}: {p}");
        }
        store.close().await;
        schema.drop_schema().await.unwrap();
    }
}
