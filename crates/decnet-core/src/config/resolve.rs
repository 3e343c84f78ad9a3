//! The one resolver: turns a [`FleetSpec`] (from an INI file, `decnet deploy`
//! flags or the demo fleet) into a [`FleetConfig`], checking every name
//! against the archetypes, distros and the service catalog, expanding
//! groups, making the seeded choices and allocating addresses.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::error::{BindConflict, ConfigError, Location};
use super::model::{
    ip_to_u128, u128_to_ip, BaitOverride, Cidr, DeckyConfig, Driver, FleetConfig, General,
    ListenerConfig, PersonaOrigins, ServiceConfig,
};
use super::reference::{names, SERVICE_KEYS};
use super::spec::{DeckySpec, FleetSpec, GeneralSpec, ServiceSectionSpec, Spanned};
use crate::catalog::{check_value, ListenerInfo, ServiceCatalog, ServiceInfo, Transport};
use crate::persona::{
    archetype, generate_hostname, Archetype, OsFamily, Persona, ARCHETYPES, DISTROS, KNOWN_SERVICES,
};
use crate::seed::InstanceSeed;

/// Most deckies one section (or one `decnet deploy`) may expand to.
pub const MAX_AMOUNT: u32 = 100;
/// Longest decky name; names become hostnames and path components.
pub const MAX_NAME_LEN: usize = 63;
/// First address of the default loopback pool (127.42.0.0/24).
pub const LOOPBACK_POOL_START: Ipv4Addr = Ipv4Addr::new(127, 42, 0, 10);
const LOOPBACK_POOL_END: Ipv4Addr = Ipv4Addr::new(127, 42, 0, 254);
/// Most services `randomize_services` gives one decky.
const MAX_RANDOM_SERVICES: usize = 3;

fn implemented(catalog: &dyn ServiceCatalog) -> String {
    let mut names: Vec<&str> = catalog
        .services()
        .iter()
        .flat_map(|s| std::iter::once(s.name).chain(s.listeners.iter().map(|l| l.name)))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    }
}

