//! End-to-end tests of the `decnet` binary: real processes, real sockets, real clients.

mod bus;
mod api;
mod cli;
mod ingest_kill;
mod kill;
mod support;
