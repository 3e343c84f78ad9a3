//! Credential reuse read from what ingest maintains (migration 0005): one
//! summary row per secret (`credential_secrets`) and one row per (secret,
//! decky | principal | attacker) pair. A reuse group is its summary plus
//! bounded samples of each pair table, read by primary-key prefix, so no
//! read of a group costs more for a sprayed password with a million
//! usernames than for one tried twice. Writes happen in
//! [`IngestTx::insert_credentials`](crate::IngestTx::insert_credentials).

use std::collections::{BTreeMap, HashMap};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::sql::{check_limit, col_ts, col_u64, decode_cursor, encode_cursor};
use crate::{
    Page, PageRequest, Result, ReuseGroup, SecretSummary, Store, StoreError, REUSE_SAMPLE,
};

/// The summary columns, in [`summary_from_row`]'s order.
const SUMMARY_COLS: &str = "secret_sha256, secret_kind, secret_printable, n, n_deckies, \
     n_principals, n_attackers, first_seen, last_seen";

/// Groups whose samples one statement reads: six terms each (three inline
/// values, three `LIMIT` subqueries), under SQLite's 500 terms per compound
/// select.
const SAMPLE_GROUPS: usize = 50;
const _: () = assert!(6 * SAMPLE_GROUPS <= 500, "SQLite's compound-select limit");

/// The condition of index `credential_secrets_reused`, written as it is
/// there so both planners match the partial index.
const REUSED: &str = "(n_deckies >= 2 OR n_principals >= 2)";

/// A `credential_secrets` row.
pub(crate) fn summary_from_row(r: &AnyRow) -> Result<SecretSummary> {
    Ok(SecretSummary {
        secret_sha256: r.try_get("secret_sha256")?,
        secret_kind: r.try_get("secret_kind")?,
        secret_printable: r.try_get("secret_printable")?,
        count: col_u64(r, "n")?,
        decky_count: col_u64(r, "n_deckies")?,
        principal_count: col_u64(r, "n_principals")?,
        attacker_count: col_u64(r, "n_attackers")?,
        first_seen: col_ts(r, "first_seen")?,
        last_seen: col_ts(r, "last_seen")?,
    })
}

/// The pair tables a group samples, with the column each lists and the
/// summary's inline column for the same list (migration 0006: the pair
/// table holds every value but the inline one).
const SAMPLED: [(&str, &str, &str, &str); 3] = [
    ("d", "credential_secret_deckies", "decky", "first_decky"),
    (
        "p",
        "credential_secret_principals",
        "principal",
        "first_principal",
    ),
    (
        "a",
        "credential_secret_attackers",
        "attacker_uuid",
        "first_attacker",
    ),
];

/// One statement reading, for `n` groups, each list's inline value and the
/// first [`REUSE_SAMPLE`] of its pair table: `$1`, `$2` are the first
/// group's key, and so on.
pub(crate) fn samples_sql(n: usize) -> String {
    let mut sql = String::new();
    for g in 0..n {
        let (s, k) = (2 * g + 1, 2 * g + 2);
        for (tag, table, col, inline) in SAMPLED {
            if !sql.is_empty() {
                sql.push_str(" UNION ALL ");
            }
            sql.push_str(&format!(
                "SELECT secret_sha256, secret_kind, '{tag}' AS dim, {inline} AS v \
                 FROM credential_secrets WHERE secret_sha256 = ${s} AND secret_kind = ${k} \
                 AND {inline} IS NOT NULL \
                 UNION ALL SELECT * FROM (SELECT secret_sha256, secret_kind, '{tag}' AS dim, \
                 {col} AS v FROM {table} WHERE secret_sha256 = ${s} AND secret_kind = ${k} \
                 ORDER BY {col} LIMIT {REUSE_SAMPLE}) AS s{g}{tag}"
            ));
        }
    }
    sql
}

