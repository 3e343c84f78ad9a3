//! Dashboard and API accounts.

use chrono::Utc;
use sqlx::any::AnyRow;
use sqlx::Row;
use uuid::Uuid;

use crate::sql::{col_ts, col_uuid, micros};
use crate::{NewUser, Result, Role, Store, StoreError, User};

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
        let r = sqlx::query(
            "INSERT INTO users (uuid, username, password_hash, role, must_change_password, \
             created_at, updated_at, tokens_valid_from) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.uuid.to_string())
        .bind(user.username.as_str())
        .bind(user.password_hash.as_str())
        .bind(user.role.as_str())
        .bind(i64::from(user.must_change_password))
        .bind(micros(now))
        .bind(micros(now))
        .bind(micros(now))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(user),
            Err(e) if is_unique_violation(&e) => Err(StoreError::Conflict("username")),
            Err(e) => Err(e.into()),
        }
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
        let n = sqlx::query(
            "UPDATE users SET password_hash = $2, must_change_password = $3, updated_at = $4 \
             WHERE uuid = $1",
        )
        .bind(uuid.to_string())
        .bind(password_hash)
        .bind(i64::from(must_change_password))
        .bind(micros(Utc::now()))
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(n == 1)
    }

    /// Changes a user's role; false if no such user.
    pub async fn set_role(&self, uuid: Uuid, role: Role) -> Result<bool> {
        let n = sqlx::query("UPDATE users SET role = $2, updated_at = $3 WHERE uuid = $1")
            .bind(uuid.to_string())
            .bind(role.as_str())
            .bind(micros(Utc::now()))
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Deletes a user; false if no such user.
    pub async fn delete_user(&self, uuid: Uuid) -> Result<bool> {
        let n = sqlx::query("DELETE FROM users WHERE uuid = $1")
            .bind(uuid.to_string())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(n == 1)
    }

    /// Invalidates every token issued so far to the user (logout everywhere);
    /// returns the new cut-off, or None if no such user.
    pub async fn bump_tokens_valid_from(
        &self,
        uuid: Uuid,
    ) -> Result<Option<chrono::DateTime<Utc>>> {
        let now = micros(Utc::now());
        let n =
            sqlx::query("UPDATE users SET tokens_valid_from = $2, updated_at = $2 WHERE uuid = $1")
                .bind(uuid.to_string())
                .bind(now)
                .execute(&self.pool)
                .await?
                .rows_affected();
        Ok((n == 1).then(|| crate::sql::from_micros(now)))
    }
}
