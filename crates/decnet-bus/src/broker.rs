//! The host broker: accepts clients on a UNIX socket and routes `PUB`s to every other
//! connection with a matching pattern.
//!
//! # The publish path
//! Each connection is one task that reads its socket in large chunks and parses every
//! whole frame in a chunk before reading again. A `PUB` is checked without building a
//! JSON tree (the scanner in `json.rs` accepts exactly what a subscriber's decoder accepts), its
//! `type` and `payload` are copied as received into a fresh envelope (new id, the time the
//! chunk was read), and the `EVT` frame is encoded once into a buffer shared by the whole
//! group of up to 256 frames. Each subscriber gets slices of that buffer, contiguous
//! frames coalesced into one slice, so a burst costs one queue push per subscriber per
//! group and no per-message allocation. Topic validation and pattern matching are cached
//! per topic until a subscription changes. The same task drains that connection's own
//! queue into its socket with vectored writes of everything queued, no flush per message.
//! Any protocol error closes that connection and nothing else.
//!
//! # When a subscriber falls behind
//! Every connection's queue holds at most [`QUEUE_CAPACITY`] frames (DESIGN §8). When a
//! group would not fit, the publisher's task waits for room and does not read its socket
//! meanwhile, so the kernel's socket buffer fills and the publisher itself slows down:
//! a subscriber that keeps up loses nothing, however large the burst. Waiting is bounded.
//! A subscriber keeps up when, its queue full, it frees room for the group (at least
//! [`HEADROOM`] frames) within [`BACKPRESSURE_WAIT`]; one that does not is *behind*:
//! from then on its oldest frames are dropped (counted in [`BrokerStats::dropped`])
//! without waiting, until its writer finds its queue empty, which means it caught up.
//! So a stalled subscriber costs every publisher one wait of at most
//! [`BACKPRESSURE_WAIT`] per episode, holds at most twice its bound (the queue, plus
//! what its writer is blocked on), and never stops other subscribers. Publishers that
//! cannot be slowed (the broker's own heartbeat) drop at once. The UNIX client's
//! `publish` still never blocks: a throttled client queues, then drops its oldest.

use std::collections::{HashMap, HashSet};
use std::io::IoSlice;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::{Buf, BufMut, BytesMut};
use decnet_core::topics::SYSTEM_BUS_HEALTH;
use rand::{RngCore, SeedableRng};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::envelope::now_ts;
use crate::frame::{build, split, Frame, FrameError, Split, Verb, MAX_BODY};
use crate::outq::{Batch, OutQueue, Pushed};
use crate::pattern::validate_topic;
use crate::queue::QUEUE_CAPACITY;
use crate::BusError;

/// How often the broker publishes `system.bus.health`.
pub const BUS_HEARTBEAT: Duration = Duration::from_secs(10);

/// Longest a publisher waits for a full subscriber queue before that subscriber counts
/// as behind and loses its oldest frames instead.
pub const BACKPRESSURE_WAIT: Duration = Duration::from_millis(250);

/// Free slots a full subscriber queue must reach for a waiting publisher to go on: a
/// subscriber keeps up only if it drains this many frames within [`BACKPRESSURE_WAIT`]
/// (about 1,000 a second), so a trickling reader cannot pace the whole bus.
pub const HEADROOM: usize = 256;

/// Frames routed together (and pushed to a subscriber as one batch) at most.
const GROUP_FRAMES: usize = 256;
/// Encoded bytes routed together at most.
const GROUP_BYTES: usize = 256 * 1024;
/// How much the broker asks a client's socket for at once.
const READ_CHUNK: usize = 256 * 1024;
/// Slices per vectored write (well under any IOV_MAX).
const MAX_IOV: usize = 64;
/// Kernel send buffer asked for on every connection: room for a few queues' worth of
/// frames in flight, so a subscriber briefly descheduled does not stall its publishers.
const SEND_BUFFER: usize = 1024 * 1024;
/// Topics whose routes a connection remembers; more and the cache starts over.
const ROUTE_CACHE: usize = 256;

/// Broker settings.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// Interval of the `system.bus.health` heartbeat.
    pub heartbeat: Duration,
    /// Group given to the socket when it exists and we may (`decnet`).
    pub group: Option<String>,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
    /// Longest a publisher waits for room in a subscriber's queue ([`BACKPRESSURE_WAIT`]).
    pub backpressure_wait: Duration,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            heartbeat: BUS_HEARTBEAT,
            group: Some("decnet".into()),
            max_connections: 1024,
            backpressure_wait: BACKPRESSURE_WAIT,
        }
    }
}

