//! The service contract: a service declares what it binds (phase one, checked
//! before anything binds), builds a per-decky instance, and the instance
//! serves accepted connections (phase two). The engine's supervisor owns the
//! sockets, the limits and the connect/disconnect events.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use decnet_core::catalog::{ListenerInfo, ServiceInfo};
use decnet_core::config::model::{DeckyConfig, Limits, ServiceConfig};
use decnet_core::fields::{names, EventBody, Login, LoginMethod, LoginOutcome};
use decnet_core::paths::DataDir;
use decnet_core::seed::InstanceSeed;
use decnet_core::{Credential, Event, EventType, Fields};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::conn::Conn;
use crate::recorder::RecordingSummary;

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
    /// The fleet's bait world (shared by every decky).
    pub bait: Arc<decnet_core::bait::World>,
    /// Prefix length of the network the decky pretends to be on (`ip a` shows it).
    pub prefix: u8,
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
    /// How long the event may wait before the journal writes and syncs it. Zero
    /// for an answer that waits on it; a refusal delayed by a tarpit can let its
    /// event ride along with the next batch instead of costing an fsync of its own.
    pub slack: std::time::Duration,
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

/// An event handed to the journal by [`Emitter::submit`]: [`recorded`](Self::recorded)
/// says once it is durable.
#[derive(Debug)]
#[must_use = "an event is only known to be recorded once its receipt says so"]
pub struct Receipt(ReceiptState);

#[derive(Debug)]
enum ReceiptState {
    /// Settled at hand-off: handed over (plain intake) or refused.
    Settled(bool),
    /// Waiting for the journal's fsync.
    Syncing(oneshot::Receiver<()>),
}

impl Receipt {
    /// Resolves once the event is on disk: true, or false when the journal could not record it.
    pub async fn recorded(self) -> bool {
        let ok = match self.0 {
            ReceiptState::Settled(ok) => ok,
            ReceiptState::Syncing(synced) => synced.await.is_ok(),
        };
        if !ok {
            tracing::debug!("the journal did not record an event");
        }
        ok
    }
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
    /// False when the journal could not record it.
    pub async fn emit(&self, event: Event) -> bool {
        self.submit(event, std::time::Duration::ZERO)
            .await
            .recorded()
            .await
    }

    /// Hands an event to the journal (waiting for room rather than dropping it)
    /// and returns without waiting for the fsync: the journal may hold it up to
    /// `slack` to sync it with others. A caller that answers its peer only after
    /// a delay of its own submits, waits out the delay, then awaits the receipt,
    /// so the peer still hears nothing that is not on disk.
    pub async fn submit(&self, event: Event, slack: std::time::Duration) -> Receipt {
        match &self.intake {
            Intake::Plain(tx) => Receipt(ReceiptState::Settled(tx.send(event).await.is_ok())),
            Intake::Durable(tx) => {
                let (durable, synced) = oneshot::channel();
                let pending = Pending {
                    event,
                    durable,
                    slack,
                };
                match tx.send(pending).await {
                    Ok(()) => Receipt(ReceiptState::Syncing(synced)),
                    Err(_) => Receipt(ReceiptState::Settled(false)),
                }
            }
        }
    }
}

/// Ends one session from outside the service: the supervisor closes the
/// connection as soon as it is aborted. The first reason given wins.
#[derive(Debug, Clone, Default)]
pub struct SessionAbort {
    token: tokio_util::sync::CancellationToken,
    reason: Arc<std::sync::OnceLock<&'static str>>,
}

impl SessionAbort {
    /// Asks for the session to end, recording why (the `disconnect` event's `reason`).
    pub fn abort(&self, reason: &'static str) {
        let _ = self.reason.set(reason);
        self.token.cancel();
    }

    /// Whether the session was aborted.
    pub fn is_aborted(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Why it was aborted, once it was.
    pub fn reason(&self) -> Option<&'static str> {
        self.reason.get().copied()
    }

    /// Resolves once the session is aborted.
    pub async fn aborted(&self) {
        self.token.cancelled().await
    }
}

/// Whether a session got past authentication (or its protocol's first complete
/// request): until then the supervisor's `pre_auth_timeout` applies.
#[derive(Debug, Clone, Default)]
pub struct PreAuth(Arc<std::sync::atomic::AtomicBool>);