/// `secrets` as reuse groups: each with the first [`REUSE_SAMPLE`]
/// deckies, principals and attackers of its pair tables, in order.
pub(crate) async fn with_samples(
    conn: &mut AnyConnection,
    secrets: &[SecretSummary],
) -> Result<Vec<ReuseGroup>> {
    type Samples = (Vec<String>, Vec<String>, Vec<uuid::Uuid>);
    let mut found: HashMap<(String, String), Samples> = HashMap::new();
    for chunk in secrets.chunks(SAMPLE_GROUPS) {
        let sql = samples_sql(chunk.len());
        let mut q = sqlx::query(&sql);
        for s in chunk {
            q = q
                .bind(s.secret_sha256.as_str())
                .bind(s.secret_kind.as_str());
        }
        for r in q.fetch_all(&mut *conn).await? {
            let key = (r.try_get("secret_sha256")?, r.try_get("secret_kind")?);
            let dim: String = r.try_get("dim")?;
            let v: String = r.try_get("v")?;
            let e = found.entry(key).or_default();
            match dim.as_str() {
                "d" => e.0.push(v),
                "p" => e.1.push(v),
                _ => {
                    e.2.push(uuid::Uuid::parse_str(&v).map_err(|_| StoreError::Corrupt {
                        column: "attacker_uuid",
                        value: v,
                    })?)
                }
            }
        }
    }
    Ok(secrets
        .iter()
        .map(|s| {
            let (mut deckies, mut principals, mut attacker_uuids) = found
                .remove(&(s.secret_sha256.clone(), s.secret_kind.clone()))
                .unwrap_or_default();
            // UNION ALL keeps no order of its own; the inline value may sort
            // anywhere among the pair table's first ones.
            for list in [&mut deckies, &mut principals] {
                list.sort();
                list.truncate(REUSE_SAMPLE);
            }
            attacker_uuids.sort();
            attacker_uuids.truncate(REUSE_SAMPLE);
            ReuseGroup {
                secret_sha256: s.secret_sha256.clone(),
                secret_kind: s.secret_kind.clone(),
                secret_printable: s.secret_printable.clone(),
                deckies,
                principals,
                attacker_uuids,
                decky_count: s.decky_count,
                principal_count: s.principal_count,
                attacker_count: s.attacker_count,
                count: s.count,
                first_seen: s.first_seen,
                last_seen: s.last_seen,
            }
        })
        .collect())
}

/// The reuse list's statement: reused secrets, most captured first, then by
/// (kind, hash) descending; with a cursor, the keyset after it. A walk of
/// `credential_secrets_reused`, `$N` bound by the caller.
pub(crate) fn list_sql(with_cursor: bool) -> String {
    let after = if with_cursor {
        " AND (n, secret_kind, secret_sha256) < ($1, $2, $3)"
    } else {
        ""
    };
    let limit = if with_cursor { "$4" } else { "$1" };
    format!(
        "SELECT {SUMMARY_COLS} FROM credential_secrets WHERE {REUSED}{after} \
         ORDER BY n DESC, secret_kind DESC, secret_sha256 DESC LIMIT {limit}"
    )
}

/// A secret's reuse group read on `conn` (so inside a transaction when needed).
pub(crate) async fn group_on(
    conn: &mut AnyConnection,
    sha256: &str,
    kind: &str,
) -> Result<Option<ReuseGroup>> {
    let row = sqlx::query(&format!(
        "SELECT {SUMMARY_COLS} FROM credential_secrets \
         WHERE secret_sha256 = $1 AND secret_kind = $2"
    ))
    .bind(sha256)
    .bind(kind)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let summary = summary_from_row(&row)?;
    Ok(with_samples(conn, std::slice::from_ref(&summary))
        .await?
        .pop())
}

/// Secrets tried against ≥ 2 deckies or for ≥ 2 principals, most captured first.
pub(crate) async fn credential_reuse(
    store: &Store,
    page: &PageRequest,
) -> Result<Page<ReuseGroup>> {
    let limit = check_limit(page.limit)?;
    let mut conn = store.pool.acquire().await?;
    let rows = match page.cursor.as_deref() {
        None => {
            sqlx::query(&list_sql(false))
                .bind(limit + 1)
                .fetch_all(&mut *conn)
                .await?
        }
        Some(c) => {
            let (n, tie) = decode_cursor(c)?;
            let (kind, sha) = tie.split_once(':').ok_or_else(|| StoreError::Invalid {
                field: "cursor",
                reason: "not a cursor returned by this API".into(),
            })?;
            sqlx::query(&list_sql(true))
                .bind(n)
                .bind(kind)
                .bind(sha)
                .bind(limit + 1)
                .fetch_all(&mut *conn)
                .await?
        }
    };
    let mut summaries = rows
        .iter()
        .map(summary_from_row)
        .collect::<Result<Vec<_>>>()?;
    let next_cursor = if summaries.len() as i64 > limit {
        summaries.truncate(usize::try_from(limit).unwrap_or(0));
        summaries.last().map(|s| {
            encode_cursor(
                i64::try_from(s.count).unwrap_or(i64::MAX),
                &format!("{}:{}", s.secret_kind, s.secret_sha256),
            )
        })
    } else {
        None
    };
    let items = with_samples(&mut conn, &summaries).await?;
    Ok(Page { items, next_cursor })
}

/// Summaries keyed by (SHA-256, kind).
pub type SecretRows = BTreeMap<(String, String), SecretSummary>;