/// Broker counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BrokerStats {
    /// Connections open now.
    pub connections: usize,
    /// Distinct (connection, pattern) subscriptions now.
    pub subscriptions: usize,
    /// `PUB`s accepted (plus the broker's own heartbeats).
    pub published: u64,
    /// `EVT` frames written to sockets.
    pub delivered: u64,
    /// `EVT` frames dropped from full connection queues.
    pub dropped: u64,
    /// `EVT` frames held for delivery now, queued or being written (the broker's memory).
    pub queued: usize,
}

struct Conn {
    name: String,
    patterns: HashSet<String>,
    queue: Arc<OutQueue>,
}

/// One subscriber connection as a publisher's route sees it.
#[derive(Clone)]
struct Target {
    id: u64,
    queue: Arc<OutQueue>,
}

struct Hub {
    /// How long publishers wait for a full subscriber queue.
    wait: Duration,
    conns: RwLock<HashMap<u64, Conn>>,
    /// Bumped whenever a connection or a pattern comes or goes: routes cached before are stale.
    generation: AtomicU64,
    published: AtomicU64,
    delivered: AtomicU64,
    dropped: Arc<AtomicU64>,
}

impl Hub {
    fn new(wait: Duration) -> Hub {
        Hub {
            wait,
            conns: RwLock::default(),
            generation: AtomicU64::new(0),
            published: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            dropped: Arc::default(),
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, HashMap<u64, Conn>> {
        self.conns.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<u64, Conn>> {
        self.conns.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes the connection table and invalidates every cached route.
    fn change<R>(&self, f: impl FnOnce(&mut HashMap<u64, Conn>) -> R) -> R {
        let mut conns = self.write();
        let r = f(&mut conns);
        self.generation.fetch_add(1, Ordering::Release);
        r
    }

    /// Every connection but `origin` with a pattern matching `topic`.
    fn targets(&self, origin: Option<u64>, topic: &str) -> Vec<Target> {
        self.read()
            .iter()
            .filter(|(id, c)| {
                Some(**id) != origin && c.patterns.iter().any(|p| crate::pattern::matches(p, topic))
            })
            .map(|(id, c)| Target {
                id: *id,
                queue: c.queue.clone(),
            })
            .collect()
    }

    fn stats(&self) -> BrokerStats {
        let conns = self.read();
        BrokerStats {
            connections: conns.len(),
            subscriptions: conns.values().map(|c| c.patterns.len()).sum(),
            published: self.published.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queued: conns.values().map(|c| c.queue.held()).sum(),
        }
    }

    fn report(&self, target: &Target, pushed: Pushed, topic: &str) {
        if let Pushed::Dropped { first: true, .. } = pushed {
            tracing::warn!(
                peer = %peer(self, target.id),
                %topic,
                capacity = QUEUE_CAPACITY,
                wait_ms = self.wait.as_millis() as u64,
                "bus subscriber not keeping up; dropping its oldest messages until it catches up"
            );
        }
    }

    /// The broker's own publication: never waits on anyone.
    fn publish_own(&self, topic: &str, ty: &str, payload: &Value, rng: &mut impl RngCore) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let targets = self.targets(None, topic);
        if targets.is_empty() {
            return;
        }
        let (Ok(ty), Ok(payload)) = (serde_json::to_vec(ty), serde_json::to_vec(payload)) else {
            return;
        };
        let route = Route::new(topic, Arc::from(targets));
        let mut out = BytesMut::new();
        if !encode_evt(&mut out, &route, rng, &ty, &ts_json(), &payload) {
            return;
        }
        let frame = out.freeze();
        for t in route.targets.iter() {
            let batch = Batch {
                bytes: frame.clone(),
                count: 1,
            };
            let pushed = t.queue.push_now(vec![batch]);
            self.report(t, pushed, topic);
        }
    }
}

/// A running broker. [`Broker::shutdown`] stops it cleanly; dropping it also stops it
/// (connections are cut at once) and removes the socket if it is still ours.
pub struct Broker {
    path: PathBuf,
    /// (device, inode) of the socket we bound, so we never remove a successor's.
    ident: (u64, u64),
    hub: Arc<Hub>,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Broker {
    /// Binds `path` (removing a stale socket left by a dead broker, refusing to touch
    /// anything else), sets mode 0660 and, best effort, the group, and starts serving.
    pub async fn start(path: impl Into<PathBuf>, opts: BrokerOptions) -> Result<Broker, BusError> {
        let path = path.into();
        let bind_err = |source| BusError::Bind {
            path: path.clone(),
            source,
        };
        clear_stale(&path).await?;
        let listener = UnixListener::bind(&path).map_err(bind_err)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660))
            .map_err(bind_err)?;
        if let Some(group) = &opts.group {
            set_group(&path, group);
        }
        let meta = std::fs::metadata(&path).map_err(bind_err)?;
        let hub = Arc::new(Hub::new(opts.backpressure_wait));
        let cancel = CancellationToken::new();
        let task = tokio::spawn(
            serve(listener, hub.clone(), cancel.clone(), opts)
                .instrument(tracing::info_span!("bus_broker", socket = %path.display())),
        );
        tracing::info!(socket = %path.display(), "bus broker listening");
        Ok(Broker {
            path,
            ident: (meta.dev(), meta.ino()),
            hub,
            cancel,
            task: Some(task),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current counters.
    pub fn stats(&self) -> BrokerStats {
        self.hub.stats()
    }

    /// Stops accepting, closes every connection, waits for the tasks and removes the socket.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.remove_socket();
    }

    fn remove_socket(&self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .map(|m| (m.dev(), m.ino()) == self.ident)
            .unwrap_or(false);
        if ours {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.cancel.cancel();
        if let Some(task) = self.task.take() {
            // Aborting drops the connection set, which aborts every connection task.
            task.abort();
            self.remove_socket();
        }
    }
}

async fn clear_stale(path: &Path) -> Result<(), BusError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(BusError::SocketInUse(path.to_owned()));
            }
            tracing::info!(socket = %path.display(), "removing stale bus socket");
            std::fs::remove_file(path).map_err(|source| BusError::Bind {
                path: path.to_owned(),
                source,
            })
        }
        Ok(_) => Err(BusError::NotASocket(path.to_owned())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(BusError::Bind {
            path: path.to_owned(),
            source,
        }),
    }
}

fn set_group(path: &Path, group: &str) {
    match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => {
            if let Err(e) = std::os::unix::fs::chown(path, None, Some(g.gid.as_raw())) {
                tracing::debug!(%group, error = %e, "cannot give the bus socket its group");
            }
        }
        _ => tracing::debug!(%group, "group not found; bus socket keeps the default group"),
    }
}

async fn serve(
    listener: UnixListener,
    hub: Arc<Hub>,
    cancel: CancellationToken,
    opts: BrokerOptions,
) {
    let started = tokio::time::Instant::now();
    let period = opts.heartbeat.max(Duration::from_millis(1));
    // First beat one period in: at start nobody can be subscribed yet.
    let mut heartbeat = tokio::time::interval_at(started + period, period);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut rng = rand::rngs::StdRng::from_entropy();
    let mut conns = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = heartbeat.tick() => {
                let uptime = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
                let payload = json!({"pid": std::process::id(), "uptime_sec": uptime, "ts": now_ts()});
                hub.publish_own(SYSTEM_BUS_HEALTH, "bus.health", &payload, &mut rng);
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    if conns.len() >= opts.max_connections {
                        tracing::warn!(max = opts.max_connections, "bus connection limit reached; refusing a client");
                        continue;
                    }
                    next_id += 1;
                    let id = next_id;
                    conns.spawn(
                        connection(hub.clone(), id, stream)
                            .instrument(tracing::debug_span!("bus_conn", conn = id)),
                    );
                }
                Err(e) => {
                    // Out of descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "bus accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
    conns.shutdown().await;
    tracing::info!("bus broker stopped");
}

async fn connection(hub: Arc<Hub>, id: u64, stream: UnixStream) {
    if let Err(e) = socket2::SockRef::from(&stream).set_send_buffer_size(SEND_BUFFER) {
        tracing::debug!(error = %e, "cannot enlarge a bus connection's send buffer");
    }
    let (rd, mut wr) = stream.into_split();
    let queue = Arc::new(OutQueue::new(QUEUE_CAPACITY, hub.dropped.clone()));
    hub.change(|conns| {
        conns.insert(
            id,
            Conn {
                name: format!("conn-{id}"),
                patterns: HashSet::new(),
                queue: queue.clone(),
            },
        )
    });
    tokio::select! {
        () = read_frames(&hub, id, rd) => {}
        r = write_out(&queue, &mut wr, &hub) => {
            if let Err(e) = r {
                tracing::debug!(peer = %peer(&hub, id), error = %e, "bus client write failed");
            }
        }
    }
    hub.change(|conns| conns.remove(&id));
    queue.close();
}

fn peer(hub: &Hub, id: u64) -> String {
    hub.read()
        .get(&id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| format!("conn-{id}"))
}

/// Where one topic's `EVT`s go, and its encoded pieces.
struct Route {
    topic: Box<str>,
    targets: Arc<[Target]>,
    /// `EVT <topic>\n`.
    header: Box<[u8]>,
    /// The topic as a JSON string.
    topic_json: Box<[u8]>,
}

impl Route {
    fn new(topic: &str, targets: Arc<[Target]>) -> Route {
        let mut header = Vec::with_capacity(topic.len() + 5);
        header.extend_from_slice(b"EVT ");
        header.extend_from_slice(topic.as_bytes());
        header.push(b'\n');
        Route {
            topic: topic.into(),
            targets,
            header: header.into(),
            topic_json: serde_json::to_vec(topic).unwrap_or_default().into(),
        }
    }
}

/// A connection's cache of routes by topic, valid for one hub generation.
struct Routes {
    generation: u64,
    by_topic: HashMap<Box<str>, Arc<Route>>,
}

impl Routes {
    fn get(&mut self, hub: &Hub, origin: u64, topic: &str) -> Result<Arc<Route>, FrameError> {
        let generation = hub.generation.load(Ordering::Acquire);
        if generation != self.generation || self.by_topic.len() >= ROUTE_CACHE {
            self.by_topic.clear();
            self.generation = generation;
        }
        if let Some(r) = self.by_topic.get(topic) {
            return Ok(r.clone());
        }
        if topic.is_empty() {
            return Err(FrameError::MissingArg(Verb::Pub));
        }
        validate_topic(topic).map_err(|_| FrameError::BadArg(topic.to_owned()))?;
        let route = Arc::new(Route::new(topic, hub.targets(Some(origin), topic).into()));
        self.by_topic.insert(topic.into(), route.clone());
        Ok(route)
    }
}

/// Adjacent frames of one group for one subscriber: (start, end, count).
type Run = (usize, usize, usize);

/// `EVT`s encoded back to back, waiting to be handed to their subscribers together.
#[derive(Default)]
struct Group {
    enc: BytesMut,
    /// (start, end, index into `routes`) of each frame in `enc`.
    frames: Vec<(usize, usize, usize)>,
    routes: Vec<Arc<Route>>,
    /// `PUB`s taken since the last flush, routed or not.
    published: u64,
}

impl Group {
    fn full(&self) -> bool {
        self.frames.len() >= GROUP_FRAMES || self.enc.len() >= GROUP_BYTES
    }

    /// Checks one `PUB` and, when anyone listens, encodes its `EVT`.
    fn add(
        &mut self,
        parts: Split<'_>,
        route: Arc<Route>,
        rng: &mut impl RngCore,
        ts: &[u8],
    ) -> Result<(), FrameError> {
        let fields = if parts.body.is_empty() {
            crate::json::TopFields::default()
        } else {
            crate::json::scan_object(parts.body).ok_or(FrameError::BodyNotObject)?
        };
        self.published += 1;
        if route.targets.is_empty() {
            return Ok(());
        }
        let raw = |span: Option<std::ops::Range<usize>>, open: u8, default: &'static [u8]| {
            span.and_then(|r| parts.body.get(r))
                .filter(|v| v.first() == Some(&open))
                .unwrap_or(default)
        };
        let ty = raw(fields.ty, b'"', b"\"\"");
        let payload = raw(fields.payload, b'{', b"{}");
        let start = self.enc.len();
        if !encode_evt(&mut self.enc, &route, rng, ty, ts, payload) {
            tracing::warn!(topic = %parts.arg, "bus message dropped: its envelope would exceed 1 MiB");
            return Ok(());
        }
        let ri = match self.routes.last() {
            Some(last) if Arc::ptr_eq(last, &route) => self.routes.len() - 1,
            _ => match self.routes.iter().position(|r| Arc::ptr_eq(r, &route)) {
                Some(i) => i,
                None => {
                    self.routes.push(route);
                    self.routes.len() - 1
                }
            },
        };
        self.frames.push((start, self.enc.len(), ri));
        Ok(())
    }

    /// Hands every encoded frame to its subscribers, waiting for room as the module docs say.
    async fn flush(&mut self, hub: &Hub) {
        hub.published
            .fetch_add(std::mem::take(&mut self.published), Ordering::Relaxed);
        if self.frames.is_empty() {
            self.enc.clear();
            self.routes.clear();
            return;
        }
        let bytes = self.enc.split().freeze();
        // Per subscriber: its frames as (start, end, count) runs of adjacent frames.
        let mut per: Vec<(Target, Vec<Run>, usize)> = Vec::new();
        for &(start, end, ri) in &self.frames {
            let Some(route) = self.routes.get(ri) else {
                continue;
            };
            for t in route.targets.iter() {
                let slot = match per.iter().position(|p| p.0.id == t.id) {
                    Some(i) => i,
                    None => {
                        per.push((t.clone(), Vec::new(), 0));
                        per.len() - 1
                    }
                };
                let Some((_, runs, count)) = per.get_mut(slot) else {
                    continue;
                };
                *count += 1;
                match runs.last_mut() {
                    Some(run) if run.1 == start => {
                        run.1 = end;
                        run.2 += 1;
                    }
                    _ => runs.push((start, end, 1)),
                }
            }
        }
        let topic = self
            .routes
            .first()
            .map(|r| r.topic.clone())
            .unwrap_or_default();
        self.frames.clear();
        self.routes.clear();
        for (t, runs, count) in per {
            let batches = runs
                .into_iter()
                .map(|(s, e, n)| Batch {
                    bytes: bytes.slice(s..e),
                    count: n,
                })
                .collect();
            let pushed = t.queue.push_wait(batches, count, HEADROOM, hub.wait).await;
            hub.report(&t, pushed, &topic);
        }
    }
}

/// Appends `EVT <topic>` with the envelope `{"v":1,"id":…,"topic":…,"type":…,"ts":…,
/// "payload":…}` (serde's field order) built from raw JSON pieces; `false` (nothing
/// appended) when the body would be over [`MAX_BODY`].
fn encode_evt(
    out: &mut BytesMut,
    route: &Route,
    rng: &mut impl RngCore,
    ty: &[u8],
    ts: &[u8],
    payload: &[u8],
) -> bool {
    const V_ID: &[u8] = b"{\"v\":1,\"id\":\"";
    const TOPIC: &[u8] = b"\",\"topic\":";
    const TYPE: &[u8] = b",\"type\":";
    const TS: &[u8] = b",\"ts\":";
    const PAYLOAD: &[u8] = b",\"payload\":";
    let len = V_ID.len()
        + 32
        + TOPIC.len()
        + route.topic_json.len()
        + TYPE.len()
        + ty.len()
        + TS.len()
        + ts.len()
        + PAYLOAD.len()
        + payload.len()
        + 1;
    if len > MAX_BODY {
        return false;
    }
    out.reserve(route.header.len() + 4 + len);
    out.put_slice(&route.header);
    out.put_u32(len as u32);
    out.put_slice(V_ID);
    let mut id = [0u8; 16];
    rng.fill_bytes(&mut id);
    let hex = |n: u8| if n < 10 { b'0' + n } else { b'a' + n - 10 };
    for b in id {
        out.put_u8(hex(b >> 4));
        out.put_u8(hex(b & 0xf));
    }
    out.put_slice(TOPIC);
    out.put_slice(&route.topic_json);
    out.put_slice(TYPE);
    out.put_slice(ty);
    out.put_slice(TS);
    out.put_slice(ts);
    out.put_slice(PAYLOAD);
    out.put_slice(payload);
    out.put_u8(b'}');
    true
}

/// Now as a JSON number of epoch seconds.
fn ts_json() -> Vec<u8> {
    serde_json::to_vec(&now_ts()).unwrap_or_else(|_| b"0".to_vec())
}

/// Reads and handles frames until the client leaves or breaks the protocol.
async fn read_frames(hub: &Hub, id: u64, mut rd: OwnedReadHalf) {
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    let mut routes = Routes {
        generation: u64::MAX,
        by_topic: HashMap::new(),
    };
    let mut group = Group::default();
    let mut rng = rand::rngs::StdRng::from_entropy();
    loop {
        buf.reserve(READ_CHUNK);
        match rd.read_buf(&mut buf).await {
            Ok(0) if buf.is_empty() => return tracing::debug!("bus client disconnected"),
            Ok(0) => {
                return tracing::warn!(peer = %peer(hub, id), error = %FrameError::EofMidFrame, "bus protocol error; closing the connection")
            }
            Ok(_) => {}
            Err(e) => {
                return tracing::debug!(peer = %peer(hub, id), error = %e, "bus client read failed")
            }
        }
        // Every frame of this read is stamped with the time it was read.
        let ts = ts_json();
        let mut at = 0;
        let stop = loop {
            let parts = match split(buf.get(at..).unwrap_or_default()) {
                Ok(Some(parts)) => parts,
                Ok(None) => break None,
                Err(e) => break Some(Err(e)),
            };
            at += parts.end;
            if parts.verb == Verb::Pub {
                let added = routes
                    .get(hub, id, parts.arg)
                    .and_then(|route| group.add(parts, route, &mut rng, &ts));
                if let Err(e) = added {
                    break Some(Err(e));
                }
                if group.full() {
                    group.flush(hub).await;
                }
                continue;
            }
            // Anything else is rare: route what came before it first.
            group.flush(hub).await;
            match build(parts) {
                Ok(frame) => {
                    if let Some(end) = control(hub, id, frame) {
                        break Some(Ok(end));
                    }
                }
                Err(e) => break Some(Err(e)),
            }
        };
        buf.advance(at);
        group.flush(hub).await;
        match stop {
            None => {}
            Some(Ok(why)) => return tracing::debug!(peer = %peer(hub, id), "{why}"),
            Some(Err(e)) => {
                return tracing::warn!(peer = %peer(hub, id), error = %e, "bus protocol error; closing the connection")
            }
        }
    }
}

/// Handles a frame other than `PUB`; `Some(reason)` ends the connection.
fn control(hub: &Hub, id: u64, frame: Frame) -> Option<&'static str> {
    match frame {
        Frame::Hello { name } => {
            tracing::debug!(%name, "bus client hello");
            if let Some(c) = hub.write().get_mut(&id) {
                c.name = name;
            }
        }
        Frame::Sub { pattern } => hub.change(|conns| {
            if let Some(c) = conns.get_mut(&id) {
                c.patterns.insert(pattern);
            }
        }),
        Frame::Unsub { pattern } => hub.change(|conns| {
            if let Some(c) = conns.get_mut(&id) {
                c.patterns.remove(&pattern);
            }
        }),
        Frame::Pub { .. } => {}
        Frame::Evt { .. } => {
            tracing::warn!(peer = %peer(hub, id), "bus client sent EVT; closing the connection");
            return Some("sent EVT");
        }
        Frame::Bye => return Some("bus client said BYE"),
    }
    None
}

