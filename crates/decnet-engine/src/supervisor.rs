//! Listener supervision: one accept loop per TCP listener and one receive loop
//! per UDP listener of every decky, the connection and datagram limits, and the
//! connect / disconnect / limit_exceeded events. A service that errors or
//! panics ends its own connection (or drops its own datagram) only.
//!
//! A connection is admitted when the engine's descriptor budget, the host-wide
//! per-source cap and the decky's fair shares ([`crate::limits::DeckySlots`]) all
//! allow it; refusals are aggregated per source, decky and limit
//! ([`crate::limits::RefusalLog`]). Instances that opt in are closed when they
//! have not authenticated within `pre_auth_timeout`.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use decnet_core::catalog::ListenerInfo;
use decnet_core::health::Condition;
use decnet_core::EventType;
use decnet_services::conn::LimitTrip;
use decnet_services::service::AMPLIFICATION_CAP;
use decnet_services::service::{ExtraSlots, PreAuth, SessionAbort, SlotGate, SlotRefused};
use decnet_services::{Conn, ConnCtx, DeckyRuntime, Emitter, Instance};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::limits::{
    ConnectionBudget, DatagramSlot, DeckySlot, DeckySlots, Hit, Noted, RefusalLog, Site,
    MAX_PER_SOURCE,
};

/// Concurrent connections per source IP, host-wide.
#[derive(Debug)]
pub struct SourceLimiter {
    max: u32,
    counts: Mutex<HashMap<IpAddr, u32>>,
}

/// A held slot of a [`SourceLimiter`]; released on drop.
#[derive(Debug)]
pub struct SourceSlot {
    limiter: Arc<SourceLimiter>,
    ip: IpAddr,
}

impl SourceLimiter {
    /// A limiter allowing `max` concurrent connections per source.
    pub fn new(max: u32) -> Arc<SourceLimiter> {
        Arc::new(SourceLimiter {
            max,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// Takes a slot for `ip`, or None when it already holds `max`.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<SourceSlot> {
        let mut counts = self.counts.lock().ok()?;
        let n = counts.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            limiter: self.clone(),
            ip,
        })
    }

    /// Connections `ip` holds now.
    pub fn held(&self, ip: IpAddr) -> u32 {
        self.counts
            .lock()
            .ok()
            .and_then(|c| c.get(&ip).copied())
            .unwrap_or(0)
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.limiter.counts.lock() {
            if let Some(n) = counts.get_mut(&self.ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    counts.remove(&self.ip);
                }
            }
        }
    }
}

/// What the accept and receive loops share: one listener of one service instance
/// on one decky.
pub struct Endpoint {
    /// The service instance serving it.
    pub instance: Arc<dyn Instance>,
    /// Its decky.
    pub decky: Arc<DeckyRuntime>,
    /// Service name.
    pub service: &'static str,
    /// Which of the service's listeners this is.
    pub info: &'static ListenerInfo,
    /// Slots of the decky, shared by its listeners: a connection, or a datagram being
    /// answered, holds one; fair shares per service and per source.
    pub decky_slots: Arc<DeckySlots>,
    /// Event intake.
    pub emitter: Emitter,
    /// Refused connections, counted per source, decky and limit (host-wide).
    pub refusals: Arc<RefusalLog>,
    /// The journal's health: while degraded nothing is served, since nothing could be recorded.
    pub journal: Condition,
}

impl Endpoint {
    /// Whether the journal records: when it cannot, nothing is served (a visitor's
    /// traffic could not be kept), and the refusal is counted for the operator.
    fn recording(&self) -> bool {
        let ok = self.journal.is_ok();
        if !ok {
            self.journal.note_refused();
        }
        ok
    }

