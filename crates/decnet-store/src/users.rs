//! Dashboard and API accounts.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use chrono::Utc;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Connection, Executor, Row};
use uuid::Uuid;

use crate::query::{ingest_generation_on, IngestGeneration};
use crate::sql::{col_ts, col_uuid, micros};
use crate::{Backend, NewUser, Result, Role, Store, StoreError, User};

/// The users and the ingest generation as [`Store::auth_snapshot`] read them.
#[derive(Debug, Clone)]
pub struct AuthSnapshot {
    /// Users, by key; all of them when `complete`.
    pub users: Vec<User>,
    /// Whether `users` is every user (false: more than were asked for exist).
    pub complete: bool,
    /// The ingest generation, read after the users.
    pub ingest: IngestGeneration,
}

/// How long an API write waits for SQLite's write lock (held by the
/// ingester's batch transactions) before it gives up.
const WRITE_WAIT: Duration = Duration::from_secs(120);
/// How often a waiting write asks for the lock. SQLite's own busy handler asks
/// every 100 ms, so behind an ingester that begins its next batch a
/// millisecond or two after committing the last, it almost never got in and
/// failed with "database is locked".
const WRITE_POLL: Duration = Duration::from_millis(1);

/// The body of a write transaction, run on its connection.
pub(crate) type WriteFn<'c, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>;

/// SQLite's SQLITE_BUSY, in any of its extended forms.
fn is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| c & 0xff == 5),
        _ => false,
    }
}

const USER_COLS: &str = "uuid, username, password_hash, role, must_change_password, created_at, \
     updated_at, tokens_valid_from";

