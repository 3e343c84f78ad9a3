//! The UNIX-socket client: a worker's handle on the host broker.
//!
//! One background task owns the connection. It connects (exponential backoff with jitter,
//! 100 ms to 5 s), says `HELLO`, then keeps the broker's pattern set equal to the live local
//! patterns (sending `SUB` for a pattern's first subscription and `UNSUB` when its last one
//! is dropped, and everything again after a reconnect), writes queued publications and
//! dispatches `EVT`s to local subscriptions. Publishing only queues an encoded frame, so it
//! never waits on the socket; while the broker is away publications wait in that bounded
//! queue (oldest dropped) and go out on reconnect.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rand::Rng;
use serde_json::Value;
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::UnixStream;
use tokio_util::sync::CancellationToken;

use crate::envelope::{into_object, Envelope};
use crate::frame::{encode_raw, Frame, FrameReader, Verb, MAX_BODY};
use crate::local::{LocalTable, Subscription};
use crate::pattern::{validate_pattern, validate_topic};
use crate::queue::{DropQueue, Pushed, QUEUE_CAPACITY};
use crate::{Bus, BusError, DropCounts};

/// First reconnect delay.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest reconnect delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

struct Shared {
    path: PathBuf,
    name: String,
    table: Arc<LocalTable>,
    out: DropQueue<Bytes>,
    connected: AtomicBool,
    connects: AtomicU64,
    published: AtomicU64,
    received: AtomicU64,
    cancel: CancellationToken,
}

/// Cancels the connection task when the last [`UnixBus`] clone goes.
struct CloseOnDrop(CancellationToken);

impl Drop for CloseOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// A client of the host broker; clones share one connection.
#[derive(Clone)]
pub struct UnixBus {
    shared: Arc<Shared>,
    _close: Arc<CloseOnDrop>,
}

impl UnixBus {
    /// Starts a client named `name` for the broker at `path`. Returns at once; the
    /// connection is made (and remade) in the background. Needs a tokio runtime.
    pub fn connect(path: impl Into<PathBuf>, name: &str) -> UnixBus {
        let cancel = CancellationToken::new();
        // A name with whitespace or control characters would break the header line.
        let name: String = name
            .chars()
            .map(|c| if c.is_ascii_graphic() { c } else { '_' })
            .collect();
        let shared = Arc::new(Shared {
            path: path.into(),
            name: if name.is_empty() {
                format!("decnet-bus-client[{}]", std::process::id())
            } else {
                name
            },
            table: Arc::new(LocalTable::default()),
            out: DropQueue::new(QUEUE_CAPACITY, None),
            connected: AtomicBool::new(false),
            connects: AtomicU64::new(0),
            published: AtomicU64::new(0),
            received: AtomicU64::new(0),
            cancel: cancel.clone(),
        });
        tokio::spawn(run(shared.clone()));
        UnixBus {
            shared,
            _close: Arc::new(CloseOnDrop(cancel)),
        }
    }

    /// The broker socket this client uses.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// Whether a connection to the broker is up right now.
    pub fn is_connected(&self) -> bool {
        self.shared.connected.load(Ordering::Relaxed)
    }

    /// Successful connections so far (1 after the first, +1 per reconnect).
    pub fn connects(&self) -> u64 {
        self.shared.connects.load(Ordering::Relaxed)
    }

    /// Publications queued and not yet written to the socket.
    pub fn pending(&self) -> usize {
        self.shared.out.len()
    }

    /// Publications accepted by [`Bus::publish`] so far.
    pub fn published(&self) -> u64 {
        self.shared.published.load(Ordering::Relaxed)
    }

    /// `EVT`s received from the broker so far.
    pub fn received(&self) -> u64 {
        self.shared.received.load(Ordering::Relaxed)
    }

    /// Says `BYE` (best effort) and stops for good: subscriptions drain and end, later
    /// publications are dropped. Dropping the last clone does the same.
    pub fn close(&self) {
        self.shared.cancel.cancel();
    }
}

impl std::fmt::Debug for UnixBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnixBus")
            .field("path", &self.shared.path)
            .field("name", &self.shared.name)
            .field("connected", &self.is_connected())
            .finish()
    }
}

impl Bus for UnixBus {
    fn publish(&self, topic: &str, ty: &str, payload: Value) {
        if let Err(e) = validate_topic(topic) {
            tracing::warn!(error = %e, "bus publish dropped");
            return;
        }
        let body = Envelope::new(topic, ty, into_object(payload)).to_json();
        if body.len() > MAX_BODY {
            // The broker would close the connection on it.
            tracing::warn!(%topic, bytes = body.len(), "bus publish dropped: body over 1 MiB");
            return;
        }
        let mut frame = BytesMut::new();
        encode_raw(Verb::Pub, topic, &body, &mut frame);
        match self.shared.out.push(frame.freeze()) {
            Pushed::Queued => {}
            Pushed::DroppedOldest { first } => {
                if first {
                    tracing::warn!(
                        broker = %self.shared.path.display(),
                        capacity = QUEUE_CAPACITY,
                        "bus outbound queue full (broker away or slow); dropping oldest publications"
                    );
                }
            }
            Pushed::Closed => {
                tracing::debug!(%topic, "bus closed; publication dropped");
                return;
            }
        }
        self.shared.published.fetch_add(1, Ordering::Relaxed);
    }

