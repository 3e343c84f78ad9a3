//! What each OpenSSH build a persona can announce puts in its server KEXINIT
//! on a stock install, written here independently of the decoy's own tables
//! (crates/decnet-services/src/ssh/wire/algos.rs), so comparing the two means
//! something.
//!
//! Sources, per row: upstream `myproposal.h` of the release (`KEX_SERVER_KEX`,
//! `KEX_SERVER_ENCRYPT`, `KEX_SERVER_MAC`, `KEX_DEFAULT_COMP`), sshd's
//! `list_hostkey_types` over the host keys a stock install generates (RSA,
//! ECDSA P-256, Ed25519, loaded in that order), the distributions' December
//! 2023 strict-kex backports, RHEL 7's patched cipher defaults, and the
//! `DEFAULT` crypto policy RHEL 9 and Fedora apply to sshd. The Debian 12 row
//! is pinned by a unit test to the KEXINIT recorded from the real
//! `OpenSSH_9.2p1 Debian-2+deb12u10` sshd.

use md5::{Digest as _, Md5};

/// The strict key exchange marker a patched server appends to its KEX list.
pub const STRICT_KEX: &str = "kex-strict-s-v00@openssh.com";

/// A server KEXINIT's algorithm name-lists (server-to-client where directional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameLists {
    /// `kex_algorithms`.
    pub kex: String,
    /// `server_host_key_algorithms`.
    pub host_key: String,
    /// `encryption_algorithms_server_to_client`.
    pub enc: String,
    /// `mac_algorithms_server_to_client`.
    pub mac: String,
    /// `compression_algorithms_server_to_client`.
    pub comp: String,
}

impl NameLists {
    /// hasshServer: MD5 of `kex;enc;mac;comp`, lower-case hex.
    pub fn hassh_server(&self) -> String {
        let s = format!("{};{};{};{}", self.kex, self.enc, self.mac, self.comp);
        hex::encode(Md5::digest(s.as_bytes()))
    }
}

/// Upstream 7.4–8.1 server KEX (7.4 added curve25519-sha256 and the SHA-2 groups).
const KEX_74: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,diffie-hellman-group14-sha1";
/// 8.2–8.4: group14-sha1 left the server defaults.
const KEX_82: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";
/// 8.5–8.9: sntrup761x25519 enabled, after the ECDH methods.
const KEX_85: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,sntrup761x25519-sha512@openssh.com,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";
/// 9.0–9.8: sntrup761x25519 first.
const KEX_90: &str = "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";
/// Debian 12's later updates also announce the standardised sntrup name first.
const KEX_92_DEB_LATE: &str = "sntrup761x25519-sha512,sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,diffie-hellman-group14-sha256";
/// crypto-policies `DEFAULT` (RHEL 9, Fedora 39) as its OpenSSH server generator
/// writes it: key exchanges in the policy's `key_exchange` × `hash` × `group`
/// order, so group14-sha256 comes before group16 and group18.
const KEX_CRYPTO_POLICY: &str = "curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512";

const ENC: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com";
/// RHEL 7 kept the CBC ciphers in sshd's defaults (its sshd_config(5) lists them).
const ENC_EL7: &str = "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-cbc,aes192-cbc,aes256-cbc,blowfish-cbc,cast128-cbc,3des-cbc";
/// The policy's `cipher@SSH = -*-CBC` over AES-256-GCM, ChaCha20, AES-256-CTR, AES-128-GCM, AES-128-CTR.
const ENC_CRYPTO_POLICY: &str = "aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-ctr,aes128-gcm@openssh.com,aes128-ctr";

const MAC: &str = "umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1";
/// ETM variants first, each in the policy's `mac` order (SHA2-256, SHA1, UMAC-128, SHA2-512).
const MAC_CRYPTO_POLICY: &str = "hmac-sha2-256-etm@openssh.com,hmac-sha1-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha1,umac-128@openssh.com,hmac-sha2-512";

const COMP: &str = "none,zlib@openssh.com";

/// 7.x: the RSA key's own name, then the SHA-2 signature names.
const HOSTKEYS_7: &str = "ssh-rsa,rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519";
/// 8.0–8.7: SHA-2 names first, then ssh-rsa.
const HOSTKEYS_8: &str = "rsa-sha2-512,rsa-sha2-256,ssh-rsa,ecdsa-sha2-nistp256,ssh-ed25519";
/// 8.8 on (and any crypto policy that refuses SHA-1 signatures): no ssh-rsa.
const HOSTKEYS_88: &str = "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519";

