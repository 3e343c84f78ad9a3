//! The intermediate fleet spec: what a source asked for, values parsed but
//! not yet checked against archetypes, distros, the service catalog or each
//! other. INI files, `decnet deploy` flags and the demo fleet all become a
//! [`FleetSpec`], and only `resolve::resolve` turns one into a `FleetConfig`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use super::error::{ConfigError, Location};
use super::ini::{Document, Entry, Section};
use super::model::{
    Cidr, DiskWatermark, Driver, Limits, LogTarget, LogTransport, DEFAULT_JOURNAL_RETENTION,
};
use super::reference::{names, DECKY_KEYS, GENERAL_KEYS};
use super::DeployRequest;
use crate::persona::{OsFamily, KNOWN_SERVICES};

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Spanned<T> {
    pub value: T,
    pub at: Location,
}

/// `[general]`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GeneralSpec {
    pub net: Option<Spanned<Cidr>>,
    pub gw: Option<Spanned<IpAddr>>,
    pub interface: Option<String>,
    pub log_target: Option<LogTarget>,
    pub log_target_ca: Option<String>,
    pub journal_retention: Option<Duration>,
    pub disk_watermark: DiskWatermark,
    pub driver: Driver,
    pub port_offset: Spanned<u16>,
    pub ip_start: Option<Spanned<IpAddr>>,
    pub limits: Limits,
}

impl GeneralSpec {
    fn defaults(source: &str) -> GeneralSpec {
        GeneralSpec {
            net: None,
            gw: None,
            interface: None,
            log_target: None,
            log_target_ca: None,
            journal_retention: Some(DEFAULT_JOURNAL_RETENTION),
            disk_watermark: DiskWatermark::DEFAULT,
            driver: Driver::default(),
            port_offset: Spanned {
                value: 0,
                at: Location::source(source),
            },
            ip_start: None,
            limits: Limits::DEFAULT,
        }
    }
}

/// One decky section (or group, or the deckies of a `decnet deploy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeckySpec {
    /// The section header, or the flag that names the deckies.
    pub at: Location,
    pub name: String,
    /// `amount`; absent means 1.
    pub amount: Option<Spanned<u32>>,
    /// Name members `NAME-NN` even when there is only one (deploy flags do).
    pub numbered: bool,
    pub ip: Option<Spanned<IpAddr>>,
    pub services: Option<Spanned<Vec<String>>>,
    pub randomize_services: Option<Location>,
    pub archetype: Option<Spanned<String>>,
    pub distro: Option<Spanned<String>>,
    pub randomize_distro: Option<Location>,
    pub hostname: Option<Spanned<String>>,
    pub nmap_os: Option<Spanned<OsFamily>>,
    /// Checked, then ignored: mutation is not implemented.
    pub mutate_interval: Option<Spanned<u32>>,
    /// `bait_file`: `GUEST_PATH=HOST_FILE` entries, read by the resolver.
    pub bait_file: Option<Spanned<Vec<String>>>,
}

impl DeckySpec {
    pub fn new(name: &str, at: Location) -> DeckySpec {
        DeckySpec {
            at,
            name: name.to_string(),
            amount: None,
            numbered: false,
            ip: None,
            services: None,
            randomize_services: None,
            archetype: None,
            distro: None,
            randomize_distro: None,
            hostname: None,
            nmap_os: None,
            mutate_interval: None,
            bait_file: None,
        }
    }
}

/// A `[DECKY.SERVICE]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceSectionSpec {
    pub at: Location,
    pub decky: String,
    pub service: String,
    pub keys: Vec<Spanned<(String, String)>>,
}

/// Everything a source asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FleetSpec {
    pub source: String,
    pub general: GeneralSpec,
    pub deckies: Vec<DeckySpec>,
    pub service_sections: Vec<ServiceSectionSpec>,
}

impl FleetSpec {
    pub fn new(source: &str) -> FleetSpec {
        FleetSpec {
            source: source.to_string(),
            general: GeneralSpec::defaults(source),
            deckies: Vec::new(),
            service_sections: Vec::new(),
        }
    }
}

fn invalid(at: Location, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        at: Box::new(at),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn parse_ip(value: &str, at: &Location) -> Result<IpAddr, ConfigError> {
    value.parse().map_err(|_| {
        invalid(
            at.clone(),
            value,
            "expected an IP address such as 192.168.1.10",
        )
    })
}

fn parse_ranged(value: &str, at: &Location, min: u64, max: u64) -> Result<u64, ConfigError> {
    match value.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(
            at.clone(),
            value,
            format!("expected a whole number from {min} to {max}"),
        )),
    }
}

fn parse_u32(value: &str, at: &Location, min: u32, max: u32) -> Result<u32, ConfigError> {
    parse_ranged(value, at, u64::from(min), u64::from(max)).map(|n| u32::try_from(n).unwrap_or(max))
}

