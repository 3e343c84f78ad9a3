//! End-to-end tests of the `decnet` binary: real processes, real sockets, real clients.

// Test code may stop at the first surprise: a panic is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod api;
mod audit;
mod bait;
mod bus;
mod cli;
mod diskfull;
mod forward;
mod ingest_kill;
mod kill;
mod nmap_services;
mod privacy;
mod shutdown;
mod status;
mod support;