    /// The context of a new session from `peer` to `local`.
    fn ctx(&self, peer: SocketAddr, local: SocketAddr) -> ConnCtx {
        ConnCtx {
            decky: self.decky.clone(),
            service: self.service,
            listener: self.info,
            peer,
            local,
            session_id: uuid::Uuid::now_v7(),
            accepted: tokio::time::Instant::now(),
            emitter: self.emitter.clone(),
            abort: SessionAbort::default(),
            pre_auth: PreAuth::default(),
            slots: ExtraSlots::default(),
        }
    }

    /// Records a refused connection or dropped datagram (its own one-event session).
    async fn refused(
        &self,
        peer: SocketAddr,
        local: SocketAddr,
        limit: &str,
        max: u64,
        window: Option<Duration>,
    ) {
        let ctx = self.ctx(peer, local);
        let mut e = ctx.event(EventType::LimitExceeded);
        e.fields.insert("limit".into(), limit.into());
        e.fields.insert("max".into(), max.into());
        if let Some(w) = window {
            e.fields.insert("window_secs".into(), w.as_secs().into());
        }
        ctx.emitter.emit(e).await;
    }

    /// Records a refused connection unless its (source, limit) was already refused
    /// in this window, in which case it is only counted (see [`RefusalLog`]).
    async fn refusal(&self, peer: SocketAddr, local: SocketAddr, hit: Hit) {
        let site = Site {
            decky: self.decky.clone(),
            listener: self.info,
            peer,
            local,
        };
        match self.refusals.note(&site, hit, tokio::time::Instant::now()) {
            Noted::Record => self.refused(peer, local, hit.limit, hit.max, None).await,
            Noted::Counted => {}
            Noted::Flush(due) => {
                self.emitter.emit(due.event()).await;
            }
        }
    }

    /// After a failed accept or receive (EMFILE and friends): waits `backoff`, doubled
    /// up to a second for next time, instead of spinning. False when cancelled meanwhile.
    async fn back_off(
        &self,
        backoff: &mut Duration,
        cancel: &CancellationToken,
        error: &std::io::Error,
    ) -> bool {
        tracing::warn!(decky = %self.decky.config.name, listener = self.info.name, %error, "accept or receive failed; backing off");
        let waited = tokio::select! {
            _ = cancel.cancelled() => false,
            _ = tokio::time::sleep(*backoff) => true,
        };
        *backoff = (*backoff * 2).min(MAX_BACKOFF);
        waited
    }
}

/// First wait after a failed accept or receive.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
/// Longest wait after failed accepts or receives.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Everything one accept loop needs.
pub struct Listener {
    /// The bound socket.
    pub listener: TcpListener,
    /// What it serves.
    pub endpoint: Endpoint,
    /// Host-wide per-source limiter.
    pub sources: Arc<SourceLimiter>,
    /// Host-wide budget of decky connections (descriptors).
    pub budget: Arc<ConnectionBudget>,
}

/// The limits a session's extra connections (FTP data channels) take slots of:
/// the same descriptor budget, per-source cap and decky shares as an accepted one.
#[derive(Debug)]
struct Gate {
    sources: Arc<SourceLimiter>,
    budget: Arc<ConnectionBudget>,
    decky_slots: Arc<DeckySlots>,
    service: &'static str,
}

impl SlotGate for Gate {
    fn admit(
        &self,
        peer: IpAddr,
        abort: &SessionAbort,
    ) -> Result<Box<dyn Send + Sync>, SlotRefused> {
        let refused = |h: Hit| SlotRefused {
            limit: h.limit,
            max: h.max,
        };
        let fd = self.budget.take().map_err(refused)?;
        let source = self.sources.try_acquire(peer).ok_or(SlotRefused {
            limit: MAX_PER_SOURCE,
            max: u64::from(self.sources.max),
        })?;
        let decky = self
            .decky_slots
            .admit(peer, self.service, abort)
            .map_err(refused)?;
        Ok(Box::new(Held {
            decky,
            _source: source,
            _fd: fd,
        }))
    }
}

