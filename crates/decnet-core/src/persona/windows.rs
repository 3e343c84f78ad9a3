//! Windows builds: what each one is (product, build, default domain) and the
//! protocol versions it speaks, so SMB, RDP, MSSQL and IIS personas format
//! their own negotiation answers and banners from one place.

use std::fmt;

/// An SMB dialect a server may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SmbDialect {
    /// SMB1 (`NT LM 0.12`).
    Smb1,
    /// SMB 2.0.2.
    Smb202,
    /// SMB 2.1.
    Smb21,
    /// SMB 3.0.
    Smb30,
    /// SMB 3.0.2.
    Smb302,
    /// SMB 3.1.1.
    Smb311,
}

impl SmbDialect {
    /// The SMB2 dialect revision code (`0x0311`); `None` for SMB1, which negotiates by name.
    pub fn smb2_code(self) -> Option<u16> {
        match self {
            SmbDialect::Smb1 => None,
            SmbDialect::Smb202 => Some(0x0202),
            SmbDialect::Smb21 => Some(0x0210),
            SmbDialect::Smb30 => Some(0x0300),
            SmbDialect::Smb302 => Some(0x0302),
            SmbDialect::Smb311 => Some(0x0311),
        }
    }

    /// Dotted name (`3.1.1`, `NT LM 0.12`).
    pub fn as_str(self) -> &'static str {
        match self {
            SmbDialect::Smb1 => "NT LM 0.12",
            SmbDialect::Smb202 => "2.0.2",
            SmbDialect::Smb21 => "2.1",
            SmbDialect::Smb30 => "3.0",
            SmbDialect::Smb302 => "3.0.2",
            SmbDialect::Smb311 => "3.1.1",
        }
    }
}

/// An RDP protocol version as MS-RDPBCGR numbers it (`10.7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RdpVersion {
    /// Major version (10 for every build modelled).
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

impl RdpVersion {
    /// The `version` field of TS_UD_SC_CORE (`RDP_VERSION_10_7` = 0x0008000C).
    pub fn core_version(self) -> u32 {
        match self.major {
            // RDP_VERSION_10_0 is 0x00080005 and each 10.x adds one.
            10 => 0x0008_0005 + u32::from(self.minor),
            // RDP_VERSION_5_PLUS.
            _ => 0x0008_0004,
        }
    }
}

impl fmt::Display for RdpVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The SQL Server a machine of this build typically runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MssqlVersion {
    /// Product name (`Microsoft SQL Server 2019`).
    pub product: &'static str,
    /// `SERVERPROPERTY('ProductVersion')` (`15.0.2000.5`).
    pub version: &'static str,
}

impl MssqlVersion {
    /// The (major, minor, build) triple the TDS PRELOGIN `VERSION` option carries.
    pub fn prelogin_version(&self) -> Option<(u8, u8, u16)> {
        let mut parts = self.version.split('.');
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next()?.parse().ok()?;
        let build = parts.next()?.parse().ok()?;
        Some((major, minor, build))
    }
}

/// Whether a build is a desktop or a server edition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowsKind {
    /// Windows 10/11.
    Workstation,
    /// Windows Server.
    Server,
}

/// What a Windows build shows an intruder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowsBuild {
    /// Slug used in config (`win10`, `win2019`, …).
    pub slug: &'static str,
    /// Product name (`Windows Server 2019 Standard`).
    pub product_name: &'static str,
    /// Marketing version (`22H2`, `1809`).
    pub display_version: &'static str,
    /// Desktop or server.
    pub kind: WindowsKind,
    /// `major.minor.build` as NTLM and `ver` report it (`10.0.17763`).
    pub build: &'static str,
    /// The build number alone (17763), as the NTLM VERSION structure carries it.
    pub build_number: u16,
    /// NetBIOS domain (or workgroup) a decky of this build claims unless configured.
    pub netbios_domain: &'static str,
    /// SMB dialects offered, oldest first.
    pub smb_dialects: &'static [SmbDialect],
    /// RDP protocol version.
    pub rdp_version: RdpVersion,
    /// The SQL Server such a machine typically runs, if one.
    pub mssql: Option<MssqlVersion>,
    /// IIS version (`10.0`).
    pub iis_version: &'static str,
}

impl WindowsBuild {
    /// IIS's `Server` header (`Microsoft-IIS/10.0`).
    pub fn iis_server_header(&self) -> String {
        format!("Microsoft-IIS/{}", self.iis_version)
    }

    /// The highest SMB dialect offered.
    pub fn max_smb_dialect(&self) -> Option<SmbDialect> {
        self.smb_dialects.iter().copied().max()
    }

    /// Whether SMB1 is still enabled out of the box.
    pub fn offers_smb1(&self) -> bool {
        self.smb_dialects.contains(&SmbDialect::Smb1)
    }
}

const SMB2_3: &[SmbDialect] = &[
    SmbDialect::Smb202,
    SmbDialect::Smb21,
    SmbDialect::Smb30,
    SmbDialect::Smb302,
    SmbDialect::Smb311,
];

