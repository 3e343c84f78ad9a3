//! DECNET storage (DESIGN §9): the schema, its migrations and every query,
//! over SQLite (WAL, `<data>/decnet.db`, the default) or PostgreSQL
//! (`DECNET_DATABASE_URL=postgres://…`).
//!
//! Layout: [`Store`] connects and migrates (this file); `sql` builds queries
//! whose text runs unchanged on both backends (`$N` placeholders, integer
//! microsecond timestamps, UUIDs as text) through sqlx's `Any` driver;
//! `ingest` is the write side the ingester drives inside one transaction per
//! batch ([`IngestTx`]); `counters` the per-value counts behind
//! [`Store::stats`], kept in that same transaction; `reuse` the credential
//! reuse groups read from per-secret summaries kept there too; `query` is the read side
//! for the API; `users` holds dashboard accounts; `model` the row types both sides share; [`scratch`] a
//! throwaway PostgreSQL schema (tests, `decnet bench ingest`); `testing`
//! (feature `testing`, dev-dependencies only) the test helpers.

mod counters;
mod ingest;
mod model;
mod query;
mod reuse;
pub mod scratch;
mod sql;
// Test fixtures fail loudly by design; they never ship (feature `testing`).
#[cfg(feature = "testing")]
#[allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
pub mod testing;
mod users;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use decnet_core::paths::DataDir;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, ConnectOptions, Connection, Executor};

pub use counters::{BatchCounts, CounterRows, Dim};
pub use ingest::IngestTx;
pub use model::*;
pub use query::IngestGeneration;
pub use reuse::SecretRows;
pub use users::AuthSnapshot;

/// Environment variable naming the database URL (else SQLite under the data dir).
pub const DATABASE_URL_ENV: &str = "DECNET_DATABASE_URL";
/// Longest free-text search accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 512;
/// Largest page size.
pub const MAX_PAGE: u32 = 500;

/// Store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or a statement failed.
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    /// Applying the schema migrations failed.
    #[error("database migration failed: {0} (is this database from a newer DECNET?)")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A caller-supplied value is out of range or malformed.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// Which input (`limit`, `cursor`, `search`, …).
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A unique value (a username) is already taken.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// Another ingester moved the offset this one started from.
    #[error("ingest offset of consumer {consumer:?} moved underneath us (two ingesters on one database?)")]
    OffsetMoved {
        /// The consumer whose offset moved.
        consumer: String,
    },
    /// A stored value does not decode (a row written by something else).
    #[error("stored {column} is malformed: {value:?}")]
    Corrupt {
        /// Column.
        column: &'static str,
        /// The stored text.
        value: String,
    },
    /// The SQLite database cannot be opened or migrated because its disk is full.
    #[error("database {path}: no space left on device: free space on that filesystem (or move --data-dir to a larger one), then start again")]
    NoSpace {
        /// The database file.
        path: PathBuf,
    },
    /// The data directory for the SQLite file could not be created.
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        /// Directory.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
}

/// Result alias for this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database engine a [`Store`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in WAL mode.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A connection pool to the DECNET database, migrated to the current schema.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    /// Where ingest batches run: on SQLite one connection of its own with a
    /// larger page cache ([`SQLITE_INGEST_CACHE`]), opened at the first
    /// batch; on PostgreSQL the main pool.
    ingest: AnyPool,
    backend: Backend,
}

/// The ingest connection's page cache, in KiB (as `PRAGMA cache_size`
/// takes a negative size). Ingest inserts at random positions of indexes
/// keyed by hashes and values (secret summaries, per-value counters, events
/// by source): with the 32 MiB of the other connections those indexes
/// outgrew the cache after a few hundred thousand events and each batch
/// slowed as the database grew. One connection holds it, so it is paid
/// once, and only by a process that ingests.
const SQLITE_INGEST_CACHE: &str = "PRAGMA cache_size = -131072";