impl PreAuth {
    /// The peer authenticated (or completed its first request): the pre-auth deadline is lifted.
    pub fn done(&self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether [`done`](Self::done) was called.
    pub fn is_done(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Why a session's extra connection (an FTP data channel) got no slot: the
/// `limit` and `max` of its `limit_exceeded` event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotRefused {
    /// Name of the limit that was full (`max_connections_per_source`, …).
    pub limit: &'static str,
    /// Its configured value.
    pub max: u64,
}

/// The supervisor's limits, for connections a session opens besides its own.
pub trait SlotGate: Send + Sync + std::fmt::Debug {
    /// Takes the slots one more connection from `peer` needs, held until the
    /// returned guard drops; `abort` ends the session should the slot be evicted.
    fn admit(
        &self,
        peer: std::net::IpAddr,
        abort: &SessionAbort,
    ) -> Result<Box<dyn Send + Sync>, SlotRefused>;
}

/// A session's handle on the supervisor's limits for its extra connections
/// (FTP data channels count against the per-decky and per-source caps too).
/// The default has no gate and admits everything: for tests and tools that run
/// a service without the engine.
#[derive(Debug, Clone, Default)]
pub struct ExtraSlots(Option<Arc<dyn SlotGate>>);

/// Slots held by one extra connection; released on drop.
#[must_use = "the slot is released as soon as the guard drops"]
pub struct SlotGuard {
    _held: Option<Box<dyn Send + Sync>>,
}

impl std::fmt::Debug for SlotGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlotGuard")
    }
}

impl ExtraSlots {
    /// Extra connections go through `gate`.
    pub fn new(gate: Arc<dyn SlotGate>) -> ExtraSlots {
        ExtraSlots(Some(gate))
    }

    /// Slots for one more connection from `peer` of the session `abort` ends.
    pub fn admit(
        &self,
        peer: std::net::IpAddr,
        abort: &SessionAbort,
    ) -> Result<SlotGuard, SlotRefused> {
        match &self.0 {
            Some(gate) => gate
                .admit(peer, abort)
                .map(|g| SlotGuard { _held: Some(g) }),
            None => Ok(SlotGuard { _held: None }),
        }
    }
}

/// `disconnect` reason of a session ended because the journal could not record its events.
pub const REASON_NOT_RECORDED: &str = "not_recorded";

/// Everything a service knows about one accepted connection.
#[derive(Debug, Clone)]
pub struct ConnCtx {
    /// The decky.
    pub decky: Arc<DeckyRuntime>,
    /// Service name as configured.
    pub service: &'static str,
    /// The listener the peer reached (`https` of `http`; its transport and TLS flag).
    pub listener: &'static ListenerInfo,
    /// Peer address.
    pub peer: SocketAddr,
    /// Decky address the peer reached.
    pub local: SocketAddr,
    /// Session id stamped on every event of this connection.
    pub session_id: Uuid,
    /// When the connection was accepted: a delay a real server takes from
    /// accept (SSH's banner) counts from here, not from when `serve` starts.
    pub accepted: tokio::time::Instant,
    /// Event intake.
    pub emitter: Emitter,
    /// Ends this session from outside (journal failure, eviction by a fair-share limit).
    pub abort: SessionAbort,
    /// Set by the service once the peer authenticated; lifts the pre-auth deadline.
    pub pre_auth: PreAuth,
    /// Slots for the session's extra connections (FTP data channels).
    pub slots: ExtraSlots,
}

impl ConnCtx {
    /// A new event of this connection (fresh id and timestamp). Events name the
    /// listener (`https` traffic of `http` stays `https`, as DECNET's SIEM rules expect).
    pub fn event(&self, event_type: EventType) -> Event {
        let mut e = Event::now(
            self.decky.config.name.clone(),
            self.listener.name,
            event_type,
            self.peer,
            self.local,
        );
        e.session_id = Some(self.session_id);
        e
    }

    /// A new event of this connection carrying `body`'s typed fields.
    pub fn event_of(&self, body: &impl EventBody) -> Event {
        let mut e = self.event(body.event_type());
        body.write_fields(&mut e.fields);
        e
    }

