//! Personas: OS families, distro profiles and archetypes, and the names of every
//! service DECNET knows of (implemented or planned).

use std::fmt;

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

/// What a Linux distribution shows an intruder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    /// Slug used in config (`debian`, `ubuntu22`, …).
    pub slug: &'static str,
    /// Human name (`Debian GNU/Linux 12 (bookworm)`).
    pub display_name: &'static str,
    /// Naming style for generated hostnames.
    pub hostname_style: HostnameStyle,
    /// Default SSH identification string.
    pub ssh_version: &'static str,
    /// `uname -r`.
    pub kernel_release: &'static str,
    /// `uname -v`.
    pub kernel_build: &'static str,
    /// The compiler part of `/proc/version`.
    pub kernel_compiler: &'static str,
    /// `/etc/os-release` `ID`.
    pub os_id: &'static str,
    /// `/etc/os-release` `VERSION_ID`.
    pub version_id: &'static str,
    /// `/etc/os-release` `VERSION`.
    pub version: &'static str,
    /// Default HTTP `Server` header.
    pub http_server: &'static str,
    /// Default shell prompt suffix style: Debian-like (`user@host:~$`) or RHEL-like (`[user@host ~]$`).
    pub rhel_prompt: bool,
}

impl Distro {
    /// `/etc/os-release` contents.
    pub fn os_release(&self) -> String {
        format!(
            "PRETTY_NAME=\"{pretty}\"\nNAME=\"{name}\"\nVERSION_ID=\"{vid}\"\nVERSION=\"{ver}\"\nID={id}\nHOME_URL=\"https://www.{id}.org/\"\n",
            pretty = self.display_name,
            name = self.display_name.split(" (").next().unwrap_or(self.display_name),
            vid = self.version_id,
            ver = self.version,
            id = self.os_id,
        )
    }

    /// `/proc/version` contents.
    pub fn proc_version(&self) -> String {
        format!(
            "Linux version {} ({}) {}\n",
            self.kernel_release, self.kernel_compiler, self.kernel_build
        )
    }
}

macro_rules! distro {
    ($slug:expr, $name:expr, $style:ident, $ssh:expr, $rel:expr, $build:expr, $cc:expr, $id:expr, $vid:expr, $ver:expr, $http:expr, $rhel:expr) => {
        Distro {
            slug: $slug,
            display_name: $name,
            hostname_style: HostnameStyle::$style,
            ssh_version: $ssh,
            kernel_release: $rel,
            kernel_build: $build,
            kernel_compiler: $cc,
            os_id: $id,
            version_id: $vid,
            version: $ver,
            http_server: $http,
            rhel_prompt: $rhel,
        }
    };
}

