//! A throwaway PostgreSQL schema, so a test or a benchmark keeps its rows
//! apart from real data on a shared server and drops them afterwards.

use sqlx::any::AnyPoolOptions;

use crate::Result;

/// A fresh schema on a PostgreSQL server; [`url`](Self::url) connects with it as the search path.
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
