//! Listener supervision: one accept loop per (decky, service, address), the
//! connection limits, and the connect / disconnect / limit_exceeded events.
//! A service that errors or panics ends its own connection only.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use decnet_core::{Event, EventType};
use decnet_services::conn::LimitTrip;
use decnet_services::{Conn, ConnCtx, DeckyRuntime, Emitter, Instance};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

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

/// Everything one accept loop needs.
pub struct Listener {
    /// The bound socket.
    pub listener: TcpListener,
    /// The service instance serving it.
    pub instance: Arc<dyn Instance>,
    /// Its decky.
    pub decky: Arc<DeckyRuntime>,
    /// Service name.
    pub service: &'static str,
    /// Connection slots of the decky (shared by its listeners).
    pub decky_slots: Arc<Semaphore>,
    /// Host-wide per-source limiter.
    pub sources: Arc<SourceLimiter>,
    /// Event intake.
    pub emitter: Emitter,
}

impl Listener {
    /// Accepts until `cancel`, spawning each connection on `tracker`.
    pub async fn run(self, cancel: CancellationToken, tracker: TaskTracker) {
        let local = match self.listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                tracing::error!(decky = %self.decky.config.name, service = self.service, error = %e, "listener has no local address; not serving");
                return;
            }
        };
        let mut backoff = Duration::from_millis(5);
        loop {
            let accepted = tokio::select! {
                _ = cancel.cancelled() => break,
                r = self.listener.accept() => r,
            };
            let (stream, peer) = match accepted {
                Ok(x) => {
                    backoff = Duration::from_millis(5);
                    x
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning, keep serving.
                    tracing::warn!(decky = %self.decky.config.name, service = self.service, error = %e, "accept failed; backing off");
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            };
            let limits = &self.decky.limits;
            let Ok(decky_permit) = self.decky_slots.clone().try_acquire_owned() else {
                self.reject(
                    peer,
                    local,
                    "max_connections_per_decky",
                    limits.max_connections_per_decky,
                )
                .await;
                continue;
            };
            let Some(source_slot) = self.sources.try_acquire(peer.ip()) else {
                self.reject(
                    peer,
                    local,
                    "max_connections_per_source",
                    limits.max_connections_per_source,
                )
                .await;
                continue;
            };
            let ctx = ConnCtx {
                decky: self.decky.clone(),
                service: self.service,
                peer,
                local,
                session_id: uuid::Uuid::now_v7(),
                emitter: self.emitter.clone(),
            };
            let span = tracing::debug_span!("conn", decky = %self.decky.config.name, service = self.service, %peer, session = %ctx.session_id);
            tracker.spawn(
                serve_connection(
                    stream,
                    ctx,
                    self.instance.clone(),
                    cancel.clone(),
                    decky_permit,
                    source_slot,
                )
                .instrument(span),
            );
        }
    }

    async fn reject(&self, peer: SocketAddr, local: SocketAddr, limit: &str, max: u32) {
        // The stream was already dropped by the caller's `let … else`: the peer sees a close.
        let mut e = Event::now(
            self.decky.config.name.clone(),
            self.service,
            EventType::LimitExceeded,
            peer,
            local,
        );
        e.fields.insert("limit".into(), limit.into());
        e.fields.insert("max".into(), max.into());
        self.emitter.emit(e).await;
    }
}

/// Runs one connection under the session deadline and emits its lifecycle events.
async fn serve_connection(
    stream: TcpStream,
    ctx: ConnCtx,
    instance: Arc<dyn Instance>,
    cancel: CancellationToken,
    _decky_permit: OwnedSemaphorePermit,
    _source_slot: SourceSlot,
) {
    let started = Instant::now();
    let limits = ctx.decky.limits;
    ctx.emit(ctx.event(EventType::Connect)).await;
    let conn = Conn::new(Box::new(stream), ctx.peer, ctx.local, &limits);
    let stats = conn.trip_flag();
    let service_ctx = ctx.clone();
    // Its own task, so a panic in the service is caught here and ends this connection only.
    let mut task = tokio::spawn(async move { instance.serve(conn, service_ctx).await });
    let reason = tokio::select! {
        r = &mut task => match r {
            Ok(Ok(())) => "closed",
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "connection ended with an error");
                "error"
            }
            Err(e) if e.is_panic() => {
                tracing::error!("service panicked on a connection; the connection was closed, the decky keeps serving");
                "service_panic"
            }
            Err(_) => "cancelled",
        },
        _ = tokio::time::sleep(limits.session_timeout) => {
            stats.set(LimitTrip::SessionTime);
            task.abort();
            let _ = (&mut task).await;
            "session_timeout"
        }
        _ = cancel.cancelled() => {
            task.abort();
            let _ = (&mut task).await;
            "shutdown"
        }
    };
    if let Some(trip) = stats.get() {
        let mut e = ctx.event(EventType::LimitExceeded);
        e.fields.insert("limit".into(), trip.as_str().into());
        ctx.emit(e).await;
    }
    let mut e = ctx.event(EventType::Disconnect);
    e.fields.insert("reason".into(), reason.into());
    e.fields.insert(
        "duration_ms".into(),
        (started.elapsed().as_millis() as u64).into(),
    );
    e.fields.insert("bytes_in".into(), stats.bytes_in().into());
    ctx.emit(e).await;
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
