//! Notifications published after each committed batch.
//!
//! The bus only notifies (DESIGN §1): a lost notification costs latency,
//! never data. So a [`Notifier`] never blocks and never fails the ingester.

use std::sync::Arc;

use serde_json::Value;
use tokio::sync::mpsc;

/// Where notifications go. Same shape as the bus's `publish`, so a bus
/// plugs in with [`FnNotifier`]: `FnNotifier::new(move |t, ty, p| bus.publish(t, ty, p))`.
pub trait Notifier: Send + Sync {
    /// Publishes `payload` with type `ty` on `topic`; must not block.
    fn publish(&self, topic: &str, ty: &str, payload: Value);

    /// Whether anything listens; false skips building payloads and heartbeats.
    fn enabled(&self) -> bool {
        true
    }
}

/// Drops everything (bus disabled); the ingester still polls the journal.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullNotifier;

impl Notifier for NullNotifier {
    fn publish(&self, _: &str, _: &str, _: Value) {}

    fn enabled(&self) -> bool {
        false
    }
}

/// One notification, as [`ChannelNotifier`] delivers it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    /// Topic (`credential.captured`, …).
    pub topic: String,
    /// Message type.
    pub ty: String,
    /// JSON object.
    pub payload: Value,
}

/// Sends notifications into a bounded channel; drops them when it is full.
#[derive(Debug, Clone)]
pub struct ChannelNotifier(pub mpsc::Sender<Notification>);

impl Notifier for ChannelNotifier {
    fn publish(&self, topic: &str, ty: &str, payload: Value) {
        // Full or closed: the notification is lost, as on the bus.
        let _ = self.0.try_send(Notification {
            topic: topic.to_owned(),
            ty: ty.to_owned(),
            payload,
        });
    }
}

/// Adapts any `Fn(topic, type, payload)`, e.g. a bus's `publish`.
pub struct FnNotifier<F>(F);

impl<F: Fn(&str, &str, Value) + Send + Sync> FnNotifier<F> {
    /// Wraps `f`.
    pub fn new(f: F) -> FnNotifier<F> {
        FnNotifier(f)
    }

    /// Wraps `f` as a shared notifier.
    pub fn shared(f: F) -> Arc<dyn Notifier>
    where
        F: 'static,
    {
        Arc::new(FnNotifier(f))
    }
}

impl<F> std::fmt::Debug for FnNotifier<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FnNotifier")
    }
}

impl<F: Fn(&str, &str, Value) + Send + Sync> Notifier for FnNotifier<F> {
    fn publish(&self, topic: &str, ty: &str, payload: Value) {
        (self.0)(topic, ty, payload)
    }
}

/// Publishes on a DECNET bus (in-process, UNIX broker, or [`decnet_bus::NullBus`]).
#[derive(Clone)]
pub struct BusNotifier(pub Arc<dyn decnet_bus::Bus>);

impl std::fmt::Debug for BusNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BusNotifier")
    }
}

impl Notifier for BusNotifier {
    fn publish(&self, topic: &str, ty: &str, payload: Value) {
        self.0.publish(topic, ty, payload);
    }
}
