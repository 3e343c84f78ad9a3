//! Why a fleet config was refused. Every message says where (file or
//! `decnet deploy` flags, line, section, key), what is wrong and what to do.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// Where in a config source a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Location {
    /// File name, or `decnet deploy` for flags, or `demo fleet`.
    pub source: String,
    /// 1-based line, when the source has lines.
    pub line: Option<usize>,
    /// Section name without brackets (`general`, `decky-web`, `web.ssh`).
    pub section: Option<String>,
    /// Key (or flag) within the section.
    pub key: Option<String>,
}

impl Location {
    /// A location in `source` with nothing more precise known.
    pub fn source(source: &str) -> Location {
        Location {
            source: source.to_string(),
            ..Location::default()
        }
    }

    /// The same place, pointing at `key` on `line`.
    pub(crate) fn at_key(&self, key: &str, line: Option<usize>) -> Location {
        Location {
            source: self.source.clone(),
            line: line.or(self.line),
            section: self.section.clone(),
            key: Some(key.to_string()),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(section) = &self.section {
            write!(f, " [{section}]")?;
        }
        if let Some(key) = &self.key {
            write!(f, " `{key}`")?;
        }
        Ok(())
    }
}

/// Why a fleet config could not be loaded or resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A line is not a section header, a comment or `key = value`.
    #[error("{at}: {message}")]
    Syntax {
        /// Where.
        at: Box<Location>,
        /// What is wrong and how to write it instead.
        message: String,
    },
    /// A section header names no section kind DECNET knows.
    #[error("{at}: unknown section [{section}]: {hint}")]
    UnknownSection {
        /// Where.
        at: Box<Location>,
        /// The section name.
        section: String,
        /// What the section could have been meant as.
        hint: String,
    },
    /// A section appears twice.
    #[error(
        "{at}: section [{section}] already appeared on line {first_line}; merge the two sections"
    )]
    DuplicateSection {
        /// Where the second one starts.
        at: Box<Location>,
        /// The section name.
        section: String,
        /// Where the first one starts.
        first_line: usize,
    },
    /// A key this section does not accept.
    #[error("{at}: unknown key `{key}`; this section accepts: {allowed}. Fix the spelling or remove the line")]
    UnknownKey {
        /// Where.
        at: Box<Location>,
        /// The key.
        key: String,
        /// Keys the section accepts.
        allowed: String,
    },
    /// A key given twice in one section (`nmap-os` counts as `nmap_os`).
    #[error(
        "{at}: key `{key}` is already set on line {first_line} of this section; keep one of them"
    )]
    DuplicateKey {
        /// Where the second one is.
        at: Box<Location>,
        /// The key.
        key: String,
        /// Where the first one is.
        first_line: usize,
    },
    /// A value that does not parse or is out of range.
    #[error("{at}: invalid value {value:?}: {reason}")]
    InvalidValue {
        /// Where.
        at: Box<Location>,
        /// The value as written.
        value: String,
        /// What is expected.
        reason: String,
    },
    /// A service name DECNET does not know at all.
    #[error("{at}: unknown service `{service}`; known services: {known}")]
    UnknownService {
        /// Where.
        at: Box<Location>,
        /// The name.
        service: String,
        /// Every known service name.
        known: String,
    },
    /// A service DECNET knows of but this build does not implement.
    #[error("{at}: {}", not_implemented_message(service, archetype.as_deref(), implemented))]
    ServiceNotImplemented {
        /// Where.
        at: Box<Location>,
        /// The service.
        service: String,
        /// The archetype that asked for it, if one did.
        archetype: Option<String>,
        /// Services this build implements.
        implemented: String,
    },
    /// An archetype slug that does not exist.
    #[error("{at}: unknown archetype `{archetype}`; archetypes: {known}")]
    UnknownArchetype {
        /// Where.
        at: Box<Location>,
        /// The slug.
        archetype: String,
        /// Every archetype slug.
        known: String,
    },
    /// A distro or Windows build slug that does not exist.
    #[error("{at}: unknown distro `{distro}`; distros: {known}")]
    UnknownDistro {
        /// Where.
        at: Box<Location>,
        /// The slug.
        distro: String,
        /// Every distro and Windows build slug.
        known: String,
    },
    /// A Linux distro for a Windows archetype, or a Windows build for any other.
    #[error("{at}: `{distro}` is {}, but archetype {archetype} is {}; use one of: {valid}", if *windows { "a Linux distro" } else { "a Windows build" }, if *windows { "a Windows archetype" } else { "not a Windows archetype" })]
    PersonaMismatch {
        /// Where.
        at: Box<Location>,
        /// The slug given.
        distro: String,
        /// The archetype.
        archetype: String,
        /// Whether the archetype is a Windows one.
        windows: bool,
        /// The slugs that fit the archetype.
        valid: String,
    },
    /// `amount` > 1 together with `ip`.
    #[error("{at}: `amount` = {amount} cannot be combined with `ip`: every expanded decky needs its own address. Remove `ip` (addresses are then allocated) or set amount = 1")]
    AmountWithIp {
        /// Where.
        at: Box<Location>,
        /// The amount.
        amount: u32,
    },
    /// A decky with no services.
    #[error("{at}: decky `{decky}` has no services; set `services = ssh,http` or an `archetype`")]
    NoServices {
        /// Where.
        at: Box<Location>,
        /// The decky (section) name.
        decky: String,
    },
    /// A service listed twice on one decky.
    #[error("{at}: service `{service}` is listed twice for decky `{decky}`; list it once")]
    DuplicateService {
        /// Where.
        at: Box<Location>,
        /// The decky (section) name.
        decky: String,
        /// The service.
        service: String,
    },
    /// `[NAME.SERVICE]` with no `[NAME]` section.
    #[error("{at}: there is no decky section [{decky}] for this service section; add [{decky}] with `services`, or fix the name (for a group, use the group's section name, not an expanded name)")]
    NoDeckyForServiceSection {
        /// Where.
        at: Box<Location>,
        /// The decky name before the dot.
        decky: String,
    },
    /// `[NAME.SERVICE]` for a service the decky does not run.
    #[error("{at}: decky `{decky}` does not run `{service}` (it runs {runs}); add `{service}` to its `services` or remove this section")]
    ServiceNotRun {
        /// Where.
        at: Box<Location>,
        /// The decky name.
        decky: String,
        /// The service.
        service: String,
        /// The services it does run.
        runs: String,
    },
    /// A decky name that is not usable as a hostname or a path component.
    #[error("{at}: invalid decky name {name:?}: {reason}")]
    InvalidName {
        /// Where.
        at: Box<Location>,
        /// The name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// Two deckies with one name (after `amount` expansion).
    #[error("{at}: decky name `{name}` is already used by {first}; rename one of the sections")]
    DuplicateDecky {
        /// Where the second one comes from.
        at: Box<Location>,
        /// The name.
        name: String,
        /// Where the first one comes from.
        first: Box<Location>,
    },
    /// A decky address outside 127.0.0.0/8 on the loopback driver.
    #[error("{at}: {ip} is not a loopback address; the loopback driver only serves 127.0.0.0/8. Use an address in 127.0.0.0/8, or set `driver = host` in [general] to use addresses configured on this host")]
    NotLoopback {
        /// Where.
        at: Box<Location>,
        /// The address.
        ip: IpAddr,
    },
    /// Two deckies given one address.
    #[error("{at}: {ip} is already the address of decky `{other}`; give each decky its own `ip`")]
    AddressInUse {
        /// Where.
        at: Box<Location>,
        /// The address.
        ip: IpAddr,
        /// The decky that has it.
        other: String,
    },
    /// The address pool ran out.
    #[error("{at}: no free address left in {pool} for decky `{decky}`; use a larger `net` in [general], fewer deckies, or explicit `ip` values")]
    PoolExhausted {
        /// Where.
        at: Box<Location>,
        /// The decky that got none.
        decky: String,
        /// The pool, as a range.
        pool: String,
    },
    /// The host driver with neither `ip` nor a pool to allocate from.
    #[error("{at}: decky `{decky}` has no `ip` and there is no pool to allocate one from on the host driver; set `ip` on the decky, or `net` (or `ip_start`) in [general]")]
    NoAddress {
        /// Where.
        at: Box<Location>,
        /// The decky.
        decky: String,
    },
    /// A config with no deckies.
    #[error("{at}: no deckies are defined; add a section such as [decky-web] with `archetype = linux-server`")]
    NoDeckies {
        /// Where.
        at: Box<Location>,
    },
    /// Two services claim one address:port.
    #[error("{0}")]
    BindConflict(Box<BindConflict>),
}

