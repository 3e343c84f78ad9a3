//! The protocol test harness lives in `decnet_testkit::service`; this module adds
//! the services crate's own address band.

#![allow(dead_code)]

pub use decnet_testkit::have;
pub use decnet_testkit::service::*;

/// A loopback address unique to this test process.
pub fn unique_ip() -> String {
    decnet_testkit::unique_ip(100).to_string()
}