fn invalid(at: &Location, value: impl ToString, reason: impl Into<String>) -> ConfigError {
    ConfigError::InvalidValue {
        at: Box::new(at.clone()),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Looks a `services=` slug up (a service, or a listener of one such as `https`);
/// `archetype` names who asked for it, for the error.
fn slug_info(
    name: &str,
    at: &Location,
    archetype: Option<&str>,
    catalog: &dyn ServiceCatalog,
) -> Result<(ServiceInfo, Option<&'static ListenerInfo>), ConfigError> {
    if let Some(slug) = catalog.slug(name) {
        return Ok((*slug.service, slug.listener));
    }
    if KNOWN_SERVICES.contains(&name) {
        Err(ConfigError::ServiceNotImplemented {
            at: Box::new(at.clone()),
            service: name.to_string(),
            archetype: archetype.map(str::to_string),
            implemented: implemented(catalog),
        })
    } else {
        Err(ConfigError::UnknownService {
            at: Box::new(at.clone()),
            service: name.to_string(),
            known: KNOWN_SERVICES.join(", "),
        })
    }
}

/// Checks a decky name: it becomes a hostname, a path component and a log field.
pub(crate) fn check_name(name: &str, at: &Location) -> Result<(), ConfigError> {
    let reason = if name.is_empty() {
        Some("it is empty".to_string())
    } else if name.len() > MAX_NAME_LEN {
        Some(format!(
            "it is {} characters long, the limit is {MAX_NAME_LEN}",
            name.len()
        ))
    } else if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        Some(format!(
            "{c:?} is not allowed; use letters, digits, `-`, `_` and `.`"
        ))
    } else if name.starts_with('.') || name.contains("..") {
        // Names become directories under the data dir.
        Some("it must not start with `.` nor contain `..`".to_string())
    } else if name.starts_with('-') {
        // A leading dash reads as a flag on every command line it reaches.
        Some("it must not start with `-`".to_string())
    } else {
        None
    };
    match reason {
        Some(reason) => Err(ConfigError::InvalidName {
            at: Box::new(at.clone()),
            name: name.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

fn check_hostname(host: &str, at: &Location) -> Result<(), ConfigError> {
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !host.is_empty() && host.len() <= 253 && host.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(invalid(
            at,
            host,
            "expected a hostname: dot-separated labels of letters, digits and inner `-`, each at most 63 characters",
        ))
    }
}

/// A validated `[DECKY.SERVICE]` section.
struct SectionPersona {
    at: Location,
    /// Listener ports the section sets (`port`, `<listener>_port`).
    ports: BTreeMap<&'static str, u16>,
    /// The `listeners` key: exactly these listeners are enabled.
    listeners: Option<Vec<&'static str>>,
    persona: BTreeMap<String, String>,
    /// Where each persona key was set, so a service's complaint names the line.
    persona_at: BTreeMap<String, Location>,
}

fn parse_port(at: &Location, value: &str) -> Result<u16, ConfigError> {
    match value.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(invalid(at, value, "expected a port from 1 to 65535")),
    }
}

/// Checks a section of `info`; `own` is the listener the section is named after
/// (`[web.https]`), which its `port` key moves instead of the primary listener.
fn check_section(
    s: &ServiceSectionSpec,
    info: &ServiceInfo,
    own: Option<&'static ListenerInfo>,
) -> Result<SectionPersona, ConfigError> {
    let mut out = SectionPersona {
        at: s.at.clone(),
        ports: BTreeMap::new(),
        listeners: None,
        persona: BTreeMap::new(),
        persona_at: BTreeMap::new(),
    };
    for Spanned {
        value: (key, value),
        at,
    } in &s.keys
    {
        if key == "port" {
            if let Some(l) = own.or(info.primary()) {
                out.ports.insert(l.name, parse_port(at, value)?);
            }
            continue;
        }
        if key == "listeners" {
            let mut enabled = Vec::new();
            for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let Some(l) = info.listener(name) else {
                    return Err(invalid(
                        at,
                        value,
                        format!(
                            "{name:?} is not a listener of {}; it has {}",
                            info.name,
                            listener_names(info)
                        ),
                    ));
                };
                if !enabled.contains(&l.name) {
                    enabled.push(l.name);
                }
            }
            if enabled.is_empty() {
                return Err(invalid(
                    at,
                    value,
                    format!(
                        "name at least one listener ({}), or drop the service from `services`",
                        listener_names(info)
                    ),
                ));
            }
            out.listeners = Some(enabled);
            continue;
        }
        if let Some(l) = key
            .strip_suffix("_port")
            .and_then(|name| info.listener(name))
        {
            out.ports.insert(l.name, parse_port(at, value)?);
            continue;
        }
        let Some(pk) = info.key(key) else {
            return Err(ConfigError::UnknownKey {
                at: Box::new(at.clone()),
                key: key.clone(),
                allowed: service_keys(info),
            });
        };
        check_value(pk.kind, value).map_err(|reason| invalid(at, value, reason))?;
        out.persona.insert(key.clone(), value.clone());
        out.persona_at.insert(key.clone(), at.clone());
    }
    Ok(out)
}

fn listener_names(info: &ServiceInfo) -> String {
    info.listeners
        .iter()
        .map(|l| l.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn pick_index(seed: &InstanceSeed, label: &str, n: usize) -> usize {
    let n64 = u64::try_from(n).unwrap_or(u64::MAX);
    usize::try_from(seed.pick(label.as_bytes(), n64)).unwrap_or(0)
}

/// A seeded, non-empty subset of the implemented services, no two on one default port.
fn random_services(seed: &InstanceSeed, catalog: &dyn ServiceCatalog) -> Vec<String> {
    let mut infos: Vec<ServiceInfo> = catalog.services().into_iter().copied().collect();
    // Sorted so the choice depends on the seed, not on catalog order.
    infos.sort_by_key(|s| s.name);
    infos.dedup_by_key(|s| s.name);
    let n = infos.len();
    if n == 0 {
        return Vec::new();
    }
    let want = 1 + pick_index(seed, "randomize-services:count", n.min(MAX_RANDOM_SERVICES));
    for i in 0..n {
        let j = i + pick_index(seed, &format!("randomize-services:{i}"), n - i);
        infos.swap(i, j);
    }
    let mut ports = HashSet::new();
    let mut picked: Vec<&str> = infos
        .iter()
        .filter(|s| ports.insert(s.primary().map(|l| (l.transport, l.default_port))))
        .take(want)
        .map(|s| s.name)
        .collect();
    picked.sort_unstable();
    picked.into_iter().map(str::to_string).collect()
}

/// One expanded decky before its address is known.
struct Member {
    at: Location,
    explicit_ip: Option<Spanned<IpAddr>>,
    config: DeckyConfig,
    bait_files: Vec<BaitOverride>,
}

/// Largest file `bait_file` takes: bait is text an intruder reads, not a payload store.
pub const MAX_BAIT_FILE: u64 = 1024 * 1024;

/// Reads a decky's `bait_file` entries; every problem names the entry and what to do.
fn read_bait_files(spec: &Spanned<Vec<String>>) -> Result<Vec<BaitOverride>, ConfigError> {
    let bad = |entry: &str, reason: String| ConfigError::InvalidValue {
        at: Box::new(spec.at.clone()),
        value: entry.to_owned(),
        reason,
    };
    let mut out: Vec<BaitOverride> = Vec::new();
    for entry in &spec.value {
        let Some((guest, host)) = entry.split_once('=') else {
            return Err(bad(
                entry,
                "expected GUEST_PATH=HOST_FILE, e.g. /root/notes.txt=/srv/bait/notes.txt".into(),
            ));
        };
        let (guest, host) = (guest.trim(), host.trim());
        if !guest.starts_with('/')
            || guest.ends_with('/')
            || guest.split('/').any(|c| c == "." || c == "..")
            || guest.contains("//")
        {
            return Err(bad(
                entry,
                format!(
                    "the guest path `{guest}` must be an absolute file path without `.` or `..`"
                ),
            ));
        }
        if out.iter().any(|o| o.path == guest) {
            return Err(bad(entry, format!("`{guest}` is given twice")));
        }
        let meta = std::fs::metadata(host)
            .map_err(|e| bad(entry, format!("cannot read bait file {host}: {e}")))?;
        if !meta.is_file() {
            return Err(bad(
                entry,
                format!("bait file {host} is not a regular file"),
            ));
        }
        if meta.len() > MAX_BAIT_FILE {
            return Err(bad(
                entry,
                format!(
                    "bait file {host} is {} bytes; the limit is {MAX_BAIT_FILE}",
                    meta.len()
                ),
            ));
        }
        let bytes = std::fs::read(host)
            .map_err(|e| bad(entry, format!("cannot read bait file {host}: {e}")))?;
        let content = String::from_utf8(bytes).map_err(|e| {
            bad(
                entry,
                format!(
                    "bait file {host} is not UTF-8 text (invalid byte at offset {})",
                    e.utf8_error().valid_up_to()
                ),
            )
        })?;
        out.push(BaitOverride {
            path: guest.to_owned(),
            content,
        });
    }
    Ok(out)
}

/// Where a decky's services come from.
enum ServiceSource<'a> {
    Listed(&'a Spanned<Vec<String>>),
    Random(&'a Location),
    Archetype(&'static Archetype, &'a Location),
}

fn service_source<'a>(
    d: &'a DeckySpec,
    arch: Option<(&'static Archetype, &'a Location)>,
    catalog: &dyn ServiceCatalog,
) -> Result<ServiceSource<'a>, ConfigError> {
    if let (Some(list), Some(rand_at)) = (&d.services, &d.randomize_services) {
        return Err(invalid(
            rand_at,
            "true",
            format!(
                "random services cannot be combined with an explicit service list ({}); drop one of them",
                list.at.key.as_deref().unwrap_or("services")
            ),
        ));
    }
    if let Some(list) = &d.services {
        if list.value.is_empty() {
            return Err(ConfigError::NoServices {
                at: Box::new(list.at.clone()),
                decky: d.name.clone(),
            });
        }
        let mut seen = HashSet::new();
        for s in &list.value {
            slug_info(s, &list.at, None, catalog)?;
            if !seen.insert(s.as_str()) {
                return Err(ConfigError::DuplicateService {
                    at: Box::new(list.at.clone()),
                    decky: d.name.clone(),
                    service: s.clone(),
                });
            }
        }
        return Ok(ServiceSource::Listed(list));
    }
    if let Some(at) = &d.randomize_services {
        if catalog.services().is_empty() {
            return Err(ConfigError::NoServices {
                at: Box::new(at.clone()),
                decky: d.name.clone(),
            });
        }
        return Ok(ServiceSource::Random(at));
    }
    if let Some((a, at)) = arch {
        // An archetype deploys with the services this build implements
        // (`decnet archetypes` lists the rest); with none it is refused,
        // naming the first one missing.
        if !a.services.iter().any(|s| catalog.slug(s).is_some()) {
            for s in a.services {
                slug_info(s, at, Some(a.slug), catalog)?;
            }
        }
        return Ok(ServiceSource::Archetype(a, at));
    }
    Err(ConfigError::NoServices {
        at: Box::new(d.at.clone()),
        decky: d.name.clone(),
    })
}

fn expand(
    d: &DeckySpec,
    sections: &[(&ServiceSectionSpec, SectionPersona)],
    catalog: &dyn ServiceCatalog,
    installation_key: &[u8],
) -> Result<Vec<Member>, ConfigError> {
    check_name(&d.name, &d.at)?;
    let amount = match &d.amount {
        Some(a) if !(1..=MAX_AMOUNT).contains(&a.value) => {
            return Err(invalid(
                &a.at,
                a.value,
                format!("expected a number of deckies from 1 to {MAX_AMOUNT}"),
            ))
        }
        Some(a) => a.value,
        None => 1,
    };
    if let (Some(ip), true) = (&d.ip, amount > 1) {
        return Err(ConfigError::AmountWithIp {
            at: Box::new(ip.at.clone()),
            amount,
        });
    }
    let arch = match &d.archetype {
        Some(a) => Some((
            archetype(&a.value).ok_or_else(|| ConfigError::UnknownArchetype {
                at: Box::new(a.at.clone()),
                archetype: a.value.clone(),
                known: ARCHETYPES
                    .iter()
                    .map(|a| a.slug)
                    .collect::<Vec<_>>()
                    .join(", "),
            })?,
            &a.at,
        )),
        None => None,
    };
    let source = service_source(d, arch, catalog)?;
    if let (Some(explicit), Some(rand_at)) = (&d.distro, &d.randomize_distro) {
        return Err(invalid(
            rand_at,
            "true",
            format!(
                "random distros cannot be combined with distro {:?}; drop one of them",
                explicit.value
            ),
        ));
    }
    let fixed_persona: Option<Persona> = match &d.distro {
        Some(s) => {
            let p = Persona::lookup(&s.value).ok_or_else(|| ConfigError::UnknownDistro {
                at: Box::new(s.at.clone()),
                distro: s.value.clone(),
                known: format!(
                    "{}; Windows builds: {}",
                    Persona::slugs(false),
                    Persona::slugs(true)
                ),
            })?;
            if let Some((a, _)) = arch {
                let windows = a.os_family == OsFamily::Windows;
                if p.is_windows() != windows {
                    return Err(ConfigError::PersonaMismatch {
                        at: Box::new(s.at.clone()),
                        distro: s.value.clone(),
                        archetype: a.slug.to_string(),
                        windows,
                        valid: Persona::slugs(windows),
                    });
                }
            }
            Some(p)
        }
        None => None,
    };
    if let Some(h) = &d.hostname {
        check_hostname(&h.value, &h.at)?;
    }

    let numbered = amount > 1 || d.numbered;
    let bait_files = match &d.bait_file {
        Some(b) => read_bait_files(b)?,
        None => Vec::new(),
    };
    let mut members = Vec::new();
    for i in 1..=amount {
        let name = if numbered {
            format!("{}-{i:02}", d.name)
        } else {
            d.name.clone()
        };
        check_name(&name, &d.at)?;
        let seed = InstanceSeed::derive_for(installation_key, &name);
        let service_names: Vec<String> = match &source {
            ServiceSource::Listed(list) => list.value.clone(),
            ServiceSource::Random(_) => random_services(&seed, catalog),
            // Only the archetype's implemented services: `service_source` refused it if it has none.
            ServiceSource::Archetype(a, _) => a
                .services
                .iter()
                .filter(|s| catalog.slug(s).is_some())
                .map(|s| s.to_string())
                .collect(),
        };
        let family = d
            .nmap_os
            .as_ref()
            .map(|f| f.value)
            .or(arch.map(|(a, _)| a.os_family))
            .or(fixed_persona
                .filter(|p| p.is_windows())
                .map(|_| OsFamily::Windows))
            .unwrap_or(OsFamily::Linux);
        let default_linux = Persona::Linux(&DISTROS[0]);
        let persona_of = match (fixed_persona, &d.randomize_distro) {
            (Some(fixed), _) => fixed,
            (None, Some(_)) => {
                let slugs: Vec<&str> = match arch {
                    Some((a, _)) => a.preferred_distros.to_vec(),
                    None => DISTROS.iter().map(|d| d.slug).collect(),
                };
                let idx = pick_index(&seed, "randomize-distro", slugs.len());
                slugs
                    .get(idx)
                    .and_then(|s| Persona::lookup(s))
                    .unwrap_or(default_linux)
            }
            (None, None) => arch
                .and_then(|(a, _)| a.preferred_distros.first())
                .and_then(|s| Persona::lookup(s))
                .unwrap_or(default_linux),
        };
        let (distro_of, windows_of) = match persona_of {
            Persona::Linux(d) => (d, None),
            // Unix-only services on a Windows decky still need a userland to format from.
            Persona::Windows(w) => (&DISTROS[0], Some(w)),
        };
        let hostname = match &d.hostname {
            Some(h) if numbered => {
                let host = format!("{}-{i:02}", h.value);
                check_hostname(&host, &h.at)?;
                host
            }
            Some(h) => h.value.clone(),
            None => generate_hostname(&seed, family, distro_of),
        };
        let at = match &source {
            ServiceSource::Listed(list) => &list.at,
            ServiceSource::Random(at) | ServiceSource::Archetype(_, at) => at,
        };
        let services = decky_services(
            &name,
            &service_names,
            sections,
            at,
            arch.map(|(a, _)| a.slug),
            catalog,
        )?;
        members.push(Member {
            at: d.at.clone(),
            explicit_ip: d.ip.clone(),
            bait_files: bait_files.clone(),
            config: DeckyConfig {
                name,
                // Placeholder until allocation; never escapes this module.
                ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                hostname,
                os_family: family,
                distro: distro_of,
                windows: windows_of,
                archetype: arch.map(|(a, _)| a.slug),
                services,
            },
        });
    }
    Ok(members)
}

/// Groups a decky's slugs by the service implementing them (`http, https` is one
/// `http` with two listeners) and applies the sections' ports and persona keys.
fn decky_services(
    decky: &str,
    slugs: &[String],
    sections: &[(&ServiceSectionSpec, SectionPersona)],
    at: &Location,
    archetype: Option<&str>,
    catalog: &dyn ServiceCatalog,
) -> Result<Vec<ServiceConfig>, ConfigError> {
    // (service, enabled listeners) in order of first mention.
    let mut wanted: Vec<(ServiceInfo, Vec<&'static str>)> = Vec::new();
    for slug in slugs {
        let (info, listener) = slug_info(slug, at, archetype, catalog)?;
        let names: Vec<&'static str> = match listener {
            Some(l) => vec![l.name],
            None => info
                .listeners
                .iter()
                .filter(|l| l.default_enabled)
                .map(|l| l.name)
                .collect(),
        };
        match wanted.iter_mut().find(|(w, _)| w.name == info.name) {
            Some((_, enabled)) => {
                for n in names {
                    if !enabled.contains(&n) {
                        enabled.push(n);
                    }
                }
            }
            None => wanted.push((info, names)),
        }
    }
    for (s, p) in sections {
        let section_runs = wanted.iter().any(|(info, enabled)| {
            info.name == s.service
                || (info.listener(&s.service).is_some() && enabled.contains(&s.service.as_str()))
        });
        if !section_runs {
            return Err(ConfigError::ServiceNotRun {
                at: Box::new(p.at.clone()),
                decky: decky.to_string(),
                service: s.service.clone(),
                runs: slugs.join(", "),
            });
        }
    }
    let mut services = Vec::with_capacity(wanted.len());
    for (info, mut enabled) in wanted {
        let mine: Vec<&SectionPersona> = sections
            .iter()
            .filter(|(s, _)| s.service == info.name || info.listener(&s.service).is_some())
            .map(|(_, p)| p)
            .collect();
        let mut persona: BTreeMap<String, String> = BTreeMap::new();
        let mut ports: BTreeMap<&'static str, u16> = BTreeMap::new();
        for p in &mine {
            if let Some(l) = &p.listeners {
                enabled = l.clone();
            }
            ports.extend(p.ports.iter().map(|(k, v)| (*k, *v)));
            for (k, v) in &p.persona {
                if let Some(prev) = persona.insert(k.clone(), v.clone()) {
                    if &prev != v {
                        return Err(invalid(
                            &p.at,
                            v,
                            format!(
                                "{k} is already {prev:?} in another section of service {}; set it once",
                                info.name
                            ),
                        ));
                    }
                }
            }
        }
        let listeners = info
            .listeners
            .iter()
            .filter(|l| enabled.contains(&l.name))
            .map(|l| ListenerConfig {
                name: l.name,
                transport: l.transport,
                port: ports.get(l.name).copied().unwrap_or(l.default_port),
                tls: l.tls,
            })
            .collect();
        services.push(ServiceConfig {
            name: info.name.to_string(),
            listeners,
            persona,
        });
    }
    Ok(services)
}

fn in_loopback_range(ip: IpAddr) -> bool {
    matches!(ip, IpAddr::V4(v4) if v4.is_loopback())
}

/// Sequential addresses between two bounds, both inclusive.
struct Pool {
    next: Option<u128>,
    end: u128,
    v6: bool,
    describe: String,
}

impl Pool {
    fn new(first: IpAddr, last: IpAddr) -> Pool {
        Pool {
            next: Some(ip_to_u128(first)),
            end: ip_to_u128(last),
            v6: first.is_ipv6(),
            describe: format!("{first}-{last}"),
        }
    }

    fn take(&mut self, skip: &HashSet<IpAddr>) -> Option<IpAddr> {
        while let Some(cur) = self.next {
            if cur > self.end {
                self.next = None;
                break;
            }
            self.next = cur.checked_add(1);
            let ip = u128_to_ip(cur, self.v6);
            if !skip.contains(&ip) && ip != IpAddr::V4(Ipv4Addr::BROADCAST) {
                return Some(ip);
            }
        }
        None
    }
}

/// The usable host range of a network: no network/broadcast address on IPv4
/// below /31, no subnet-router anycast address on IPv6.
fn host_range(net: &Cidr) -> (IpAddr, IpAddr) {
    let v6 = net.network.is_ipv6();
    let (lo, hi) = (ip_to_u128(net.network), ip_to_u128(net.last()));
    let (lo, hi) = match (v6, net.prefix) {
        (false, p) if p <= 30 => (lo + 1, hi - 1),
        (true, p) if p < 128 => (lo + 1, hi),
        _ => (lo, hi),
    };
    (u128_to_ip(lo, v6), u128_to_ip(hi, v6))
}

fn family_max(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::new(255, 255, 255, 254)),
        IpAddr::V6(_) => IpAddr::V6(u128::MAX.into()),
    }
}

/// The pool addresses are allocated from, if there is one.
fn pool(g: &GeneralSpec) -> Result<Option<Pool>, ConfigError> {
    let loopback = g.driver == Driver::Loopback;
    // On the loopback driver a `net` outside 127.0.0.0/8 only describes the
    // pretended LAN; it cannot be a pool.
    let net_pool = g
        .net
        .as_ref()
        .filter(|n| !loopback || (in_loopback_range(n.value.network) && n.value.prefix >= 8));
    if let Some(start) = &g.ip_start {
        if loopback && !in_loopback_range(start.value) {
            return Err(ConfigError::NotLoopback {
                at: Box::new(start.at.clone()),
                ip: start.value,
            });
        }
        let last = match net_pool.filter(|n| n.value.contains(start.value)) {
            Some(n) => host_range(&n.value).1,
            None if loopback => IpAddr::V4(Ipv4Addr::new(127, 255, 255, 254)),
            None => family_max(start.value),
        };
        return Ok(Some(Pool::new(start.value, last)));
    }
    if let Some(n) = net_pool {
        let (first, last) = host_range(&n.value);
        return Ok(Some(Pool::new(first, last)));
    }
    if loopback {
        return Ok(Some(Pool::new(
            IpAddr::V4(LOOPBACK_POOL_START),
            IpAddr::V4(LOOPBACK_POOL_END),
        )));
    }
    Ok(None)
}

fn allocate(g: &GeneralSpec, members: &mut [Member]) -> Result<(), ConfigError> {
    let loopback = g.driver == Driver::Loopback;
    let gw = g.gw.as_ref().map(|s| s.value);
    let mut claimed: HashMap<IpAddr, String> = HashMap::new();
    for m in members.iter() {
        let Some(Spanned { value: ip, at }) = &m.explicit_ip else {
            continue;
        };
        let ip = *ip;
        if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
            return Err(invalid(at, ip, "expected a unicast host address"));
        }
        if loopback && !in_loopback_range(ip) {
            return Err(ConfigError::NotLoopback {
                at: Box::new(at.clone()),
                ip,
            });
        }
        if gw == Some(ip) {
            return Err(invalid(
                at,
                ip,
                "it is the gateway (`gw` in [general]); give the decky another address",
            ));
        }
        if let Some(net) = &g.net {
            let n = net.value;
            if n.network.is_ipv4() && n.prefix <= 30 && (ip == n.network || ip == n.last()) {
                return Err(invalid(
                    at,
                    ip,
                    format!("it is the network or broadcast address of {n}; give the decky a host address"),
                ));
            }
        }
        if let Some(other) = claimed.insert(ip, m.config.name.clone()) {
            return Err(ConfigError::AddressInUse {
                at: Box::new(at.clone()),
                ip,
                other,
            });
        }
    }
    let mut skip: HashSet<IpAddr> = claimed.keys().copied().collect();
    skip.extend(gw);
    if let Some(net) = &g.net {
        skip.insert(net.value.network);
        skip.insert(net.value.last());
    }
    let mut pool = pool(g)?;
    for m in members.iter_mut() {
        if let Some(ip) = &m.explicit_ip {
            m.config.ip = ip.value;
            continue;
        }
        let Some(p) = pool.as_mut() else {
            return Err(ConfigError::NoAddress {
                at: Box::new(m.at.clone()),
                decky: m.config.name.clone(),
            });
        };
        let Some(ip) = p.take(&skip) else {
            return Err(ConfigError::PoolExhausted {
                at: Box::new(m.at.clone()),
                decky: m.config.name.clone(),
                pool: p.describe.clone(),
            });
        };
        if loopback && !in_loopback_range(ip) {
            return Err(ConfigError::NotLoopback {
                at: Box::new(m.at.clone()),
                ip,
            });
        }
        skip.insert(ip);
        m.config.ip = ip;
    }
    Ok(())
}