/// Every distro profile.
pub static DISTROS: [Distro; 9] = [
    distro!("debian", "Debian GNU/Linux 12 (bookworm)", Generic, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3",
        "6.1.0-28-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)",
        "debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40",
        "debian", "12", "12 (bookworm)", "nginx/1.22.1", false),
    distro!("ubuntu22", "Ubuntu 22.04.4 LTS", Generic, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6",
        "5.15.0-91-generic", "#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023",
        "buildd@lcy02-amd64-045) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38",
        "ubuntu", "22.04", "22.04.4 LTS (Jammy Jellyfish)", "Apache/2.4.52 (Ubuntu)", false),
    distro!("ubuntu20", "Ubuntu 20.04.6 LTS", Generic, "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.9",
        "5.4.0-169-generic", "#187-Ubuntu SMP Thu Nov 23 14:52:28 UTC 2023",
        "buildd@lcy02-amd64-079) (gcc (Ubuntu 9.4.0-1ubuntu1~20.04.2) 9.4.0, GNU ld (GNU Binutils for Ubuntu) 2.34",
        "ubuntu", "20.04", "20.04.6 LTS (Focal Fossa)", "Apache/2.4.41 (Ubuntu)", false),
    distro!("rocky9", "Rocky Linux 9.3 (Blue Onyx)", Rhel, "SSH-2.0-OpenSSH_8.7",
        "5.14.0-362.8.1.el9_3.x86_64", "#1 SMP PREEMPT_DYNAMIC Wed Nov 8 17:36:32 UTC 2023",
        "mockbuild@iad1-prod-build001.bld.equ.rockylinux.org) (gcc (GCC) 11.4.1 20230605 (Red Hat 11.4.1-2), GNU ld version 2.35.2-42.el9",
        "rocky", "9.3", "9.3 (Blue Onyx)", "Apache/2.4.57 (Rocky Linux)", true),
    distro!("centos7", "CentOS Linux 7 (Core)", Rhel, "SSH-2.0-OpenSSH_7.4",
        "3.10.0-1160.el7.x86_64", "#1 SMP Mon Oct 19 16:18:59 UTC 2020",
        "mockbuild@kbuilder.bsys.centos.org) (gcc version 4.8.5 20150623 (Red Hat 4.8.5-44) (GCC)",
        "centos", "7", "7 (Core)", "Apache/2.4.6 (CentOS)", true),
    distro!("alpine", "Alpine Linux v3.19", Minimal, "SSH-2.0-OpenSSH_9.6",
        "6.6.14-0-lts", "#1-Alpine SMP PREEMPT_DYNAMIC Fri, 26 Jan 2024 11:08:07 +0000",
        "buildozer@build-3-19-x86_64) (gcc (Alpine 13.2.1_git20231014) 13.2.1 20231014, GNU ld (GNU Binutils) 2.41",
        "alpine", "3.19.1", "3.19.1", "nginx/1.24.0", false),
    distro!("fedora", "Fedora Linux 39 (Server Edition)", Rhel, "SSH-2.0-OpenSSH_9.3",
        "6.5.6-300.fc39.x86_64", "#1 SMP PREEMPT_DYNAMIC Fri Oct  6 19:57:21 UTC 2023",
        "mockbuild@c8a0a8c2b0f5493b9d2cb1c2c3fb5b0f) (gcc (GCC) 13.2.1 20230918 (Red Hat 13.2.1-3), GNU ld version 2.40-13.fc39",
        "fedora", "39", "39 (Server Edition)", "Apache/2.4.58 (Fedora Linux)", true),
    distro!("kali", "Kali GNU/Linux Rolling", Rolling, "SSH-2.0-OpenSSH_9.6p1 Debian-4",
        "6.6.9-amd64", "#1 SMP PREEMPT_DYNAMIC Kali 6.6.9-1kali1 (2024-01-08)",
        "devel@kali.org) (x86_64-linux-gnu-gcc-13 (Debian 13.2.0-9) 13.2.0, GNU ld (GNU Binutils for Debian) 2.41.50.20231227",
        "kali", "2024.1", "2024.1", "Apache/2.4.58 (Debian)", false),
    distro!("arch", "Arch Linux", Rolling, "SSH-2.0-OpenSSH_9.6",
        "6.7.4-arch1-1", "#1 SMP PREEMPT_DYNAMIC Mon, 05 Feb 2024 22:07:49 +0000",
        "linux@archlinux) (gcc (GCC) 13.2.1 20230801, GNU ld (GNU Binutils) 2.42.0",
        "arch", "rolling", "rolling", "nginx/1.24.0", false),
];

/// Looks a distro up by slug.
pub fn distro(slug: &str) -> Option<&'static Distro> {
    DISTROS.iter().find(|d| d.slug == slug)
}

/// A bundle of services and an OS family that reads as one kind of machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archetype {
    /// Slug used in config (`linux-server`, …).
    pub slug: &'static str,
    /// One line on what it looks like.
    pub description: &'static str,
    /// Services it runs.
    pub services: &'static [&'static str],
    /// Distros it is drawn from, first is the default.
    pub preferred_distros: &'static [&'static str],
    /// OS family it presents.
    pub os_family: OsFamily,
}

macro_rules! archetype {
    ($slug:expr, $desc:expr, [$($svc:expr),*], [$($d:expr),*], $fam:ident) => {
        Archetype { slug: $slug, description: $desc, services: &[$($svc),*], preferred_distros: &[$($d),*], os_family: OsFamily::$fam }
    };
}

