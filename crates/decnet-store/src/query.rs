//! The read side: filtered, keyset-paginated lists and aggregates for the API.

use chrono::{DateTime, Utc};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};
use uuid::Uuid;

use crate::counters::{minute_of, Dim, MINUTE_US};
use crate::sql::{
    check_limit, col_list, col_opt_ts, col_opt_uuid, col_ts, col_u16, col_u64, col_uuid,
    decode_cursor, encode_cursor, from_micros, like_contains, micros, Arg, Sql, Where,
};
use crate::{
    ArtifactRecord, Attacker, AttackerFilter, AttackerSort, Bucket, Count, CredentialFilter,
    CredentialRecord, EventFilter, Page, PageRequest, Result, ReuseGroup, SessionRecord, Stats,
    Store, StoreError, StoredEvent,
};

pub(crate) const EVENT_COLS: &str = "id, ts, decky, service, event_type, src_ip, src_port, \
     dst_ip, dst_port, session_id, attacker_uuid, raw";
pub(crate) const ATTACKER_COLS: &str = "uuid, ip, first_seen, last_seen, event_count, deckies, \
     services, credential_count, session_count";
pub(crate) const SESSION_COLS: &str = "sid, attacker_uuid, decky, service, src_ip, src_port, \
     started_at, ended_at, event_count, command_count, recording_sid, recording_shard, \
     recording_bytes, \
     recording_duration_s, recording_truncated";
const CREDENTIAL_COLS: &str = "event_id, ts, attacker_uuid, src_ip, decky, service, session_id, \
     principal, secret_printable, secret_b64, secret_kind, realm, secret_sha256, outcome";
const ARTIFACT_COLS: &str =
    "event_id, ts, kind, name, sha256, size, decky, service, attacker_uuid, session_id";

/// Longest histogram accepted, in buckets.
pub const MAX_BUCKETS: i64 = 10_000;

pub(crate) fn event_from_row(r: &AnyRow) -> Result<StoredEvent> {
    Ok(StoredEvent {
        id: col_uuid(r, "id")?,
        ts: col_ts(r, "ts")?,
        decky: r.try_get("decky")?,
        service: r.try_get("service")?,
        event_type: r.try_get("event_type")?,
        src_ip: r.try_get("src_ip")?,
        src_port: col_u16(r, "src_port")?,
        dst_ip: r.try_get("dst_ip")?,
        dst_port: col_u16(r, "dst_port")?,
        session_id: col_opt_uuid(r, "session_id")?,
        attacker_uuid: col_uuid(r, "attacker_uuid")?,
        raw: r.try_get("raw")?,
    })
}

pub(crate) fn attacker_from_row(r: &AnyRow) -> Result<Attacker> {
    Ok(Attacker {
        uuid: col_uuid(r, "uuid")?,
        ip: r.try_get("ip")?,
        first_seen: col_ts(r, "first_seen")?,
        last_seen: col_ts(r, "last_seen")?,
        event_count: col_u64(r, "event_count")?,
        deckies: col_list(r, "deckies")?,
        services: col_list(r, "services")?,
        credential_count: col_u64(r, "credential_count")?,
        session_count: col_u64(r, "session_count")?,
    })
}

pub(crate) fn session_from_row(r: &AnyRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        sid: col_uuid(r, "sid")?,
        attacker_uuid: col_uuid(r, "attacker_uuid")?,
        decky: r.try_get("decky")?,
        service: r.try_get("service")?,
        src_ip: r.try_get("src_ip")?,
        src_port: col_u16(r, "src_port")?,
        started_at: col_ts(r, "started_at")?,
        ended_at: col_opt_ts(r, "ended_at")?,
        event_count: col_u64(r, "event_count")?,
        command_count: col_u64(r, "command_count")?,
        recording_sid: col_opt_uuid(r, "recording_sid")?,
        recording_shard: r.try_get("recording_shard")?,
        recording_bytes: r
            .try_get::<Option<i64>, _>("recording_bytes")?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        recording_duration_s: r.try_get("recording_duration_s")?,
        recording_truncated: r
            .try_get::<Option<i64>, _>("recording_truncated")?
            .map(|v| v != 0),
    })
}

