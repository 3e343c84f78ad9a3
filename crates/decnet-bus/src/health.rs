//! Worker liveness over the bus: heartbeats on `system.<worker>.health`, a registry of
//! last-seen times (what the API reports), and stop requests on `system.<worker>.control`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use decnet_core::topics::{system_control, system_health, SYSTEM_HEALTH_ALL};
use serde_json::{Map, Value};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::envelope::now_ts;
use crate::local::Subscription;
use crate::{Bus, BusError};

/// How often a worker says it is alive.
pub const WORKER_HEARTBEAT: Duration = Duration::from_secs(30);
/// A worker seen within this window is "ok".
pub const HEALTH_WINDOW: Duration = Duration::from_secs(90);

/// Publishes `{worker, ts, …extra}` (type `health`) on `system.<worker>.health` now and then
/// every `interval` until the returned task is aborted.
pub fn spawn_heartbeat(
    bus: Arc<dyn Bus>,
    worker: &str,
    interval: Duration,
    extra: Map<String, Value>,
) -> Result<JoinHandle<()>, BusError> {
    let topic = system_health(worker)?;
    let worker = worker.to_owned();
    let interval = interval.max(Duration::from_millis(1));
    Ok(tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let mut payload = extra.clone();
            payload.insert("worker".into(), Value::from(worker.as_str()));
            payload.insert("ts".into(), Value::from(now_ts()));
            bus.publish(&topic, "health", Value::Object(payload));
        }
    }))
}

/// What the registry knows of one worker.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerHealth {
    /// The worker name (the middle token of its health topic; `bus` for the broker).
    pub worker: String,
    /// Seen within [`HEALTH_WINDOW`].
    pub ok: bool,
    /// Time since the last heartbeat.
    pub age: Duration,
    /// The envelope time of the last heartbeat (epoch seconds).
    pub last_seen_ts: f64,
    /// The last heartbeat's payload.
    pub payload: Map<String, Value>,
}

struct Seen {
    at: Instant,
    ts: f64,
    payload: Map<String, Value>,
}

type Table = Arc<Mutex<HashMap<String, Seen>>>;

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Last-seen times of every worker heard on `system.*.health`; clones share it, and the
/// listening task stops when the last clone goes.
#[derive(Clone)]
pub struct HealthRegistry {
    seen: Table,
    window: Duration,
    _task: Arc<AbortOnDrop>,
}

impl HealthRegistry {
    /// Subscribes now (so no heartbeat published after this returns is missed) and keeps
    /// listening in a task.
    pub fn spawn(bus: &dyn Bus) -> Result<HealthRegistry, BusError> {
        Self::with_window(bus, HEALTH_WINDOW)
    }

    /// [`HealthRegistry::spawn`] with another "ok" window.
    pub fn with_window(bus: &dyn Bus, window: Duration) -> Result<HealthRegistry, BusError> {
        let mut sub = bus.subscribe(SYSTEM_HEALTH_ALL)?;
        let seen: Table = Arc::default();
        let table = seen.clone();
        let task = tokio::spawn(async move {
            while let Some(env) = sub.recv().await {
                let Some(worker) = env.topic.split('.').nth(1) else {
                    continue;
                };
                lock(&table).insert(
                    worker.to_owned(),
                    Seen {
                        at: Instant::now(),
                        ts: env.ts,
                        payload: env.payload,
                    },
                );
            }
        });
        Ok(HealthRegistry {
            seen,
            window,
            _task: Arc::new(AbortOnDrop(task)),
        })
    }

    fn health(&self, worker: &str, s: &Seen) -> WorkerHealth {
        let age = s.at.elapsed();
        WorkerHealth {
            worker: worker.to_owned(),
            ok: age <= self.window,
            age,
            last_seen_ts: s.ts,
            payload: s.payload.clone(),
        }
    }

    /// Every worker ever seen, by name.
    pub fn snapshot(&self) -> Vec<WorkerHealth> {
        let seen = lock(&self.seen);
        let mut out: Vec<_> = seen.iter().map(|(w, s)| self.health(w, s)).collect();
        out.sort_by(|a, b| a.worker.cmp(&b.worker));
        out
    }

    /// One worker, if ever seen.
    pub fn get(&self, worker: &str) -> Option<WorkerHealth> {
        lock(&self.seen).get(worker).map(|s| self.health(worker, s))
    }

    /// Whether `worker` was seen within the window.
    pub fn is_ok(&self, worker: &str) -> bool {
        self.get(worker).is_some_and(|h| h.ok)
    }
}

fn lock(t: &Table) -> MutexGuard<'_, HashMap<String, Seen>> {
    t.lock().unwrap_or_else(|e| e.into_inner())
}

/// A stop request received on `system.<worker>.control`.
#[derive(Debug, Clone, PartialEq)]
pub struct StopRequest {
    /// Who asked (`requested_by`), when given.
    pub requested_by: Option<String>,
    /// The whole control payload.
    pub payload: Map<String, Value>,
}

/// Listens for `{"action":"stop"}` on a worker's control topic.
#[derive(Debug)]
pub struct StopSignal {
    sub: Subscription,
}

/// Subscribes to `system.<worker>.control` now; await [`StopSignal::requested`] in the
/// worker's main loop.
pub fn stop_signal(bus: &dyn Bus, worker: &str) -> Result<StopSignal, BusError> {
    Ok(StopSignal {
        sub: bus.subscribe(&system_control(worker)?)?,
    })
}

impl StopSignal {
    /// Resolves when a stop is requested. Other actions are ignored (`start` is reserved).
    /// If the bus goes away for good this never resolves: only a request stops a worker.
    /// Cancel-safe, so it can sit in a `select!` loop.
    pub async fn requested(&mut self) -> StopRequest {
        while let Some(env) = self.sub.recv().await {
            match env.payload.get("action").and_then(Value::as_str) {
                Some("stop") => {
                    return StopRequest {
                        requested_by: env
                            .payload
                            .get("requested_by")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                        payload: env.payload,
                    };
                }
                action => tracing::debug!(?action, topic = %env.topic, "control message ignored"),
            }
        }
        std::future::pending().await
    }
}
