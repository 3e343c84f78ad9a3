//! Store contract tests, run once against SQLite and once against
//! PostgreSQL when `DECNET_TEST_DATABASE_URL` is set.

mod contract;
mod support;