// Server 2016 still installs SMB1; 1709 and later remove it by default.
const SMB1_2_3: &[SmbDialect] = &[
    SmbDialect::Smb1,
    SmbDialect::Smb202,
    SmbDialect::Smb21,
    SmbDialect::Smb30,
    SmbDialect::Smb302,
    SmbDialect::Smb311,
];

/// Every Windows build.
pub static WINDOWS_BUILDS: [WindowsBuild; 5] = [
    WindowsBuild {
        slug: "win10",
        product_name: "Windows 10 Pro",
        display_version: "22H2",
        kind: WindowsKind::Workstation,
        build: "10.0.19045",
        build_number: 19045,
        netbios_domain: "WORKGROUP",
        smb_dialects: SMB2_3,
        rdp_version: RdpVersion {
            major: 10,
            minor: 7,
        },
        mssql: Some(MssqlVersion {
            product: "Microsoft SQL Server 2019",
            version: "15.0.2000.5",
        }),
        iis_version: "10.0",
    },
    WindowsBuild {
        slug: "win11",
        product_name: "Windows 11 Pro",
        display_version: "23H2",
        kind: WindowsKind::Workstation,
        build: "10.0.22631",
        build_number: 22631,
        netbios_domain: "WORKGROUP",
        smb_dialects: SMB2_3,
        rdp_version: RdpVersion {
            major: 10,
            minor: 11,
        },
        mssql: Some(MssqlVersion {
            product: "Microsoft SQL Server 2022",
            version: "16.0.1000.6",
        }),
        iis_version: "10.0",
    },
    WindowsBuild {
        slug: "win2016",
        product_name: "Windows Server 2016 Standard",
        display_version: "1607",
        kind: WindowsKind::Server,
        build: "10.0.14393",
        build_number: 14393,
        netbios_domain: "CORP",
        smb_dialects: SMB1_2_3,
        rdp_version: RdpVersion {
            major: 10,
            minor: 1,
        },
        mssql: Some(MssqlVersion {
            product: "Microsoft SQL Server 2016",
            version: "13.0.6300.2",
        }),
        iis_version: "10.0",
    },
    WindowsBuild {
        slug: "win2019",
        product_name: "Windows Server 2019 Standard",
        display_version: "1809",
        kind: WindowsKind::Server,
        build: "10.0.17763",
        build_number: 17763,
        netbios_domain: "CORP",
        smb_dialects: SMB2_3,
        rdp_version: RdpVersion {
            major: 10,
            minor: 5,
        },
        mssql: Some(MssqlVersion {
            product: "Microsoft SQL Server 2019",
            version: "15.0.2000.5",
        }),
        iis_version: "10.0",
    },
    WindowsBuild {
        slug: "win2022",
        product_name: "Windows Server 2022 Standard",
        display_version: "21H2",
        kind: WindowsKind::Server,
        build: "10.0.20348",
        build_number: 20348,
        netbios_domain: "CORP",
        smb_dialects: SMB2_3,
        rdp_version: RdpVersion {
            major: 10,
            minor: 8,
        },
        mssql: Some(MssqlVersion {
            product: "Microsoft SQL Server 2022",
            version: "16.0.1000.6",
        }),
        iis_version: "10.0",
    },
];

/// Looks a Windows build up by slug.
pub fn windows_build(slug: &str) -> Option<&'static WindowsBuild> {
    WINDOWS_BUILDS.iter().find(|w| w.slug == slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_agree_with_their_build_strings() {
        for w in &WINDOWS_BUILDS {
            assert_eq!(w.build, format!("10.0.{}", w.build_number), "{}", w.slug);
            assert!(!w.netbios_domain.is_empty() && w.netbios_domain.len() <= 15);
            assert_eq!(w.max_smb_dialect(), Some(SmbDialect::Smb311), "{}", w.slug);
            let sql = w.mssql.and_then(|m| m.prelogin_version());
            assert!(sql.is_some(), "{}", w.slug);
        }
        let s2022 = windows_build("win2022").unwrap();
        assert_eq!(s2022.build, "10.0.20348");
        assert_eq!(s2022.iis_server_header(), "Microsoft-IIS/10.0");
        assert!(windows_build("win2016").unwrap().offers_smb1());
        assert!(!windows_build("win2019").unwrap().offers_smb1());
    }

    #[test]
    fn rdp_core_versions_follow_ms_rdpbcgr() {
        let v = |minor| RdpVersion { major: 10, minor };
        assert_eq!(v(0).core_version(), 0x0008_0005);
        assert_eq!(v(7).core_version(), 0x0008_000C);
        assert_eq!(v(7).to_string(), "10.7");
        assert_eq!(
            windows_build("win2019").unwrap().rdp_version.core_version(),
            0x0008_000A
        );
        assert_eq!(SmbDialect::Smb311.smb2_code(), Some(0x0311));
        assert_eq!(SmbDialect::Smb1.smb2_code(), None);
    }
}
