//! The resolved, typed fleet config: what the engine runs. Built only by the
//! resolver (from an INI file, `decnet deploy` flags or the demo fleet).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::Serialize;

use super::error::Location;
use crate::catalog::{ServiceInfo, Slug, Transport};
use crate::persona::{Distro, OsFamily, Persona, WindowsBuild};

/// How deckies get their addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// Addresses in 127.0.0.0/8; nothing to set up.
    #[default]
    Loopback,
    /// Addresses already configured on the host.
    Host,
}

impl Driver {
    /// Parses `loopback` / `host`.
    pub fn parse(s: &str) -> Option<Driver> {
        match s.trim() {
            "loopback" => Some(Driver::Loopback),
            "host" => Some(Driver::Host),
            _ => None,
        }
    }
}

/// Limits the supervisor enforces on every connection (`[general]` keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// `max_connections_per_decky`: concurrent connections one decky serves.
    pub max_connections_per_decky: u32,
    /// `max_connections_per_source`: concurrent connections one source IP holds on this host.
    pub max_connections_per_source: u32,
    /// `idle_timeout_secs`: a connection that sends nothing this long is closed.
    #[serde(with = "secs")]
    pub idle_timeout: Duration,
    /// `session_timeout_secs`: no connection lives longer than this.
    #[serde(with = "secs")]
    pub session_timeout: Duration,
    /// `max_bytes_in`: bytes one connection may send before it is closed.
    pub max_bytes_in: u64,
    /// `max_read_bytes`: largest single read handed to a service.
    pub max_read_bytes: usize,
    /// `udp_packets_per_source`: datagrams one source IP may send per second, host-wide.
    pub udp_packets_per_source: u32,
    /// `udp_bytes_per_source`: datagram bytes one source IP may send per second, host-wide.
    pub udp_bytes_per_source: u64,
    /// `max_connections_per_service`: concurrent connections one service of one decky
    /// serves, so one flooded service leaves room in the decky for the others.
    pub max_connections_per_service: u32,
    /// `max_decky_connections_per_source`: concurrent connections one source IP holds
    /// on one decky, so one visitor leaves room for the rest.
    pub max_decky_connections_per_source: u32,
    /// `pre_auth_timeout_secs`: longest a connection may stay before authenticating
    /// (SSH identification, key exchange and login; an HTTP request head; …).
    #[serde(with = "secs")]
    pub pre_auth_timeout: Duration,
}

impl Limits {
    /// Defaults for a sensor exposed to the internet, sized so that one scanner
    /// running hundreds of parallel connections is served and captured whole,
    /// while one source's memory stays bounded (see `docs/config.md`).
    pub const DEFAULT: Limits = Limits {
        max_connections_per_decky: 1024,
        max_connections_per_source: 1024,
        idle_timeout: Duration::from_secs(300),
        session_timeout: Duration::from_secs(3600),
        max_bytes_in: 32 * 1024 * 1024,
        max_read_bytes: 64 * 1024,
        udp_packets_per_source: 100,
        udp_bytes_per_source: 256 * 1024,
        max_connections_per_service: 768,
        max_decky_connections_per_source: 512,
        pre_auth_timeout: Duration::from_secs(60),
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

fn opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

/// How [`LogTarget`] carries syslog lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogTransport {
    /// RFC 5426: one message per datagram.
    Udp,
    /// RFC 6587 octet counting over TCP.
    Tcp,
    /// RFC 5425: octet counting over TLS.
    Tls,
}

impl LogTransport {
    /// The URL scheme (`udp`, `tcp`, `tls`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogTransport::Udp => "udp",
            LogTransport::Tcp => "tcp",
            LogTransport::Tls => "tls",
        }
    }
}

/// `log_target`: a syslog receiver (`[udp|tcp|tls://]host:port`; bare `host:port` is UDP).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogTarget {
    /// Transport.
    pub transport: LogTransport,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port.
    pub port: u16,
}

impl std::fmt::Display for LogTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(
                f,
                "{}://[{}]:{}",
                self.transport.as_str(),
                self.host,
                self.port
            )
        } else {
            write!(
                f,
                "{}://{}:{}",
                self.transport.as_str(),
                self.host,
                self.port
            )
        }
    }
}

impl Serialize for LogTarget {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `disk_watermark`: deckies stop answering when free space on the data dir's
/// filesystem falls below the smaller of the set thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DiskWatermark {
    /// Absolute free bytes.
    pub bytes: Option<u64>,
    /// Percent of the filesystem's size.
    pub percent: Option<u8>,
}

impl DiskWatermark {
    /// The default: 1 GiB or 5 %, whichever is smaller (so small disks stay usable).
    pub const DEFAULT: DiskWatermark = DiskWatermark {
        bytes: Some(1 << 30),
        percent: Some(5),
    };

    /// Free bytes required on a filesystem of `total` bytes.
    pub fn threshold(&self, total: u64) -> u64 {
        let pct = self
            .percent
            .map(|p| u64::try_from(u128::from(total) * u128::from(p) / 100).unwrap_or(u64::MAX));
        match (self.bytes, pct) {
            (Some(b), Some(p)) => b.min(p),
            (Some(b), None) => b,
            (None, Some(p)) => p,
            (None, None) => 0,
        }
    }
}