/// The summary recomputed from `credentials` (the migration's backfill).
const RECOUNT: &str =
    "SELECT secret_sha256, secret_kind, MIN(secret_printable) AS secret_printable, \
     COUNT(*) AS n, COUNT(DISTINCT decky) AS n_deckies, COUNT(DISTINCT principal) AS n_principals, \
     COUNT(DISTINCT attacker_uuid) AS n_attackers, MIN(ts) AS first_seen, MAX(ts) AS last_seen \
     FROM credentials GROUP BY secret_sha256, secret_kind";

/// Rebuilds the pair tables and the summaries from `credentials`: each
/// list's least value inline, the others in its pair table.
pub(crate) const REBUILD: [&str; 12] = [
    "DELETE FROM credential_secret_deckies",
    "INSERT INTO credential_secret_deckies (secret_sha256, secret_kind, decky) \
     SELECT DISTINCT secret_sha256, secret_kind, decky FROM credentials",
    "DELETE FROM credential_secret_principals",
    "INSERT INTO credential_secret_principals (secret_sha256, secret_kind, principal) \
     SELECT DISTINCT secret_sha256, secret_kind, principal FROM credentials",
    "DELETE FROM credential_secret_attackers",
    "INSERT INTO credential_secret_attackers (secret_sha256, secret_kind, attacker_uuid) \
     SELECT DISTINCT secret_sha256, secret_kind, attacker_uuid FROM credentials",
    "DELETE FROM credential_secrets",
    "INSERT INTO credential_secrets (secret_sha256, secret_kind, secret_printable, n, n_deckies, \
     n_principals, n_attackers, first_seen, last_seen) \
     SELECT secret_sha256, secret_kind, MIN(secret_printable), COUNT(*), COUNT(DISTINCT decky), \
     COUNT(DISTINCT principal), COUNT(DISTINCT attacker_uuid), MIN(ts), MAX(ts) \
     FROM credentials GROUP BY secret_sha256, secret_kind",
    "UPDATE credential_secrets SET \
     first_decky = (SELECT MIN(p.decky) FROM credential_secret_deckies p \
     WHERE p.secret_sha256 = credential_secrets.secret_sha256 \
     AND p.secret_kind = credential_secrets.secret_kind), \
     first_principal = (SELECT MIN(p.principal) FROM credential_secret_principals p \
     WHERE p.secret_sha256 = credential_secrets.secret_sha256 \
     AND p.secret_kind = credential_secrets.secret_kind), \
     first_attacker = (SELECT MIN(p.attacker_uuid) FROM credential_secret_attackers p \
     WHERE p.secret_sha256 = credential_secrets.secret_sha256 \
     AND p.secret_kind = credential_secrets.secret_kind)",
    "DELETE FROM credential_secret_deckies WHERE EXISTS (SELECT 1 FROM credential_secrets s \
     WHERE s.secret_sha256 = credential_secret_deckies.secret_sha256 \
     AND s.secret_kind = credential_secret_deckies.secret_kind \
     AND s.first_decky = credential_secret_deckies.decky)",
    "DELETE FROM credential_secret_principals WHERE EXISTS (SELECT 1 FROM credential_secrets s \
     WHERE s.secret_sha256 = credential_secret_principals.secret_sha256 \
     AND s.secret_kind = credential_secret_principals.secret_kind \
     AND s.first_principal = credential_secret_principals.principal)",
    "DELETE FROM credential_secret_attackers WHERE EXISTS (SELECT 1 FROM credential_secrets s \
     WHERE s.secret_sha256 = credential_secret_attackers.secret_sha256 \
     AND s.secret_kind = credential_secret_attackers.secret_kind \
     AND s.first_attacker = credential_secret_attackers.attacker_uuid)",
];

fn keyed(rows: &[AnyRow]) -> Result<SecretRows> {
    rows.iter()
        .map(|r| summary_from_row(r).map(|s| ((s.secret_sha256.clone(), s.secret_kind.clone()), s)))
        .collect()
}

impl Store {
    /// Secrets tried against ≥ 2 deckies or for ≥ 2 principals, most captured
    /// first; each group's lists are bounded samples (see [`ReuseGroup`]).
    pub async fn credential_reuse(&self, page: &PageRequest) -> Result<Page<ReuseGroup>> {
        credential_reuse(self, page).await
    }

    /// Every secret summary as ingest maintains it.
    pub async fn secret_rows(&self) -> Result<SecretRows> {
        let rows = sqlx::query(&format!("SELECT {SUMMARY_COLS} FROM credential_secrets"))
            .fetch_all(&self.pool)
            .await?;
        keyed(&rows)
    }