/// Splits a comma list, dropping empty items so a trailing comma is harmless.
pub(crate) fn split_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn parse_log_target(value: &str, at: &Location) -> Result<LogTarget, ConfigError> {
    let bad = || {
        invalid(
            at.clone(),
            value,
            "expected [udp://|tcp://|tls://]host:port, e.g. siem.example.net:514, tcp://siem:514, tls://siem:6514 or [2001:db8::1]:514",
        )
    };
    let v = value.trim();
    let (transport, rest) = match v.split_once("://") {
        Some(("udp", r)) => (LogTransport::Udp, r),
        Some(("tcp", r)) => (LogTransport::Tcp, r),
        Some(("tls", r)) => (LogTransport::Tls, r),
        Some(_) => return Err(bad()),
        None => (LogTransport::Udp, v),
    };
    let (host, port) = rest.rsplit_once(':').ok_or_else(bad)?;
    let host = host.trim();
    let host = match host.strip_prefix('[') {
        Some(v6) => {
            let v6 = v6.strip_suffix(']').ok_or_else(bad)?;
            v6.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            v6
        }
        None => host,
    };
    let port = match port.trim().parse::<u16>() {
        Ok(p) if p > 0 => p,
        _ => return Err(bad()),
    };
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/' || c.is_control()) {
        return Err(bad());
    }
    Ok(LogTarget {
        transport,
        host: host.to_string(),
        port,
    })
}

/// `7d`, `12h`, `30m`, `90s` or plain seconds; `0` or `forever` means no limit.
fn parse_retention(value: &str, at: &Location) -> Result<Option<Duration>, ConfigError> {
    let v = value.trim();
    if v == "0" || v.eq_ignore_ascii_case("forever") {
        return Ok(None);
    }
    let (num, unit) = match v.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&v[..i], v[i..].trim()),
        None => (v, "s"),
    };
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match num.parse::<u64>() {
        Ok(n) if mult > 0 && n > 0 && n.saturating_mul(mult) <= 3650 * 86_400 => {
            Ok(Some(Duration::from_secs(n * mult)))
        }
        _ => Err(invalid(
            at.clone(),
            value,
            "expected a duration such as 7d, 12h, 30m or 3600 (at most 3650d), or `forever`",
        )),
    }
}

/// `5%`, `1GiB`, `500MiB`, `64KiB` or plain bytes; `0` disables the watermark.
fn parse_watermark(value: &str, at: &Location) -> Result<DiskWatermark, ConfigError> {
    let bad = || {
        invalid(
            at.clone(),
            value,
            "expected a percentage (1%..=50%) or a size such as 1GiB, 500MiB or 0 to disable",
        )
    };
    let v = value.trim();
    if let Some(p) = v.strip_suffix('%') {
        return match p.trim().parse::<u8>() {
            Ok(p) if (1..=50).contains(&p) => Ok(DiskWatermark {
                bytes: None,
                percent: Some(p),
            }),
            _ => Err(bad()),
        };
    }
    let (num, mult) = [
        ("GiB", 1u64 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
        ("B", 1),
    ]
    .iter()
    .find_map(|(suffix, m)| v.strip_suffix(suffix).map(|n| (n.trim(), *m)))
    .unwrap_or((v, 1));
    let bytes = num
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .ok_or_else(bad)?;
    Ok(DiskWatermark {
        bytes: Some(bytes),
        percent: None,
    })
}

fn check_interface(value: &str, at: &Location) -> Result<(), ConfigError> {
    // Linux interface names: at most 15 bytes, no whitespace or slash.
    let ok = !value.is_empty()
        && value.len() <= 15
        && !value.contains(|c: char| c.is_whitespace() || c == '/' || c.is_control());
    if ok {
        Ok(())
    } else {
        Err(invalid(
            at.clone(),
            value,
            "expected a network interface name such as eth0 (at most 15 characters, no spaces or slashes)",
        ))
    }
}

/// Gives each entry its canonical key and refuses a key given twice.
fn canonical_entries<'a>(
    section: &'a Section,
    at: &Location,
) -> Result<Vec<(&'static str, &'a Entry)>, ConfigError> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for e in &section.entries {
        let canonical: String = if e.key == "nmap-os" {
            "nmap_os".to_string()
        } else {
            e.key.clone()
        };
        if let Some(first) = seen.get(&canonical) {
            return Err(ConfigError::DuplicateKey {
                at: Box::new(at.at_key(&e.key, Some(e.line))),
                key: canonical,
                first_line: *first,
            });
        }
        seen.insert(canonical.clone(), e.line);
        // Callers match on the documented names, so a key outside the
        // reference tables can only fall through to "unknown key".
        let known = GENERAL_KEYS
            .iter()
            .chain(DECKY_KEYS)
            .map(|k| k.name)
            .find(|n| *n == canonical)
            .unwrap_or("");
        out.push((known, e));
    }
    Ok(out)
}