/// Writes queued frames: everything queued in one vectored write (or a few), until closed.
async fn write_out(queue: &OutQueue, wr: &mut OwnedWriteHalf, hub: &Hub) -> std::io::Result<()> {
    let mut taken = Vec::new();
    while queue.take_all(&mut taken).await {
        let n = write_batches(wr, &taken).await?;
        hub.delivered.fetch_add(n, Ordering::Relaxed);
        taken.clear();
    }
    Ok(())
}

/// Writes every batch whole; returns how many frames that was.
async fn write_batches(wr: &mut OwnedWriteHalf, batches: &[Batch]) -> std::io::Result<u64> {
    let (mut i, mut off) = (0, 0);
    let mut slices = Vec::with_capacity(MAX_IOV);
    while let Some(first) = batches.get(i) {
        slices.clear();
        slices.push(IoSlice::new(first.bytes.get(off..).unwrap_or_default()));
        for b in batches.iter().skip(i + 1).take(MAX_IOV - 1) {
            slices.push(IoSlice::new(&b.bytes));
        }
        let mut n = wr.write_vectored(&slices).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        while let Some(b) = batches.get(i) {
            let left = b.bytes.len() - off;
            if n < left {
                off += n;
                break;
            }
            n -= left;
            i += 1;
            off = 0;
        }
    }
    Ok(batches.iter().map(|b| b.count as u64).sum())
}
