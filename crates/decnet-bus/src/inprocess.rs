//! The bus of a single process (`decnet up`): same matching, queues and drop-oldest as the
//! UNIX-socket bus, without a socket.
//!
//! There are no connections, so the broker's "never echo to the publishing connection"
//! has nothing to apply to: a subscription in the publishing process receives the message
//! like any other. A worker that must ignore its own messages checks the payload.

use std::sync::Arc;

use serde_json::Value;

use crate::envelope::{into_object, Envelope};
use crate::local::{LocalTable, Subscription};
use crate::pattern::{validate_pattern, validate_topic};
use crate::{Bus, BusError, DropCounts};

/// A cheap-to-clone handle on one in-process bus.
#[derive(Clone, Default)]
pub struct InProcessBus {
    table: Arc<LocalTable>,
}

impl InProcessBus {
    /// A new, empty bus.
    pub fn new() -> InProcessBus {
        InProcessBus::default()
    }

    /// Ends every subscription (each yields what it holds, then `None`); later
    /// publications are dropped and later subscriptions end at once.
    pub fn close(&self) {
        self.table.close();
    }
}

impl std::fmt::Debug for InProcessBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessBus")
            .field("patterns", &self.table.patterns())
            .finish()
    }
}

impl Bus for InProcessBus {
    fn publish(&self, topic: &str, ty: &str, payload: Value) {
        if let Err(e) = validate_topic(topic) {
            tracing::warn!(error = %e, "bus publish dropped");
            return;
        }
        // Skip building the envelope when nobody listens (the common case for most topics).
        if self.table.wants(topic) {
            self.table
                .dispatch(Envelope::new(topic, ty, into_object(payload)));
        }
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        validate_pattern(pattern)?;
        Ok(self.table.subscribe(pattern))
    }

    fn dropped(&self) -> DropCounts {
        DropCounts {
            outbound: 0,
            delivery: self.table.dropped(),
        }
    }
}