fn credential_from_row(r: &AnyRow) -> Result<CredentialRecord> {
    Ok(CredentialRecord {
        event_id: col_uuid(r, "event_id")?,
        ts: col_ts(r, "ts")?,
        attacker_uuid: col_uuid(r, "attacker_uuid")?,
        src_ip: r.try_get("src_ip")?,
        decky: r.try_get("decky")?,
        service: r.try_get("service")?,
        session_id: col_opt_uuid(r, "session_id")?,
        principal: r.try_get("principal")?,
        secret_printable: r.try_get("secret_printable")?,
        secret_b64: r.try_get("secret_b64")?,
        secret_kind: r.try_get("secret_kind")?,
        realm: r.try_get("realm")?,
        secret_sha256: r.try_get("secret_sha256")?,
        outcome: r.try_get("outcome")?,
    })
}

fn artifact_from_row(r: &AnyRow) -> Result<ArtifactRecord> {
    Ok(ArtifactRecord {
        event_id: col_uuid(r, "event_id")?,
        ts: col_ts(r, "ts")?,
        kind: r.try_get("kind")?,
        name: r.try_get("name")?,
        sha256: r.try_get("sha256")?,
        size: r
            .try_get::<Option<i64>, _>("size")?
            .map(|v| u64::try_from(v).unwrap_or(0)),
        decky: r.try_get("decky")?,
        service: r.try_get("service")?,
        attacker_uuid: col_uuid(r, "attacker_uuid")?,
        session_id: col_opt_uuid(r, "session_id")?,
    })
}

fn text(s: &str) -> Arg {
    Arg::Text(s.to_owned())
}

/// Adds the event filter's conditions (columns unqualified, table `events`).
fn event_where(f: &EventFilter, sql: &mut Sql, w: &mut Where) -> Result<()> {
    for (col, v) in [
        ("decky", &f.decky),
        ("service", &f.service),
        ("event_type", &f.event_type),
        ("src_ip", &f.attacker_ip),
    ] {
        if let Some(v) = v {
            w.and(format!("{col} = {}", sql.arg(text(v))));
        }
    }
    if let Some(u) = f.attacker_uuid {
        w.and(format!("attacker_uuid = {}", sql.arg(text(&u.to_string()))));
    }
    if let Some(u) = f.session_id {
        w.and(format!("session_id = {}", sql.arg(text(&u.to_string()))));
    }
    if let Some(s) = f.search.as_deref().filter(|s| !s.is_empty()) {
        let pat = like_contains(s)?;
        w.and(format!(
            "LOWER(raw) LIKE {} ESCAPE '\\'",
            sql.arg(Arg::Text(pat))
        ));
    }
    if let Some(t) = f.start {
        w.and(format!("ts >= {}", sql.arg(Arg::I64(micros(t)))));
    }
    if let Some(t) = f.end {
        w.and(format!("ts < {}", sql.arg(Arg::I64(micros(t)))));
    }
    Ok(())
}

/// True when `f` narrows by time only (what the per-minute counters can answer).
fn only_time(f: &EventFilter) -> bool {
    f.decky.is_none()
        && f.service.is_none()
        && f.event_type.is_none()
        && f.attacker_ip.is_none()
        && f.attacker_uuid.is_none()
        && f.session_id.is_none()
        && f.search.as_deref().is_none_or(str::is_empty)
}

/// Adds `(key, tie) < cursor` for a descending keyset page. As a row value
/// both backends seek the (…, key, tie) index to the cursor; the equivalent
/// `key < k OR (key = k AND tie < t)` made SQLite walk every row sharing a
/// key (all attackers with 10 events) from the top of the index.
fn keyset(page: &PageRequest, key: &str, tie: &str, sql: &mut Sql, w: &mut Where) -> Result<i64> {
    let limit = check_limit(page.limit)?;
    if let Some(c) = page.cursor.as_deref() {
        let (k, t) = decode_cursor(c)?;
        let pk = sql.arg(Arg::I64(k));
        let pt = sql.arg(Arg::Text(t));
        w.and(format!("({key}, {tie}) < ({pk}, {pt})"));
    }
    Ok(limit)
}

