//! Over a real socket: login, a route, and the SSE stream fed by the bus.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use decnet_bus::{Bus, InProcessBus, NullBus};
use decnet_core::EventType;
use http_body_util::{BodyExt as _, Empty, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;

use crate::support::*;

async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> hyper::Response<Incoming> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let mut b = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header("host", addr.to_string());
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(v) => b
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(v.to_string())).boxed())
            .unwrap(),
        None => b.body(Empty::<Bytes>::new().boxed()).unwrap(),
    };
    sender.send_request(req).await.unwrap()
}

async fn json_of(resp: hyper::Response<Incoming>) -> Value {
    let b = resp.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&b).unwrap()
}

async fn token(addr: std::net::SocketAddr) -> String {
    let r = request(
        addr,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": "admin", "password": ADMIN_FIRST})),
    )
    .await;
    assert_eq!(r.status(), 200);
    let t = json_of(r).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = request(
        addr,
        "POST",
        "/api/v1/auth/change-password",
        Some(&t),
        Some(json!({"old_password": ADMIN_FIRST, "new_password": ADMIN_PW})),
    )
    .await;
    assert_eq!(r.status(), 200);
    json_of(r).await["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Reads SSE frames until one of event type `name` arrives; returns its data.
async fn next_event(body: &mut Incoming, buf: &mut String, name: &str) -> Value {
    let wait = async {
        loop {
            while let Some(end) = buf.find("\n\n") {
                let frame: String = buf.drain(..end + 2).collect();
                let mut ev = "message";
                let mut data = String::new();
                for line in frame.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        ev = v.trim();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if ev == name {
                    return serde_json::from_str(&data).unwrap();
                }
            }
            let frame = body.frame().await.expect("stream ended").unwrap();
            if let Ok(d) = frame.into_data() {
                buf.push_str(&String::from_utf8_lossy(&d));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), wait)
        .await
        .unwrap_or_else(|_| panic!("no {name} event"))
}

#[tokio::test]
async fn login_and_read_over_a_real_socket() {
    let api = Api::new().await;
    put(
        &api.store,
        &[ev(1, "web1", "ssh", EventType::Connect, "203.0.113.9")],
    )
    .await;
    let srv = start(api.state.clone()).await;
    let t = token(srv.addr).await;
    let r = request(srv.addr, "GET", "/api/v1/logs?limit=10", Some(&t), None).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let v = json_of(r).await;
    assert_eq!(v["items"][0]["src_ip"], "203.0.113.9");
    assert!(v["next_cursor"].is_null());
    let r = request(srv.addr, "GET", "/api/v1/logs", None, None).await;
    assert_eq!(r.status(), 401);
    srv.stop().await;
}

#[tokio::test]
async fn the_stream_sends_a_snapshot_then_bus_events_published_after_connect() {
    let api = Api::new().await;
    put(
        &api.store,
        &[ev(1, "web1", "ssh", EventType::Connect, "203.0.113.9")],
    )
    .await;
    let bus = InProcessBus::new();
    let state = api.state.clone().with_bus(Arc::new(bus.clone()));
    let srv = start(state).await;
    let t = token(srv.addr).await;
    let r = request(srv.addr, "GET", "/api/v1/stream", Some(&t), None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    let mut body = r.into_body();
    let mut buf = String::new();
    let snap = next_event(&mut body, &mut buf, "snapshot").await;
    assert_eq!(snap["stats"]["events"], 1);
    assert_eq!(snap["events"][0]["src_ip"], "203.0.113.9");
    // Published after the snapshot: the subscription predates it.
    bus.publish(
        decnet_core::topics::CREDENTIAL_CAPTURED,
        "credential",
        json!({"principal": "root", "decky": "web1"}),
    );
    bus.publish("topology.t1.status", "status", json!({"ignored": true}));
    bus.publish(
        decnet_core::topics::SYSTEM_LOG,
        "log",
        json!({"msg": "batch"}),
    );
    let e = next_event(&mut body, &mut buf, "bus").await;
    assert_eq!(e["topic"], "credential.captured");
    assert_eq!(e["payload"]["principal"], "root");
    let e = next_event(&mut body, &mut buf, "bus").await;
    assert_eq!(
        e["topic"], "system.log",
        "unwatched topics are not forwarded"
    );
    // Shutdown ends the open stream instead of waiting on it.
    srv.stop().await;
}

#[tokio::test]
async fn with_the_bus_off_the_stream_polls_the_store() {
    let api = Api::new().await;
    let state = api
        .state
        .clone()
        .with_bus(Arc::new(NullBus))
        .with_stream_settings(decnet_api::StreamSettings {
            keepalive: Duration::from_millis(200),
            poll_interval: Duration::from_millis(50),
            snapshot_events: 5,
        });
    let srv = start(state).await;
    let t = token(srv.addr).await;
    let r = request(srv.addr, "GET", "/api/v1/stream", Some(&t), None).await;
    let mut body = r.into_body();
    let mut buf = String::new();
    let snap = next_event(&mut body, &mut buf, "snapshot").await;
    assert_eq!(snap["events"], json!([]));
    let stored = ev(5, "db1", "mysql", EventType::Connect, "198.51.100.1");
    put(&api.store, std::slice::from_ref(&stored)).await;
    let e = next_event(&mut body, &mut buf, "event").await;
    assert_eq!(e["id"], stored.id.to_string());
    assert_eq!(e["decky"], "db1");
    // Keepalive comments arrive while nothing happens.
    let wait = async {
        while !buf.contains(":keepalive") && !buf.contains(": keepalive") {
            let f = body.frame().await.unwrap().unwrap();
            if let Ok(d) = f.into_data() {
                buf.push_str(&String::from_utf8_lossy(&d));
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("keepalive");
    drop(body);
    srv.stop().await;
}
