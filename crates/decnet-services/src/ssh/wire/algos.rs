//! What each OpenSSH release offers by default (its `myproposal.h`, the host
//! keys a stock install generates, the extensions it sends), filtered to the
//! algorithms this transport implements, and the negotiation of RFC 4253 §7.1.
//!
//! An algorithm a release offers that is not implemented here is left out of
//! the KEXINIT rather than offered and then failed: [`MISSING`] names them, so
//! a detector comparing name-lists sees only those gaps.

/// Algorithms a release's defaults hold that this transport does not implement.
pub const MISSING: &[&str] = &[];

/// Key exchange methods implemented, by wire name.
const KEX_IMPL: &[&str] = &[
    "mlkem768x25519-sha256",
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
];

/// Ciphers implemented.
const CIPHER_IMPL: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
    "blowfish-cbc",
    "cast128-cbc",
    "3des-cbc",
];

/// MACs implemented.
const MAC_IMPL: &[&str] = &[
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
];

/// The pseudo-algorithm a server adds for strict key exchange (the Terrapin fix).
pub const STRICT_KEX_SERVER: &str = "kex-strict-s-v00@openssh.com";
/// The client's side of it.
pub const STRICT_KEX_CLIENT: &str = "kex-strict-c-v00@openssh.com";
/// A client that wants `SSH_MSG_EXT_INFO`.
pub const EXT_INFO_CLIENT: &str = "ext-info-c";

const KEX_74: &[&str] = &[
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group14-sha1",
];
const KEX_82: &[&str] = &[
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
];
const KEX_89: &[&str] = &[
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "sntrup761x25519-sha512@openssh.com",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
];
const KEX_90: &[&str] = &[
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
];
/// Debian 12 from 1:9.2p1-2+deb12u4 also offers the standardised sntrup name first.
const KEX_92_DEB4: &[&str] = &[
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
];
const KEX_99: &[&str] = &[
    "sntrup761x25519-sha512",
    "sntrup761x25519-sha512@openssh.com",
    "mlkem768x25519-sha256",
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
    "diffie-hellman-group14-sha256",
];
const CIPHERS: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
];
/// RHEL 7's OpenSSH 7.4 keeps the CBC ciphers in the server's defaults, in
/// the order of its `sshd_config(5)` (the 8-byte-block ones last).
const CIPHERS_EL7: &[&str] = &[
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes192-ctr",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "aes128-cbc",
    "aes192-cbc",
    "aes256-cbc",
    "blowfish-cbc",
    "cast128-cbc",
    "3des-cbc",
];
const MACS: &[&str] = &[
    "umac-64-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "umac-64@openssh.com",
    "umac-128@openssh.com",
    "hmac-sha2-256",
    "hmac-sha2-512",
    "hmac-sha1",
];
const COMP: &[&str] = &["none", "zlib@openssh.com"];

/// RHEL 9's and Fedora's `DEFAULT` crypto policy, which their sshd applies over
/// the release's defaults (`/etc/crypto-policies/back-ends/opensshserver.config`):
/// no SHA-1 key exchange or signatures, no CBC, its own preference order.
const KEX_POLICY: &[&str] = &[
    "curve25519-sha256",
    "curve25519-sha256@libssh.org",
    "ecdh-sha2-nistp256",
    "ecdh-sha2-nistp384",
    "ecdh-sha2-nistp521",
    "diffie-hellman-group-exchange-sha256",
    "diffie-hellman-group14-sha256",
    "diffie-hellman-group16-sha512",
    "diffie-hellman-group18-sha512",
];
const CIPHERS_POLICY: &[&str] = &[
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes256-ctr",
    "aes128-gcm@openssh.com",
    "aes128-ctr",
];
const MACS_POLICY: &[&str] = &[
    "hmac-sha2-256-etm@openssh.com",
    "hmac-sha1-etm@openssh.com",
    "umac-128-etm@openssh.com",
    "hmac-sha2-512-etm@openssh.com",
    "hmac-sha2-256",
    "hmac-sha1",
    "umac-128@openssh.com",
    "hmac-sha2-512",
];

