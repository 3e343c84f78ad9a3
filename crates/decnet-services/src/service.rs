//! The service contract: a service declares what it binds (phase one, checked
//! before anything binds), builds a per-decky instance, and the instance
//! serves accepted connections (phase two). The engine's supervisor owns the
//! sockets, the limits and the connect/disconnect events.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use decnet_core::catalog::ServiceInfo;
use decnet_core::config::model::{DeckyConfig, Limits, ServiceConfig};
use decnet_core::paths::DataDir;
use decnet_core::seed::InstanceSeed;
use decnet_core::{Event, EventType};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::conn::Conn;

/// Why a service could not be built or a connection ended abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// A persona value is unusable; the message names the key.
    #[error("service {service}: persona key {key}: {message}")]
    Persona {
        /// Service name.
        service: &'static str,
        /// Offending key.
        key: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
    /// Keys or certificates could not be created or loaded.
    #[error("service {service}: {what}: {source}")]
    State {
        /// Service name.
        service: &'static str,
        /// What was being done.
        what: String,
        /// Underlying error.
        source: std::io::Error,
    },
    /// Key or certificate material could not be generated.
    #[error("service {service}: could not generate {what}: {message}")]
    Crypto {
        /// Service name.
        service: &'static str,
        /// What was being generated.
        what: &'static str,
        /// Library message.
        message: String,
    },
    /// The peer broke the protocol; the connection ends, the event was logged.
    #[error("protocol error from peer: {0}")]
    Protocol(String),
    /// The connection failed (reset, timeout, limit).
    #[error("connection: {0}")]
    Io(#[from] std::io::Error),
}

/// What every service instance of one decky shares.
#[derive(Debug)]
pub struct DeckyRuntime {
    /// The resolved decky.
    pub config: DeckyConfig,
    /// Its instance seed.
    pub seed: InstanceSeed,
    /// The data dir (`<data>`).
    pub data_dir: PathBuf,
    /// Connection limits.
    pub limits: Limits,
}

impl DeckyRuntime {
    /// `<data>/deckies/<decky>/<service>`: keys and certificates kept across restarts.
    pub fn state_dir(&self, service: &str) -> PathBuf {
        DataDir::new(&self.data_dir).decky_state(&self.config.name, service)
    }

    /// `<data>/artifacts/<decky>/<service>`: transcripts and captured files.
    pub fn artifacts_dir(&self, service: &str) -> PathBuf {
        DataDir::new(&self.data_dir).artifacts(&self.config.name, service)
    }
}

/// An event on its way to the journal, with the signal that it is durable.
#[derive(Debug)]
pub struct Pending {
    /// The event.
    pub event: Event,
    /// Fired once the event is on disk (fsynced).
    pub durable: oneshot::Sender<()>,
}

#[derive(Debug, Clone)]
enum Intake {
    /// Hand-off only (tests and tools that have no journal).
    Plain(mpsc::Sender<Event>),
    /// Hand-off, then wait until the journal has synced the event.
    Durable(mpsc::Sender<Pending>),
}

/// Sends events towards the journal. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct Emitter {
    intake: Intake,
}

impl Emitter {
    /// An emitter whose `emit` returns once the event is handed over.
    pub fn new(tx: mpsc::Sender<Event>) -> Emitter {
        Emitter {
            intake: Intake::Plain(tx),
        }
    }

    /// An emitter whose `emit` returns only once the journal has fsynced the event,
    /// so whatever a peer saw answered is on disk even if the process dies next.
    pub fn durable(tx: mpsc::Sender<Pending>) -> Emitter {
        Emitter {
            intake: Intake::Durable(tx),
        }
    }

    /// Hands an event to the journal, waiting for room rather than dropping it.
    pub async fn emit(&self, event: Event) {
        let delivered = match &self.intake {
            Intake::Plain(tx) => tx.send(event).await.is_ok(),
            Intake::Durable(tx) => {
                let (durable, synced) = oneshot::channel();
                tx.send(Pending { event, durable }).await.is_ok() && synced.await.is_ok()
            }
        };
        if !delivered {
            tracing::error!("event journal is closed; an event could not be recorded");
        }
    }
}

/// Everything a service knows about one accepted connection.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    /// The decky.
    pub decky: Arc<DeckyRuntime>,
    /// Service name as configured.
    pub service: &'static str,
    /// Peer address.
    pub peer: SocketAddr,
    /// Decky address the peer reached.
    pub local: SocketAddr,
    /// Session id stamped on every event of this connection.
    pub session_id: Uuid,
    /// Event intake.
    pub emitter: Emitter,
}

impl ConnCtx {
    /// A new event of this connection (fresh id and timestamp).
    pub fn event(&self, event_type: EventType) -> Event {
        let mut e = Event::now(
            self.decky.config.name.clone(),
            self.service,
            event_type,
            self.peer,
            self.local,
        );
        e.session_id = Some(self.session_id);
        e
    }

    /// Emits an event.
    pub async fn emit(&self, event: Event) {
        self.emitter.emit(event).await;
    }

    /// Emits a `protocol_error` with a reason and returns the matching error.
    pub async fn protocol_error(&self, reason: impl Into<String>) -> ServiceError {
        let reason = reason.into();
        let mut e = self.event(EventType::ProtocolError);
        e.fields.insert("reason".into(), reason.clone().into());
        self.emit(e).await;
        ServiceError::Protocol(reason)
    }
}

/// One service on one decky, ready to serve connections.
#[async_trait]
pub trait Instance: Send + Sync {
    /// Serves one accepted connection until it ends. Must not panic on any input.
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError>;
}

/// A protocol emulator.
pub trait Service: Send + Sync + 'static {
    /// What it binds and which persona keys it takes.
    fn info(&self) -> &'static ServiceInfo;
    /// Builds the per-decky instance (keys, certificates, parsed persona) before anything binds.
    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError>;
}
