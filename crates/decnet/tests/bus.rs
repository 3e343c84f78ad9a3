//! `decnet bus`: a real broker process relays between two clients, and SIGTERM stops it
//! with exit 0 and the socket removed.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use decnet_bus::frame::{decode, encode, Decoded, Frame};
use serde_json::{json, Value};

use crate::support::{decnet, Running};

fn send(s: &mut UnixStream, f: &Frame) {
    s.write_all(&encode(f)).unwrap();
}

/// The next frame, or None if nothing arrives within `wait`.
fn next_frame(s: &mut UnixStream, buf: &mut Vec<u8>, wait: Duration) -> Option<Frame> {
    s.set_read_timeout(Some(wait)).unwrap();
    loop {
        if let Decoded::Frame(f, used) = decode(buf).unwrap() {
            buf.drain(..used);
            return Some(f);
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) => panic!("broker closed the connection"),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => return None,
        }
    }
}

#[test]
fn bus_broker_relays_and_stops_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("bus.sock");
    let mut cmd = decnet();
    cmd.arg("bus").arg("--socket").arg(&sock);
    let run = Running::spawn(cmd);
    run.wait_line("bus broker listening", Duration::from_secs(20));

    let mut sub = UnixStream::connect(&sock).unwrap();
    send(
        &mut sub,
        &Frame::Hello {
            name: "e2e-sub".into(),
        },
    );
    send(
        &mut sub,
        &Frame::Sub {
            pattern: "e2e.>".into(),
        },
    );
    let mut publisher = UnixStream::connect(&sock).unwrap();
    let mut buf = Vec::new();
    // No acknowledgements in this protocol: publish until the subscription is in place.
    let end = Instant::now() + Duration::from_secs(20);
    let got = loop {
        assert!(Instant::now() < end, "no EVT reached the subscriber");
        let body = json!({"type": "ping", "payload": {"n": 1}});
        let Value::Object(body) = body else {
            unreachable!()
        };
        send(
            &mut publisher,
            &Frame::Pub {
                topic: "e2e.ping".into(),
                body,
            },
        );
        if let Some(f) = next_frame(&mut sub, &mut buf, Duration::from_millis(200)) {
            break f;
        }
    };
    let Frame::Evt { topic, body } = got else {
        panic!("expected EVT, got {got:?}")
    };
    assert_eq!(topic, "e2e.ping");
    assert_eq!(body["type"], "ping");
    assert_eq!(body["payload"]["n"], 1);

    let status = run.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert!(!sock.exists(), "socket left behind");
}