    /// Emits an event and returns once it is recorded. When the journal cannot
    /// record it, this aborts the session and never returns: nothing a service does
    /// after an event may reach a peer unless that event is on disk.
    pub async fn emit(&self, event: Event) {
        if self.emitter.emit(event).await {
            return;
        }
        self.abort.abort(REASON_NOT_RECORDED);
        std::future::pending::<()>().await
    }

    /// The login event every protocol sends: `login_attempt` or `login_success`
    /// with its `method`, the protocol's own `fields` and the credential
    /// (marked by [`ConnCtx::mark_honeytoken`]).
    pub fn login_event(
        &self,
        outcome: LoginOutcome,
        method: LoginMethod,
        credential: Credential,
        fields: Fields,
    ) -> Event {
        let mut e = self.event_of(&Login {
            outcome,
            method: Some(method),
        });
        e.fields.extend(fields);
        e.credential = Some(credential);
        self.mark_honeytoken(&mut e);
        e
    }

    /// Adds `honeytoken` to an event whose credential the bait world planted:
    /// where it was planted and where it is valid, whichever decky it is presented to.
    pub fn mark_honeytoken(&self, e: &mut Event) {
        let Some(c) = &e.credential else {
            return;
        };
        if let Some(t) = c
            .secret_printable
            .as_deref()
            .and_then(|secret| self.decky.bait.honeytoken(&c.principal, secret.as_bytes()))
        {
            e.fields.insert(names::HONEYTOKEN.into(), t.field());
        }
    }

    /// Emits the login event of [`ConnCtx::login_event`].
    pub async fn login(
        &self,
        outcome: LoginOutcome,
        method: LoginMethod,
        credential: Credential,
        fields: Fields,
    ) {
        self.emit(self.login_event(outcome, method, credential, fields))
            .await;
    }

    /// Emits a `login_attempt`: a credential refused (or whose outcome is unknown).
    pub async fn login_attempt(&self, method: LoginMethod, credential: Credential, fields: Fields) {
        self.login(LoginOutcome::Attempt, method, credential, fields)
            .await;
    }

    /// Emits a `login_success`: a credential let in.
    pub async fn login_success(&self, method: LoginMethod, credential: Credential, fields: Fields) {
        self.login(LoginOutcome::Success, method, credential, fields)
            .await;
    }

