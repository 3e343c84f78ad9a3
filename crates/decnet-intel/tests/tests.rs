//! Ingester tests against SQLite and, when configured, PostgreSQL.

mod ingest;
