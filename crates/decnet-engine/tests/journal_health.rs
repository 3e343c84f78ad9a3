//! The journal gate: while the journal cannot record, deckies answer nobody;
//! the fleet's `disk_watermark` reaches the journal.

#![allow(
    clippy::disallowed_methods,
    reason = "test clients read lines the test echo service wrote; no attacker bytes"
)]

use std::time::Duration;

use decnet_core::config::model::{DiskWatermark, Limits};
use decnet_core::EventType;
use decnet_engine::{Engine, EngineError, EngineOptions};
use decnet_journal::{JournalError, JournalOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::support::*;

const DEADLINE: Duration = Duration::from_secs(10);

fn opts(dir: &std::path::Path) -> EngineOptions {
    EngineOptions {
        data_dir: dir.to_path_buf(),
        journal: JournalOptions::default(),
        max_open_connections: None,
    }
}

/// True when the echo service answered `ping` on a fresh connection.
async fn answered(addr: std::net::SocketAddr) -> bool {
    let mut s = BufReader::new(TcpStream::connect(addr).await.unwrap());
    let _ = s.get_mut().write_all(b"ping\n").await;
    let mut line = String::new();
    let read = tokio::time::timeout(DEADLINE, s.read_line(&mut line)).await;
    matches!(read, Ok(Ok(n)) if n > 0) && line == "ping\n"
}

#[tokio::test]
async fn while_the_journal_is_degraded_new_connections_are_closed_unserved() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::start(
        &fleet(vec![decky("d1", unique_ip(), 0)], Limits::DEFAULT),
        &registry(),
        opts(dir.path()),
    )
    .await
    .unwrap();
    let addr = engine.addr_of("d1", "echo").unwrap();
    assert!(answered(addr).await);
    let health = engine.journal_condition();
    assert!(health.is_ok());

    health.set_degraded("journal: no space left on device (test)");
    let mut s = TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(b"ping\n").await;
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(DEADLINE, s.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert_eq!(
        health.take_refused(),
        1,
        "the refusal is counted for the report"
    );

    health.clear();
    assert!(answered(addr).await);
    let events = wait_journal(dir.path(), DEADLINE, |ev| {
        of_type(ev, EventType::Disconnect).len() >= 2
    })
    .await;
    // Two served connections; the refused one left no event (it could not have been recorded).
    assert_eq!(of_type(&events, EventType::Connect).len(), 2);
    assert_eq!(of_type(&events, EventType::LimitExceeded).len(), 0);
    engine.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_fleet_below_its_disk_watermark_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    let ip = unique_ip();
    let mut f = fleet(vec![decky("d1", ip, 0)], Limits::DEFAULT);
    // More free space than any disk has.
    f.general.disk_watermark = DiskWatermark {
        bytes: Some(u64::MAX),
        percent: None,
    };
    let err = Engine::start(&f, &registry(), opts(dir.path()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, EngineError::Journal(JournalError::LowSpace(_))),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("journal: free space below the watermark: "),
        "{msg}"
    );
    assert!(msg.contains("disk_watermark"), "{msg}");
}