/// Whether a distro release's sshd runs under a system crypto policy (RHEL 8+
/// and its clones, Fedora), by its os-release `ID` and `VERSION_ID`.
pub fn crypto_policy_distro(os_id: &str, version_id: &str) -> bool {
    match os_id {
        "fedora" => true,
        "rhel" | "centos" | "rocky" | "almalinux" => version_id
            .split('.')
            .next()
            .and_then(|m| m.parse::<u32>().ok())
            .is_some_and(|m| m >= 9),
        _ => false,
    }
}

const SIGS_74: &str =
    "ssh-ed25519,ssh-rsa,rsa-sha2-256,rsa-sha2-512,ssh-dss,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521";
const SIGS_82: &str = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ssh-rsa,rsa-sha2-256,rsa-sha2-512,ssh-dss,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com";
const SIGS_87: &str = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ssh-rsa,rsa-sha2-256,rsa-sha2-512,ssh-dss,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com";
const SIGS_98: &str = "ssh-ed25519,sk-ssh-ed25519@openssh.com,ssh-rsa,rsa-sha2-256,rsa-sha2-512,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com";

/// One OpenSSH release's server defaults, as far as a client can see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    /// `major * 10 + minor` of the upstream version (92 for 9.2).
    pub version: u32,
    /// `kex_algorithms` without the strict-kex marker.
    pub kex: &'static [&'static str],
    /// Ciphers, both directions.
    pub ciphers: &'static [&'static str],
    /// MACs, both directions.
    pub macs: &'static [&'static str],
    /// Compression, both directions.
    pub comp: &'static [&'static str],
    /// Whether it sends `kex-strict-s-v00@openssh.com`.
    pub strict_kex: bool,
    /// Whether it still signs with `ssh-rsa` (SHA-1) host keys (before 8.8).
    pub ssh_rsa: bool,
    /// `server-sig-algs` of its `SSH_MSG_EXT_INFO`.
    pub server_sig_algs: &'static str,
    /// It also sends `publickey-hostbound@openssh.com` (8.9 on).
    pub hostbound: bool,
    /// It also sends `ping@openssh.com` (9.5 on).
    pub ping: bool,
}

/// `(major, minor)` and the text after the version of an identification string
/// such as `SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3`.
fn parse_ident(ident: &str) -> Option<(u32, u32, &str)> {
    let rest = ident.strip_prefix("SSH-2.0-OpenSSH_")?;
    let (ver, comment) = rest.split_once(' ').unwrap_or((rest, ""));
    let (major, tail) = ver.split_once('.')?;
    let minor: String = tail.chars().take_while(char::is_ascii_digit).collect();
    Some((major.parse().ok()?, minor.parse().ok()?, comment))
}