fn unknown_key(at: &Location, e: &Entry, allowed: String) -> ConfigError {
    ConfigError::UnknownKey {
        at: Box::new(at.at_key(&e.key, Some(e.line))),
        key: e.key.clone(),
        allowed,
    }
}

fn general_from(section: &Section, at: &Location, g: &mut GeneralSpec) -> Result<(), ConfigError> {
    for (key, e) in canonical_entries(section, at)? {
        let kat = at.at_key(&e.key, Some(e.line));
        let v = e.value.as_str();
        match key {
            "net" => {
                let cidr = Cidr::parse(v).map_err(|r| invalid(kat.clone(), v, r))?;
                g.net = Some(Spanned {
                    value: cidr,
                    at: kat,
                });
            }
            "gw" => {
                g.gw = Some(Spanned {
                    value: parse_ip(v, &kat)?,
                    at: kat,
                })
            }
            "interface" => {
                check_interface(v, &kat)?;
                g.interface = Some(v.to_string());
            }
            "log_target" => {
                g.log_target = Some(parse_log_target(v, &kat)?);
            }
            "log_target_ca" => {
                if v.trim().is_empty() || v.contains(char::is_control) {
                    return Err(invalid(kat, v, "expected the path of a PEM file"));
                }
                g.log_target_ca = Some(v.trim().to_string());
            }
            "journal_retention" => g.journal_retention = parse_retention(v, &kat)?,
            "disk_watermark" => g.disk_watermark = parse_watermark(v, &kat)?,
            "driver" => {
                g.driver = Driver::parse(v).ok_or_else(|| {
                    invalid(
                    kat.clone(),
                    v,
                    "expected `loopback` or `host` (macvlan and ipvlan are not implemented yet)",
                )
                })?
            }
            "port_offset" => {
                let n = parse_ranged(v, &kat, 0, u64::from(u16::MAX))?;
                g.port_offset = Spanned {
                    value: u16::try_from(n).unwrap_or(u16::MAX),
                    at: kat,
                };
            }
            "ip_start" => {
                g.ip_start = Some(Spanned {
                    value: parse_ip(v, &kat)?,
                    at: kat,
                })
            }
            "max_connections_per_decky" => {
                g.limits.max_connections_per_decky = parse_u32(v, &kat, 1, 65_536)?
            }
            "max_connections_per_source" => {
                g.limits.max_connections_per_source = parse_u32(v, &kat, 1, 65_536)?
            }
            "idle_timeout_secs" => {
                g.limits.idle_timeout = Duration::from_secs(parse_ranged(v, &kat, 1, 86_400)?)
            }
            "session_timeout_secs" => {
                g.limits.session_timeout =
                    Duration::from_secs(parse_ranged(v, &kat, 1, 7 * 86_400)?)
            }
            "max_bytes_in" => g.limits.max_bytes_in = parse_ranged(v, &kat, 1, 1 << 32)?,
            "max_read_bytes" => {
                let n = parse_ranged(v, &kat, 1, 16 * 1024 * 1024)?;
                g.limits.max_read_bytes = usize::try_from(n).unwrap_or(usize::MAX);
            }
            "udp_packets_per_source" => {
                g.limits.udp_packets_per_source = parse_u32(v, &kat, 1, 1_000_000)?
            }
            "udp_bytes_per_source" => {
                g.limits.udp_bytes_per_source = parse_ranged(v, &kat, 1, 1 << 30)?
            }
            "max_connections_per_service" => {
                g.limits.max_connections_per_service = parse_u32(v, &kat, 1, 65_536)?
            }
            "max_decky_connections_per_source" => {
                g.limits.max_decky_connections_per_source = parse_u32(v, &kat, 1, 65_536)?
            }
            "pre_auth_timeout_secs" => {
                g.limits.pre_auth_timeout = Duration::from_secs(parse_ranged(v, &kat, 1, 3600)?)
            }
            _ => return Err(unknown_key(at, e, names(GENERAL_KEYS))),
        }
    }
    Ok(())
}

