//! Runs a test body against every available backend.

use std::future::Future;

use decnet_store::testing::{postgres_url, PgSchema};
use decnet_store::Store;

/// Runs `body` on a fresh SQLite store, then on a fresh PostgreSQL schema when configured.
pub async fn each_backend<F, Fut>(body: F)
where
    F: Fn(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(dir.path().to_str().unwrap()).await.unwrap();
    body(store.clone()).await;
    store.close().await;
    if let Some(base) = postgres_url() {
        let schema = PgSchema::create(&base).await.unwrap();
        let store = Store::connect(&schema.url()).await.unwrap();
        assert_eq!(store.backend(), decnet_store::Backend::Postgres);
        body(store.clone()).await;
        store.close().await;
        schema.drop_schema().await.unwrap();
    }
}

pub use decnet_store::testing::{at, ev, login, put};