/// The number after `marker` in `comment` (`deb12u3` → 3 for `deb12u`).
fn revision_after(comment: &str, marker: &str) -> Option<u32> {
    let (_, tail) = comment.split_once(marker)?;
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Whether a distribution backported strict key exchange into this build
/// (the December 2023 Terrapin updates).
fn backported_strict_kex(major: u32, minor: u32, comment: &str) -> bool {
    match (major, minor) {
        // Debian 12: 1:9.2p1-2+deb12u2.
        (9, 2) => revision_after(comment, "deb12u").is_some_and(|n| n >= 2),
        // Ubuntu 22.04: 1:8.9p1-3ubuntu0.5.
        (8, 9) => revision_after(comment, "ubuntu0.").is_some_and(|n| n >= 5),
        // Ubuntu 20.04: 1:8.2p1-4ubuntu0.10.
        (8, 2) => revision_after(comment, "ubuntu0.").is_some_and(|n| n >= 10),
        _ => false,
    }
}

impl Release {
    /// The release an identification string announces; strings that name no
    /// OpenSSH get the newest table this module knows.
    pub fn for_ident(ident: &str) -> Release {
        let (major, minor, comment) = parse_ident(ident).unwrap_or((9, 9, ""));
        let version = major * 10 + minor.min(9);
        let deb4 = version == 92 && revision_after(comment, "deb12u").is_some_and(|n| n >= 4);
        let kex = match version {
            92 if deb4 => KEX_92_DEB4,
            0..=79 => KEX_74,
            80..=88 => KEX_82,
            89 => KEX_89,
            90..=98 => KEX_90,
            _ => KEX_99,
        };
        // Only RHEL/CentOS 7 builds announce a bare 7.4 with the CBC defaults.
        let ciphers = if version < 80 { CIPHERS_EL7 } else { CIPHERS };
        let server_sig_algs = match version {
            0..=79 => SIGS_74,
            80..=86 => SIGS_82,
            87..=97 => SIGS_87,
            _ => SIGS_98,
        };
        Release {
            version,
            kex,
            ciphers,
            macs: MACS,
            comp: COMP,
            strict_kex: version >= 96 || backported_strict_kex(major, minor, comment),
            ssh_rsa: version < 88,
            server_sig_algs,
            hostbound: version >= 89,
            ping: version >= 95,
        }
    }

    /// The release as sshd runs it under the `DEFAULT` crypto policy
    /// (see [`crypto_policy_distro`]): the policy's KEX, cipher and MAC lists, and
    /// no `ssh-rsa` host key signatures.
    pub fn under_crypto_policy(mut self) -> Release {
        self.kex = KEX_POLICY;
        self.ciphers = CIPHERS_POLICY;
        self.macs = MACS_POLICY;
        self.ssh_rsa = false;
        self
    }

    /// The RSA signature algorithms it offers for an RSA host key.
    pub fn rsa_host_algs(&self) -> &'static [&'static str] {
        match self.version {
            // 7.x's list_hostkey_types: the key's own name, then the SHA-2 names.
            0..=79 => &["ssh-rsa", "rsa-sha2-512", "rsa-sha2-256"],
            // 8.x appends the SHA-2 names first; 8.8 dropped ssh-rsa from the defaults.
            _ if self.ssh_rsa => &["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
            _ => &["rsa-sha2-512", "rsa-sha2-256"],
        }
    }

    /// The KEX name-list this transport sends for the release.
    pub fn kex_list(&self) -> String {
        let mut v: Vec<&str> = implemented(self.kex, KEX_IMPL);
        if self.strict_kex {
            v.push(STRICT_KEX_SERVER);
        }
        v.join(",")
    }

    /// The cipher name-list.
    pub fn cipher_list(&self) -> String {
        implemented(self.ciphers, CIPHER_IMPL).join(",")
    }

    /// The MAC name-list.
    pub fn mac_list(&self) -> String {
        implemented(self.macs, MAC_IMPL).join(",")
    }

    /// The compression name-list.
    pub fn comp_list(&self) -> String {
        self.comp.join(",")
    }

    /// The `SSH_MSG_EXT_INFO` extensions, in the order OpenSSH sends them.
    pub fn extensions(&self) -> Vec<(&'static str, &'static str)> {
        let mut v = vec![("server-sig-algs", self.server_sig_algs)];
        if self.hostbound {
            v.push(("publickey-hostbound@openssh.com", "0"));
        }
        if self.ping {
            v.push(("ping@openssh.com", "0"));
        }
        v
    }
}

fn implemented(list: &'static [&'static str], have: &[&str]) -> Vec<&'static str> {
    list.iter().copied().filter(|a| have.contains(a)).collect()
}

/// The first algorithm of the client's list that the server offers too
/// (RFC 4253 §7.1); pseudo-algorithms of either side never match.
pub fn negotiate<'a>(client: &'a str, server: &str) -> Option<&'a str> {
    client
        .split(',')
        .filter(|c| !c.is_empty())
        .find(|c| server.split(',').any(|s| s == *c))
}

