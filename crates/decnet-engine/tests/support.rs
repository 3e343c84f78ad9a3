//! Test services and helpers for driving a fleet.

#![allow(dead_code)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use decnet_core::catalog::{ServiceInfo, Transport};
use decnet_core::config::model::{DeckyConfig, FleetConfig, General, Limits, ServiceConfig};
use decnet_core::persona::{distro, OsFamily};
use decnet_core::{Event, EventType};
use decnet_journal::{JournalPos, JournalReader, Record};
use decnet_services::{Conn, ConnCtx, DeckyRuntime, Instance, Registry, Service, ServiceError};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

static ECHO: ServiceInfo = ServiceInfo {
    name: "echo",
    summary: "test: echoes lines, emits each as a command, panics on `panic`",
    transport: Transport::Tcp,
    default_port: 7,
    persona_keys: &[],
};

/// Echoes lines; `panic` panics, `quit` closes.
pub struct Echo;

struct EchoInstance;

impl Service for Echo {
    fn info(&self) -> &'static ServiceInfo {
        &ECHO
    }
    fn instance(
        &self,
        _decky: Arc<DeckyRuntime>,
        _cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        Ok(Arc::new(EchoInstance))
    }
}

#[async_trait]
impl Instance for EchoInstance {
    async fn serve(&self, conn: Conn, ctx: ConnCtx) -> Result<(), ServiceError> {
        let mut lines = BufReader::new(conn);
        let mut line = String::new();
        loop {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                return Ok(());
            }
            let cmd = line.trim_end().to_owned();
            let mut e = ctx.event(EventType::Command);
            e.fields.insert("command".into(), cmd.clone().into());
            ctx.emit(e).await;
            match cmd.as_str() {
                "panic" => panic!("test service asked to panic"),
                "quit" => return Ok(()),
                _ => {
                    lines.get_mut().write_all(line.as_bytes()).await?;
                }
            }
        }
    }
}

/// A registry with only the echo service.
pub fn registry() -> Registry {
    Registry::new(vec![Box::new(Echo)])
}

/// A loopback address unique to this test process.
pub fn unique_ip() -> IpAddr {
    decnet_testkit::unique_ip(20)
}

/// A decky on `ip` running the echo service on `port` (0 = any).
pub fn decky(name: &str, ip: IpAddr, port: u16) -> DeckyConfig {
    DeckyConfig {
        name: name.into(),
        ip,
        hostname: name.into(),
        os_family: OsFamily::Linux,
        distro: distro("debian").unwrap(),
        archetype: None,
        services: vec![ServiceConfig {
            name: "echo".into(),
            port,
            persona: Default::default(),
        }],
    }
}

/// A fleet of the given deckies and limits.
pub fn fleet(deckies: Vec<DeckyConfig>, limits: Limits) -> FleetConfig {
    FleetConfig {
        general: General {
            limits,
            ..Default::default()
        },
        deckies,
    }
}

/// Reads the journal until `pred` holds for the events seen so far, or the deadline passes.
pub async fn wait_journal(
    data: &Path,
    deadline: Duration,
    pred: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    let dir = data.join("journal");
    let mut reader = JournalReader::open(&dir, JournalPos::START);
    let mut seen = Vec::new();
    let end = Instant::now() + deadline;
    loop {
        for (rec, _) in reader.read_batch(10_000).unwrap() {
            if let Record::Event(e) = rec {
                seen.push(*e);
            }
        }
        if pred(&seen) || Instant::now() > end {
            return seen;
        }
        // Polling the journal file: the writer gives no other signal to a reader.
        tokio::time::sleep(POLL).await;
    }
}

/// Journal poll interval.
pub const POLL: Duration = Duration::from_millis(20);

/// Events of one type.
pub fn of_type(events: &[Event], t: EventType) -> Vec<&Event> {
    events.iter().filter(|e| e.event_type == t).collect()
}
