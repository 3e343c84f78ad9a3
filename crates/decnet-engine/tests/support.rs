//! Test services and helpers for driving a fleet.

#![allow(dead_code)]
#![allow(
    clippy::disallowed_methods,
    reason = "the echo test service reads lines its own tests send; services read with kit::line"
)]

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use decnet_core::catalog::{ListenerInfo, ServiceInfo, Transport};
use decnet_core::config::model::{
    DeckyConfig, FleetConfig, General, Limits, ListenerConfig, ServiceConfig,
};
use decnet_core::persona::{distro, OsFamily};
use decnet_core::{Event, EventType};
use decnet_journal::{JournalPos, JournalReader, Record};
use decnet_services::{Conn, ConnCtx, DeckyRuntime, Instance, Registry, Service, ServiceError};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

static ECHO: ServiceInfo = ServiceInfo {
    name: "echo",
    summary: "test: echoes lines and datagrams, emits each as a command, panics on `panic`",
    listeners: &[
        ListenerInfo::tcp("echo", 7),
        ListenerInfo::udp("echo-udp", 7).on_request(),
    ],
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

    /// Echoes the datagram; `amp…` asks for ten copies (past the amplification cap),
    /// `panic` panics.
    async fn datagram(&self, packet: Bytes, ctx: ConnCtx) -> Result<Vec<Bytes>, ServiceError> {
        let mut e = ctx.event(EventType::Command);
        e.fields.insert(
            "command".into(),
            String::from_utf8_lossy(&packet).into_owned().into(),
        );
        ctx.emit(e).await;
        if packet.starts_with(b"panic") {
            panic!("test service asked to panic on a datagram");
        }
        if packet.starts_with(b"amp") {
            let big: Vec<u8> = packet
                .iter()
                .copied()
                .cycle()
                .take(packet.len() * 10)
                .collect();
            return Ok(vec![packet.clone(), Bytes::from(big)]);
        }
        Ok(vec![packet])
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
        windows: None,
        archetype: None,
        services: vec![ServiceConfig::defaults(&ECHO, Some(port))],
    }
}

/// A decky on `ip` running only the echo service's UDP listener on `port` (0 = any).
pub fn udp_decky(name: &str, ip: IpAddr, port: u16) -> DeckyConfig {
    let mut d = decky(name, ip, port);
    d.services[0].listeners = vec![ListenerConfig {
        name: "echo-udp",
        transport: Transport::Udp,
        port,
        tls: false,
    }];
    d
}

/// A fleet of the given deckies and limits.
pub fn fleet(deckies: Vec<DeckyConfig>, limits: Limits) -> FleetConfig {
    FleetConfig {
        general: General {
            limits,
            ..Default::default()
        },
        deckies,
        origins: Default::default(),
        bait_files: Default::default(),
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
