//! decnet-bus integration tests: the broker and client over real UNIX sockets in tempdirs,
//! the in-process, null and fake buses, and health.

// Test code may stop at the first surprise: a panic is how a test fails.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod backpressure;
mod broker;
mod client;
mod health;
mod local;
mod protocol;
mod support;
