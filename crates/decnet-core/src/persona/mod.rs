//! Personas: what a decky claims to be, and the names of every service DECNET
//! knows of (implemented or planned).
//!
//! - [`mod@distro`]: Linux releases, their OS identity and the package versions they ship
//! - [`mod@windows`]: Windows builds and the SMB/RDP/MSSQL/IIS versions they ship
//! - [`mod@archetype`]: bundles of services, an OS family and preferred personas
//! - [`mod@accounts`]: each release's base `/etc/passwd` and `/etc/group`
//! - [`mod@procfs`]: `/proc` text (`cpuinfo`, `meminfo`, `uptime`, …) for a persona's machine
//!
//! Protocols format their own banners from these; nothing here is per service.

pub mod accounts;
pub mod archetype;
pub mod distro;
pub mod procfs;
pub mod windows;

use std::fmt;

pub use archetype::{archetype, Archetype, ARCHETYPES};
pub use distro::{
    distro, DefaultPage, Distro, Motd, MotdContext, Package, PackageVersion, Packaging,
    PromptStyle, UnameStyle, WebServer, DISTROS,
};
pub use windows::{
    windows_build, MssqlVersion, RdpVersion, SmbDialect, WindowsBuild, WindowsKind, WINDOWS_BUILDS,
};

use serde::{Deserialize, Serialize};

use crate::seed::InstanceSeed;

/// The OS family a decky pretends to be; drives TCP/IP stack traits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OsFamily {
    /// Linux servers and desktops.
    Linux,
    /// Windows workstations and servers.
    Windows,
    /// FreeBSD / OpenBSD / macOS-like stacks.
    Bsd,
    /// Printers, cameras, IoT.
    Embedded,
    /// Network gear.
    Cisco,
}

impl OsFamily {
    /// Every family.
    pub const ALL: [OsFamily; 5] = [
        OsFamily::Linux,
        OsFamily::Windows,
        OsFamily::Bsd,
        OsFamily::Embedded,
        OsFamily::Cisco,
    ];

    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OsFamily::Linux => "linux",
            OsFamily::Windows => "windows",
            OsFamily::Bsd => "bsd",
            OsFamily::Embedded => "embedded",
            OsFamily::Cisco => "cisco",
        }
    }

    /// Parses a family name; accepts the `nmap_os` spellings of the Python config
    /// (`windows_server`, `windows-server`) as `windows`.
    pub fn parse(s: &str) -> Option<OsFamily> {
        match s.trim().to_ascii_lowercase().replace('-', "_").as_str() {
            "linux" => Some(OsFamily::Linux),
            "windows" | "windows_server" => Some(OsFamily::Windows),
            "bsd" | "freebsd" | "openbsd" => Some(OsFamily::Bsd),
            "embedded" => Some(OsFamily::Embedded),
            "cisco" | "ios" => Some(OsFamily::Cisco),
            _ => None,
        }
    }

    /// Initial IP TTL the family's stack uses.
    pub fn ttl(self) -> u32 {
        match self {
            OsFamily::Linux | OsFamily::Bsd => 64,
            OsFamily::Windows => 128,
            OsFamily::Embedded | OsFamily::Cisco => 255,
        }
    }

    /// Socket receive buffer that gives the family's typical advertised window.
    pub fn recv_buffer(self) -> usize {
        match self {
            OsFamily::Linux => 131_072,
            OsFamily::Windows => 65_536,
            OsFamily::Bsd => 65_536,
            OsFamily::Embedded => 16_384,
            OsFamily::Cisco => 8_192,
        }
    }
}

impl fmt::Display for OsFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a distro's machines tend to be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostnameStyle {
    /// `web-prod-03`.
    Generic,
    /// `app01.corp.local`-like enterprise names.
    Rhel,
    /// Short appliance names.
    Minimal,
    /// Personal machines (`kali`, `archbox`).
    Rolling,
}

