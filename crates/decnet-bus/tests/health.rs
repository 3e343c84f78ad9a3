//! Heartbeats, the health registry and stop requests, on virtual time.

use std::sync::Arc;
use std::time::Duration;

use decnet_bus::health::{HEALTH_WINDOW, WORKER_HEARTBEAT};
use decnet_bus::{spawn_heartbeat, stop_signal, Bus, HealthRegistry, InProcessBus, NullBus};
use futures_like::now_or_never;
use serde_json::json;

use crate::support::{obj, wait_until};

mod futures_like {
    /// Polls a future once.
    pub fn now_or_never<F: std::future::Future>(f: F) -> Option<F::Output> {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = std::pin::pin!(f);
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(v) => Some(v),
            std::task::Poll::Pending => None,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_worker_ok_until_the_window_passes() {
    let bus = InProcessBus::new();
    let registry = HealthRegistry::spawn(&bus).unwrap();
    let mut beats = bus.subscribe("system.ingester.health").unwrap();
    let hb = spawn_heartbeat(
        Arc::new(bus.clone()),
        "ingester",
        WORKER_HEARTBEAT,
        obj(json!({"version": "1.2"})),
    )
    .unwrap();
    let first = beats.recv().await.unwrap();
    assert_eq!(first.ty, "health");
    assert_eq!(first.payload["worker"], "ingester");
    assert_eq!(first.payload["version"], "1.2");
    assert!(first.payload["ts"].is_f64());
    // The next beat comes one interval later.
    let t0 = tokio::time::Instant::now();
    beats.recv().await.unwrap();
    assert_eq!(t0.elapsed(), WORKER_HEARTBEAT);

    wait_until("registry saw ingester", || registry.is_ok("ingester")).await;
    hb.abort();
    tokio::time::advance(HEALTH_WINDOW - Duration::from_secs(1)).await;
    assert!(registry.is_ok("ingester"));
    tokio::time::advance(Duration::from_secs(2)).await;
    let h = registry.get("ingester").unwrap();
    assert!(!h.ok, "stale after 90 s: {h:?}");
    assert_eq!(h.payload["version"], "1.2");
    assert!(registry.get("intel").is_none());
    assert_eq!(registry.snapshot().len(), 1);
}

#[tokio::test]
async fn registry_reports_the_broker_heartbeat_as_bus() {
    let bus = InProcessBus::new();
    let registry = HealthRegistry::spawn(&bus).unwrap();
    bus.publish(
        "system.bus.health",
        "bus.health",
        json!({"pid": 1, "uptime_sec": 0.5}),
    );
    wait_until("bus seen", || registry.is_ok("bus")).await;
    assert_eq!(registry.snapshot()[0].worker, "bus");
}

#[tokio::test]
async fn stop_signal_resolves_on_stop_only() {
    let bus = InProcessBus::new();
    let mut stop = stop_signal(&bus, "intel").unwrap();
    bus.publish(
        "system.intel.control",
        "control",
        json!({"action": "start"}),
    );
    bus.publish("system.other.control", "control", json!({"action": "stop"}));
    assert!(now_or_never(stop.requested()).is_none());
    bus.publish(
        "system.intel.control",
        "control",
        json!({"action": "stop", "requested_by": "admin", "ts": 1}),
    );
    let req = now_or_never(stop.requested()).expect("stop resolved");
    assert_eq!(req.requested_by.as_deref(), Some("admin"));
    assert!(stop_signal(&bus, "bad.name").is_err());
}

#[tokio::test]
async fn stop_signal_never_fires_when_the_bus_is_off() {
    let mut stop = stop_signal(&NullBus, "intel").unwrap();
    assert!(now_or_never(stop.requested()).is_none());
    let bus: &dyn Bus = &NullBus;
    assert!(HealthRegistry::spawn(bus).unwrap().snapshot().is_empty());
}
