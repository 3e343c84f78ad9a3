//! DECNET's engine: deckies at runtime.
//!
//! - [`journal`]: the append-only event journal and its resumable reader
//!
//! Every decky's listeners live in one async runtime; the engine binds them,
//! enforces connection limits, and hands each connection to its service.

#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod journal;