    fn subscribe(&self, pattern: &str) -> Result<Subscription, BusError> {
        validate_pattern(pattern)?;
        Ok(self.shared.table.subscribe(pattern))
    }

    fn dropped(&self) -> DropCounts {
        DropCounts {
            outbound: self.shared.out.dropped(),
            delivery: self.shared.table.dropped(),
        }
    }
}

/// Exponential backoff with jitter: each delay is drawn from [d/2, d], d doubling to the cap.
struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new() -> Backoff {
        Backoff { next: BACKOFF_MIN }
    }

    fn reset(&mut self) {
        self.next = BACKOFF_MIN;
    }

    fn delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (d * 2).min(BACKOFF_MAX);
        let half = d / 2;
        half + rand::thread_rng().gen_range(Duration::ZERO..=half)
    }
}

/// How a connection ended.
enum End {
    Closed,
    Lost(String),
}

async fn run(shared: Arc<Shared>) {
    let mut backoff = Backoff::new();
    // The first failure of an outage is a warning, its retries are debug.
    let mut in_outage = false;
    loop {
        let connected = tokio::select! {
            _ = shared.cancel.cancelled() => break,
            r = UnixStream::connect(&shared.path) => r,
        };
        // Every path below but a clean close is (the start of) an outage.
        let was_down = std::mem::replace(&mut in_outage, true);
        match connected {
            Ok(stream) => {
                shared.connects.fetch_add(1, Ordering::Relaxed);
                shared.connected.store(true, Ordering::Relaxed);
                if was_down {
                    tracing::info!(broker = %shared.path.display(), "bus connected");
                } else {
                    tracing::debug!(broker = %shared.path.display(), "bus connected");
                }
                let since = tokio::time::Instant::now();
                let end = session(&shared, stream).await;
                shared.connected.store(false, Ordering::Relaxed);
                match end {
                    End::Closed => break,
                    End::Lost(why) => {
                        tracing::warn!(broker = %shared.path.display(), reason = %why, "bus connection lost; reconnecting");
                    }
                }
                // A broker that accepts and hangs up at once must not be hammered.
                if since.elapsed() > Duration::from_secs(1) {
                    backoff.reset();
                }
            }
            Err(e) => {
                if was_down {
                    tracing::debug!(broker = %shared.path.display(), error = %e, "bus still unreachable");
                } else {
                    tracing::warn!(broker = %shared.path.display(), error = %e, "bus unreachable; retrying with backoff");
                }
            }
        }
        tokio::select! {
            _ = shared.cancel.cancelled() => break,
            _ = tokio::time::sleep(backoff.delay()) => {}
        }
    }
    shared.out.close();
    shared.table.close();
}

async fn session(shared: &Shared, stream: UnixStream) -> End {
    let (rd, wr) = stream.into_split();
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    let reading = async {
        let mut reader = FrameReader::new(rd);
        loop {
            match reader.next().await {
                Ok(Some(Frame::Evt { topic, body })) => {
                    shared.received.fetch_add(1, Ordering::Relaxed);
                    shared.table.dispatch(Envelope::from_evt(topic, body));
                }
                Ok(Some(Frame::Bye)) => return "broker said BYE".to_owned(),
                Ok(None) => return "broker closed the connection".to_owned(),
                Ok(Some(other)) => return format!("unexpected frame from broker: {other:?}"),
                Err(e) => return e.to_string(),
            }
        }
    };
    let writing = async {
        let mut buf = BytesMut::new();
        encode_raw(Verb::Hello, &shared.name, b"", &mut buf);
        // What the broker has for this connection; empty on a fresh one.
        let mut sent = BTreeSet::new();
        let mut synced = None;
        loop {
            let gen = shared.table.generation();
            if synced != Some(gen) {
                let want = shared.table.patterns();
                for p in want.difference(&sent) {
                    encode_raw(Verb::Sub, p, b"", &mut buf);
                }
                for p in sent.difference(&want) {
                    encode_raw(Verb::Unsub, p, b"", &mut buf);
                }
                sent = want;
                synced = Some(gen);
            }
            if !buf.is_empty() {
                w.write_all(&buf).await?;
                buf.clear();
            }
            while let Some(frame) = shared.out.try_pop() {
                w.write_all(&frame).await?;
            }
            w.flush().await?;
            tokio::select! {
                biased;
                _ = shared.cancel.cancelled() => {
                    encode_raw(Verb::Bye, "", b"", &mut buf);
                    w.write_all(&buf).await?;
                    w.flush().await?;
                    return Ok::<End, std::io::Error>(End::Closed);
                }
                _ = shared.table.changed.notified() => {}
                frame = shared.out.pop() => match frame {
                    Some(f) => w.write_all(&f).await?,
                    None => return Ok(End::Closed),
                },
            }
        }
    };
    tokio::select! {
        why = reading => End::Lost(why),
        r = writing => match r {
            Ok(end) => end,
            Err(e) => End::Lost(format!("write: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_to_the_cap() {
        let mut b = Backoff::new();
        let mut cap = BACKOFF_MIN;
        for _ in 0..12 {
            let d = b.delay();
            assert!(
                d >= cap / 2 && d <= cap,
                "{d:?} outside [{:?}, {cap:?}]",
                cap / 2
            );
            cap = (cap * 2).min(BACKOFF_MAX);
        }
        assert_eq!(b.next, BACKOFF_MAX);
        b.reset();
        assert!(b.delay() <= BACKOFF_MIN);
    }
}
