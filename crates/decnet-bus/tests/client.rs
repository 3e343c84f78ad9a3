//! The UNIX client: subscriptions, UNSUB on last drop, outbound drops, reconnection.

use decnet_bus::{Bus, UnixBus, QUEUE_CAPACITY};
use serde_json::json;

use crate::support::{broker, sock, wait_until, DEADLINE};

async fn recv(sub: &mut decnet_bus::Subscription) -> decnet_bus::Envelope {
    tokio::time::timeout(DEADLINE, sub.recv())
        .await
        .expect("timed out")
        .expect("subscription ended")
}

#[tokio::test]
async fn client_round_trip_and_overlapping_local_subscriptions_each_get_a_copy() {
    let (_d, path) = sock();
    let b = broker(&path).await;
    let s = UnixBus::connect(&path, "subscriber");
    let p = UnixBus::connect(&path, "publisher");
    let mut wide = s.subscribe("attacker.>").unwrap();
    let mut exact = s.subscribe("attacker.observed").unwrap();
    wait_until("both patterns at the broker", || {
        b.stats().subscriptions == 2
    })
    .await;
    p.publish(
        "attacker.observed",
        "observed",
        json!({"attacker_ip": "10.0.0.9"}),
    );
    for sub in [&mut wide, &mut exact] {
        let e = recv(sub).await;
        assert_eq!(e.topic, "attacker.observed");
        assert_eq!(e.ty, "observed");
        assert_eq!(e.payload["attacker_ip"], "10.0.0.9");
    }
    // The broker sent one copy; the client fanned it out.
    wait_until("one delivery", || b.stats().delivered == 1).await;
    assert_eq!(s.received(), 1);
}

#[tokio::test]
async fn unsub_is_sent_only_when_the_last_local_subscription_of_a_pattern_drops() {
    let (_d, path) = sock();
    let b = broker(&path).await;
    let c = UnixBus::connect(&path, "c");
    let a1 = c.subscribe("a.>").unwrap();
    let a2 = c.subscribe("a.>").unwrap();
    wait_until("a.> at the broker", || b.stats().subscriptions == 1).await;
    drop(a1);
    let bsub = c.subscribe("b.>").unwrap();
    // Had dropping a1 sent UNSUB a.>, the broker would now hold only b.>.
    wait_until("a.> kept and b.> added", || b.stats().subscriptions == 2).await;
    drop(a2);
    wait_until("a.> removed", || b.stats().subscriptions == 1).await;
    drop(bsub);
    wait_until("nothing left", || b.stats().subscriptions == 0).await;
}

#[tokio::test]
async fn publishing_without_a_broker_never_blocks_and_counts_drops() {
    let (_d, path) = sock();
    let c = UnixBus::connect(&path, "lonely");
    for i in 0..QUEUE_CAPACITY + 476 {
        c.publish("x.y", "t", json!({"i": i}));
    }
    assert!(!c.is_connected());
    assert_eq!(c.pending(), QUEUE_CAPACITY);
    assert_eq!(c.dropped().outbound, 476);
}

#[tokio::test]
async fn closing_the_client_ends_its_subscriptions() {
    let (_d, path) = sock();
    let _b = broker(&path).await;
    let c = UnixBus::connect(&path, "c");
    let mut s = c.subscribe("a.>").unwrap();
    c.close();
    assert!(tokio::time::timeout(DEADLINE, s.recv())
        .await
        .unwrap()
        .is_none());
}

/// Kill the broker, start a new one on the same path: the clients reconnect and
/// re-subscribe on their own, publishing never errors, and a message published after the
/// restart reaches the subscription made before it.
#[tokio::test]
async fn clients_reconnect_and_resubscribe_after_a_broker_restart() {
    let (_d, path) = sock();
    let b = broker(&path).await;
    let s = UnixBus::connect(&path, "subscriber");
    let p = UnixBus::connect(&path, "publisher");
    let mut sub = s.subscribe("topology.>").unwrap();
    wait_until("first broker ready", || {
        b.stats().connections == 2 && b.stats().subscriptions == 1
    })
    .await;
    p.publish("topology.t1.status", "status", json!({"phase": "before"}));
    assert_eq!(recv(&mut sub).await.payload["phase"], "before");

    drop(b); // the broker dies: connections cut, socket removed
    wait_until("clients see the loss", || {
        !s.is_connected() && !p.is_connected()
    })
    .await;
    for i in 0..5 {
        p.publish(
            "topology.t1.status",
            "status",
            json!({"phase": "during", "i": i}),
        );
    }
    assert_eq!(p.dropped().outbound, 0);

    let b2 = broker(&path).await;
    wait_until("both clients back, subscription restored", || {
        b2.stats().connections == 2 && b2.stats().subscriptions == 1 && p.pending() == 0
    })
    .await;
    assert_eq!((s.connects(), p.connects()), (2, 2));
    p.publish("topology.t1.status", "status", json!({"phase": "after"}));
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let e = tokio::time::timeout_at(deadline, sub.recv())
            .await
            .expect("message after restart never arrived")
            .expect("subscription ended");
        // Messages queued during the outage may arrive first (or not: at most once).
        if e.payload["phase"] == "after" {
            break;
        }
        assert_eq!(e.payload["phase"], "during");
    }
    assert_eq!(s.dropped().delivery, 0);
}