/// The persona a decky presents: a Linux release or a Windows build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persona {
    /// A Linux distro release.
    Linux(&'static Distro),
    /// A Windows build.
    Windows(&'static WindowsBuild),
}

impl Persona {
    /// Looks a persona up by slug: a distro or a Windows build.
    pub fn lookup(slug: &str) -> Option<Persona> {
        distro(slug)
            .map(Persona::Linux)
            .or_else(|| windows_build(slug).map(Persona::Windows))
    }

    /// Slug used in config (`debian`, `win2019`).
    pub fn slug(self) -> &'static str {
        match self {
            Persona::Linux(d) => d.slug,
            Persona::Windows(w) => w.slug,
        }
    }

    /// Human name (`Debian GNU/Linux 12 (bookworm)`, `Windows Server 2019 Standard`).
    pub fn display_name(self) -> &'static str {
        match self {
            Persona::Linux(d) => d.display_name,
            Persona::Windows(w) => w.product_name,
        }
    }

    /// Whether this is a Windows build.
    pub fn is_windows(self) -> bool {
        matches!(self, Persona::Windows(_))
    }

    /// Every persona slug of one kind, comma-separated, for error messages.
    pub fn slugs(windows: bool) -> String {
        let slugs: Vec<&str> = if windows {
            WINDOWS_BUILDS.iter().map(|w| w.slug).collect()
        } else {
            DISTROS.iter().map(|d| d.slug).collect()
        };
        slugs.join(", ")
    }
}

/// Every service name DECNET knows, implemented or planned. A dotted INI
/// section `[decky.NAME]` is a service section only when NAME is one of these.
pub const KNOWN_SERVICES: [&str; 35] = [
    "ssh",
    "telnet",
    "http",
    "https",
    "ftp",
    "smb",
    "rdp",
    "mysql",
    "postgres",
    "mssql",
    "mongodb",
    "redis",
    "ldap",
    "ldaps",
    "smtp",
    "submission",
    "smtps",
    "smtp_relay",
    "pop3",
    "pop3s",
    "imap",
    "imaps",
    "snmp",
    "sip",
    "mqtt",
    "vnc",
    "tftp",
    "llmnr",
    "mdns",
    "elasticsearch",
    "docker_api",
    "docker_api_tls",
    "k8s",
    "k8s_insecure",
    "conpot",
];

/// Services of [`KNOWN_SERVICES`] not implemented yet. A service leaves this
/// list in the change that registers it (a test in `decnet-services` checks
/// that every known service is registered or planned, never both).
pub const PLANNED_SERVICES: [&str; 10] = [
    "smb",
    "rdp",
    "mssql",
    "smtp_relay",
    "snmp",
    "sip",
    "tftp",
    "llmnr",
    "mdns",
    "conpot",
];

const ADJ: [&str; 12] = [
    "web", "app", "db", "files", "mail", "build", "backup", "log", "proxy", "api", "mon", "git",
];
const ENV: [&str; 6] = ["prod", "stg", "int", "core", "dmz", "ops"];
const DESKTOP: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";

