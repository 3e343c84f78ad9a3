//! decnet-api integration tests: the router in-process (`oneshot`, `MockConnectInfo`)
//! and one real-socket smoke test with the SSE stream.

// Test code may stop at the first surprise: a panic is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod auth;
mod errors;
mod freshness;
mod hardening;
mod pagination;
mod routes;
mod smoke;
mod support;
mod users;