fn resolve_general(g: &GeneralSpec) -> General {
    General {
        net: g.net.as_ref().map(|n| n.value.to_string()),
        gw: g.gw.as_ref().map(|s| s.value),
        interface: g.interface.clone(),
        log_target: g.log_target.clone(),
        log_target_ca: g.log_target_ca.clone(),
        journal_retention: g.journal_retention,
        disk_watermark: g.disk_watermark,
        driver: g.driver,
        port_offset: g.port_offset.value,
        limits: g.limits,
    }
}

/// Resolves a spec; the only way a [`FleetConfig`] is built from user input.
pub(crate) fn resolve(
    spec: &FleetSpec,
    catalog: &dyn ServiceCatalog,
    installation_key: &[u8],
) -> Result<FleetConfig, ConfigError> {
    let general = resolve_general(&spec.general);
    if spec.deckies.is_empty() {
        return Err(ConfigError::NoDeckies {
            at: Box::new(Location::source(&spec.source)),
        });
    }

    // Service sections, checked once each and grouped by their decky section.
    let mut service_of: HashMap<(&str, &str), String> = HashMap::new();
    let mut by_decky: HashMap<&str, Vec<(&ServiceSectionSpec, SectionPersona)>> = HashMap::new();
    for s in &spec.service_sections {
        if !spec.deckies.iter().any(|d| d.name == s.decky) {
            return Err(ConfigError::NoDeckyForServiceSection {
                at: Box::new(s.at.clone()),
                decky: s.decky.clone(),
            });
        }
        let (info, own) = slug_info(&s.service, &s.at, None, catalog)?;
        let persona = check_section(s, &info, own)?;
        by_decky
            .entry(s.decky.as_str())
            .or_default()
            .push((s, persona));
        service_of.insert(
            (s.decky.as_str(), s.service.as_str()),
            info.name.to_string(),
        );
    }

    let mut members: Vec<Member> = Vec::new();
    let mut origins = PersonaOrigins::default();
    let mut first_seen: HashMap<String, Location> = HashMap::new();
    for d in &spec.deckies {
        let sections = by_decky
            .get(d.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for m in expand(d, sections, catalog, installation_key)? {
            if let Some(first) = first_seen.get(&m.config.name) {
                return Err(ConfigError::DuplicateDecky {
                    at: Box::new(m.at.clone()),
                    name: m.config.name.clone(),
                    first: Box::new(first.clone()),
                });
            }
            first_seen.insert(m.config.name.clone(), m.at.clone());
            for (sec, p) in sections {
                let Some(service) = service_of.get(&(sec.decky.as_str(), sec.service.as_str()))
                else {
                    continue;
                };
                for (k, at) in &p.persona_at {
                    origins.insert(&m.config.name, service, k, at.clone());
                }
            }
            members.push(m);
        }
    }

    let offset = spec.general.port_offset.value;
    for m in &members {
        for s in &m.config.services {
            for l in &s.listeners {
                let sum = u32::from(l.port) + u32::from(offset);
                if l.port != 0 && sum > u32::from(u16::MAX) {
                    return Err(invalid(
                        &spec.general.port_offset.at,
                        offset,
                        format!(
                            "listener {} of service {} of decky {} listens on port {}, which this offset pushes to {sum}, past 65535; \
                             lower the offset or give the listener a lower port",
                            l.name, s.name, m.config.name, l.port
                        ),
                    ));
                }
            }
        }
    }

    allocate(&spec.general, &mut members)?;
    let bait_files = members
        .iter()
        .filter(|m| !m.bait_files.is_empty())
        .map(|m| (m.config.name.clone(), m.bait_files.clone()))
        .collect();
    let fleet = FleetConfig {
        general,
        deckies: members.into_iter().map(|m| m.config).collect(),
        origins,
        bait_files,
    };
    fleet.check_binds_from(&spec.source)?;
    Ok(fleet)
}

/// One listener's claim on a transport, address and port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BindClaim<'a> {
    /// Decky name.
    pub decky: &'a str,
    /// Service name.
    pub service: &'a str,
    /// The listener.
    pub listener: &'a ListenerConfig,
    /// Where it binds, `port_offset` applied.
    pub addr: SocketAddr,
}

