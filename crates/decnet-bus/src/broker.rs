//! The host broker: accepts clients on a UNIX socket and routes `PUB`s to every other
//! connection with a matching pattern.
//!
//! Each connection is one task that reads frames and, in the same task, drains that
//! connection's drop-oldest queue of encoded `EVT` frames into the socket. Routing takes
//! only `type` and `payload` from a `PUB`, the topic from its header, stamps a fresh id and
//! time, encodes the envelope once and queues the same bytes to each target. Any protocol
//! error closes that connection and nothing else.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use decnet_core::topics::SYSTEM_BUS_HEALTH;
use serde_json::{json, Map, Value};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::unix::OwnedWriteHalf;
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::envelope::{new_id, now_ts, take_payload, take_type, Envelope, ENVELOPE_VERSION};
use crate::frame::{encode_raw, Frame, FrameReader, Verb};
use crate::queue::{DropQueue, Pushed, QUEUE_CAPACITY};
use crate::BusError;

/// How often the broker publishes `system.bus.health`.
pub const BUS_HEARTBEAT: Duration = Duration::from_secs(10);

/// Broker settings.
#[derive(Debug, Clone)]
pub struct BrokerOptions {
    /// Interval of the `system.bus.health` heartbeat.
    pub heartbeat: Duration,
    /// Group given to the socket when it exists and we may (`decnet`).
    pub group: Option<String>,
    /// Connections beyond this are closed at once.
    pub max_connections: usize,
}

impl Default for BrokerOptions {
    fn default() -> Self {
        BrokerOptions {
            heartbeat: BUS_HEARTBEAT,
            group: Some("decnet".into()),
            max_connections: 1024,
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
}

struct Conn {
    name: String,
    patterns: HashSet<String>,
    queue: Arc<DropQueue<Bytes>>,
}

#[derive(Default)]
struct Hub {
    conns: RwLock<HashMap<u64, Conn>>,
    published: AtomicU64,
    delivered: AtomicU64,
    dropped: Arc<AtomicU64>,
}

impl Hub {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<u64, Conn>> {
        self.conns.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<u64, Conn>> {
        self.conns.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Routes one message to every connection but `origin` that has a matching pattern.
    fn route(&self, origin: Option<u64>, topic: &str, ty: String, payload: Map<String, Value>) {
        self.published.fetch_add(1, Ordering::Relaxed);
        let conns = self.read();
        let mut targets = conns
            .iter()
            .filter(|(id, c)| {
                Some(**id) != origin && c.patterns.iter().any(|p| crate::pattern::matches(p, topic))
            })
            .peekable();
        if targets.peek().is_none() {
            return;
        }
        let env = Envelope {
            v: ENVELOPE_VERSION,
            id: new_id(),
            topic: topic.to_owned(),
            ty,
            ts: now_ts(),
            payload,
        };
        let mut frame = BytesMut::new();
        encode_raw(Verb::Evt, topic, &env.to_json(), &mut frame);
        let frame = frame.freeze();
        for (_, conn) in targets {
            if let Pushed::DroppedOldest { first: true } = conn.queue.push(frame.clone()) {
                tracing::warn!(
                    peer = %conn.name,
                    %topic,
                    capacity = QUEUE_CAPACITY,
                    "bus subscriber not keeping up; dropping its oldest messages"
                );
            }
        }
    }

    fn stats(&self) -> BrokerStats {
        let conns = self.read();
        BrokerStats {
            connections: conns.len(),
            subscriptions: conns.values().map(|c| c.patterns.len()).sum(),
            published: self.published.load(Ordering::Relaxed),
            delivered: self.delivered.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
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
        let hub = Arc::new(Hub::default());
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
    let mut conns = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = heartbeat.tick() => {
                let uptime = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
                let payload = json!({"pid": std::process::id(), "uptime_sec": uptime, "ts": now_ts()});
                if let Value::Object(p) = payload {
                    hub.route(None, SYSTEM_BUS_HEALTH, "bus.health".into(), p);
                }
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
    let (rd, wr) = stream.into_split();
    let queue = Arc::new(DropQueue::new(QUEUE_CAPACITY, Some(hub.dropped.clone())));
    hub.write().insert(
        id,
        Conn {
            name: format!("conn-{id}"),
            patterns: HashSet::new(),
            queue: queue.clone(),
        },
    );
    let reading = async {
        let mut reader = FrameReader::new(rd);
        loop {
            let frame = match reader.next().await {
                Ok(Some(f)) => f,
                Ok(None) => return tracing::debug!("bus client disconnected"),
                Err(e) => {
                    return tracing::warn!(peer = %peer(&hub, id), error = %e, "bus protocol error; closing the connection")
                }
            };
            match frame {
                Frame::Hello { name } => {
                    tracing::debug!(%name, "bus client hello");
                    if let Some(c) = hub.write().get_mut(&id) {
                        c.name = name;
                    }
                }
                Frame::Sub { pattern } => {
                    if let Some(c) = hub.write().get_mut(&id) {
                        c.patterns.insert(pattern);
                    }
                }
                Frame::Unsub { pattern } => {
                    if let Some(c) = hub.write().get_mut(&id) {
                        c.patterns.remove(&pattern);
                    }
                }
                Frame::Pub { topic, mut body } => {
                    let ty = take_type(&mut body);
                    hub.route(Some(id), &topic, ty, take_payload(&mut body));
                }
                Frame::Evt { .. } => {
                    return tracing::warn!(peer = %peer(&hub, id), "bus client sent EVT; closing the connection");
                }
                Frame::Bye => return tracing::debug!(peer = %peer(&hub, id), "bus client said BYE"),
            }
        }
    };
    tokio::select! {
        () = reading => {}
        r = write_queue(&queue, wr, &hub) => {
            if let Err(e) = r {
                tracing::debug!(peer = %peer(&hub, id), error = %e, "bus client write failed");
            }
        }
    }
    hub.write().remove(&id);
    queue.close();
}

fn peer(hub: &Hub, id: u64) -> String {
    hub.read()
        .get(&id)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| format!("conn-{id}"))
}

/// Writes queued frames, batching whatever is ready before each flush.
async fn write_queue(
    queue: &DropQueue<Bytes>,
    wr: OwnedWriteHalf,
    hub: &Hub,
) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(frame) = queue.pop().await {
        w.write_all(&frame).await?;
        let mut n = 1;
        while let Some(frame) = queue.try_pop() {
            w.write_all(&frame).await?;
            n += 1;
        }
        w.flush().await?;
        hub.delivered.fetch_add(n, Ordering::Relaxed);
    }
    Ok(())
}
