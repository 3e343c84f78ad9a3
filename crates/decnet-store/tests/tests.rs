//! Store contract tests, run once against SQLite and once against
//! PostgreSQL when `DECNET_TEST_DATABASE_URL` is set.

// Test code may stop at the first surprise: a panic is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod contract;
mod support;