fn decky_from(section: &Section, at: &Location) -> Result<DeckySpec, ConfigError> {
    let mut d = DeckySpec::new(&section.name, at.clone());
    for (key, e) in canonical_entries(section, at)? {
        let kat = at.at_key(&e.key, Some(e.line));
        let v = e.value.as_str();
        let text = |kat: Location| Spanned {
            value: v.to_string(),
            at: kat,
        };
        match key {
            "ip" => {
                d.ip = Some(Spanned {
                    value: parse_ip(v, &kat)?,
                    at: kat,
                })
            }
            "services" => {
                d.services = Some(Spanned {
                    value: split_list(v),
                    at: kat,
                })
            }
            "archetype" => d.archetype = Some(text(kat)),
            "distro" => d.distro = Some(text(kat)),
            "hostname" => d.hostname = Some(text(kat)),
            "nmap_os" => {
                let family = OsFamily::parse(v).ok_or_else(|| {
                    invalid(
                        kat.clone(),
                        v,
                        "expected an OS family: linux, windows (or windows_server), bsd, embedded, cisco",
                    )
                })?;
                d.nmap_os = Some(Spanned {
                    value: family,
                    at: kat,
                });
            }
            "amount" => {
                // The range (1..=100) is checked by the resolver, shared with `--deckies`.
                let n = v.parse::<u32>().map_err(|_| {
                    invalid(kat.clone(), v, "expected a whole number from 1 to 100")
                })?;
                d.amount = Some(Spanned { value: n, at: kat });
            }
            "bait_file" => {
                d.bait_file = Some(Spanned {
                    value: split_list(v),
                    at: kat,
                })
            }
            "mutate_interval" => {
                d.mutate_interval = Some(Spanned {
                    value: parse_u32(v, &kat, 1, 10_080)?,
                    at: kat,
                })
            }
            _ => return Err(unknown_key(at, e, names(DECKY_KEYS))),
        }
    }
    Ok(d)
}

/// Builds the spec of a tokenized INI file.
pub(crate) fn from_document(doc: &Document, source: &str) -> Result<FleetSpec, ConfigError> {
    let mut spec = FleetSpec::new(source);
    for section in &doc.sections {
        let at = Location {
            source: source.to_string(),
            line: Some(section.line),
            section: Some(section.name.clone()),
            key: None,
        };
        if section.name == "general" {
            general_from(section, &at, &mut spec.general)?;
        } else if let Some((decky, service)) = section.name.rsplit_once('.') {
            if decky.is_empty() || !KNOWN_SERVICES.contains(&service) {
                return Err(ConfigError::UnknownSection {
                    at: Box::new(at),
                    section: section.name.clone(),
                    hint: format!(
                        "a dotted section is [DECKY.SERVICE] and `{service}` is not a known service \
                         (known: {}); decky section names cannot contain dots",
                        KNOWN_SERVICES.join(", ")
                    ),
                });
            }
            let keys = section
                .entries
                .iter()
                .map(|e| Spanned {
                    value: (e.key.clone(), e.value.clone()),
                    at: at.at_key(&e.key, Some(e.line)),
                })
                .collect::<Vec<_>>();
            let mut seen: HashMap<&str, usize> = HashMap::new();
            for e in &section.entries {
                if let Some(first) = seen.insert(&e.key, e.line) {
                    return Err(ConfigError::DuplicateKey {
                        at: Box::new(at.at_key(&e.key, Some(e.line))),
                        key: e.key.clone(),
                        first_line: first,
                    });
                }
            }
            spec.service_sections.push(ServiceSectionSpec {
                at,
                decky: decky.to_string(),
                service: service.to_string(),
                keys,
            });
        } else {
            spec.deckies.push(decky_from(section, &at)?);
        }
    }
    Ok(spec)
}

/// Builds the spec of `decnet deploy` flags: one group named after the prefix.
pub(crate) fn from_deploy(req: &DeployRequest) -> FleetSpec {
    const SOURCE: &str = "decnet deploy";
    let flag = |name: &str| Location {
        source: SOURCE.to_string(),
        line: None,
        section: None,
        key: Some(name.to_string()),
    };
    let mut spec = FleetSpec::new(SOURCE);
    spec.general.driver = req.driver;
    spec.general.port_offset = Spanned {
        value: req.port_offset,
        at: flag("--port-offset"),
    };
    spec.general.ip_start = req.ip_start.map(|ip| Spanned {
        value: ip,
        at: flag("--ip-start"),
    });
    let name = req.name_prefix.as_deref().unwrap_or("decky");
    let mut d = DeckySpec::new(name, flag("--name-prefix"));
    d.numbered = true;
    d.amount = Some(Spanned {
        value: req.deckies,
        at: flag("--deckies"),
    });
    d.services = req.services.as_ref().map(|list| Spanned {
        value: list.iter().flat_map(|s| split_list(s)).collect::<Vec<_>>(),
        at: flag("--services"),
    });
    d.randomize_services = req.randomize_services.then(|| flag("--randomize-services"));
    d.archetype = req.archetype.as_ref().map(|a| Spanned {
        value: a.clone(),
        at: flag("--archetype"),
    });
    d.distro = req.distro.as_ref().map(|a| Spanned {
        value: a.clone(),
        at: flag("--distro"),
    });
    d.randomize_distro = req.randomize_distros.then(|| flag("--randomize-distros"));
    spec.deckies.push(d);
    spec
}
