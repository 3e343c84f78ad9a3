//! What one PostgreSQL release says about itself: `server_version` and
//! `version()` as the distro's package builds them, the protocol range and
//! the source positions (`F`/`L`/`R` fields) its errors carry, which is what
//! nmap tells releases apart by.
//!
//! Source lines: every position was read off a real server where one could
//! run (15.18, Debian 12's package, side by side in the tests); the
//! `ProcessStartupPacket` lines of the other majors are those nmap's
//! version database records for the newest minor it knows of that major.

use decnet_core::persona::distro::{Distro, Package, Packaging};

/// Where in the server's source an error is raised: file, line, function.
pub type Site = (&'static str, u32, &'static str);

/// The error sites of one release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sites {
    /// `unsupported frontend protocol` in `ProcessStartupPacket`.
    pub unsupported_protocol: Site,
    /// `invalid startup packet layout` in `ProcessStartupPacket`.
    pub bad_layout: Site,
    /// `no PostgreSQL user name specified` in `ProcessStartupPacket`.
    pub no_user: Site,
    /// `password authentication failed` in `auth_failed`.
    pub auth_failed: Site,
    /// `expected password response` in `recv_password_packet`.
    pub expected_password: Site,
    /// `invalid password packet size` in `recv_password_packet`.
    pub password_size: Site,
    /// `empty password returned by client` in `recv_password_packet`.
    pub empty_password: Site,
    /// `client selected an invalid SASL authentication mechanism` in `scram_init`.
    pub sasl_mechanism: Site,
    /// `malformed SCRAM message` while reading the client's messages.
    pub scram_malformed: Site,
    /// `database "x" does not exist` in `InitPostgres`.
    pub no_database: Site,
    /// `database "template0" is not currently accepting connections` in `CheckMyDatabase`.
    pub not_accepting: Site,
    /// `relation "x" does not exist` in `parserOpenTable`.
    pub no_relation: Site,
    /// `syntax error at or near` in `scanner_yyerror`.
    pub syntax: Site,
    /// `function f() does not exist` in `ParseFuncOrColumn`.
    pub no_function: Site,
    /// `unrecognized configuration parameter` in `find_option`.
    pub no_parameter: Site,
}

/// Measured on PostgreSQL 15.18 (Debian 12).
const SITES_15: Sites = Sites {
    unsupported_protocol: ("postmaster.c", 2222, "ProcessStartupPacket"),
    bad_layout: ("postmaster.c", 2334, "ProcessStartupPacket"),
    no_user: ("postmaster.c", 2351, "ProcessStartupPacket"),
    auth_failed: ("auth.c", 334, "auth_failed"),
    expected_password: ("auth.c", 718, "recv_password_packet"),
    password_size: ("auth.c", 739, "recv_password_packet"),
    empty_password: ("auth.c", 757, "recv_password_packet"),
    sasl_mechanism: ("auth-scram.c", 256, "scram_init"),
    scram_malformed: ("auth-scram.c", 1025, "read_client_first_message"),
    no_database: ("postinit.c", 948, "InitPostgres"),
    not_accepting: ("postinit.c", 350, "CheckMyDatabase"),
    no_relation: ("parse_relation.c", 1392, "parserOpenTable"),
    syntax: ("scan.l", 1188, "scanner_yyerror"),
    no_function: ("parse_func.c", 629, "ParseFuncOrColumn"),
    no_parameter: ("guc.c", 5734, "find_option"),
};

/// One release as the decky presents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// Upstream version (`15.8`).
    pub upstream: String,
    /// Major version (15; 9 for 9.x).
    pub major: u32,
    /// Minor part of a 9.x release's major (2 for 9.2), 0 from 10 on.
    pub major_minor: u32,
    /// `server_version` as the ParameterStatus sends it.
    pub server_version: String,
    /// `SELECT version()`.
    pub version: String,
    /// Where its errors are raised.
    pub sites: Sites,
}

impl Release {
    /// The release the distro ships, or `upstream` (a `pg_version` persona
    /// value) built as the distro's packaging would name it.
    pub fn new(d: &Distro, upstream: Option<&str>) -> Release {
        let pkg = d.package(Package::Postgresql);
        let (up, release) = match (upstream, pkg) {
            (Some(u), Some(p)) if u == p.upstream => (u.to_owned(), p.release.to_owned()),
            (Some(u), _) => (u.to_owned(), pgdg_release(d)),
            (None, Some(p)) => (p.upstream.to_owned(), p.release.to_owned()),
            (None, None) => ("15.8".to_owned(), pgdg_release(d)),
        };
        let mut parts = up.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let major = parts.next().unwrap_or(15);
        let major_minor = if major < 10 {
            parts.next().unwrap_or(0)
        } else {
            0
        };
        let vendor = match d.os_id {
            "ubuntu" => Some("Ubuntu"),
            _ if d.packaging == Packaging::Deb => Some("Debian"),
            _ => None,
        };
        let server_version = match vendor {
            Some(v) => format!("{up} ({v} {up}-{release})"),
            None => up.clone(),
        };
        let (triple, compiler) = build(d);
        let version =
            format!("PostgreSQL {server_version} on {triple}, compiled by {compiler}, 64-bit");
        Release {
            sites: sites(major, major_minor),
            upstream: up,
            major,
            major_minor,
            server_version,
            version,
        }
    }