impl Listener {
    /// Accepts until `cancel`, spawning each connection on `tracker`.
    pub async fn run(self, cancel: CancellationToken, tracker: TaskTracker) {
        let ep = &self.endpoint;
        let gate: Arc<dyn SlotGate> = Arc::new(Gate {
            sources: self.sources.clone(),
            budget: self.budget.clone(),
            decky_slots: ep.decky_slots.clone(),
            service: ep.service,
        });
        let local = match self.listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(decky = %ep.decky.config.name, listener = ep.info.name, error = %e, "listener has no local address; not serving");
                return;
            }
        };
        let mut backoff = MIN_BACKOFF;
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => break,
                r = self.listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => {
                    backoff = MIN_BACKOFF;
                    x
                }
                Err(e) => {
                    if !ep.back_off(&mut backoff, &cancel, &e).await {
                        break;
                    }
                    continue;
                }
            };
            // The journal cannot record: close unserved, with no event (it would be lost too).
            if !ep.recording() {
                continue;
            }
            // A refused stream is dropped by the `let … else`: the peer sees a close.
            let limits = &ep.decky.limits;
            let fd = match self.budget.take() {
                Ok(fd) => fd,
                Err(hit) => {
                    ep.refusal(peer, local, hit).await;
                    continue;
                }
            };
            let Some(source_slot) = self.sources.try_acquire(peer.ip()) else {
                let max = u64::from(limits.max_connections_per_source);
                let hit = Hit {
                    limit: MAX_PER_SOURCE,
                    max,
                };
                ep.refusal(peer, local, hit).await;
                continue;
            };
            let mut ctx = ep.ctx(peer, local);
            ctx.slots = ExtraSlots::new(gate.clone());
            // Last, because admission may evict another connection of the decky.
            let decky_slot = match ep.decky_slots.admit(peer.ip(), ep.service, &ctx.abort) {
                Ok(slot) => slot,
                Err(hit) => {
                    ep.refusal(peer, local, hit).await;
                    continue;
                }
            };
            let span = tracing::debug_span!("conn", decky = %ep.decky.config.name, listener = ep.info.name, %peer, session = %ctx.session_id);
            tracker.spawn(
                serve_connection(
                    stream,
                    ctx,
                    ep.instance.clone(),
                    cancel.clone(),
                    Held {
                        decky: decky_slot,
                        _source: source_slot,
                        _fd: fd,
                    },
                )
                .instrument(span),
            );
        }
    }
}

/// Largest datagram read; anything longer is truncated by the kernel, as on a real host.
const MAX_DATAGRAM: usize = 65_535;
/// Time a service may take to answer one datagram.
const DATAGRAM_DEADLINE: Duration = Duration::from_secs(5);
/// Length of one rate-limit window of [`PacketLimiter`].
pub const UDP_WINDOW: Duration = Duration::from_secs(1);
/// Sources a [`PacketLimiter`] tracks at once; bounds its memory under spoofed floods.
const MAX_TRACKED_SOURCES: usize = 65_536;

/// What [`PacketLimiter::check`] decided about one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the source's budget: serve it.
    Pass,
    /// Over budget: drop it. `report` is set on the first drop of the window only,
    /// so a flood costs one `limit_exceeded` event per source and window.
    Drop {
        /// The limit that was hit and its value, on the window's first drop.
        report: Option<(&'static str, u64)>,
    },
}

#[derive(Debug)]
struct Window {
    start: Instant,
    packets: u32,
    bytes: u64,
    reported: bool,
}

/// Datagrams and bytes per source IP and window, host-wide.
#[derive(Debug)]
pub struct PacketLimiter {
    max_packets: u32,
    max_bytes: u64,
    window: Duration,
    table: Mutex<HashMap<IpAddr, Window>>,
}

