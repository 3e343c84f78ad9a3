//! Stats counters (table `stat_counts`): one row per (dimension, value) with
//! its count, so [`Store::stats`] reads a few index entries instead of
//! scanning events and credentials; and events per minute (`event_minutes`),
//! so an unfiltered histogram reads one row per minute and counts events only
//! in the minutes that straddle a bucket boundary. The ingester adds each batch's
//! [`BatchCounts`] inside the batch transaction ([`IngestTx::add_counts`]), so
//! the counters commit with the rows they count or not at all; rows written
//! any other way are counted again by [`Store::rebuild_counters`].

use std::collections::BTreeMap;

use decnet_core::Event;

use crate::sql::{Arg, Sql};
use crate::{IngestTx, Result, Store};

/// One dimension of the stats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dim {
    /// Row totals: values `events`, `attackers`, `credentials`, `sessions`.
    Total,
    /// Events per source IP.
    SrcIp,
    /// Events per decky.
    Decky,
    /// Events per service.
    Service,
    /// Events per event type.
    EventType,
    /// Credentials per principal.
    Principal,
    /// Printable secrets of kind `password`, per secret.
    Password,
}

impl Dim {
    /// The `dim` column's value.
    pub fn as_str(self) -> &'static str {
        match self {
            Dim::Total => "total",
            Dim::SrcIp => "src_ip",
            Dim::Decky => "decky",
            Dim::Service => "service",
            Dim::EventType => "event_type",
            Dim::Principal => "principal",
            Dim::Password => "password",
        }
    }
}

/// What one batch adds to the counters; built in memory, written with one
/// upsert statement per few hundred distinct keys.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchCounts {
    by_key: BTreeMap<(Dim, String), u64>,
    /// Events per minute of `ts` (see [`minute_of`]).
    minutes: BTreeMap<i64, u64>,
}

/// Microseconds in a minute: the grain of `event_minutes`.
pub(crate) const MINUTE_US: i64 = 60_000_000;

/// The minute (since the epoch, rounded down) holding `ts_us`.
pub(crate) fn minute_of(ts_us: i64) -> i64 {
    ts_us.div_euclid(MINUTE_US)
}

/// [`minute_of`] in SQL (integer division truncates towards zero on both backends).
const MINUTE_SQL: &str =
    "CASE WHEN ts >= 0 THEN ts / 60000000 ELSE -((59999999 - ts) / 60000000) END";

impl BatchCounts {
    fn add(&mut self, dim: Dim, value: &str, n: u64) {
        *self.by_key.entry((dim, value.to_owned())).or_default() += n;
    }

    /// An event stored.
    pub fn event(&mut self, e: &Event) {
        self.add(Dim::Total, "events", 1);
        self.add(Dim::SrcIp, &e.src_ip.to_string(), 1);
        self.add(Dim::Decky, &e.decky, 1);
        self.add(Dim::Service, &e.service, 1);
        self.add(Dim::EventType, e.event_type.as_str(), 1);
        *self
            .minutes
            .entry(minute_of(crate::sql::micros(e.ts)))
            .or_default() += 1;
    }

    /// An attacker row created.
    pub fn attacker(&mut self) {
        self.add(Dim::Total, "attackers", 1);
    }

    /// A session row created.
    pub fn session(&mut self) {
        self.add(Dim::Total, "sessions", 1);
    }

    /// A credential row stored (`kind` is its secret kind's wire name).
    pub fn credential(&mut self, principal: &str, kind: &str, printable: Option<&str>) {
        self.add(Dim::Total, "credentials", 1);
        self.add(Dim::Principal, principal, 1);
        if let (PASSWORD_KIND, Some(p)) = (kind, printable) {
            self.add(Dim::Password, p, 1);
        }
    }

    /// Nothing to add.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty() && self.minutes.is_empty()
    }

    /// The count added to (`dim`, `value`).
    pub fn get(&self, dim: Dim, value: &str) -> u64 {
        self.by_key
            .get(&(dim, value.to_owned()))
            .copied()
            .unwrap_or(0)
    }
}