/// An identification string taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident<'a> {
    /// `major * 10 + minor` (92 for 9.2).
    pub version: u32,
    /// The upstream version text (`9.2p1`, `8.7`).
    pub upstream: &'a str,
    /// What follows the version after a space (`Debian-2+deb12u3`), empty if nothing.
    pub comment: &'a str,
}

/// Parses `SSH-2.0-OpenSSH_<version>[ <comment>]`; `None` for other software.
pub fn parse_ident(ident: &str) -> Option<Ident<'_>> {
    let rest = ident.strip_prefix("SSH-2.0-OpenSSH_")?;
    let (upstream, comment) = rest.split_once(' ').unwrap_or((rest, ""));
    let (major, tail) = upstream.split_once('.')?;
    let minor_digits = tail.split(|c: char| !c.is_ascii_digit()).next()?;
    let major: u32 = major.parse().ok()?;
    let minor: u32 = minor_digits.parse().ok()?;
    Some(Ident {
        version: major * 10 + minor,
        upstream,
        comment,
    })
}

/// The distribution revision number after `marker` (`deb12u3` → 3 for `deb12u`).
fn revision(comment: &str, marker: &str) -> Option<u32> {
    let (_, tail) = comment.split_once(marker)?;
    tail.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Which build family an identification comes from, by the distro that announces it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    /// Debian and Kali (`Debian-` comment).
    Debian,
    /// Ubuntu (`Ubuntu-` comment).
    Ubuntu,
    /// RHEL 7 and CentOS 7.
    El7,
    /// RHEL 9 clones and Fedora: crypto-policies decide the lists.
    CryptoPolicy,
    /// Upstream defaults (Alpine, Arch).
    Upstream,
}

impl Vendor {
    /// The build family of a distro persona (its os-release `ID`).
    pub fn of_os_id(os_id: &str, version_id: &str) -> Vendor {
        match os_id {
            "debian" | "kali" => Vendor::Debian,
            "ubuntu" => Vendor::Ubuntu,
            "centos" | "rhel" if version_id.starts_with('7') => Vendor::El7,
            "rocky" | "almalinux" | "rhel" | "centos" | "fedora" => Vendor::CryptoPolicy,
            _ => Vendor::Upstream,
        }
    }
}

