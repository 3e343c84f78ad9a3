//! Engine integration tests over real loopback sockets, with small test services.

// Test code may stop at the first surprise: a panic is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod conformance;
mod fairness;
mod journal_health;
mod supervisor;
mod support;
mod udp;
