//! decnet-bus integration tests: the broker and client over real UNIX sockets in tempdirs,
//! the in-process, null and fake buses, and health.

mod broker;
mod client;
mod health;
mod local;
mod protocol;
mod support;
