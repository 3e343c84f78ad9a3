//! In-process, null and fake buses; socket path and env helpers.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use decnet_bus::path::resolve_socket_path;
use decnet_bus::{bus_enabled, Bus, BusError, FakeBus, InProcessBus, NullBus, QUEUE_CAPACITY};
use serde_json::json;

#[tokio::test]
async fn null_bus_drops_publications_and_ends_subscriptions_at_once() {
    let bus: Arc<dyn Bus> = Arc::new(NullBus);
    let mut s = bus.subscribe("a.>").unwrap();
    bus.publish("a.b", "t", json!({"k": 1}));
    assert!(s.recv().await.is_none());
    assert_eq!(bus.dropped(), Default::default());
}

#[tokio::test]
async fn in_process_bus_matches_fans_out_and_delivers_to_its_own_process() {
    let bus = InProcessBus::new();
    let mut all = bus.subscribe(">").unwrap();
    let mut health = bus.subscribe("system.*.health").unwrap();
    bus.publish("system.intel.health", "health", json!({"worker": "intel"}));
    bus.publish("attacker.scored", "scored", json!(5));
    assert_eq!(health.recv().await.unwrap().topic, "system.intel.health");
    assert!(health.try_recv().is_none());
    assert_eq!(all.recv().await.unwrap().topic, "system.intel.health");
    let scored = all.recv().await.unwrap();
    assert_eq!(scored.payload, crate::support::obj(json!({"value": 5})));
    bus.close();
    assert!(all.recv().await.is_none());
}

#[tokio::test]
async fn local_subscription_drops_oldest_and_counts() {
    let bus = InProcessBus::new();
    let mut s = bus.subscribe("n").unwrap();
    let total = QUEUE_CAPACITY as u64 + 976;
    for i in 0..total {
        bus.publish("n", "t", json!({"i": i}));
    }
    assert_eq!(s.dropped(), 976);
    assert_eq!(bus.dropped().delivery, 976);
    assert_eq!(s.recv().await.unwrap().payload["i"], 976);
    assert_eq!(s.len(), QUEUE_CAPACITY - 1);
}

#[tokio::test]
async fn fake_bus_records_publications_and_injects_messages() {
    let fake = FakeBus::new();
    let bus: Arc<dyn Bus> = Arc::new(fake.clone());
    let mut s = bus.subscribe("credential.>").unwrap();
    fake.inject(
        "credential.captured",
        "captured",
        json!({"secret_kind": "password"}),
    );
    assert_eq!(s.recv().await.unwrap().payload["secret_kind"], "password");
    assert!(
        fake.published().is_empty(),
        "injections are not publications"
    );

    let waiter = {
        let fake = fake.clone();
        tokio::spawn(async move {
            fake.wait_published("attacker.*", Duration::from_secs(10))
                .await
        })
    };
    bus.publish("system.log", "log", json!({}));
    bus.publish("attacker.scored", "scored", json!({"event_count": 3}));
    assert_eq!(waiter.await.unwrap().unwrap().payload["event_count"], 3);
    assert_eq!(fake.published().len(), 2);
    assert_eq!(fake.published_on("system.>").len(), 1);
    fake.clear();
    assert!(fake.published().is_empty());
    assert!(fake
        .wait_published("x", Duration::from_millis(1))
        .await
        .is_none());
}

#[test]
fn invalid_topics_are_dropped_and_invalid_patterns_refused() {
    let fake = FakeBus::new();
    fake.publish("a.*", "t", json!({}));
    fake.publish("", "t", json!({}));
    assert!(fake.published().is_empty());
    assert!(matches!(
        fake.subscribe("a.>.b"),
        Err(BusError::InvalidPattern(_))
    ));
    assert!(matches!(
        NullBus.subscribe(""),
        Err(BusError::InvalidPattern(_))
    ));
}

#[test]
fn socket_path_resolution() {
    let tmp = tempfile::tempdir().unwrap();
    assert_eq!(
        resolve_socket_path(Some("/x/bus.sock".into()), Path::new("/nonexistent"), None),
        PathBuf::from("/x/bus.sock")
    );
    let run = tmp.path().join("run");
    assert_eq!(resolve_socket_path(None, &run, None), run.join("bus.sock"));
    // An uncreatable runtime dir falls back to ~/.decnet, which is created.
    let blocker = tmp.path().join("file");
    std::fs::write(&blocker, b"").unwrap();
    let home = tmp.path().join("home");
    let p = resolve_socket_path(Some("".into()), &blocker.join("run"), Some(home.clone()));
    assert_eq!(p, home.join(".decnet/bus.sock"));
    assert!(home.join(".decnet").is_dir());
}

#[test]
fn bus_enabled_values() {
    assert!(bus_enabled(None));
    assert!(bus_enabled(Some("true")));
    assert!(bus_enabled(Some("1")));
    for off in ["false", "FALSE", " 0 ", "no", "off"] {
        assert!(!bus_enabled(Some(off)), "{off:?}");
    }
}
