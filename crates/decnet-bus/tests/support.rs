//! Shared helpers: condition waits with deadlines, a raw protocol client.

use std::path::{Path, PathBuf};
use std::time::Duration;

use decnet_bus::frame::{encode, Frame, FrameReader};
use decnet_bus::{Broker, BrokerOptions};
use serde_json::{Map, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::UnixStream;

/// Generous: CI machines are slow, and a pass returns as soon as the condition holds.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// How often [`wait_until`] re-checks its condition.
const POLL: Duration = Duration::from_millis(5);

/// Polls `cond` until it holds; panics naming `what` after [`DEADLINE`].
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < end,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A tempdir with a socket path in it.
pub fn sock() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bus.sock");
    (dir, path)
}

/// A broker with fast heartbeats off the way (1 h) and no group change.
pub async fn broker(path: &Path) -> Broker {
    Broker::start(
        path,
        BrokerOptions {
            heartbeat: Duration::from_secs(3600),
            group: None,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// A JSON object literal.
pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

/// A protocol client speaking raw frames.
pub struct Raw {
    pub r: FrameReader<OwnedReadHalf>,
    pub w: OwnedWriteHalf,
}

impl Raw {
    pub async fn connect(path: &Path) -> Raw {
        let (r, w) = UnixStream::connect(path).await.unwrap().into_split();
        Raw {
            r: FrameReader::new(r),
            w,
        }
    }

    pub async fn send(&mut self, f: &Frame) {
        self.w.write_all(&encode(f)).await.unwrap();
    }

    pub async fn sub(&mut self, pattern: &str) {
        self.send(&Frame::Sub {
            pattern: pattern.into(),
        })
        .await;
    }

    pub async fn publish(&mut self, topic: &str, body: Value) {
        self.send(&Frame::Pub {
            topic: topic.into(),
            body: obj(body),
        })
        .await;
    }

    /// The next EVT as (topic, body).
    pub async fn evt(&mut self) -> (String, Map<String, Value>) {
        match tokio::time::timeout(DEADLINE, self.r.next()).await {
            Ok(Ok(Some(Frame::Evt { topic, body }))) => (topic, body),
            other => panic!("expected EVT, got {other:?}"),
        }
    }
}

/// Whether the peer closes `s` (EOF or reset) before the deadline.
pub async fn closed_by_peer(s: &mut UnixStream) -> bool {
    let mut buf = [0u8; 256];
    let end = tokio::time::Instant::now() + DEADLINE;
    loop {
        match tokio::time::timeout_at(end, s.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}