/// Every SQLite connection's settings.
/// WAL: readers never block the ingester's writer.
/// synchronous=FULL: the journal can replay lost events, but not users'
/// password changes, so every acknowledged commit must survive a power cut;
/// batching makes the extra fsync per commit cheap.
/// busy_timeout: a writer waits for another instead of failing.
const SQLITE_PRAGMAS: [&str; 7] = [
    "PRAGMA journal_mode = WAL",
    // 32 MiB of page cache (SQLite's default is 2 MiB): the indexes keyed by
    // random UUIDs and hashes stop missing the cache once a million rows are stored.
    "PRAGMA cache_size = -32768",
    // Checkpoint every 64 MiB of WAL instead of every 4 MiB: one ingest batch
    // dirties more than 4 MiB of index pages once a million rows are stored, so
    // the default copied every batch to the database file again; spacing them
    // out lets one copy serve pages rewritten by several batches (15 % less
    // ingest CPU at 400 k events). The file is cut back to 64 MiB afterwards.
    "PRAGMA wal_autocheckpoint = 16384",
    "PRAGMA journal_size_limit = 67108864",
    "PRAGMA synchronous = FULL",
    "PRAGMA busy_timeout = 15000",
    "PRAGMA foreign_keys = ON",
];

/// SQLite's "database or disk is full" result code.
const SQLITE_FULL: &str = "13";

/// An error opening SQLite, told as "no space left" when that is the cause: SQLite
/// often reports a full disk as a generic "disk I/O error" (e.g. growing its WAL index).
fn sqlite_open_error(path: &Path, e: sqlx::Error) -> StoreError {
    let full = match &e {
        sqlx::Error::Database(d) => d.code().as_deref() == Some(SQLITE_FULL) || disk_full(path),
        sqlx::Error::Io(io) => io.kind() == std::io::ErrorKind::StorageFull,
        _ => false,
    };
    if full {
        StoreError::NoSpace {
            path: path.to_path_buf(),
        }
    } else {
        StoreError::Db(e)
    }
}

/// True when a small test write beside `db` fails for lack of space.
fn disk_full(db: &Path) -> bool {
    use std::io::Write;
    let probe = db.with_extension("db-space-probe");
    let full = std::fs::File::create(&probe)
        .and_then(|mut f| f.write_all(&[0u8; 64 * 1024]).and_then(|()| f.sync_data()))
        .is_err_and(|e| e.kind() == std::io::ErrorKind::StorageFull);
    let _ = std::fs::remove_file(&probe);
    full
}

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// Statements are logged at debug level only, slow ones too: sqlx's default
/// warns with the whole statement, and an ingest batch's multi-row insert is
/// hundreds of kilobytes of placeholders that would bury the operator's log.
fn statement_logging(opts: AnyConnectOptions) -> AnyConnectOptions {
    opts.log_statements(log::LevelFilter::Debug)
        .log_slow_statements(log::LevelFilter::Debug, Duration::from_secs(1))
}

impl Store {
    /// Connects to `target` and migrates: a `postgres://`/`postgresql://` or
    /// `sqlite:` URL, or else a data directory holding `decnet.db`.
    pub async fn connect(target: &str) -> Result<Store> {
        if target.starts_with("postgres://") || target.starts_with("postgresql://") {
            Store::connect_postgres(target).await
        } else if let Some(rest) = target.strip_prefix("sqlite:") {
            let path = rest.trim_start_matches("//");
            let path = path.split('?').next().unwrap_or(path);
            Store::connect_sqlite(Path::new(path)).await
        } else {
            Store::open_data_dir(Path::new(target)).await
        }
    }

    /// `DECNET_DATABASE_URL` when set, else SQLite at `<data_dir>/decnet.db`.
    pub async fn from_env(data_dir: &Path) -> Result<Store> {
        match std::env::var(DATABASE_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => Store::connect(url.trim()).await,
            _ => Store::open_data_dir(data_dir).await,
        }
    }