/// The secret kind whose printable secrets are counted per value (as `Stats::top_passwords`).
const PASSWORD_KIND: &str = "password";

/// Rows per upsert statement (3 parameters each: far below both backends' limits).
const UPSERT_ROWS: usize = 300;

/// Rebuilds every counter from the tables (the migration's backfill).
const RECOUNT: [&str; 7] = [
    "SELECT 'total', 'events', COUNT(*) FROM events \
     UNION ALL SELECT 'total', 'attackers', COUNT(*) FROM attackers \
     UNION ALL SELECT 'total', 'credentials', COUNT(*) FROM credentials \
     UNION ALL SELECT 'total', 'sessions', COUNT(*) FROM sessions",
    "SELECT 'src_ip', src_ip, COUNT(*) FROM events GROUP BY src_ip",
    "SELECT 'decky', decky, COUNT(*) FROM events GROUP BY decky",
    "SELECT 'service', service, COUNT(*) FROM events GROUP BY service",
    "SELECT 'event_type', event_type, COUNT(*) FROM events GROUP BY event_type",
    "SELECT 'principal', principal, COUNT(*) FROM credentials GROUP BY principal",
    "SELECT 'password', secret_printable, COUNT(*) FROM credentials \
     WHERE secret_kind = 'password' AND secret_printable IS NOT NULL \
     GROUP BY secret_printable",
];

/// Counter rows keyed by (dim, value), zero counts left out.
pub type CounterRows = BTreeMap<(String, String), u64>;

fn rows_of(rows: Vec<(String, String, i64)>) -> CounterRows {
    rows.into_iter()
        .filter(|r| r.2 > 0)
        .map(|(d, v, n)| ((d, v), u64::try_from(n).unwrap_or(0)))
        .collect()
}