/// A plausible hostname for a decky, stable for its seed.
pub fn generate_hostname(seed: &InstanceSeed, family: OsFamily, distro: &Distro) -> String {
    let b = seed.derive(b"hostname");
    let byte = |i: usize| b.get(i).copied().unwrap_or(0);
    let pick = |i: usize, n: usize| usize::from(byte(i)) % n.max(1);
    // `pick` keeps every index in range; the fallback only satisfies the type.
    let word =
        |list: &[&'static str], i: usize| list.get(pick(i, list.len())).copied().unwrap_or("");
    let num = 1 + pick(2, 24);
    match family {
        OsFamily::Windows => {
            let tail: String = (0..7)
                .map(|i| {
                    char::from(
                        DESKTOP
                            .get(pick(3 + i, DESKTOP.len()))
                            .copied()
                            .unwrap_or(b'X'),
                    )
                })
                .collect();
            if pick(10, 2) == 0 {
                format!("DESKTOP-{tail}")
            } else {
                format!("SRV-{}{:02}", word(&ADJ, 0).to_uppercase(), num)
            }
        }
        OsFamily::Cisco => format!("sw-{}-{:02}", word(&ENV, 1), num),
        OsFamily::Embedded => format!(
            "{}-{:02x}{:02x}",
            word(&["npi", "cam", "iot", "plc"], 0),
            byte(4),
            byte(5)
        ),
        OsFamily::Linux | OsFamily::Bsd => match distro.hostname_style {
            HostnameStyle::Generic => {
                format!("{}-{}-{:02}", word(&ADJ, 0), word(&ENV, 1), num)
            }
            HostnameStyle::Rhel => format!("{}{:02}", word(&ADJ, 0), num),
            HostnameStyle::Minimal => format!("{}{}", word(&ADJ, 0), num),
            HostnameStyle::Rolling => format!("{}-{}", distro.slug, word(&ADJ, 0)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_archetype_names_known_services_and_distros() {
        for a in &ARCHETYPES {
            for s in a.services {
                assert!(
                    KNOWN_SERVICES.contains(s),
                    "{} names unknown service {s}",
                    a.slug
                );
            }
            assert!(!a.preferred_distros.is_empty(), "{}", a.slug);
            for d in a.preferred_distros {
                let p = Persona::lookup(d);
                assert!(p.is_some(), "{} names unknown persona {d}", a.slug);
                // Windows archetypes draw Windows builds, every other one Linux distros.
                assert_eq!(
                    p.is_some_and(Persona::is_windows),
                    a.os_family == OsFamily::Windows,
                    "{} draws {d}",
                    a.slug
                );
            }
        }
    }

    #[test]
    fn planned_services_are_known_and_listed_once() {
        for p in PLANNED_SERVICES {
            assert!(KNOWN_SERVICES.contains(&p), "{p} is planned but unknown");
        }
        let unique: std::collections::HashSet<&str> = PLANNED_SERVICES.into_iter().collect();
        assert_eq!(unique.len(), PLANNED_SERVICES.len());
    }

    #[test]
    fn persona_slugs_are_unique_across_distros_and_windows_builds() {
        let mut seen = std::collections::HashSet::new();
        for s in DISTROS
            .iter()
            .map(|d| d.slug)
            .chain(WINDOWS_BUILDS.iter().map(|w| w.slug))
        {
            assert!(seen.insert(s), "{s} twice");
            assert_eq!(Persona::lookup(s).map(Persona::slug), Some(s));
        }
        assert_eq!(
            Persona::lookup("win2019").map(Persona::display_name),
            Some("Windows Server 2019 Standard")
        );
        assert_eq!(Persona::lookup("gentoo"), None);
    }

    #[test]
    fn families_parse_python_spellings() {
        assert_eq!(OsFamily::parse("windows_server"), Some(OsFamily::Windows));
        assert_eq!(OsFamily::parse("Linux"), Some(OsFamily::Linux));
        assert_eq!(OsFamily::parse("solaris"), None);
        for f in OsFamily::ALL {
            assert_eq!(OsFamily::parse(f.as_str()), Some(f));
        }
        assert_eq!(OsFamily::Windows.ttl(), 128);
        assert_eq!(OsFamily::Cisco.ttl(), 255);
    }

    #[test]
    fn hostnames_are_stable_per_seed_and_vary_between_seeds() {
        let key = [7u8; 32];
        let d = distro("debian").unwrap();
        let a = InstanceSeed::derive_for(&key, "decky-01");
        let b = InstanceSeed::derive_for(&key, "decky-02");
        assert_eq!(
            generate_hostname(&a, OsFamily::Linux, d),
            generate_hostname(&a, OsFamily::Linux, d)
        );
        let names: std::collections::HashSet<String> = (0..20)
            .map(|i| {
                generate_hostname(
                    &InstanceSeed::derive_for(&key, &format!("d{i}")),
                    OsFamily::Linux,
                    d,
                )
            })
            .collect();
        assert!(names.len() > 10, "{names:?}");
        let _ = b;
        assert!(generate_hostname(&a, OsFamily::Windows, d)
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'));
    }

    #[test]
    fn os_release_and_proc_version_read_like_the_real_files() {
        let d = distro("ubuntu22").unwrap();
        assert!(d
            .os_release()
            .contains("PRETTY_NAME=\"Ubuntu 22.04.4 LTS\""));
        assert!(d.os_release().contains("ID=ubuntu\n"));
        assert!(d
            .proc_version()
            .starts_with("Linux version 5.15.0-91-generic (buildd@"));
    }
}