impl FleetConfig {
    /// Every (decky, service, listener, bind address) claim, in config order.
    pub fn bind_claims(&self) -> Vec<BindClaim<'_>> {
        self.deckies
            .iter()
            .flat_map(|d| {
                d.services.iter().flat_map(move |s| {
                    s.listeners.iter().map(move |l| BindClaim {
                        decky: &d.name,
                        service: &s.name,
                        listener: l,
                        addr: d.bind_addr(l, self.general.port_offset),
                    })
                })
            })
            .collect()
    }

    /// Refuses two claims of one (transport, address, port), naming both deckies and listeners.
    ///
    /// A TCP and a UDP listener may share a port (SIP on 5060 is both).
    /// Port 0 asks the OS for any free port and never conflicts.
    pub fn check_binds(&self) -> Result<(), ConfigError> {
        self.check_binds_from("fleet config")
    }

    fn check_binds_from(&self, origin: &str) -> Result<(), ConfigError> {
        let mut seen: HashMap<(Transport, SocketAddr), BindClaim<'_>> = HashMap::new();
        for claim in self.bind_claims() {
            if claim.addr.port() == 0 {
                continue;
            }
            if let Some(first) = seen.insert((claim.listener.transport, claim.addr), claim) {
                return Err(ConfigError::BindConflict(Box::new(BindConflict {
                    origin: origin.to_string(),
                    addr: claim.addr,
                    transport: claim.listener.transport.as_str(),
                    first_decky: first.decky.to_string(),
                    first_service: first.listener.name.to_string(),
                    second_decky: claim.decky.to_string(),
                    second_service: claim.listener.name.to_string(),
                })));
            }
        }
        Ok(())
    }
}

/// Names of the keys a `[DECKY.SERVICE]` section of `info` accepts.
fn service_keys(info: &ServiceInfo) -> String {
    let mut keys = names(SERVICE_KEYS);
    for l in info.listeners {
        keys.push_str(", ");
        keys.push_str(l.name);
        keys.push_str("_port");
    }
    for k in info.persona_keys {
        keys.push_str(", ");
        keys.push_str(k.name);
    }
    keys
}
