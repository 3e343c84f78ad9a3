//! The bus when `DECNET_BUS_ENABLED=false`: publications vanish, subscriptions end at once.

use serde_json::Value;

use crate::local::Subscription;
use crate::pattern::validate_pattern;
use crate::{Bus, BusError, DropCounts};

/// A bus that is off.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullBus;

impl Bus for NullBus {
    fn publish(&self, _topic: &str, _ty: &str, _payload: Value) {}

    fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        validate_pattern(pattern)?;
        Ok(Subscription::ended(pattern))
    }

    fn dropped(&self) -> DropCounts {
        DropCounts::default()
    }
}
