//! Archetypes: bundles of services, an OS family and the personas a decky of
//! that kind is drawn from.

use super::OsFamily;

/// A bundle of services and an OS family that reads as one kind of machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archetype {
    /// Slug used in config (`linux-server`, …).
    pub slug: &'static str,
    /// One line on what it looks like.
    pub description: &'static str,
    /// Services it runs.
    pub services: &'static [&'static str],
    /// Personas it is drawn from (distros, or Windows builds for a Windows
    /// archetype), first is the default.
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
        ["win10", "win11"],
        Windows
    ),
    archetype!(
        "windows-server",
        "Windows Server with SMB, RDP and LDAP",
        ["smb", "rdp", "ldap"],
        ["win2019", "win2022", "win2016"],
        Windows
    ),
    archetype!(
        "domain-controller",
        "Active Directory domain controller",
        ["ldap", "smb", "rdp", "llmnr"],
        ["win2019", "win2022", "win2016"],
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
        "Public web server with HTTP, HTTPS, FTP uploads and SSH administration",
        ["http", "https", "ftp", "ssh"],
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
