//! Helpers for tests that run against both backends: a throwaway PostgreSQL
//! schema per test, so tests run in parallel on one server.

use sqlx::any::AnyPoolOptions;

use crate::Result;

/// Names the PostgreSQL server tests use (`postgres://user:pass@host/db`).
pub const TEST_DATABASE_URL_ENV: &str = "DECNET_TEST_DATABASE_URL";

/// The test server's URL; `None` when unset, except under CI, where a
/// missing server must fail the run rather than quietly skip half the tests.
pub fn postgres_url() -> Option<String> {
    match std::env::var(TEST_DATABASE_URL_ENV) {
        Ok(u) if !u.trim().is_empty() => Some(u.trim().to_owned()),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{TEST_DATABASE_URL_ENV} is unset under CI: the PostgreSQL half of the store tests \
             would be skipped (.ci/run starts a server and sets it)"
        ),
        _ => {
            // Test-support code: tell the person running the tests what was not covered.
            eprintln!(
                "SKIPPED: the PostgreSQL case ({TEST_DATABASE_URL_ENV} is unset; .ci/run starts a server and sets it)"
            );
            None
        }
    }
}

/// A fresh schema on the test server; [`url`](Self::url) connects with it as the search path.
#[derive(Debug)]
pub struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    /// Creates `t_<random>` on the server at `base`.
    pub async fn create(base: &str) -> Result<PgSchema> {
        sqlx::any::install_default_drivers();
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(base)
            .await?;
        sqlx::query(&format!("CREATE SCHEMA {name}"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(PgSchema {
            base: base.to_owned(),
            name,
        })
    }

    /// The server URL with this schema as the search path.
    pub fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options[search_path]={}", self.base, self.name)
    }

    /// Drops the schema and everything in it.
    pub async fn drop_schema(self) -> Result<()> {
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(&self.base)
            .await?;
        sqlx::query(&format!("DROP SCHEMA {} CASCADE", self.name))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }
}