    /// Every secret summary recomputed from the credentials (a full scan:
    /// for checks, not for serving).
    pub async fn recounted_secret_rows(&self) -> Result<SecretRows> {
        let rows = sqlx::query(RECOUNT).fetch_all(&self.pool).await?;
        keyed(&rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_read_three_bounded_lists_per_group() {
        let sql = samples_sql(2);
        assert_eq!(sql.matches(&format!("LIMIT {REUSE_SAMPLE}")).count(), 6);
        assert_eq!(sql.matches("IS NOT NULL").count(), 6);
        assert!(sql.contains("secret_sha256 = $3 AND secret_kind = $4"));
        assert!(!sql.contains("$5"));
    }
}

#[cfg(test)]
mod migration_tests {
    use std::borrow::Cow;

    use decnet_core::paths::DataDir;
    use sqlx::migrate::Migrator;
    use sqlx::Connection;

    use crate::{PageRequest, Store};

    /// A database from before migration 0006, with groups of every shape,
    /// keeps every summary and every group's samples when 0006 moves one
    /// value of each list inline, and agrees with a recount afterwards.
    #[tokio::test]
    async fn moving_one_value_inline_keeps_every_group() {
        let dir = tempfile::tempdir().unwrap();
        let db = DataDir::new(dir.path()).sqlite_db();
        std::fs::create_dir_all(db.parent().unwrap()).unwrap();
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let until = |v: i64| Migrator {
            migrations: Cow::Owned(
                crate::SQLITE_MIGRATIONS
                    .iter()
                    .filter(|m| m.version <= v)
                    .cloned()
                    .collect(),
            ),
            ignore_missing: false,
            locking: true,
            no_tx: false,
        };
        // Credentials stored before the pair tables (0003) and summaries (0005)
        // existed, so those migrations backfill them: a spray (one secret, 30 users, 3
        // deckies), a brute force (a secret each), one secret from 25 attackers.
        let mut n = 0;
        let mut put = |sql: &mut String, sha: &str, decky: &str, user: &str, attacker: u128| {
            n += 1;
            let attacker = uuid::Uuid::from_u128(attacker);
            sql.push_str(&format!(
                "INSERT INTO credentials (event_id, ts, attacker_uuid, src_ip, decky, service, \
                 principal, secret_b64, secret_kind, secret_sha256, outcome) VALUES \
                 ('e{n:04}', {n}, '{attacker}', '198.51.100.1', '{decky}', 'ssh', '{user}', '', \
                 'password', '{sha}', 'failure');"
            ));
        };
        until(2).run(&mut conn).await.unwrap();
        let mut sql = String::new();
        for u in 0..30u32 {
            put(
                &mut sql,
                "spray",
                &format!("d{}", u % 3),
                &format!("u{u:02}"),
                1,
            );
        }
        for b in 0..10 {
            put(&mut sql, &format!("bf{b}"), "d0", "admin", 2);
        }
        for a in 0..25u128 {
            put(&mut sql, "common", &format!("d{}", a % 2), "root", 100 + a);
        }
        sqlx::raw_sql(&sql).execute(&mut conn).await.unwrap();
        until(5).run(&mut conn).await.unwrap();
        conn.close().await.unwrap();

        let store = Store::open_data_dir(dir.path()).await.unwrap();
        assert_eq!(
            store.secret_rows().await.unwrap(),
            store.recounted_secret_rows().await.unwrap()
        );
        let groups = store
            .credential_reuse(&PageRequest::first(50))
            .await
            .unwrap()
            .items;
        let firsts = |p: &str, k: usize| (0..k).map(|i| format!("{p}{i:02}")).collect::<Vec<_>>();
        let [spray, common] = groups.as_slice() else {
            panic!("the spray and the common password: {groups:?}");
        };
        assert_eq!(spray.secret_sha256, "spray");
        assert_eq!(
            (
                spray.count,
                spray.decky_count,
                spray.principal_count,
                spray.attacker_count
            ),
            (30, 3, 30, 1)
        );
        assert_eq!(spray.deckies, ["d0", "d1", "d2"]);
        assert_eq!(spray.principals, firsts("u", 20));
        assert_eq!(spray.attacker_uuids.len(), 1);
        assert_eq!(common.secret_sha256, "common");
        assert_eq!(
            (
                common.count,
                common.decky_count,
                common.principal_count,
                common.attacker_count
            ),
            (25, 2, 1, 25)
        );
        assert_eq!(common.deckies, ["d0", "d1"]);
        assert_eq!(common.principals, ["root"]);
        let want: Vec<uuid::Uuid> = (100..120).map(uuid::Uuid::from_u128).collect();
        assert_eq!(common.attacker_uuids, want);
        let pairs: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM credential_secret_deckies) \
             + (SELECT COUNT(*) FROM credential_secret_principals) \
             + (SELECT COUNT(*) FROM credential_secret_attackers)",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        // Besides the inline values, the spray's 2 deckies and 29 users and
        // the common password's decky and 24 attackers.
        assert_eq!(
            pairs,
            2 + 29 + 1 + 24,
            "brute-force passwords keep no pair rows"
        );
        store.close().await;
    }
}