impl Default for DiskWatermark {
    fn default() -> Self {
        DiskWatermark::DEFAULT
    }
}

/// Default `journal_retention`: a week.
pub const DEFAULT_JOURNAL_RETENTION: Duration = Duration::from_secs(7 * 86_400);

mod secs {
    use serde::Serializer;
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}

/// `[general]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct General {
    /// `net`: the LAN the deckies pretend to be on (CIDR), informational for loopback.
    pub net: Option<String>,
    /// `gw`: the LAN gateway.
    pub gw: Option<IpAddr>,
    /// `interface`: the parent NIC (host driver).
    pub interface: Option<String>,
    /// `log_target`: where events are also forwarded as RFC 5424 syslog, if anywhere.
    pub log_target: Option<LogTarget>,
    /// `log_target_ca`: PEM file of the CA that signs a `tls://` target's certificate
    /// (else the system's roots).
    pub log_target_ca: Option<String>,
    /// `journal_retention`: committed journal segments older than this are deleted
    /// (`None`: kept forever).
    #[serde(serialize_with = "opt_secs")]
    pub journal_retention: Option<Duration>,
    /// `disk_watermark`: free space below which deckies stop answering.
    pub disk_watermark: DiskWatermark,
    /// `driver`.
    pub driver: Driver,
    /// `port_offset`: added to every service port (for unprivileged demos).
    pub port_offset: u16,
    /// Connection limits.
    pub limits: Limits,
}

impl Default for General {
    fn default() -> Self {
        General {
            net: None,
            gw: None,
            interface: None,
            log_target: None,
            log_target_ca: None,
            journal_retention: Some(DEFAULT_JOURNAL_RETENTION),
            disk_watermark: DiskWatermark::DEFAULT,
            driver: Driver::default(),
            port_offset: 0,
            limits: Limits::DEFAULT,
        }
    }
}

/// One enabled listener of a service on one decky.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ListenerConfig {
    /// Listener name (`http`, `https`).
    pub name: &'static str,
    /// Transport.
    pub transport: Transport,
    /// Port before `port_offset` (the listener's port key, else its default). 0 = any free port.
    pub port: u16,
    /// Whether it speaks TLS from the first byte.
    pub tls: bool,
}

/// One service on one decky.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceConfig {
    /// Service name.
    pub name: String,
    /// Its enabled listeners, in the service's declaration order.
    pub listeners: Vec<ListenerConfig>,
    /// Persona keys, validated against the service's declaration.
    pub persona: BTreeMap<String, String>,
}

impl ServiceConfig {
    /// A persona value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.persona.get(key).map(String::as_str)
    }

    /// An enabled listener by name.
    pub fn listener(&self, name: &str) -> Option<&ListenerConfig> {
        self.listeners.iter().find(|l| l.name == name)
    }

    /// The service with every default listener of `info` on its default port and no persona
    /// keys (tests and tools that build a decky by hand; `port` overrides the primary's port).
    pub fn defaults(info: &ServiceInfo, port: Option<u16>) -> ServiceConfig {
        let primary = info.primary().map(|l| l.name);
        ServiceConfig {
            name: info.name.to_owned(),
            listeners: info
                .listeners
                .iter()
                .filter(|l| l.default_enabled)
                .map(|l| ListenerConfig {
                    name: l.name,
                    transport: l.transport,
                    port: match port {
                        Some(p) if Some(l.name) == primary => p,
                        _ => l.default_port,
                    },
                    tls: l.tls,
                })
                .collect(),
            persona: BTreeMap::new(),
        }
    }

    /// What a `services=` slug alone enables, every listener on `port` (0 = any free port):
    /// the slug's one listener (`https`), or the service's default listeners (`http`).
    pub fn for_slug(slug: Slug<'_>, port: u16) -> ServiceConfig {
        let mut cfg = ServiceConfig::defaults(slug.service, None);
        if let Some(l) = slug.listener {
            cfg.listeners = vec![ListenerConfig {
                name: l.name,
                transport: l.transport,
                port: l.default_port,
                tls: l.tls,
            }];
        }
        for l in &mut cfg.listeners {
            l.port = port;
        }
        cfg
    }
}

/// One resolved decky.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeckyConfig {
    /// Unique name.
    pub name: String,
    /// Address it answers on.
    pub ip: IpAddr,
    /// Hostname it presents.
    pub hostname: String,
    /// OS family it presents.
    pub os_family: OsFamily,
    /// Linux distro persona. A Windows decky keeps one too: the userland its
    /// Unix-only services (ssh, the fake shell) format from.
    #[serde(serialize_with = "distro_slug")]
    pub distro: &'static Distro,
    /// The Windows build a Windows decky presents; `None` for every other decky.
    #[serde(
        serialize_with = "windows_slug",
        skip_serializing_if = "Option::is_none"
    )]
    pub windows: Option<&'static WindowsBuild>,
    /// Archetype it was built from, if any.
    pub archetype: Option<&'static str>,
    /// Services, at least one.
    pub services: Vec<ServiceConfig>,
}

