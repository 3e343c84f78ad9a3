//! End-to-end tests of the `decnet` binary: real processes, real sockets, real clients.

mod api;
mod bus;
mod cli;
mod ingest_kill;
mod kill;
mod support;
