//! DECNET's notification bus (DESIGN §8): at-most-once pub/sub between workers of one host.
//!
//! - [`Bus`]: the trait workers use (`publish`, `subscribe`, drop counters), with
//!   [`InProcessBus`] (one process), [`UnixBus`] (client of the host broker, reconnecting),
//!   [`NullBus`] (bus disabled) and [`FakeBus`] (tests); [`bus_from_env`] picks one
//! - [`broker`]: the UNIX-socket broker (`decnet bus`)
//! - [`frame`]: the wire codec; [`pattern`]: topic/pattern syntax and NATS matching;
//!   [`envelope`]: the message envelope
//! - [`health`]: heartbeats, the worker health registry and stop requests
//! - [`client`], [`inprocess`], [`null`], [`fake`]: the bus implementations above;
//!   [`path`]: where the host socket lives; `local` and `queue`: the subscription
//!   table and bounded drop-oldest queues they share; `outq` and `json`: the broker's
//!   batched connection queues and its allocation-free check of a `PUB` body
//!
//! The bus only notifies: a lost message costs latency, never data, so publishing never
//! blocks and never fails a worker; every queue is bounded (1024) and drops its oldest.
//! The broker slows a publisher down (for a bounded time) before it drops anything for a
//! subscriber that keeps up: see [`broker`].

pub mod broker;
pub mod client;
pub mod envelope;
pub mod fake;
pub mod frame;
pub mod health;
pub mod inprocess;
mod json;
mod local;
pub mod null;
mod outq;
pub mod path;
pub mod pattern;
mod queue;

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use thiserror::Error;

pub use broker::{Broker, BrokerOptions, BrokerStats};
pub use client::UnixBus;
pub use envelope::Envelope;
pub use fake::FakeBus;
pub use health::{
    spawn_heartbeat, stop_signal, HealthRegistry, StopRequest, StopSignal, WorkerHealth,
};
pub use inprocess::InProcessBus;
pub use local::Subscription;
pub use null::NullBus;
pub use path::{default_socket_path, ENABLED_ENV, SOCKET_ENV};
pub use queue::QUEUE_CAPACITY;

/// Bus errors a caller can act on.
#[derive(Debug, Error)]
pub enum BusError {
    /// Not a publishable topic (empty token, wildcard or whitespace).
    #[error("invalid topic {0:?}")]
    InvalidTopic(String),
    /// Not a subscription pattern.
    #[error("invalid pattern {0:?}")]
    InvalidPattern(String),
    /// A topic helper refused a segment.
    #[error(transparent)]
    Topic(#[from] decnet_core::topics::TopicError),
    /// Another broker is answering on the socket.
    #[error("a bus broker is already listening on {}", .0.display())]
    SocketInUse(PathBuf),
    /// Something other than a socket sits at the socket path; it is left alone.
    #[error("{} exists and is not a socket", .0.display())]
    NotASocket(PathBuf),
    /// Preparing or binding the socket failed.
    #[error("bus socket {}: {source}", path.display())]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// Messages lost to full queues.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts {
    /// Publications dropped before leaving this process (UNIX client outbound queue).
    pub outbound: u64,
    /// Envelopes dropped by this process's subscriptions.
    pub delivery: u64,
}

/// Publish/subscribe, at most once. Object-safe: workers hold an `Arc<dyn Bus>`.
pub trait Bus: Send + Sync {
    /// Publishes `payload` (a JSON object; anything else is wrapped as `{"value": …}`) with
    /// type `ty` on `topic`. Never blocks and never fails the caller: an invalid topic or a
    /// full queue is logged (once per burst) and the message dropped.
    fn publish(&self, topic: &str, ty: &str, payload: Value);

    /// Subscribes to a pattern. Dropping the [`Subscription`] unsubscribes.
    fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError>;

    /// Drop counters since this bus was made.
    fn dropped(&self) -> DropCounts;
}

/// Whether a `DECNET_BUS_ENABLED` value leaves the bus on (unset, or anything but a "no").
pub fn bus_enabled(value: Option<&str>) -> bool {
    !matches!(
        value.map(|v| v.trim().to_ascii_lowercase()).as_deref(),
        Some("false" | "0" | "no" | "off")
    )
}

/// The bus a worker named `name` should use: [`NullBus`] when `DECNET_BUS_ENABLED=false`,
/// else a [`UnixBus`] on [`default_socket_path`]. Must be called inside a tokio runtime.
pub fn bus_from_env(name: &str) -> Arc<dyn Bus> {
    let enabled = std::env::var(ENABLED_ENV).ok();
    if !bus_enabled(enabled.as_deref()) {
        tracing::info!("bus disabled ({ENABLED_ENV}=false): publications are dropped");
        return Arc::new(NullBus);
    }
    Arc::new(UnixBus::connect(default_socket_path(), name))
}