    /// Emits the `session_recorded` that closes a recording.
    pub async fn session_recorded(&self, summary: &RecordingSummary) {
        self.emit(self.event_of(&summary.event_body())).await;
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

/// One service on one decky, ready to serve connections and datagrams.
#[async_trait]
pub trait Instance: Send + Sync {
    /// Serves one accepted connection of a TCP listener until it ends. Must not panic on any input.
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError>;

    /// Answers one datagram of a UDP listener with the datagrams to send back (none to
    /// stay silent). The engine has already applied the per-source rate limit, caps the
    /// replies at [`AMPLIFICATION_CAP`] times the request and stamps the persona's TTL.
    /// Must not panic on any input; must answer promptly (it holds a slot while it runs).
    async fn datagram(&self, packet: Bytes, ctx: ConnCtx) -> Result<Vec<Bytes>, ServiceError> {
        let _ = (packet, ctx);
        Ok(Vec::new())
    }

    /// Whether the supervisor closes a connection that has not called
    /// `ctx.pre_auth.done()` within `limits.pre_auth_timeout` (off unless the protocol marks it).
    fn pre_auth_deadline(&self) -> bool {
        false
    }

    /// How long the connection's `connect` event may wait to share an fsync.
    /// Nothing is written to the peer before that event is durable, so a
    /// service that answers only after a delay of its own (SSH's banner) lets
    /// the event ride along with others instead of costing a sync of its own.
    fn connect_slack(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// Most reply bytes a UDP listener sends per request byte: a decky must never be a
/// useful reflector for spoofed-source amplification attacks.
pub const AMPLIFICATION_CAP: usize = 3;

/// A protocol emulator.
pub trait Service: Send + Sync + 'static {
    /// What it binds and which persona keys it takes.
    fn info(&self) -> &'static ServiceInfo;
    /// Builds the per-decky instance (keys, certificates, parsed persona) before anything
    /// binds; `cfg.listeners` says which of its listeners are enabled.
    fn instance(
        &self,
        decky: Arc<DeckyRuntime>,
        cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError>;
}

#[cfg(test)]
mod conn_ctx_tests {
    use decnet_core::config::model::{DeckyConfig, Limits};
    use decnet_core::fields::{names, SessionRecorded, SkipReason};
    use decnet_core::persona::{distro, OsFamily};
    use decnet_core::SecretKind;
    use serde_json::json;

    use super::*;

    static SSH_LISTENER: ListenerInfo = ListenerInfo::tcp("ssh", 22);

    fn ctx() -> (ConnCtx, mpsc::Receiver<Event>) {
        let decky = DeckyRuntime {
            config: DeckyConfig {
                name: "decky-01".into(),
                ip: "127.42.0.10".parse().unwrap(),
                hostname: "web01".into(),
                os_family: OsFamily::Linux,
                distro: distro("debian").unwrap(),
                windows: None,
                archetype: None,
                services: Vec::new(),
            },
            seed: InstanceSeed::derive_for(b"test-installation", "decky-01"),
            data_dir: PathBuf::from("/nonexistent"),
            limits: Limits::DEFAULT,
            bait: Default::default(),
            prefix: 24,
        };
        let (tx, rx) = mpsc::channel(8);
        let ctx = ConnCtx {
            decky: Arc::new(decky),
            service: "ssh",
            listener: &SSH_LISTENER,
            peer: "203.0.113.9:51234".parse().unwrap(),
            local: "127.42.0.10:22".parse().unwrap(),
            session_id: Uuid::now_v7(),
            accepted: tokio::time::Instant::now(),
            emitter: Emitter::new(tx),
            abort: Default::default(),
            pre_auth: Default::default(),
            slots: Default::default(),
        };
        (ctx, rx)
    }

    #[tokio::test]
    async fn login_helpers_emit_method_protocol_fields_and_credential() {
        let (ctx, mut rx) = ctx();
        let mut extra = Fields::new();
        extra.insert("hassh".into(), "abc".into());
        ctx.login_attempt(
            LoginMethod::Password,
            Credential::new("root", b"toor", SecretKind::Password),
            extra.clone(),
        )
        .await;
        ctx.login_success(
            LoginMethod::KeyboardInteractive,
            Credential::new("root", b"123456", SecretKind::Password),
            extra,
        )
        .await;
        for (t, method, secret) in [
            (EventType::LoginAttempt, "password", "toor"),
            (EventType::LoginSuccess, "keyboard-interactive", "123456"),
        ] {
            let e = rx.recv().await.unwrap();
            assert_eq!(e.event_type, t);
            assert_eq!(e.session_id, Some(ctx.session_id));
            assert_eq!((e.decky.as_str(), e.service.as_str()), ("decky-01", "ssh"));
            assert_eq!(
                serde_json::Value::Object(e.fields),
                json!({"method": method, "hassh": "abc"})
            );
            let c = e.credential.unwrap();
            assert_eq!(c.principal, "root");
            assert_eq!(c.secret_printable.as_deref(), Some(secret));
        }
    }

    #[tokio::test]
    async fn session_recorded_carries_the_summary() {
        let (ctx, mut rx) = ctx();
        let sid = Uuid::now_v7();
        let sum = RecordingSummary {
            sid,
            shard: PathBuf::from("/data/t/sessions-2026-01-01.jsonl"),
            bytes: 321,
            duration_s: 1.23456,
            truncated: true,
            skipped: Some(SkipReason::ShardOpenFailed),
        };
        ctx.session_recorded(&sum).await;
        let e = rx.recv().await.unwrap();
        assert_eq!(e.event_type, EventType::SessionRecorded);
        assert_eq!(e.session_id, Some(ctx.session_id));
        assert_eq!(e.fields[names::SHARD], "/data/t/sessions-2026-01-01.jsonl");
        assert_eq!(e.fields[names::DURATION_S], 1.235);
        assert_eq!(e.fields[names::SKIPPED], "shard_open_failed");
        assert_eq!(
            SessionRecorded::from_event(&e),
            Some(SessionRecorded::new(
                sid,
                "/data/t/sessions-2026-01-01.jsonl",
                321,
                1.23456,
                true,
                Some(SkipReason::ShardOpenFailed)
            ))
        );
    }
}