/// The KEXINIT name-lists a stock server of `vendor` announcing `ident` sends;
/// `None` when this table does not know that release (the check is then
/// skipped, not guessed).
pub fn expected(vendor: Vendor, ident: &str) -> Option<NameLists> {
    let id = parse_ident(ident)?;
    let v = id.version;
    let upstream_kex = match v {
        74..=81 => KEX_74,
        82..=84 => KEX_82,
        85..=89 => KEX_85,
        90..=98 => KEX_90,
        _ => return None,
    };
    let hostkeys = match v {
        0..=79 => HOSTKEYS_7,
        80..=87 => HOSTKEYS_8,
        _ => HOSTKEYS_88,
    };
    let (kex, host_key, enc, mac, strict) = match vendor {
        Vendor::Debian => {
            let deb = revision(id.comment, "deb12u");
            let kex = if v == 92 && deb.is_some_and(|n| n >= 4) {
                KEX_92_DEB_LATE
            } else {
                upstream_kex
            };
            // 1:9.2p1-2+deb12u2 carried the Terrapin fix; 9.6 has it upstream.
            let strict = v >= 96 || (v == 92 && deb.is_some_and(|n| n >= 2));
            (kex, hostkeys, ENC, MAC, strict)
        }
        Vendor::Ubuntu => {
            // USN-6560-1: jammy 1:8.9p1-3ubuntu0.5, focal 1:8.2p1-4ubuntu0.10.
            let u = revision(id.comment, "ubuntu0.");
            let strict = v >= 96
                || (v == 89 && u.is_some_and(|n| n >= 5))
                || (v == 82 && u.is_some_and(|n| n >= 10));
            (upstream_kex, hostkeys, ENC, MAC, strict)
        }
        Vendor::El7 => (upstream_kex, hostkeys, ENC_EL7, MAC, false),
        // The policy's HostKeyAlgorithms refuse SHA-1 signatures whatever the release.
        Vendor::CryptoPolicy => (
            KEX_CRYPTO_POLICY,
            HOSTKEYS_88,
            ENC_CRYPTO_POLICY,
            MAC_CRYPTO_POLICY,
            v >= 96,
        ),
        Vendor::Upstream => (upstream_kex, hostkeys, ENC, MAC, v >= 96),
    };
    let mut kex = kex.to_owned();
    if strict {
        kex.push(',');
        kex.push_str(STRICT_KEX);
    }
    Some(NameLists {
        kex,
        host_key: host_key.to_owned(),
        enc: enc.to_owned(),
        mac: mac.to_owned(),
        comp: COMP.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identification_strings_parse_into_version_and_comment() {
        let i = parse_ident("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3").unwrap();
        assert_eq!(
            (i.version, i.upstream, i.comment),
            (92, "9.2p1", "Debian-2+deb12u3")
        );
        let i = parse_ident("SSH-2.0-OpenSSH_8.7").unwrap();
        assert_eq!((i.version, i.comment), (87, ""));
        assert!(parse_ident("SSH-2.0-dropbear_2022.83").is_none());
        assert!(parse_ident("SSH-2.0-OpenSSH_x").is_none());
    }

    #[test]
    fn the_debian_row_is_the_real_debian_12_sshd() {
        // Recorded from /usr/sbin/sshd (OpenSSH_9.2p1 Debian-2+deb12u10) with
        // the three host keys ssh-keygen -A makes: ../tests/data/sshd-9.2p1-deb12u10.kexinit
        let real = crate::ssh::parse_kexinit_packet(include_bytes!(
            "../tests/data/sshd-9.2p1-deb12u10.kexinit"
        ))
        .unwrap();
        let table = expected(Vendor::Debian, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10").unwrap();
        assert_eq!(real.lists, table);
        assert_eq!(real.lists.hassh_server(), table.hassh_server());
    }

    #[test]
    fn releases_differ_where_openssh_changed_its_defaults() {
        let deb3 = expected(Vendor::Debian, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3").unwrap();
        assert!(deb3
            .kex
            .starts_with("sntrup761x25519-sha512@openssh.com,curve25519"));
        assert!(deb3.kex.ends_with(STRICT_KEX));
        let deb1 = expected(Vendor::Debian, "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1").unwrap();
        assert!(!deb1.kex.contains(STRICT_KEX));
        let jammy = expected(Vendor::Ubuntu, "SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6").unwrap();
        assert!(jammy
            .kex
            .contains("nistp521,sntrup761x25519-sha512@openssh.com,"));
        assert!(jammy.kex.ends_with(STRICT_KEX));
        let focal = expected(Vendor::Ubuntu, "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.9").unwrap();
        assert!(!focal.kex.contains("sntrup") && !focal.kex.contains(STRICT_KEX));
        assert!(focal.host_key.contains("ssh-rsa"));
        let rocky = expected(Vendor::CryptoPolicy, "SSH-2.0-OpenSSH_8.7").unwrap();
        assert!(rocky.enc.starts_with("aes256-gcm@openssh.com,"));
        assert!(!rocky.host_key.contains("ssh-rsa"));
        let centos = expected(Vendor::El7, "SSH-2.0-OpenSSH_7.4").unwrap();
        assert!(centos.host_key.starts_with("ssh-rsa,"));
        assert!(centos.enc.ends_with("3des-cbc"));
        let alpine = expected(Vendor::Upstream, "SSH-2.0-OpenSSH_9.6").unwrap();
        assert!(alpine.kex.ends_with(STRICT_KEX));
        assert!(expected(Vendor::Upstream, "SSH-2.0-OpenSSH_10.0").is_none());
        // hasshServer tells releases apart, except where their lists agree:
        // Debian's 9.2 with the strict-kex backport sends what upstream 9.6 sends.
        let hashes: std::collections::HashSet<String> =
            [&deb3, &jammy, &focal, &rocky, &centos, &alpine]
                .iter()
                .map(|l| l.hassh_server())
                .collect();
        assert_eq!(hashes.len(), 5);
        assert_eq!(deb3.hassh_server(), alpine.hassh_server());
    }

    #[test]
    fn every_built_in_distro_announces_a_release_this_table_knows() {
        for d in &decnet_core::persona::DISTROS {
            let Some(ident) = d.ssh_identification() else {
                continue;
            };
            let vendor = Vendor::of_os_id(d.os_id, d.version_id);
            assert!(expected(vendor, &ident).is_some(), "{}: {ident}", d.slug);
        }
    }
}