impl PacketLimiter {
    /// A limiter allowing `max_packets` datagrams and `max_bytes` bytes per source and `window`.
    pub fn new(max_packets: u32, max_bytes: u64, window: Duration) -> Arc<PacketLimiter> {
        Arc::new(PacketLimiter {
            max_packets,
            max_bytes,
            window,
            table: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a datagram of `len` bytes from `ip` arriving at `now`.
    pub fn check(&self, ip: IpAddr, len: usize, now: Instant) -> Verdict {
        let Ok(mut table) = self.table.lock() else {
            return Verdict::Drop { report: None };
        };
        if table.len() >= MAX_TRACKED_SOURCES && !table.contains_key(&ip) {
            let window = self.window;
            table.retain(|_, w| now.duration_since(w.start) < window);
            if table.len() >= MAX_TRACKED_SOURCES {
                // Too many live sources to track: refusing is the bounded choice.
                return Verdict::Drop { report: None };
            }
        }
        let w = table.entry(ip).or_insert(Window {
            start: now,
            packets: 0,
            bytes: 0,
            reported: false,
        });
        if now.duration_since(w.start) >= self.window {
            *w = Window {
                start: now,
                packets: 0,
                bytes: 0,
                reported: false,
            };
        }
        w.packets = w.packets.saturating_add(1);
        w.bytes = w.bytes.saturating_add(len as u64);
        let over = if w.packets > self.max_packets {
            Some(("udp_packets_per_source", u64::from(self.max_packets)))
        } else if w.bytes > self.max_bytes {
            Some(("udp_bytes_per_source", self.max_bytes))
        } else {
            None
        };
        match over {
            None => Verdict::Pass,
            Some(limit) => {
                let report = (!w.reported).then_some(limit);
                w.reported = true;
                Verdict::Drop { report }
            }
        }
    }
}

/// Everything one UDP receive loop needs.
pub struct UdpListener {
    /// The bound socket.
    pub socket: UdpSocket,
    /// What it serves.
    pub endpoint: Endpoint,
    /// Host-wide per-source datagram budget.
    pub rate: Arc<PacketLimiter>,
}

impl UdpListener {
    /// Receives until `cancel`, answering each admitted datagram on `tracker`.
    pub async fn run(self, cancel: CancellationToken, tracker: TaskTracker) {
        let ep = &self.endpoint;
        let local = match self.socket.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(decky = %ep.decky.config.name, listener = ep.info.name, error = %e, "UDP listener has no local address; not serving");
                return;
            }
        };
        let socket = Arc::new(self.socket);
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut backoff = MIN_BACKOFF;
        loop {
            let received = tokio::select! {
                _ = cancel.cancelled() => break,
                r = socket.recv_from(&mut buf) => r,
            };
            let (n, peer) = match received {
                Ok(x) => {
                    backoff = MIN_BACKOFF;
                    x
                }
                Err(e) => {
                    if !ep.back_off(&mut backoff, &cancel, &e).await {
                        break;
                    }
                    continue;
                }
            };
            if !ep.recording() {
                continue;
            }
            match self.rate.check(peer.ip(), n, Instant::now()) {
                Verdict::Pass => {}
                Verdict::Drop { report } => {
                    if let Some((limit, max)) = report {
                        ep.refused(peer, local, limit, max, Some(self.rate.window))
                            .await;
                    }
                    continue;
                }
            }
            // A full decky drops datagrams silently: the rate limit already bounds the cost.
            let Some(permit) = ep.decky_slots.try_datagram() else {
                continue;
            };
            let packet = Bytes::copy_from_slice(buf.get(..n).unwrap_or_default());
            let ctx = ep.ctx(peer, local);
            let span = tracing::debug_span!("datagram", decky = %ep.decky.config.name, listener = ep.info.name, %peer, session = %ctx.session_id);
            tracker.spawn(
                answer_datagram(
                    socket.clone(),
                    packet,
                    ctx,
                    ep.instance.clone(),
                    cancel.clone(),
                    permit,
                )
                .instrument(span),
            );
        }
    }
}

/// Runs the service on one datagram and sends its replies, within the amplification cap.
async fn answer_datagram(
    socket: Arc<UdpSocket>,
    packet: Bytes,
    ctx: ConnCtx,
    instance: Arc<dyn Instance>,
    cancel: CancellationToken,
    _permit: DatagramSlot,
) {
    let request_len = packet.len();
    let service_ctx = ctx.clone();
    // Its own task, so a panic in the service is caught here and drops this datagram only.
    let mut task = tokio::spawn(async move { instance.datagram(packet, service_ctx).await });
    let replies = tokio::select! {
        r = &mut task => match r {
            Ok(Ok(replies)) => replies,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "datagram ended with an error");
                return;
            }
            Err(e) if e.is_panic() => {
                tracing::error!("service panicked on a datagram; the datagram was dropped, the decky keeps serving");
                return;
            }
            Err(_) => return,
        },
        _ = tokio::time::sleep(DATAGRAM_DEADLINE) => {
            task.abort();
            let _ = (&mut task).await;
            let mut e = ctx.event(EventType::LimitExceeded);
            e.fields.insert("limit".into(), "datagram_deadline".into());
            ctx.emitter.emit(e).await;
            return;
        }
        _ = cancel.cancelled() => {
            task.abort();
            let _ = (&mut task).await;
            return;
        }
        // The journal could not record what the service saw: no answer goes out.
        _ = ctx.abort.aborted() => {
            task.abort();
            let _ = (&mut task).await;
            return;
        }
    };
    let mut budget = request_len.saturating_mul(AMPLIFICATION_CAP);
    let mut withheld = 0usize;
    for reply in replies {
        if reply.len() > budget {
            withheld += reply.len();
            budget = 0;
            continue;
        }
        budget -= reply.len();
        if let Err(e) = socket.send_to(&reply, ctx.peer).await {
            tracing::debug!(error = %e, "UDP reply not sent");
        }
    }
    if withheld > 0 {
        let mut e = ctx.event(EventType::LimitExceeded);
        e.fields.insert("limit".into(), "amplification".into());
        e.fields.insert("request_bytes".into(), request_len.into());
        e.fields.insert("withheld_bytes".into(), withheld.into());
        ctx.emitter.emit(e).await;
    }
}