/// Whether a comma-separated name-list holds `name`.
pub fn has(list: &str, name: &str) -> bool {
    list.split(',').any(|a| a == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_persona_release_gets_its_own_kex_list() {
        let deb = Release::for_ident("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3");
        assert_eq!(
            deb.kex_list(),
            "sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,\
             ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,\
             diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,\
             diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com"
        );
        let new_deb = Release::for_ident("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10");
        assert!(new_deb
            .kex_list()
            .starts_with("sntrup761x25519-sha512,sntrup761x25519-sha512@"));
        let old_deb = Release::for_ident("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1");
        assert!(!old_deb.strict_kex, "strict kex came with deb12u2");
        let centos = Release::for_ident("SSH-2.0-OpenSSH_7.4");
        assert!(!centos.strict_kex);
        assert!(centos.kex_list().ends_with("diffie-hellman-group14-sha1"));
        assert_eq!(
            centos.cipher_list(),
            "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,\
             aes128-gcm@openssh.com,aes256-gcm@openssh.com,\
             aes128-cbc,aes192-cbc,aes256-cbc,blowfish-cbc,cast128-cbc,3des-cbc",
            "RHEL 7's sshd_config(5) default, whole and in order"
        );
        assert!(!deb.cipher_list().contains("-cbc"), "CBC is RHEL 7's alone");
        assert_eq!(centos.rsa_host_algs().first(), Some(&"ssh-rsa"));
        let focal = Release::for_ident("SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.9");
        assert_eq!(focal.rsa_host_algs().last(), Some(&"ssh-rsa"));
        let jammy = Release::for_ident("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6");
        assert!(jammy.strict_kex);
        assert!(jammy
            .kex_list()
            .contains("nistp521,sntrup761x25519-sha512@openssh.com,"));
        let focal = Release::for_ident("SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.9");
        assert!(!focal.strict_kex && !focal.kex_list().contains("sntrup"));
        let alpine = Release::for_ident("SSH-2.0-OpenSSH_9.6");
        assert!(alpine.strict_kex && alpine.ping);
        let new = Release::for_ident("SSH-2.0-OpenSSH_9.9");
        assert!(new.kex_list().starts_with("sntrup761x25519-sha512,"));
        assert!(new.kex_list().contains("mlkem768x25519-sha256"));
    }

    #[test]
    fn rhel9_and_fedora_personas_get_the_crypto_policy_lists() {
        assert!(crypto_policy_distro("rocky", "9.3"));
        assert!(crypto_policy_distro("fedora", "39"));
        assert!(!crypto_policy_distro("centos", "7"));
        assert!(!crypto_policy_distro("debian", "12"));
        let rocky = Release::for_ident("SSH-2.0-OpenSSH_8.7").under_crypto_policy();
        assert_eq!(
            rocky.cipher_list(),
            "aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes256-ctr,aes128-gcm@openssh.com,aes128-ctr"
        );
        assert!(rocky
            .kex_list()
            .ends_with("group-exchange-sha256,diffie-hellman-group14-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512"));
        assert!(rocky
            .mac_list()
            .starts_with("hmac-sha2-256-etm@openssh.com,hmac-sha1-etm@openssh.com,"));
        assert_eq!(rocky.rsa_host_algs(), &["rsa-sha2-512", "rsa-sha2-256"]);
    }

    #[test]
    fn missing_names_exactly_what_the_release_tables_hold_and_this_transport_lacks() {
        let kex: [&[&str]; 7] = [
            KEX_74,
            KEX_82,
            KEX_89,
            KEX_90,
            KEX_92_DEB4,
            KEX_99,
            KEX_POLICY,
        ];
        let tables = kex
            .iter()
            .map(|t| (*t, KEX_IMPL))
            .chain([CIPHERS, CIPHERS_EL7, CIPHERS_POLICY].map(|t| (t, CIPHER_IMPL)))
            .chain([MACS, MACS_POLICY].map(|t| (t, MAC_IMPL)));
        let mut lacking: Vec<&str> = Vec::new();
        for (table, have) in tables {
            for a in table {
                if !have.contains(a) && !lacking.contains(a) {
                    lacking.push(a);
                }
            }
        }
        assert_eq!(lacking, MISSING);
    }

    #[test]
    fn negotiation_takes_the_clients_first_common_algorithm() {
        assert_eq!(negotiate("a,b,c", "c,b"), Some("b"));
        assert_eq!(negotiate("x,,y", "z"), None);
        assert_eq!(negotiate("", "a"), None);
        let macs = Release::for_ident("SSH-2.0-OpenSSH_9.2p1").mac_list();
        assert!(macs.starts_with("umac-64-etm@openssh.com,umac-128-etm@openssh.com,"));
        assert!(MISSING.iter().all(|m| !macs.contains(m)));
    }
}