fn user_from_row(r: &AnyRow) -> Result<User> {
    let role: String = r.try_get("role")?;
    Ok(User {
        uuid: col_uuid(r, "uuid")?,
        username: r.try_get("username")?,
        password_hash: r.try_get("password_hash")?,
        role: Role::parse(&role).ok_or(StoreError::Corrupt {
            column: "role",
            value: role,
        })?,
        must_change_password: r.try_get::<i64, _>("must_change_password")? != 0,
        created_at: col_ts(r, "created_at")?,
        updated_at: col_ts(r, "updated_at")?,
        tokens_valid_from: col_ts(r, "tokens_valid_from")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

impl Store {
    /// Runs `body` in a write transaction that waits for the write lock
    /// instead of failing while the ingester holds it: on SQLite `BEGIN
    /// IMMEDIATE` (taking the lock up front, so no statement inside can fail
    /// on a lock upgrade), asked for every millisecond for up to two minutes.
    pub(crate) async fn write<T>(
        &self,
        body: impl for<'c> FnOnce(&'c mut AnyConnection) -> WriteFn<'c, T>,
    ) -> Result<T> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = match self.backend {
            Backend::Postgres => Connection::begin(&mut *conn).await?,
            Backend::Sqlite => {
                // The connection leaves the pool: it polls without SQLite's
                // busy handler, which no other user of the pool expects, and a
                // request cancelled mid-wait must not hand it back that way.
                conn.close_on_drop();
                (&mut *conn).execute("PRAGMA busy_timeout = 0").await?;
                let deadline = Instant::now() + WRITE_WAIT;
                loop {
                    match Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await {
                        Ok(tx) => break tx,
                        Err(e) if is_busy(&e) && Instant::now() < deadline => {
                            tokio::time::sleep(WRITE_POLL).await;
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            }
        };
        let out = body(&mut tx).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Creates a user; [`StoreError::Conflict`] if the username is taken.
    pub async fn create_user(&self, u: &NewUser) -> Result<User> {
        if u.username.is_empty() || u.username.chars().count() > 128 {
            return Err(StoreError::Invalid {
                field: "username",
                reason: "must be 1 to 128 characters".into(),
            });
        }
        let now = Utc::now();
        let now = chrono::DateTime::from_timestamp_micros(micros(now)).unwrap_or(now);
        let user = User {
            uuid: Uuid::new_v4(),
            username: u.username.clone(),
            password_hash: u.password_hash.clone(),
            role: u.role,
            must_change_password: u.must_change_password,
            created_at: now,
            updated_at: now,
            tokens_valid_from: now,
        };
        let row = user.clone();
        self.write(move |c| {
            Box::pin(async move {
                let r = sqlx::query(
                    "INSERT INTO users (uuid, username, password_hash, role, \
                     must_change_password, created_at, updated_at, tokens_valid_from) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(row.uuid.to_string())
                .bind(row.username.as_str())
                .bind(row.password_hash.as_str())
                .bind(row.role.as_str())
                .bind(i64::from(row.must_change_password))
                .bind(micros(now))
                .bind(micros(now))
                .bind(micros(now))
                .execute(c)
                .await;
                match r {
                    Ok(_) => Ok(()),
                    Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("username")),
                    Err(e) => Err(e.into()),
                }
            })
        })
        .await?;
        Ok(user)
    }

    /// A user by login name.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE username = $1");
        let row = sqlx::query(&sql)
            .bind(username)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// A user by key.
    pub async fn user(&self, uuid: Uuid) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users WHERE uuid = $1");
        let row = sqlx::query(&sql)
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_from_row).transpose()
    }

    /// What authenticating a request needs, read after the call began: up to
    /// `max_users` users (by key) and the [`IngestGeneration`].
    pub async fn auth_snapshot(&self, max_users: u32) -> Result<AuthSnapshot> {
        let mut conn = self.pool.acquire().await?;
        let sql = format!("SELECT {USER_COLS} FROM users ORDER BY uuid LIMIT $1");
        let rows = sqlx::query(&sql)
            .bind(i64::from(max_users) + 1)
            .fetch_all(&mut *conn)
            .await?;
        let complete = rows.len() <= max_users as usize;
        let users = rows
            .iter()
            .take(max_users as usize)
            .map(user_from_row)
            .collect::<Result<Vec<User>>>()?;
        let ingest = ingest_generation_on(&mut conn).await?;
        Ok(AuthSnapshot {
            users,
            complete,
            ingest,
        })
    }

    /// Every user, by username.
    pub async fn list_users(&self) -> Result<Vec<User>> {
        let sql = format!("SELECT {USER_COLS} FROM users ORDER BY username ASC");
        let rows = sqlx::query(&sql).fetch_all(&self.pool).await?;
        rows.iter().map(user_from_row).collect()
    }

    /// Sets a new password hash and the must-change flag; false if no such user.
    pub async fn set_password(
        &self,
        uuid: Uuid,
        password_hash: &str,
        must_change_password: bool,
    ) -> Result<bool> {
        let hash = password_hash.to_owned();
        self.write(move |c| {
            Box::pin(async move {
                let n = sqlx::query(
                    "UPDATE users SET password_hash = $2, must_change_password = $3, \
                     updated_at = $4 WHERE uuid = $1",
                )
                .bind(uuid.to_string())
                .bind(hash)
                .bind(i64::from(must_change_password))
                .bind(micros(Utc::now()))
                .execute(c)
                .await?
                .rows_affected();
                Ok(n == 1)
            })
        })
        .await
    }

    /// Changes a user's role; false if no such user.
    pub async fn set_role(&self, uuid: Uuid, role: Role) -> Result<bool> {
        self.write(move |c| {
            Box::pin(async move {
                let n = sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE uuid = $1")
                    .bind(uuid.to_string())
                    .bind(role.as_str())
                    .bind(micros(Utc::now()))
                    .execute(c)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            })
        })
        .await
    }

    /// Deletes a user; false if no such user.
    pub async fn delete_user(&self, uuid: Uuid) -> Result<bool> {
        self.write(move |c| {
            Box::pin(async move {
                let n = sqlx::query("DELETE FROM users WHERE uuid = $1")
                    .bind(uuid.to_string())
                    .execute(c)
                    .await?
                    .rows_affected();
                Ok(n == 1)
            })
        })
        .await
    }

    /// Invalidates every token issued so far to the user (logout everywhere);
    /// returns the new cut-off, or None if no such user.
    pub async fn bump_tokens_valid_from(
        &self,
        uuid: Uuid,
    ) -> Result<Option<chrono::DateTime<Utc>>> {
        self.write(move |c| {
            Box::pin(async move {
                // Taken once the lock is held, so the cut-off is not earlier than
                // a token issued while this write waited.
                let now = micros(Utc::now());
                let n = sqlx::query(
                    "UPDATE users SET tokens_valid_from = $2, updated_at = $2 WHERE uuid = $1",
                )
                .bind(uuid.to_string())
                .bind(now)
                .execute(c)
                .await?
                .rows_affected();
                Ok((n == 1).then(|| crate::sql::from_micros(now)))
            })
        })
        .await
    }
}

#[cfg(test)]
mod write_tests {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;

    use decnet_core::journal_pos::JournalPos;

    use super::*;

    async fn store_with_user() -> (tempfile::TempDir, Store, User) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_data_dir(dir.path()).await.unwrap();
        let user = store
            .create_user(&NewUser {
                username: "admin".into(),
                password_hash: "old-hash".into(),
                role: Role::Admin,
                must_change_password: true,
            })
            .await
            .unwrap();
        (dir, store, user)
    }

    fn pos(n: u64) -> JournalPos {
        JournalPos {
            segment: 1,
            offset: n,
        }
    }

    #[tokio::test]
    async fn a_password_change_waits_for_an_open_ingest_batch_then_succeeds() {
        let (_dir, store, user) = store_with_user().await;
        // The ingester's batch holds SQLite's write lock until it commits.
        let batch = store.begin_ingest("t", None, pos(1)).await.unwrap();
        let s = store.clone();
        let mut change =
            tokio::spawn(async move { s.set_password(user.uuid, "new-hash", false).await });
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut change)
                .await
                .is_err(),
            "the change neither failed nor got through while the batch held the lock"
        );
        batch.commit().await.unwrap();
        assert!(change.await.unwrap().unwrap());
        let now = store.user(user.uuid).await.unwrap().unwrap();
        assert_eq!(
            (now.password_hash.as_str(), now.must_change_password),
            ("new-hash", false)
        );
    }

    /// The ingester behind on its journal commits a batch and begins the next
    /// a moment later, over and over; writes must get in between batches
    /// rather than wait (or fail) until it catches up.
    #[tokio::test]
    async fn writes_get_in_between_back_to_back_ingest_batches() {
        let (_dir, store, user) = store_with_user().await;
        let stop = Arc::new(AtomicBool::new(false));
        let batches = Arc::new(AtomicUsize::new(0));
        const MAX_BATCHES: usize = 2_000;
        let (started, running) = tokio::sync::oneshot::channel();
        let ingest = {
            let (store, stop, batches) = (store.clone(), stop.clone(), batches.clone());
            tokio::spawn(async move {
                let mut started = Some(started);
                let mut from = None;
                for n in 1..=MAX_BATCHES as u64 {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let tx = store.begin_ingest("t", from, pos(n)).await.unwrap();
                    // The batch's work, then reading the next lines from the journal.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    tx.commit().await.unwrap();
                    from = Some(pos(n));
                    batches.fetch_add(1, Ordering::SeqCst);
                    if let Some(s) = started.take() {
                        let _ = s.send(());
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
        };
        running.await.unwrap();
        for i in 0..5 {
            assert!(store
                .set_password(user.uuid, &format!("hash-{i}"), false)
                .await
                .unwrap());
            assert!(store
                .bump_tokens_valid_from(user.uuid)
                .await
                .unwrap()
                .is_some());
        }
        assert!(
            batches.load(Ordering::SeqCst) < MAX_BATCHES,
            "the writes only got through once the ingest loop had ended"
        );
        stop.store(true, Ordering::SeqCst);
        ingest.await.unwrap();
        let now = store.user(user.uuid).await.unwrap().unwrap();
        assert_eq!(now.password_hash, "hash-4");
    }
}
