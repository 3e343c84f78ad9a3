//! Ingester tests against SQLite and, when configured, PostgreSQL.

// Test code may stop at the first surprise: a panic is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod ingest;
mod reuse;
