//! Integration tests of the protocol emulators over real loopback sockets,
//! driven by real clients where they are installed.

mod harness;
mod http;
mod ssh;
