//! What `serve` learns about a connection while [`super::decoy`] runs it.

use std::sync::atomic::AtomicBool;

use decnet_core::event::Fields;

use super::hassh::Hello;

/// What `serve` needs to know about the connection once it ends.
#[derive(Debug, Default)]
pub struct Progress {
    /// Some authentication request was made (`none` included).
    pub auth_seen: AtomicBool,
}

/// Adds `client_version`, `hassh` and `hassh_algorithms` from the tap.
pub fn client_fields(fields: &mut Fields, hello: &Hello) {
    fields.extend(super::hassh::hello_fields(hello));
}
