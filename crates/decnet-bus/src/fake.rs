//! A bus for tests: records every publication for assertions, delivers it to local
//! subscriptions like [`InProcessBus`](crate::InProcessBus), and lets a test inject messages
//! as if another worker had published them.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Notify;

use crate::envelope::{into_object, Envelope};
use crate::local::{LocalTable, Subscription};
use crate::pattern::{matches, validate_pattern, validate_topic};
use crate::{Bus, BusError, DropCounts};

#[derive(Default)]
struct Inner {
    table: Arc<LocalTable>,
    published: Mutex<Vec<Envelope>>,
    published_notify: Notify,
}

/// A recording bus; clones share the record.
#[derive(Clone, Default)]
pub struct FakeBus {
    inner: Arc<Inner>,
}

impl FakeBus {
    /// A new bus with an empty record.
    pub fn new() -> FakeBus {
        FakeBus::default()
    }

    fn record(&self) -> MutexGuard<'_, Vec<Envelope>> {
        self.inner
            .published
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Everything published so far, in order.
    pub fn published(&self) -> Vec<Envelope> {
        self.record().clone()
    }

    /// Publications whose topic matches `pattern`.
    pub fn published_on(&self, pattern: &str) -> Vec<Envelope> {
        self.record()
            .iter()
            .filter(|e| matches(pattern, &e.topic))
            .cloned()
            .collect()
    }

    /// Forgets the record.
    pub fn clear(&self) {
        self.record().clear();
    }

    /// Delivers a message to local subscriptions without recording it.
    pub fn inject(&self, topic: &str, ty: &str, payload: Value) {
        self.inner
            .table
            .dispatch(Envelope::new(topic, ty, into_object(payload)));
    }

    /// Waits up to `timeout` for a publication matching `pattern` (one already recorded
    /// counts) and returns the first such.
    pub async fn wait_published(&self, pattern: &str, timeout: Duration) -> Option<Envelope> {
        let wait = async {
            loop {
                let notified = self.inner.published_notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                if let Some(e) = self
                    .record()
                    .iter()
                    .find(|e| matches(pattern, &e.topic))
                    .cloned()
                {
                    return e;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.ok()
    }
}

impl Bus for FakeBus {
    fn publish(&self, topic: &str, ty: &str, payload: Value) {
        if let Err(e) = validate_topic(topic) {
            tracing::warn!(error = %e, "bus publish dropped");
            return;
        }
        let env = Envelope::new(topic, ty, into_object(payload));
        self.record().push(env.clone());
        self.inner.published_notify.notify_waiters();
        self.inner.table.dispatch(env);
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        validate_pattern(pattern)?;
        Ok(self.inner.table.subscribe(pattern))
    }

    fn dropped(&self) -> DropCounts {
        DropCounts {
            outbound: 0,
            delivery: self.inner.table.dropped(),
        }
    }
}