/// Every archetype.
pub static ARCHETYPES: [Archetype; 15] = [
    archetype!(
        "windows-workstation",
        "Windows 10 desktop with file sharing and remote desktop",
        ["smb", "rdp"],
        ["debian", "ubuntu22"],
        Windows
    ),
    archetype!(
        "windows-server",
        "Windows Server with SMB, RDP and LDAP",
        ["smb", "rdp", "ldap"],
        ["debian", "ubuntu22"],
        Windows
    ),
    archetype!(
        "domain-controller",
        "Active Directory domain controller",
        ["ldap", "smb", "rdp", "llmnr"],
        ["debian", "ubuntu22"],
        Windows
    ),
    archetype!(
        "linux-server",
        "General-purpose Linux server with SSH and a web site",
        ["ssh", "http"],
        ["debian", "ubuntu22", "rocky9", "fedora"],
        Linux
    ),
    archetype!(
        "web-server",
        "Public web server with HTTP, HTTPS and SSH administration",
        ["http", "https", "ssh"],
        ["debian", "ubuntu22", "ubuntu20"],
        Linux
    ),
    archetype!(
        "database-server",
        "Database host (MySQL, PostgreSQL, Redis)",
        ["mysql", "postgres", "redis"],
        ["debian", "ubuntu22"],
        Linux
    ),
    archetype!(
        "mail-server",
        "Mail server (SMTP, POP3, IMAP)",
        ["smtp", "pop3", "imap"],
        ["debian", "ubuntu22"],
        Linux
    ),
    archetype!(
        "file-server",
        "File server with SMB, FTP and SSH",
        ["smb", "ftp", "ssh"],
        ["debian", "ubuntu22", "rocky9"],
        Linux
    ),
    archetype!(
        "printer",
        "Network printer",
        ["snmp", "ftp"],
        ["alpine", "debian"],
        Embedded
    ),
    archetype!(
        "iot-device",
        "IoT device with MQTT, SNMP and Telnet",
        ["mqtt", "snmp", "telnet"],
        ["alpine"],
        Embedded
    ),
    archetype!(
        "industrial-control",
        "ICS/SCADA controller",
        ["conpot", "snmp"],
        ["debian"],
        Embedded
    ),
    archetype!(
        "voip-server",
        "VoIP PBX",
        ["sip"],
        ["debian", "ubuntu22"],
        Linux
    ),
    archetype!(
        "monitoring-node",
        "Monitoring node with SNMP and SSH",
        ["snmp", "ssh"],
        ["debian", "rocky9"],
        Linux
    ),
    archetype!(
        "devops-host",
        "CI/CD host exposing Docker and Kubernetes APIs",
        ["docker_api", "ssh", "k8s"],
        ["ubuntu22", "debian"],
        Linux
    ),
    archetype!(
        "deaddeck",
        "Bare Linux box with only SSH",
        ["ssh"],
        ["debian", "ubuntu22"],
        Linux
    ),
];

/// Looks an archetype up by slug.
pub fn archetype(slug: &str) -> Option<&'static Archetype> {
    ARCHETYPES.iter().find(|a| a.slug == slug)
}

/// Every service name DECNET knows, implemented or planned. A dotted INI
/// section `[decky.NAME]` is a service section only when NAME is one of these.
pub const KNOWN_SERVICES: [&str; 28] = [
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
    "smtp",
    "smtp_relay",
    "pop3",
    "imap",
    "snmp",
    "sip",
    "mqtt",
    "vnc",
    "tftp",
    "llmnr",
    "mdns",
    "elasticsearch",
    "docker_api",
    "k8s",
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
    let pick = |i: usize, n: usize| (b.get(i).copied().unwrap_or(0) as usize) % n;
    let num = 1 + pick(2, 24);
    match family {
        OsFamily::Windows => {
            let tail: String = (0..7)
                .map(|i| DESKTOP[pick(3 + i, DESKTOP.len())] as char)
                .collect();
            if pick(10, 2) == 0 {
                format!("DESKTOP-{tail}")
            } else {
                format!("SRV-{}{:02}", ADJ[pick(0, ADJ.len())].to_uppercase(), num)
            }
        }
        OsFamily::Cisco => format!("sw-{}-{:02}", ENV[pick(1, ENV.len())], num),
        OsFamily::Embedded => format!(
            "{}-{:02x}{:02x}",
            ["npi", "cam", "iot", "plc"][pick(0, 4)],
            b[4],
            b[5]
        ),
        OsFamily::Linux | OsFamily::Bsd => match distro.hostname_style {
            HostnameStyle::Generic => {
                format!(
                    "{}-{}-{:02}",
                    ADJ[pick(0, ADJ.len())],
                    ENV[pick(1, ENV.len())],
                    num
                )
            }
            HostnameStyle::Rhel => format!("{}{:02}", ADJ[pick(0, ADJ.len())], num),
            HostnameStyle::Minimal => format!("{}{}", ADJ[pick(0, ADJ.len())], num),
            HostnameStyle::Rolling => format!("{}-{}", distro.slug, ADJ[pick(0, ADJ.len())]),
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
            for d in a.preferred_distros {
                assert!(distro(d).is_some(), "{} names unknown distro {d}", a.slug);
            }
        }
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