/// A table's rows of one attacker, newest first by (`key`, `tie`).
struct ByAttacker {
    table: &'static str,
    cols: &'static str,
    key: &'static str,
    tie: &'static str,
}

impl ByAttacker {
    async fn page<T>(
        &self,
        store: &Store,
        uuid: Uuid,
        page: &PageRequest,
        decode: fn(&AnyRow) -> Result<T>,
        cursor_of: fn(&T) -> (i64, String),
    ) -> Result<Page<T>> {
        let mut sql = Sql::new("");
        let mut w = Where::default();
        w.and(format!(
            "attacker_uuid = {}",
            sql.arg(text(&uuid.to_string()))
        ));
        let limit = keyset(page, self.key, self.tie, &mut sql, &mut w)?;
        sql.text = format!(
            "SELECT {} FROM {}{}{}",
            self.cols,
            self.table,
            w.render(),
            sql.text
        );
        let order = format!("{} DESC, {} DESC", self.key, self.tie);
        page_of(store, sql, &order, limit, decode, cursor_of).await
    }
}

/// Runs a keyset page query (`sql` is complete but for ORDER/LIMIT) and
/// builds the page; `cursor_of` gives each row's (key, tie).
async fn page_of<T>(
    store: &Store,
    mut sql: Sql,
    order: &str,
    limit: i64,
    decode: fn(&AnyRow) -> Result<T>,
    cursor_of: fn(&T) -> (i64, String),
) -> Result<Page<T>> {
    sql.push(&format!(" ORDER BY {order} LIMIT "))
        .bind(Arg::I64(limit + 1));
    let rows = sql.query().fetch_all(&store.pool).await?;
    let mut items = rows.iter().map(decode).collect::<Result<Vec<T>>>()?;
    let next_cursor = if items.len() as i64 > limit {
        items.truncate(usize::try_from(limit).unwrap_or(0));
        items.last().map(|t| {
            let (k, tie) = cursor_of(t);
            encode_cursor(k, &tie)
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Where every ingest consumer stood at one moment: each consumer's journal
/// offset and when it last moved. Every ingest commit moves its consumer's
/// offset in the same transaction as its events (and only ingest writes
/// events), so two equal generations read at two moments mean no event was
/// committed in between: what was read from `events` at the first still holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IngestGeneration(Vec<(String, i64, i64, i64)>);

/// Reads the ingest generation on `conn`.
pub(crate) async fn ingest_generation_on(conn: &mut AnyConnection) -> Result<IngestGeneration> {
    let rows: Vec<(String, i64, i64, i64)> = sqlx::query_as(
        "SELECT consumer, segment, byte_offset, updated_at FROM ingest_offsets ORDER BY consumer",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(IngestGeneration(rows))
}

impl Store {
    /// Events matching `f`, newest first by (ts, id).
    pub async fn list_events(
        &self,
        f: &EventFilter,
        page: &PageRequest,
    ) -> Result<Page<StoredEvent>> {
        let mut sql = Sql::new("");
        let mut w = Where::default();
        event_where(f, &mut sql, &mut w)?;
        let limit = keyset(page, "ts", "id", &mut sql, &mut w)?;
        sql.text = format!("SELECT {EVENT_COLS} FROM events{}{}", w.render(), sql.text);
        page_of(self, sql, "ts DESC, id DESC", limit, event_from_row, |e| {
            (micros(e.ts), e.id.to_string())
        })
        .await
    }

    /// The current [`IngestGeneration`].
    pub async fn ingest_generation(&self) -> Result<IngestGeneration> {
        let mut conn = self.pool.acquire().await?;
        ingest_generation_on(&mut conn).await
    }

    /// One event by id.
    pub async fn event(&self, id: Uuid) -> Result<Option<StoredEvent>> {
        let sql = format!("SELECT {EVENT_COLS} FROM events WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(event_from_row).transpose()
    }

    /// Events per `bucket_secs` over `[start, end)`, matching `f` (its own
    /// start/end are ignored); every bucket is present, empty ones with 0.
    pub async fn histogram(
        &self,
        f: &EventFilter,
        bucket_secs: u32,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Vec<Bucket>> {
        if bucket_secs == 0 {
            return Err(StoreError::Invalid {
                field: "bucket",
                reason: "must be at least 1 second".into(),
            });
        }
        let (s, e) = (micros(start), micros(end));
        let width = i64::from(bucket_secs) * 1_000_000;
        let n = if e > s {
            (e - s + width - 1) / width
        } else {
            0
        };
        if n > MAX_BUCKETS {
            return Err(StoreError::Invalid {
                field: "bucket",
                reason: format!("range would need {n} buckets; at most {MAX_BUCKETS}"),
            });
        }
        let f = EventFilter {
            start: Some(start),
            end: Some(end),
            ..f.clone()
        };
        let mut out: Vec<Bucket> = (0..n)
            .map(|i| Bucket {
                start: from_micros(s + i * width),
                count: 0,
            })
            .collect();
        if only_time(&f) {
            self.histogram_from_minutes(s, e, width, &mut out).await?;
            return Ok(out);
        }
        let mut sql = Sql::new("");
        let mut w = Where::default();
        event_where(&f, &mut sql, &mut w)?;
        let ps = sql.arg(Arg::I64(s));
        let pw = sql.arg(Arg::I64(width));
        sql.text = format!(
            "SELECT (ts - {ps}) / {pw} AS b, COUNT(*) AS n FROM events{} GROUP BY (ts - {ps}) / {pw}",
            w.render()
        );
        let rows = sql.query().fetch_all(&self.pool).await?;
        for r in rows {
            let b: i64 = r.try_get("b")?;
            let c: i64 = r.try_get("n")?;
            if let Some(slot) = usize::try_from(b).ok().and_then(|i| out.get_mut(i)) {
                slot.count = u64::try_from(c).unwrap_or(0);
            }
        }
        Ok(out)
    }

    /// The unfiltered histogram over `[s, e)` from the per-minute counters: a
    /// minute wholly inside one bucket adds its count; only the events of a
    /// minute cut by a bucket boundary (or by `s`, `e`) are counted one by one.
    async fn histogram_from_minutes(
        &self,
        s: i64,
        e: i64,
        width: i64,
        out: &mut [Bucket],
    ) -> Result<()> {
        if e <= s {
            return Ok(());
        }
        let mut conn = self.pool.acquire().await?;
        if s.rem_euclid(MINUTE_US) == 0 && e.rem_euclid(MINUTE_US) == 0 && width % MINUTE_US == 0 {
            // No minute is cut: the counters alone, summed per bucket by the
            // database, so an hourly day is 24 rows, not 1,440.
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT (minute * 60000000 - $1) / $2 AS b, CAST(SUM(n) AS BIGINT) FROM event_minutes \
                 WHERE minute >= $3 AND minute < $4 GROUP BY (minute * 60000000 - $1) / $2",
            )
            .bind(s)
            .bind(width)
            .bind(minute_of(s))
            .bind(minute_of(e))
            .fetch_all(&mut *conn)
            .await?;
            for (b, n) in rows {
                if let Some(slot) = usize::try_from(b).ok().and_then(|i| out.get_mut(i)) {
                    slot.count += u64::try_from(n).unwrap_or(0);
                }
            }
            return Ok(());
        }
        let minutes: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT minute, n FROM event_minutes WHERE minute >= $1 AND minute <= $2",
        )
        .bind(minute_of(s))
        .bind(minute_of(e - 1))
        .fetch_all(&mut *conn)
        .await?;
        let mut add = |b: i64, n: i64| {
            if let Some(slot) = usize::try_from(b).ok().and_then(|i| out.get_mut(i)) {
                slot.count += u64::try_from(n).unwrap_or(0);
            }
        };
        let mut cut = Vec::new();
        for (m, n) in minutes {
            let (m_lo, m_hi) = (m * MINUTE_US, (m + 1) * MINUTE_US);
            let (lo, hi) = (m_lo.max(s), m_hi.min(e));
            let b = (lo - s) / width;
            if lo == m_lo && hi == m_hi && (hi - 1 - s) / width == b {
                add(b, n);
            } else {
                cut.push((lo, hi));
            }
        }
        for chunk in cut.chunks(200) {
            let mut sql = Sql::new("");
            let ps = sql.arg(Arg::I64(s));
            let pw = sql.arg(Arg::I64(width));
            let ranges: Vec<String> = chunk
                .iter()
                .map(|(lo, hi)| {
                    let lo = sql.arg(Arg::I64(*lo));
                    let hi = sql.arg(Arg::I64(*hi));
                    format!("(ts >= {lo} AND ts < {hi})")
                })
                .collect();
            sql.text = format!(
                "SELECT (ts - {ps}) / {pw} AS b, COUNT(*) AS n FROM events WHERE {} \
                 GROUP BY (ts - {ps}) / {pw}",
                ranges.join(" OR ")
            );
            for r in sql.query().fetch_all(&mut *conn).await? {
                add(r.try_get("b")?, r.try_get("n")?);
            }
        }
        Ok(())
    }

    /// Attackers matching `f`, in `sort` order (descending), paginated.
    pub async fn list_attackers(
        &self,
        f: &AttackerFilter,
        sort: AttackerSort,
        page: &PageRequest,
    ) -> Result<Page<Attacker>> {
        let mut sql = Sql::new("");
        let mut w = Where::default();
        if let Some(ip) = &f.ip {
            w.and(format!("ip = {}", sql.arg(text(ip))));
        }
        // Per attacker row, in the sort's index order, one primary-key probe:
        // a page stops after `limit` matches, where `uuid IN (…)` collected
        // and sorted every attacker of the decky first.
        if let Some(d) = &f.decky {
            w.and(format!(
                "EXISTS (SELECT 1 FROM attacker_targets t WHERE t.attacker_uuid = attackers.uuid \
                 AND t.decky = {})",
                sql.arg(text(d))
            ));
        }
        if let Some(s) = &f.service {
            w.and(format!(
                "EXISTS (SELECT 1 FROM attacker_targets t WHERE t.attacker_uuid = attackers.uuid \
                 AND t.service = {})",
                sql.arg(text(s))
            ));
        }
        let key = match sort {
            AttackerSort::LastSeen => "last_seen",
            AttackerSort::FirstSeen => "first_seen",
            AttackerSort::EventCount => "event_count",
        };
        let limit = keyset(page, key, "uuid", &mut sql, &mut w)?;
        sql.text = format!(
            "SELECT {ATTACKER_COLS} FROM attackers{}{}",
            w.render(),
            sql.text
        );
        let cursor_of: fn(&Attacker) -> (i64, String) = match sort {
            AttackerSort::LastSeen => |a| (micros(a.last_seen), a.uuid.to_string()),
            AttackerSort::FirstSeen => |a| (micros(a.first_seen), a.uuid.to_string()),
            AttackerSort::EventCount => |a| {
                (
                    i64::try_from(a.event_count).unwrap_or(i64::MAX),
                    a.uuid.to_string(),
                )
            },
        };
        let order = format!("{key} DESC, uuid DESC");
        page_of(self, sql, &order, limit, attacker_from_row, cursor_of).await
    }

    /// One attacker.
    pub async fn attacker(&self, uuid: Uuid) -> Result<Option<Attacker>> {
        let sql = format!("SELECT {ATTACKER_COLS} FROM attackers WHERE uuid = $1");
        let row = sqlx::query(&sql)
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(attacker_from_row).transpose()
    }

    /// Credentials matching `f`, newest first.
    pub async fn list_credentials(
        &self,
        f: &CredentialFilter,
        page: &PageRequest,
    ) -> Result<Page<CredentialRecord>> {
        let mut sql = Sql::new("");
        let mut w = Where::default();
        for (col, v) in [
            ("principal", &f.principal),
            ("secret_kind", &f.secret_kind),
            ("decky", &f.decky),
            ("service", &f.service),
        ] {
            if let Some(v) = v {
                w.and(format!("{col} = {}", sql.arg(text(v))));
            }
        }
        if let Some(u) = f.attacker_uuid {
            w.and(format!("attacker_uuid = {}", sql.arg(text(&u.to_string()))));
        }
        let limit = keyset(page, "ts", "event_id", &mut sql, &mut w)?;
        sql.text = format!(
            "SELECT {CREDENTIAL_COLS} FROM credentials{}{}",
            w.render(),
            sql.text
        );
        page_of(
            self,
            sql,
            "ts DESC, event_id DESC",
            limit,
            credential_from_row,
            |c| (micros(c.ts), c.event_id.to_string()),
        )
        .await
    }

    /// Credentials an attacker offered, newest first.
    pub async fn attacker_credentials(
        &self,
        uuid: Uuid,
        page: &PageRequest,
    ) -> Result<Page<CredentialRecord>> {
        let f = CredentialFilter {
            attacker_uuid: Some(uuid),
            ..Default::default()
        };
        self.list_credentials(&f, page).await
    }

    /// Events attributed to an attacker, newest first.
    pub async fn attacker_events(
        &self,
        uuid: Uuid,
        page: &PageRequest,
    ) -> Result<Page<StoredEvent>> {
        let f = EventFilter {
            attacker_uuid: Some(uuid),
            ..Default::default()
        };
        self.list_events(&f, page).await
    }

    /// An attacker's sessions, newest first.
    pub async fn attacker_sessions(
        &self,
        uuid: Uuid,
        page: &PageRequest,
    ) -> Result<Page<SessionRecord>> {
        let rows = ByAttacker {
            table: "sessions",
            cols: SESSION_COLS,
            key: "started_at",
            tie: "sid",
        };
        rows.page(self, uuid, page, session_from_row, |s| {
            (micros(s.started_at), s.sid.to_string())
        })
        .await
    }

    /// An attacker's artifacts, newest first.
    pub async fn attacker_artifacts(
        &self,
        uuid: Uuid,
        page: &PageRequest,
    ) -> Result<Page<ArtifactRecord>> {
        let rows = ByAttacker {
            table: "artifacts",
            cols: ARTIFACT_COLS,
            key: "ts",
            tie: "event_id",
        };
        rows.page(self, uuid, page, artifact_from_row, |a| {
            (micros(a.ts), a.event_id.to_string())
        })
        .await
    }

    /// One session.
    pub async fn session(&self, sid: Uuid) -> Result<Option<SessionRecord>> {
        let sql = format!("SELECT {SESSION_COLS} FROM sessions WHERE sid = $1");
        let row = sqlx::query(&sql)
            .bind(sid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_from_row).transpose()
    }

    /// Totals and the `top` commonest values of each dimension, from the
    /// counters the ingester keeps (`stat_counts`): a few index entries per
    /// list however much is stored, read in one statement (one snapshot).
    pub async fn stats(&self, top: u32) -> Result<Stats> {
        let top = check_limit(top)?;
        let rows: Vec<(String, String, i64)> = sqlx::query_as(&stats_sql())
            .bind(top)
            .fetch_all(&self.pool)
            .await?;
        let mut s = Stats::default();
        for (dim, value, n) in rows {
            let count = u64::try_from(n).unwrap_or(0);
            let list = match dim.as_str() {
                "total" => {
                    match value.as_str() {
                        "events" => s.events = count,
                        "attackers" => s.attackers = count,
                        "credentials" => s.credentials = count,
                        "sessions" => s.sessions = count,
                        _ => {}
                    }
                    continue;
                }
                "src_ip" => &mut s.top_src_ips,
                "decky" => &mut s.top_deckies,
                "service" => &mut s.top_services,
                "event_type" => &mut s.top_event_types,
                "principal" => &mut s.top_principals,
                "password" => &mut s.top_passwords,
                _ => continue,
            };
            list.push(Count { value, count });
        }
        for list in [
            &mut s.top_src_ips,
            &mut s.top_deckies,
            &mut s.top_services,
            &mut s.top_event_types,
            &mut s.top_principals,
            &mut s.top_passwords,
        ] {
            // UNION ALL keeps no order of its own.
            list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
            list.truncate(usize::try_from(top).unwrap_or(usize::MAX));
        }
        Ok(s)
    }
}

/// The top-N lists `stats` reads, each an index scan of `stat_counts_top`.
const TOP_DIMS: [Dim; 6] = [
    Dim::SrcIp,
    Dim::Decky,
    Dim::Service,
    Dim::EventType,
    Dim::Principal,
    Dim::Password,
];

/// One statement: the totals, then up to `2 × $1` candidates for each
/// top-N list, of which [`Store::stats`] keeps the first `$1`.
///
/// `stat_counts_top` indexes only counts of 2 or more (migration 0006), so
/// each list is that index's first `$1` entries followed by values counted
/// once, which rank by value: the primary key's order. When a dimension has
/// fewer than `$1` values counted twice or more, at most `$1 - 1` of its
/// first `2 × $1` values by key are such values, so that bounded key range
/// holds the `$1` values counted once that complete the list. Counts are
/// never below 1.
pub(crate) fn stats_sql() -> String {
    let mut sql = String::from("SELECT dim, value, n FROM stat_counts WHERE dim = 'total'");
    for (i, d) in TOP_DIMS.iter().enumerate() {
        let d = d.as_str();
        sql.push_str(&format!(
            " UNION ALL SELECT * FROM (SELECT dim, value, n FROM stat_counts \
             WHERE dim = '{d}' AND n >= 2 ORDER BY n DESC, value ASC LIMIT $1) AS t{i} \
             UNION ALL SELECT * FROM (SELECT dim, value, n FROM \
             (SELECT dim, value, n FROM stat_counts WHERE dim = '{d}' \
             ORDER BY value ASC LIMIT 2 * $1) AS k{i} WHERE n = 1 LIMIT $1) AS o{i}"
        ));
    }
    sql
}

/// A secret's reuse group read on `conn` (so inside a transaction when
/// needed): its maintained summary and bounded samples (`crate::reuse`).
pub(crate) async fn reuse_group_on(
    conn: &mut AnyConnection,
    sha256: &str,
    kind: &str,
) -> Result<Option<ReuseGroup>> {
    crate::reuse::group_on(conn, sha256, kind).await
}

#[cfg(test)]
mod histogram_tests {
    use crate::testing::{at, ev, put};
    use crate::{EventFilter, Store};
    use decnet_core::EventType;

    /// On minute boundaries with whole-minute buckets the histogram is summed
    /// from the counters alone; it equals the one counted event by event.
    #[tokio::test]
    async fn a_minute_aligned_histogram_from_counters_equals_a_count_of_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let evs: Vec<_> = (0..600i64)
            .map(|i| {
                let t = (i * i * 7) % 11_000 - 200;
                ev(t, "web1", "ssh", EventType::Connect, "203.0.113.5")
            })
            .collect();
        put(&store, &evs).await;
        let by_scan = EventFilter {
            decky: Some("web1".into()),
            ..Default::default()
        };
        // at(40) is on a minute.
        assert_eq!(at(40).timestamp() % 60, 0);
        for (bucket, start, end) in [
            (60, 40, 10_840),
            (3_600, -3_560, 10_840),
            (120, -200, 11_080),
            (86_400, -86_360, 86_440),
        ] {
            let fast = store
                .histogram(&EventFilter::default(), bucket, at(start), at(end))
                .await
                .unwrap();
            let slow = store
                .histogram(&by_scan, bucket, at(start), at(end))
                .await
                .unwrap();
            assert_eq!(fast, slow, "bucket {bucket} from {start} to {end}");
            assert_eq!(
                fast.iter().map(|b| b.count).sum::<u64>(),
                evs.iter()
                    .filter(|e| e.ts >= at(start) && e.ts < at(end))
                    .count() as u64
            );
        }
        store.close().await;
    }
}