impl IngestTx {
    /// Adds `c` to the counters (a few multi-row upserts, not one per event).
    pub async fn add_counts(&mut self, c: &BatchCounts) -> Result<()> {
        let rows: Vec<_> = c.by_key.iter().collect();
        for chunk in rows.chunks(UPSERT_ROWS) {
            let mut sql = Sql::new("INSERT INTO stat_counts (dim, value, n) VALUES ");
            for (i, ((dim, value), n)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(")
                    .bind(Arg::Text(dim.as_str().to_owned()))
                    .push(", ")
                    .bind(Arg::Text(value.clone()))
                    .push(", ")
                    .bind(Arg::I64(i64::try_from(**n).unwrap_or(i64::MAX)))
                    .push(")");
            }
            sql.push(" ON CONFLICT (dim, value) DO UPDATE SET n = stat_counts.n + excluded.n");
            sql.query().execute(self.conn()).await?;
        }
        let minutes: Vec<_> = c.minutes.iter().collect();
        for chunk in minutes.chunks(UPSERT_ROWS) {
            let mut sql = Sql::new("INSERT INTO event_minutes (minute, n) VALUES ");
            for (i, (minute, n)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(")
                    .bind(Arg::I64(**minute))
                    .push(", ")
                    .bind(Arg::I64(i64::try_from(**n).unwrap_or(i64::MAX)))
                    .push(")");
            }
            sql.push(" ON CONFLICT (minute) DO UPDATE SET n = event_minutes.n + excluded.n");
            sql.query().execute(self.conn()).await?;
        }
        Ok(())
    }
}

impl Store {
    /// Every counter as stored (per-minute counts as dimension `minute`).
    pub async fn counter_rows(&self) -> Result<CounterRows> {
        let rows = sqlx::query_as::<_, (String, String, i64)>(
            "SELECT dim, value, n FROM stat_counts \
             UNION ALL SELECT 'minute', CAST(minute AS TEXT), n FROM event_minutes",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows_of(rows))
    }

    /// Every counter recounted from the tables (a full scan: for checks, not for serving).
    pub async fn recounted_rows(&self) -> Result<CounterRows> {
        let mut out = CounterRows::new();
        let mut conn = self.pool.acquire().await?;
        for q in RECOUNT {
            let rows = sqlx::query_as::<_, (String, String, i64)>(q)
                .fetch_all(&mut *conn)
                .await?;
            out.extend(rows_of(rows));
        }
        let rows = sqlx::query_as::<_, (String, String, i64)>(&format!(
            "SELECT 'minute', CAST(m AS TEXT), COUNT(*) FROM \
             (SELECT {MINUTE_SQL} AS m FROM events) AS e GROUP BY m"
        ))
        .fetch_all(&mut *conn)
        .await?;
        out.extend(rows_of(rows));
        Ok(out)
    }

    /// Recounts every counter from the tables, credential reuse summaries
    /// included, for rows written other than through the ingester (bulk
    /// loads, repairs). Scans every table: slow on a
    /// big store, and it holds the write lock meanwhile.
    pub async fn rebuild_counters(&self) -> Result<()> {
        self.write(|c| {
            Box::pin(async move {
                sqlx::query("DELETE FROM stat_counts")
                    .execute(&mut *c)
                    .await?;
                for q in RECOUNT {
                    sqlx::query(&format!("INSERT INTO stat_counts (dim, value, n) {q}"))
                        .execute(&mut *c)
                        .await?;
                }
                sqlx::query("DELETE FROM event_minutes")
                    .execute(&mut *c)
                    .await?;
                sqlx::query(&format!(
                    "INSERT INTO event_minutes (minute, n) SELECT m, COUNT(*) FROM \
                     (SELECT {MINUTE_SQL} AS m FROM events) AS e GROUP BY m"
                ))
                .execute(&mut *c)
                .await?;
                for q in crate::reuse::REBUILD {
                    sqlx::query(q).execute(&mut *c).await?;
                }
                Ok(())
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ev;
    use decnet_core::journal_pos::JournalPos;
    use decnet_core::EventType;
    use uuid::Uuid;

    /// `GET /stats` reads index entries, never the tables it counts, and
    /// needs no sort: each top-N list is the first N entries of
    /// stat_counts_top, then a bounded primary-key range of values counted once.
    #[tokio::test]
    async fn stats_read_only_the_counter_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let rows: Vec<(i64, i64, i64, String)> =
            sqlx::query_as(&format!("EXPLAIN QUERY PLAN {}", crate::query::stats_sql()))
                .bind(10i64)
                .fetch_all(store.pool())
                .await
                .unwrap();
        let plan: Vec<String> = rows.into_iter().map(|r| r.3).collect();
        let plan = plan.join("\n");
        for table in ["events", "attackers", "credentials", "sessions"] {
            assert!(!plan.contains(&format!(" {table}")), "{plan}");
        }
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
        // The six lists' values counted twice or more.
        assert_eq!(
            plan.matches("SEARCH stat_counts USING COVERING INDEX stat_counts_top (dim=? AND n>?)")
                .count(),
            6,
            "{plan}"
        );
        // The totals, and each list's bounded range of values counted once.
        assert_eq!(
            plan.matches("SEARCH stat_counts USING PRIMARY KEY (dim=?)")
                .count(),
            7,
            "{plan}"
        );
        store.close().await;
    }

    /// Each top-N list (index of counts ≥ 2, then values counted once by
    /// key) equals a full sort of the dimension's counters, for lists with
    /// no, few and many values counted twice or more, and ties.
    #[tokio::test]
    async fn top_lists_equal_a_full_sort_of_every_counter() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let mut c = BatchCounts::default();
        // Principals: all once. Passwords: three repeated among many once.
        // Source IPs: most repeated, with ties. Deckies: few values.
        for i in 0..40u64 {
            c.add(Dim::Principal, &format!("user{i:02}"), 1);
            c.add(
                Dim::Password,
                &format!("pw{:02}", 40 - i),
                1 + u64::from(i % 13 == 0),
            );
            c.add(Dim::SrcIp, &format!("198.51.100.{i}"), 1 + (i * 7) % 5);
        }
        c.add(Dim::Decky, "web1", 3);
        c.add(Dim::Decky, "web2", 1);
        let to = JournalPos {
            segment: 1,
            offset: 1,
        };
        let mut tx = store.begin_ingest("t", None, to).await.unwrap();
        tx.add_counts(&c).await.unwrap();
        tx.commit().await.unwrap();
        let rows = store.counter_rows().await.unwrap();
        for top in [1u32, 3, 5, 10, 39, 40, 100] {
            let s = store.stats(top).await.unwrap();
            for (dim, got) in [
                ("principal", &s.top_principals),
                ("password", &s.top_passwords),
                ("src_ip", &s.top_src_ips),
                ("decky", &s.top_deckies),
            ] {
                let mut want: Vec<(u64, &str)> = rows
                    .iter()
                    .filter(|((d, _), _)| d == dim)
                    .map(|((_, v), n)| (*n, v.as_str()))
                    .collect();
                want.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(b.1)));
                want.truncate(top as usize);
                let got: Vec<(u64, &str)> =
                    got.iter().map(|c| (c.count, c.value.as_str())).collect();
                assert_eq!(got, want, "{dim} top {top}");
            }
        }
        store.close().await;
    }

    #[tokio::test]
    async fn counts_add_up_across_batches_and_a_rebuild_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let e = ev(1, "web1", "ssh", EventType::Connect, "203.0.113.5");
        let mut from = None;
        for n in 1..=2u64 {
            let to = JournalPos {
                segment: 1,
                offset: n,
            };
            let mut tx = store.begin_ingest("t", from, to).await.unwrap();
            let mut e = e.clone();
            e.id = Uuid::now_v7();
            tx.insert_event(&e, Uuid::now_v7()).await.unwrap();
            let mut c = BatchCounts::default();
            c.event(&e);
            tx.add_counts(&c).await.unwrap();
            tx.commit().await.unwrap();
            from = Some(to);
        }
        let kept = store.counter_rows().await.unwrap();
        assert_eq!(kept.get(&("decky".into(), "web1".into())), Some(&2));
        assert_eq!(kept.get(&("total".into(), "events".into())), Some(&2));
        assert_eq!(kept, store.recounted_rows().await.unwrap());
        store.rebuild_counters().await.unwrap();
        assert_eq!(store.counter_rows().await.unwrap(), kept);
        assert_eq!(store.stats(5).await.unwrap().events, 2);
        store.close().await;
    }
}

#[cfg(test)]
mod histogram_tests {
    use crate::testing::{at, ev, put};
    use crate::{EventFilter, Store};
    use decnet_core::EventType;

    /// The unfiltered histogram (per-minute counters, exact counts only in
    /// minutes cut by a boundary) equals the one counted event by event.
    #[tokio::test]
    async fn the_histogram_from_minutes_equals_a_count_of_every_event() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        // at(0) is not on a minute; events spread over ~3 hours, some bunched.
        let evs: Vec<_> = (0..600i64)
            .map(|i| {
                ev(
                    (i * i * 7) % 11_000 - 200,
                    "web1",
                    "ssh",
                    EventType::Connect,
                    "203.0.113.5",
                )
            })
            .collect();
        put(&store, &evs).await;
        let everything = EventFilter::default();
        let by_scan = EventFilter {
            decky: Some("web1".into()),
            ..Default::default()
        };
        for (bucket, start, end) in [
            (60, 0, 10_800),
            (3_600, -100, 10_000),
            (7, 13, 900),
            (86_400, -5_000, 20_000),
            (60, 1, 1),
        ] {
            let fast = store
                .histogram(&everything, bucket, at(start), at(end))
                .await
                .unwrap();
            let slow = store
                .histogram(&by_scan, bucket, at(start), at(end))
                .await
                .unwrap();
            assert_eq!(fast, slow, "bucket {bucket} from {start} to {end}");
        }
        store.close().await;
    }
}
