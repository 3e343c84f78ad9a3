//! Fleet plumbing (DESIGN §2): what moves a host's journal elsewhere.
//!
//! - [`forward`]: the `log_target` forwarder, RFC 5424 over UDP, TCP or TLS,
//!   from its own durable journal offset

pub mod forward;

pub use forward::{ForwardError, Forwarder};
