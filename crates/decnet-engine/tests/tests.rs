//! Engine integration tests over real loopback sockets, with small test services.

mod supervisor;
mod support;