/// Two claims of one address:port (kept behind a box: errors stay small).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: decky `{first_decky}` service `{first_service}` and decky `{second_decky}` service `{second_service}` both bind {addr}/{transport}; give one of them another `port` in its [DECKY.SERVICE] section or another `ip`")]
pub struct BindConflict {
    /// The config source (file name, `decnet deploy`, …).
    pub origin: String,
    /// The contested address.
    pub addr: SocketAddr,
    /// Its transport (`tcp`, `udp`).
    pub transport: &'static str,
    /// The first claimant.
    pub first_decky: String,
    /// Its service.
    pub first_service: String,
    /// The second claimant.
    pub second_decky: String,
    /// Its service.
    pub second_service: String,
}

fn not_implemented_message(service: &str, archetype: Option<&str>, implemented: &str) -> String {
    match archetype {
        Some(a) => format!(
            "archetype {a} needs service {service}, which is not implemented yet; \
             name the services yourself (`services` key or `--services` flag; implemented: {implemented}) or pick another archetype"
        ),
        None => format!(
            "service {service} is not implemented yet; remove it (implemented: {implemented})"
        ),
    }
}

impl ConfigError {
    /// Where the problem is, when it has one place.
    pub fn location(&self) -> Option<&Location> {
        use ConfigError::*;
        match self {
            Syntax { at, .. }
            | UnknownSection { at, .. }
            | DuplicateSection { at, .. }
            | UnknownKey { at, .. }
            | DuplicateKey { at, .. }
            | InvalidValue { at, .. }
            | UnknownService { at, .. }
            | ServiceNotImplemented { at, .. }
            | UnknownArchetype { at, .. }
            | UnknownDistro { at, .. }
            | PersonaMismatch { at, .. }
            | AmountWithIp { at, .. }
            | NoServices { at, .. }
            | DuplicateService { at, .. }
            | NoDeckyForServiceSection { at, .. }
            | ServiceNotRun { at, .. }
            | InvalidName { at, .. }
            | DuplicateDecky { at, .. }
            | NotLoopback { at, .. }
            | AddressInUse { at, .. }
            | PoolExhausted { at, .. }
            | NoAddress { at, .. }
            | NoDeckies { at } => Some(at.as_ref()),
            BindConflict(_) => None,
        }
    }
}