    /// SQLite at `<data_dir>/decnet.db`, creating the directory and file.
    pub async fn open_data_dir(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.to_path_buf(),
            source,
        })?;
        Store::connect_sqlite(&DataDir::new(data_dir).sqlite_db()).await
    }

    async fn connect_sqlite(path: &Path) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let opts = statement_logging(AnyConnectOptions::from_str(&url)?);
        // One connection first: the pool would retry a failing one until its
        // timeout, logging "disk I/O error" each time, where the operator needs
        // the reason once.
        let mut first = sqlx::AnyConnection::connect_with(&opts)
            .await
            .map_err(|e| sqlite_open_error(path, e))?;
        for pragma in SQLITE_PRAGMAS {
            first
                .execute(pragma)
                .await
                .map_err(|e| sqlite_open_error(path, e))?;
        }
        let _ = first.close().await;
        let pool = AnyPoolOptions::new()
            // WAL gives concurrent readers; SQLite still has one writer, so
            // more connections only help the read side.
            .max_connections(4)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in SQLITE_PRAGMAS {
                        conn.execute(pragma).await?;
                    }
                    Ok(())
                })
            })
            .connect_with(opts.clone())
            .await
            .map_err(|e| sqlite_open_error(path, e))?;
        let ingest = AnyPoolOptions::new()
            .max_connections(1)
            // Kept for the process's life: recycling it would empty the cache.
            .idle_timeout(None)
            .max_lifetime(None)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    for pragma in SQLITE_PRAGMAS.iter().chain([&SQLITE_INGEST_CACHE]) {
                        conn.execute(*pragma).await?;
                    }
                    Ok(())
                })
            })
            .connect_lazy_with(opts);
        if let Err(e) = SQLITE_MIGRATIONS.run(&pool).await {
            return Err(if disk_full(path) {
                StoreError::NoSpace {
                    path: path.to_path_buf(),
                }
            } else {
                e.into()
            });
        }
        tracing::debug!(path = %path.display(), "sqlite store ready");
        Ok(Store {
            pool,
            ingest,
            backend: Backend::Sqlite,
        })
    }

    async fn connect_postgres(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let opts = statement_logging(AnyConnectOptions::from_str(url)?);
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(15))
            .connect_with(opts)
            .await?;
        POSTGRES_MIGRATIONS.run(&pool).await?;
        tracing::debug!("postgres store ready");
        Ok(Store {
            ingest: pool.clone(),
            pool,
            backend: Backend::Postgres,
        })
    }

    /// Which engine this store talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The underlying pool (for tests and tools; prefer the typed methods).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Round-trips a trivial statement: the database answers.
    pub async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// Closes every connection (waits for checked-out ones to return).
    pub async fn close(&self) {
        self.ingest.close().await;
        self.pool.close().await;
    }
}

#[cfg(test)]
mod open_tests {
    use super::*;
    use std::process::Command;

    /// A small tmpfs, unmounted on drop even when the test fails.
    struct Tmpfs(tempfile::TempDir);

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0.path()).status();
        }
    }

    fn tmpfs(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }

    /// Ingest batches run on the connection with the larger cache; other
    /// work keeps the smaller one, so only an ingesting process pays for it.
    #[tokio::test]
    async fn ingest_batches_run_on_their_own_larger_cache() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let other: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(other, -32768);
        let to = decnet_core::journal_pos::JournalPos {
            segment: 1,
            offset: 1,
        };
        let mut tx = store.begin_ingest("t", None, to).await.unwrap();
        let ingest: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(tx.conn())
            .await
            .unwrap();
        assert_eq!(format!("PRAGMA cache_size = {ingest}"), SQLITE_INGEST_CACHE);
        tx.commit().await.unwrap();
        store.close().await;
    }

    #[tokio::test]
    async fn opening_sqlite_on_a_full_disk_says_no_space_left_once() {
        let Some(fs) = tmpfs("4m") else {
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        };
        let data = fs.0.path().join("data");
        Store::open_data_dir(&data).await.unwrap().close().await;
        // Fill the disk to the last byte.
        let _ = std::fs::write(fs.0.path().join("filler"), vec![0u8; 8 << 20]);
        let started = std::time::Instant::now();
        let err = Store::open_data_dir(&data).await.unwrap_err();
        assert!(matches!(err, StoreError::NoSpace { .. }), "{err}");
        let msg = err.to_string();
        assert!(msg.contains("no space left on device"), "{msg}");
        assert!(msg.contains("free space"), "says what to do: {msg}");
        // No retrying until a pool timeout.
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
}