fn distro_slug<S: serde::Serializer>(d: &&'static Distro, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(d.slug)
}

fn windows_slug<S: serde::Serializer>(
    w: &Option<&'static WindowsBuild>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match w {
        Some(w) => s.serialize_str(w.slug),
        None => s.serialize_none(),
    }
}

impl DeckyConfig {
    /// The persona it presents: its Windows build if it has one, else its distro.
    pub fn persona(&self) -> Persona {
        match self.windows {
            Some(w) => Persona::Windows(w),
            None => Persona::Linux(self.distro),
        }
    }

    /// Where a listener binds, `port_offset` applied (saturating at 65535; 0 stays 0).
    pub fn bind_addr(&self, listener: &ListenerConfig, port_offset: u16) -> SocketAddr {
        let port = if listener.port == 0 {
            0
        } else {
            listener.port.saturating_add(port_offset)
        };
        SocketAddr::new(self.ip, port)
    }
}

/// A whole resolved fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FleetConfig {
    /// `[general]`.
    pub general: General,
    /// Deckies in config order.
    pub deckies: Vec<DeckyConfig>,
    /// Where each persona key was set (empty for fleets not read from a file).
    #[serde(skip)]
    pub origins: PersonaOrigins,
    /// Each decky's own bait files (`bait_file`), read at resolution.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub bait_files: BTreeMap<String, Vec<BaitOverride>>,
}

/// A file of the operator's own laid over a decky's bait (`bait_file`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaitOverride {
    /// Absolute path the decky shows it at.
    pub path: String,
    /// Its text.
    #[serde(skip)]
    pub content: String,
}

/// Where each persona value of a fleet was written, so a service that refuses a
/// value (at `up` or `--dry-run`) can name the file and line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersonaOrigins(BTreeMap<(String, String, String), Location>);

impl PersonaOrigins {
    /// Records that `key` of `service` on `decky` was set at `at`.
    pub fn insert(&mut self, decky: &str, service: &str, key: &str, at: Location) {
        self.0
            .insert((decky.to_owned(), service.to_owned(), key.to_owned()), at);
    }

    /// Where `key` of `service` on `decky` was set, if it came from a file.
    pub fn get(&self, decky: &str, service: &str, key: &str) -> Option<&Location> {
        self.0
            .get(&(decky.to_owned(), service.to_owned(), key.to_owned()))
    }
}

/// An IP network in CIDR form (`10.0.0.0/24`); host bits are cleared on parse,
/// so `192.168.1.10/24` reads as the LAN `192.168.1.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    /// Network address (host bits zero).
    pub network: IpAddr,
    /// Prefix length (≤ 32 for IPv4, ≤ 128 for IPv6).
    pub prefix: u8,
}

pub(crate) fn ip_to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

pub(crate) fn u128_to_ip(value: u128, v6: bool) -> IpAddr {
    if v6 {
        IpAddr::V6(value.into())
    } else {
        // Callers only pass values derived from IPv4 addresses.
        IpAddr::V4(u32::try_from(value).unwrap_or(u32::MAX).into())
    }
}

impl Cidr {
    /// Parses `ADDRESS/PREFIX`; the error says what is expected.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let expected = || format!("expected a network such as 10.0.0.0/24, got {s:?}");
        let (addr, prefix) = s.trim().split_once('/').ok_or_else(expected)?;
        let addr: IpAddr = addr.trim().parse().map_err(|_| expected())?;
        let prefix: u8 = prefix.trim().parse().map_err(|_| expected())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(format!("prefix /{prefix} is longer than /{max} in {s:?}"));
        }
        let bits = ip_to_u128(addr) & Self::mask(prefix, addr.is_ipv6());
        Ok(Cidr {
            network: u128_to_ip(bits, addr.is_ipv6()),
            prefix,
        })
    }

    fn width(v6: bool) -> u32 {
        if v6 {
            128
        } else {
            32
        }
    }

    fn mask(prefix: u8, v6: bool) -> u128 {
        let width = Self::width(v6);
        let host_bits = width - u32::from(prefix).min(width);
        let all = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        if host_bits >= 128 {
            0
        } else {
            all & !((1u128 << host_bits) - 1)
        }
    }

    /// Whether `ip` is inside the network (same family only).
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv6() == self.network.is_ipv6()
            && ip_to_u128(ip) & Self::mask(self.prefix, ip.is_ipv6()) == ip_to_u128(self.network)
    }

    /// The last address of the network (the broadcast address for IPv4).
    pub fn last(&self) -> IpAddr {
        let v6 = self.network.is_ipv6();
        let all = if v6 { u128::MAX } else { u128::from(u32::MAX) };
        let host = all & !Self::mask(self.prefix, v6);
        u128_to_ip(ip_to_u128(self.network) | host, v6)
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl General {
    /// `net`, parsed (the resolver stores it normalized, so this only fails for hand-built configs).
    pub fn net_cidr(&self) -> Option<Cidr> {
        self.net.as_deref().and_then(|n| Cidr::parse(n).ok())
    }
}
