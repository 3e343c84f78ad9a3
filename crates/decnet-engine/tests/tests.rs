//! Engine integration tests over real loopback sockets, with small test services.

mod conformance;
mod supervisor;
mod support;
mod udp;