    /// The oldest protocol the release accepts (`3.0` from 14, `2.0` before, `1.0` in 9.x).
    pub fn earliest_protocol(&self) -> &'static str {
        match self.major {
            0..=9 => "1.0",
            10..=13 => "2.0",
            _ => "3.0",
        }
    }

    /// Whether errors carry the non-localized severity (`V`, from 9.6 on).
    pub fn has_v_field(&self) -> bool {
        self.major >= 10 || (self.major == 9 && self.major_minor >= 6)
    }

    /// Whether the release knows GSSENCRequest (12 on; the distros build with GSSAPI).
    pub fn gss_encryption(&self) -> bool {
        self.major >= 12
    }

    /// Whether it answers an unknown minor version with NegotiateProtocolVersion (11 on).
    pub fn negotiates_minor(&self) -> bool {
        self.major >= 11
    }

    /// Whether it reports `default_transaction_read_only` and `in_hot_standby` (14 on).
    pub fn reports_hot_standby(&self) -> bool {
        self.major >= 14
    }

    /// Whether it knows SCRAM (10 on).
    pub fn has_scram(&self) -> bool {
        self.major >= 10
    }
}

/// The revision PGDG's repository gives its builds for the distro, for a
/// `pg_version` the distro itself does not ship.
fn pgdg_release(d: &Distro) -> String {
    match (d.os_id, d.version_id) {
        ("ubuntu", v) => format!("1.pgdg{v}+1"),
        ("debian", v) => format!("1.pgdg{v}0+1"),
        _ => "1".to_owned(),
    }
}

/// The target triple and compiler of the distro's build.
fn build(d: &Distro) -> (&'static str, &'static str) {
    match d.slug {
        "debian" => ("x86_64-pc-linux-gnu", "gcc (Debian 12.2.0-14) 12.2.0"),
        "ubuntu22" => (
            "x86_64-pc-linux-gnu",
            "gcc (Ubuntu 11.4.0-1ubuntu1~22.04) 11.4.0",
        ),
        "ubuntu20" => (
            "x86_64-pc-linux-gnu",
            "gcc (Ubuntu 9.4.0-1ubuntu1~20.04.2) 9.4.0",
        ),
        "rocky9" => (
            "x86_64-redhat-linux-gnu",
            "gcc (GCC) 11.3.1 20221121 (Red Hat 11.3.1-4)",
        ),
        "centos7" => (
            "x86_64-redhat-linux-gnu",
            "gcc (GCC) 4.8.5 20150623 (Red Hat 4.8.5-44)",
        ),
        "fedora" => (
            "x86_64-redhat-linux-gnu",
            "gcc (GCC) 13.2.1 20231011 (Red Hat 13.2.1-4)",
        ),
        "alpine" => (
            "x86_64-alpine-linux-musl",
            "gcc (Alpine 13.2.1_git20231014) 13.2.1 20231014",
        ),
        "kali" => ("x86_64-pc-linux-gnu", "gcc (Debian 13.2.0-13) 13.2.0"),
        _ => ("x86_64-pc-linux-gnu", "gcc (GCC) 13.2.1 20230801"),
    }
}

/// The error sites of a major: 15's as measured, with the startup packet's
/// line as nmap records it for the other majors.
fn sites(major: u32, major_minor: u32) -> Sites {
    let startup_line = match (major, major_minor) {
        (9, _) => 1755,
        (10, _) => 2099,
        (11, _) => 2050,
        (12, _) => 2119,
        (13, _) => 2133,
        (14, _) => 2138,
        (15, _) => 2222,
        _ => 2222,
    };
    let mut s = SITES_15;
    if major != 15 {
        s.unsupported_protocol.1 = startup_line;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::persona::distro;

    #[test]
    fn each_distro_names_its_own_build() {
        let d = distro("debian").unwrap();
        let r = Release::new(d, None);
        assert_eq!(r.server_version, "15.8 (Debian 15.8-0+deb12u1)");
        assert_eq!(
            r.version,
            "PostgreSQL 15.8 (Debian 15.8-0+deb12u1) on x86_64-pc-linux-gnu, compiled by gcc (Debian 12.2.0-14) 12.2.0, 64-bit"
        );
        let u = Release::new(distro("ubuntu22").unwrap(), None);
        assert_eq!(u.server_version, "14.11 (Ubuntu 14.11-0ubuntu0.22.04.1)");
        assert_eq!(u.major, 14);
        let r9 = Release::new(distro("rocky9").unwrap(), None);
        assert_eq!(r9.server_version, "13.11");
        assert!(r9
            .version
            .starts_with("PostgreSQL 13.11 on x86_64-redhat-linux-gnu"));
        let c7 = Release::new(distro("centos7").unwrap(), None);
        assert_eq!((c7.major, c7.major_minor), (9, 2));
        assert!(!c7.has_v_field() && !c7.gss_encryption() && !c7.has_scram());
        assert_eq!(c7.earliest_protocol(), "1.0");
        // A version the distro does not ship is PGDG's build of it.
        let p = Release::new(d, Some("16.4"));
        assert_eq!(p.server_version, "16.4 (Debian 16.4-1.pgdg120+1)");
        let p = Release::new(distro("ubuntu22").unwrap(), Some("16.4"));
        assert_eq!(p.server_version, "16.4 (Ubuntu 16.4-1.pgdg22.04+1)");
    }
}