/// What an admitted connection holds until it closes.
struct Held {
    /// Its slot of the decky (and of its service).
    decky: DeckySlot,
    /// Its slot of the host-wide per-source cap.
    _source: SourceSlot,
    /// Its descriptor of the engine's budget.
    _fd: OwnedSemaphorePermit,
}

/// The accepted socket carrying its slots: they go back the moment the socket is
/// closed (fields drop in order: the slots first, then the descriptor), whoever
/// closes it and however long the closing events take to reach the disk, so a
/// peer that saw the close and reconnects always finds its slot free.
struct Slotted {
    _held: Held,
    stream: TcpStream,
}

impl tokio::io::AsyncRead for Slotted {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Slotted {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// `limit` and `disconnect` reason of a connection that did not authenticate in time.
pub const PRE_AUTH_TIMEOUT: &str = "pre_auth_timeout";
/// How long after `pre_auth_timeout` the supervisor's own deadline fires. SSH and HTTP
/// enforce the deadline in their protocol (closing as OpenSSH and nginx do, with one
/// `limit_exceeded` event); the supervisor's is the backstop for a service that does not,
/// and must not race theirs into a second event.
pub const PRE_AUTH_BACKSTOP: Duration = Duration::from_secs(5);
/// How long a connection's closing events may wait to share an fsync. They come
/// after the socket is closed, so no answer depends on them, and ending
/// connections (a brute forcer's reconnects, a scan) then cost one journal
/// wake-up and one fsync per batch instead of two per connection.
pub const CLOSING_SLACK: Duration = Duration::from_millis(50);

/// Runs one connection under the session (and, when the instance opts in, the
/// pre-auth) deadline and emits its lifecycle events.
async fn serve_connection(
    stream: TcpStream,
    ctx: ConnCtx,
    instance: Arc<dyn Instance>,
    cancel: CancellationToken,
    held: Held,
) {
    let started = Instant::now();
    let limits = ctx.decky.limits;
    let eviction = held.decky.eviction();
    // The supervisor's own events go straight to the emitter: a failure to record
    // them must not hang this task the way `ConnCtx::emit` parks a service.
    // With the instance's slack, the event may share an fsync with others; the
    // service starts (and writes its first byte) only once it is durable.
    let connect = ctx
        .emitter
        .submit(ctx.event(EventType::Connect), instance.connect_slack())
        .await;
    if !connect.recorded().await {
        return;
    }
    // Fixed once the session starts: bytes trickling in do not move it.
    let pre_auth_deadline = instance
        .pre_auth_deadline()
        .then(|| tokio::time::Instant::now() + limits.pre_auth_timeout + PRE_AUTH_BACKSTOP);
    let conn = Conn::new(
        Box::new(Slotted {
            _held: held,
            stream,
        }),
        ctx.peer,
        ctx.local,
        &limits,
    );
    let stats = conn.trip_flag();
    let service_ctx = ctx.clone();
    let pre_auth = ctx.pre_auth.clone();
    let pre_auth_expired = async move {
        match pre_auth_deadline {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
        if pre_auth.is_done() {
            std::future::pending::<()>().await;
        }
    };
    let mut hit: Option<Hit> = None;
    let reason = {
        // Polled in place rather than spawned: a panic in the service is caught
        // here and ends this connection only, without a task of its own per
        // connection. The service (and its socket) is dropped at the end of this
        // block, whichever branch wins, before any closing event is emitted.
        let serve = CatchPanic(instance.serve(conn, service_ctx));
        tokio::select! {
            r = serve => match r {
                Ok(Ok(())) => "closed",
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "connection ended with an error");
                    "error"
                }
                Err(Panicked) => {
                    tracing::error!("service panicked on a connection; the connection was closed, the decky keeps serving");
                    "service_panic"
                }
            },
            _ = tokio::time::sleep(limits.session_timeout) => {
                stats.set(LimitTrip::SessionTime);
                "session_timeout"
            }
            _ = cancel.cancelled() => "shutdown",
            _ = pre_auth_expired => {
                hit = Some(Hit {
                    limit: PRE_AUTH_TIMEOUT,
                    max: limits.pre_auth_timeout.as_secs(),
                });
                PRE_AUTH_TIMEOUT
            }
            _ = ctx.abort.aborted() => ctx.abort.reason().unwrap_or("aborted"),
        }
    };
    if ctx.abort.reason() == Some(decnet_services::service::REASON_NOT_RECORDED) {
        // Nothing more can be recorded; the close is all that is left to do.
        return;
    }
    let mut closing = Vec::with_capacity(2);
    if let Some(trip) = stats.get() {
        let mut e = ctx.event(EventType::LimitExceeded);
        e.fields.insert("limit".into(), trip.as_str().into());
        closing.push(e);
    }
    // An evicted connection names the limit that was full when its slot was taken.
    let (hit, evicted) = match (hit, eviction.get()) {
        (Some(h), _) => (Some(h), false),
        (None, e) => (e, e.is_some()),
    };
    if let Some(hit) = hit {
        let mut e = ctx.event(EventType::LimitExceeded);
        e.fields.insert("limit".into(), hit.limit.into());
        e.fields.insert("max".into(), hit.max.into());
        if evicted {
            e.fields.insert("evicted".into(), true.into());
        }
        closing.push(e);
    }
    let mut e = ctx.event(EventType::Disconnect);
    e.fields.insert("reason".into(), reason.into());
    e.fields.insert(
        "duration_ms".into(),
        (started.elapsed().as_millis() as u64).into(),
    );
    e.fields.insert("bytes_in".into(), stats.bytes_in().into());
    closing.push(e);
    let mut receipts = Vec::with_capacity(closing.len());
    for e in closing {
        receipts.push(ctx.emitter.submit(e, CLOSING_SLACK).await);
    }
    // The task ends only once they are durable, as with `emit`: a fleet that
    // has stopped has every connection's closing events on disk.
    for r in receipts {
        r.recorded().await;
    }
}

/// A service future whose panic is caught and reported as [`Panicked`].
struct CatchPanic<F>(F);

/// The service panicked while being polled.
#[derive(Debug)]
struct Panicked;

impl<F: Future + Unpin> Future for CatchPanic<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = &mut self.0;
        // A future that panicked is never polled again: `select!` drops it with its branch.
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            std::pin::Pin::new(inner).poll(cx)
        })) {
            Ok(std::task::Poll::Ready(v)) => std::task::Poll::Ready(Ok(v)),
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Err(_) => std::task::Poll::Ready(Err(Panicked)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_extra_connections_take_the_slots_an_accepted_one_would() {
        let limits = decnet_core::config::model::Limits {
            max_decky_connections_per_source: 2,
            ..decnet_core::config::model::Limits::DEFAULT
        };
        let gate = Gate {
            sources: SourceLimiter::new(3),
            budget: ConnectionBudget::new(100),
            decky_slots: DeckySlots::new(&limits),
            service: "ftp",
        };
        let ip: IpAddr = "203.0.113.5".parse().unwrap();
        let abort = SessionAbort::default();
        let a = gate.admit(ip, &abort).unwrap();
        let _b = gate.admit(ip, &abort).unwrap();
        let Err(refused) = gate.admit(ip, &abort) else {
            panic!("a third connection of the source was admitted")
        };
        assert_eq!(
            (refused.limit, refused.max),
            (crate::limits::MAX_DECKY_PER_SOURCE, 2)
        );
        assert_eq!(gate.sources.held(ip), 2, "a refusal keeps no slot");
        assert_eq!(gate.decky_slots.held(), 2);
        drop(a);
        assert_eq!(gate.sources.held(ip), 1);
        assert_eq!(gate.decky_slots.held(), 1);
        assert!(gate.admit(ip, &abort).is_ok());
    }

    #[test]
    fn source_slots_are_counted_and_released() {
        let l = SourceLimiter::new(2);
        let ip: IpAddr = "10.1.1.1".parse().unwrap();
        let a = l.try_acquire(ip).unwrap();
        let _b = l.try_acquire(ip).unwrap();
        assert!(l.try_acquire(ip).is_none());
        assert!(l.try_acquire("10.1.1.2".parse().unwrap()).is_some());
        drop(a);
        assert_eq!(l.held(ip), 1);
        assert!(l.try_acquire(ip).is_some());
    }

    #[test]
    fn datagram_budget_reports_once_per_window_and_renews() {
        let l = PacketLimiter::new(3, 1_000, Duration::from_secs(1));
        let ip: IpAddr = "10.1.1.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check(ip, 10, t0), Verdict::Pass);
        }
        assert_eq!(
            l.check(ip, 10, t0),
            Verdict::Drop {
                report: Some(("udp_packets_per_source", 3))
            }
        );
        for _ in 0..5 {
            assert_eq!(l.check(ip, 10, t0), Verdict::Drop { report: None });
        }
        // Another source has its own budget.
        assert_eq!(l.check("10.1.1.2".parse().unwrap(), 10, t0), Verdict::Pass);
        // The next window starts afresh.
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(l.check(ip, 10, t1), Verdict::Pass);
    }

    #[test]
    fn datagram_bytes_are_budgeted_too() {
        let l = PacketLimiter::new(100, 1_000, Duration::from_secs(1));
        let ip: IpAddr = "10.1.1.1".parse().unwrap();
        let t0 = Instant::now();
        assert_eq!(l.check(ip, 900, t0), Verdict::Pass);
        assert_eq!(
            l.check(ip, 200, t0),
            Verdict::Drop {
                report: Some(("udp_bytes_per_source", 1_000))
            }
        );
    }
}
