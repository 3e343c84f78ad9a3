//! SSH as a scanner sees it: raw TCP, our own identification string, the
//! server's identification line and its KEXINIT packet (the key exchange is
//! never completed), plus the answers to a malformed identification.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::releases::{self, NameLists, Vendor};
use crate::target::{SshTarget, Target};
use crate::{AuditError, CheckResult, PROBE_TIMEOUT};

/// The identification line is the persona's.
pub const BANNER_RELEASE: &str = "ssh.banner-matches-release";
/// The identification's vendor comment fits the distro family (`Debian-`, `Ubuntu-`, none on RPM distros).
pub const BANNER_FAMILY: &str = "ssh.banner-matches-family";
/// KEXINIT name-lists equal what the announced release sends.
pub const KEXINIT_RELEASE: &str = "ssh.kexinit-matches-release";
/// hasshServer equals the announced release's.
pub const HASSH_RELEASE: &str = "ssh.hassh-matches-release";
/// A non-SSH first line gets OpenSSH's `Invalid SSH identification string.`.
pub const BAD_IDENT: &str = "ssh.bad-identification-answer";
/// An `SSH-1.5` client gets OpenSSH's `Protocol major versions differ.`.
pub const PROTOCOL_MISMATCH: &str = "ssh.protocol-mismatch-answer";

/// What a scanner identifies itself as.
const OUR_IDENT: &[u8] = b"SSH-2.0-OpenSSH_9.6p1 Debian-4\r\n";
/// RFC 4253 §4.2: an identification line is at most 255 bytes with CR LF.
const MAX_LINE: usize = 255;
/// Lines a server may send before its identification (RFC 4253 §4.2 allows some).
const MAX_PRE_LINES: usize = 16;
/// Largest KEXINIT packet accepted (RFC 4253 §6.1's 35000-byte packet limit).
const MAX_PACKET: usize = 35_000;

/// A server KEXINIT taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KexInit {
    /// The name-lists a detector compares.
    pub lists: NameLists,
    /// Client-to-server lists equal the server-to-client ones (OpenSSH always sends both the same).
    pub symmetric: bool,
    /// `first_kex_packet_follows` (OpenSSH servers send false).
    pub first_kex_follows: bool,
}

/// Why bytes are not a KEXINIT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Shorter than its fields.
    #[error("truncated KEXINIT")]
    Truncated,
    /// The first payload byte is not SSH_MSG_KEXINIT (20).
    #[error("first packet is message {0}, not KEXINIT (20)")]
    NotKexInit(u8),
    /// A name-list is not ASCII.
    #[error("name-list is not ASCII")]
    NotAscii,
}

/// Reads a big-endian u32 at `at`.
fn u32_at(b: &[u8], at: usize) -> Result<u32, ParseError> {
    let s = b.get(at..at + 4).ok_or(ParseError::Truncated)?;
    let mut a = [0u8; 4];
    a.copy_from_slice(s);
    Ok(u32::from_be_bytes(a))
}

/// Parses one unencrypted binary packet (`uint32 length, byte padding, payload,
/// padding`) holding a KEXINIT. Every length is checked against the buffer, so
/// any byte string is safe input.
pub fn parse_kexinit_packet(packet: &[u8]) -> Result<KexInit, ParseError> {
    let len = u32_at(packet, 0)? as usize;
    let pad = usize::from(*packet.get(4).ok_or(ParseError::Truncated)?);
    let body = packet.get(5..4 + len).ok_or(ParseError::Truncated)?;
    let payload = body
        .get(..body.len().checked_sub(pad).ok_or(ParseError::Truncated)?)
        .ok_or(ParseError::Truncated)?;
    let msg = *payload.first().ok_or(ParseError::Truncated)?;
    if msg != 20 {
        return Err(ParseError::NotKexInit(msg));
    }
    let mut at = 17; // message number and 16-byte cookie
    let mut lists: Vec<String> = Vec::with_capacity(10);
    for _ in 0..10 {
        let n = u32_at(payload, at)? as usize;
        let s = payload
            .get(at + 4..at + 4 + n)
            .ok_or(ParseError::Truncated)?;
        if !s.is_ascii() {
            return Err(ParseError::NotAscii);
        }
        lists.push(String::from_utf8_lossy(s).into_owned());
        at += 4 + n;
    }
    let follows = *payload.get(at).ok_or(ParseError::Truncated)? != 0;
    let l = |i: usize| lists.get(i).cloned().unwrap_or_default();
    Ok(KexInit {
        symmetric: l(2) == l(3) && l(4) == l(5) && l(6) == l(7),
        lists: NameLists {
            kex: l(0),
            host_key: l(1),
            enc: l(3),
            mac: l(5),
            comp: l(7),
        },
        first_kex_follows: follows,
    })
}

/// What the decky sent a scanner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    /// Its identification line without CR LF.
    pub ident: String,
    /// Its KEXINIT.
    pub kexinit: Result<KexInit, String>,
}

/// Reads one line ending in LF (at most [`MAX_LINE`] bytes), without the CR LF.
async fn read_line(s: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        if s.read(&mut b).await? == 0 {
            return Ok(None);
        }
        if b[0] == b'\n' {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(Some(line));
        }
        if line.len() >= MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "line longer than 255 bytes",
            ));
        }
        line.extend_from_slice(&b);
    }
}

/// Reads the identification line, skipping what RFC 4253 lets come before it.
async fn read_ident(s: &mut TcpStream) -> std::io::Result<String> {
    for _ in 0..MAX_PRE_LINES {
        match read_line(s).await? {
            None => break,
            Some(l) if l.starts_with(b"SSH-") => {
                return Ok(String::from_utf8_lossy(&l).into_owned())
            }
            Some(_) => {}
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidData,
        "no SSH identification line",
    ))
}

/// Connects, identifies as a client, reads the identification and the KEXINIT.
pub async fn hello(addr: SocketAddr) -> std::io::Result<Hello> {
    let run = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(OUR_IDENT).await?;
        let ident = read_ident(&mut s).await?;
        let mut head = [0u8; 4];
        s.read_exact(&mut head).await?;
        let len = u32::from_be_bytes(head) as usize;
        if !(16..=MAX_PACKET).contains(&len) {
            return Ok(Hello {
                ident,
                kexinit: Err(format!("packet length {len} is not a KEXINIT's")),
            });
        }
        let mut packet = vec![0u8; 4 + len];
        packet
            .get_mut(..4)
            .ok_or_else(|| std::io::Error::other("buffer"))?
            .copy_from_slice(&head);
        s.read_exact(
            packet
                .get_mut(4..)
                .ok_or_else(|| std::io::Error::other("buffer"))?,
        )
        .await?;
        Ok(Hello {
            ident,
            kexinit: parse_kexinit_packet(&packet).map_err(|e| e.to_string()),
        })
    };
    tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer"))?
}

/// Sends `first` as the client's identification and returns every line the
/// server sends after its own identification, until it closes (at most 4 KiB).
pub async fn answer_to(addr: SocketAddr, first: &[u8]) -> std::io::Result<Vec<String>> {
    let run = async {
        let mut s = TcpStream::connect(addr).await?;
        s.write_all(first).await?;
        let _ = read_ident(&mut s).await?;
        let mut out = Vec::new();
        let mut take = (&mut s).take(4096);
        let mut buf = [0u8; 512];
        loop {
            let n = match take.read(&mut buf).await {
                Ok(n) => n,
                // A server that closes with our bytes unread resets the connection.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                Err(e) => return Err(e),
            };
            if n == 0 {
                break;
            }
            out.extend_from_slice(buf.get(..n).unwrap_or_default());
        }
        Ok(String::from_utf8_lossy(&out)
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(str::to_owned)
            .collect())
    };
    tokio::time::timeout(PROBE_TIMEOUT, run)
        .await
        .map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer before the timeout")
        })?
}

/// The vendor comment a distro's OpenSSH package puts after the version, if any.
pub fn family_comment_prefix(os_id: &str) -> Option<&'static str> {
    match os_id {
        "debian" | "kali" => Some("Debian-"),
        "ubuntu" => Some("Ubuntu-"),
        "raspbian" => Some("Raspbian-"),
        _ => None,
    }
}

/// Runs the SSH checks on one decky; returns what it announced.
pub async fn run(
    t: &Target,
    s: &SshTarget,
    out: &mut Vec<CheckResult>,
) -> Result<Hello, AuditError> {
    let h = hello(s.addr)
        .await
        .map_err(|source| AuditError::Unreachable {
            decky: t.name.clone(),
            listener: "ssh".into(),
            addr: s.addr,
            source,
        })?;
    out.push(release_check(t, &s.ident, &h.ident));
    out.push(family_check(t, &h.ident));
    let vendor = Vendor::of_os_id(t.distro.os_id, t.distro.version_id);
    match (releases::expected(vendor, &s.ident), &h.kexinit) {
        (None, _) => {
            let why = format!("no table of {:?} server defaults for {}", vendor, s.ident);
            out.push(CheckResult::skip(KEXINIT_RELEASE, why.clone()));
            out.push(CheckResult::skip(HASSH_RELEASE, why));
        }
        (Some(_), Err(e)) => {
            out.push(CheckResult::tell(
                KEXINIT_RELEASE,
                "a KEXINIT packet",
                e.clone(),
            ));
            out.push(CheckResult::tell(
                HASSH_RELEASE,
                "a KEXINIT packet",
                e.clone(),
            ));
        }
        (Some(want), Ok(got)) => {
            out.push(kexinit_check(&want, got));
            out.push(CheckResult::compare(
                HASSH_RELEASE,
                &want.hassh_server(),
                &got.lists.hassh_server(),
            ));
        }
    }
    for (id, probe, want) in [
        (
            BAD_IDENT,
            &b"GET / HTTP/1.0\r\n\r\n"[..],
            "Invalid SSH identification string.",
        ),
        (
            PROTOCOL_MISMATCH,
            &b"SSH-1.5-Nmap-SSH1-Hostkey\r\n"[..],
            "Protocol major versions differ.",
        ),
    ] {
        out.push(match answer_to(s.addr, probe).await {
            Ok(lines) => CheckResult::compare(id, want, &lines.join("\\r\\n")),
            Err(e) => CheckResult::tell(id, want, format!("error: {e}")),
        });
    }
    Ok(h)
}

/// The identification is the persona's, and its OpenSSH version is the one
/// the distro release ships (`dpkg -l`/`rpm -q` in the shell would show it).
fn release_check(t: &Target, persona: &str, seen: &str) -> CheckResult {
    if persona != seen {
        return CheckResult::tell(BANNER_RELEASE, persona, seen);
    }
    let Some(pkg) = t.distro.package(decnet_core::persona::Package::Openssh) else {
        return CheckResult::pass(BANNER_RELEASE);
    };
    // Debian-style builds announce the portable version (9.2p1), RPM and
    // upstream-style builds the bare one (8.7).
    let want = match t.distro.packaging {
        decnet_core::persona::Packaging::Deb => pkg.upstream,
        _ => pkg.without_portable(),
    };
    match releases::parse_ident(seen) {
        Some(i) if i.upstream == want => CheckResult::pass(BANNER_RELEASE),
        _ => CheckResult::tell(
            BANNER_RELEASE,
            format!(
                "SSH-2.0-OpenSSH_{want}… (the openssh {} ships)",
                t.distro.slug
            ),
            seen,
        ),
    }
}

/// `Debian-…` on Debian and Kali, `Ubuntu-…` on Ubuntu, a bare version elsewhere.
fn family_check(t: &Target, ident: &str) -> CheckResult {
    let comment = releases::parse_ident(ident).map(|i| i.comment);
    let want = family_comment_prefix(t.distro.os_id);
    let fits = match (want, comment) {
        (_, None) => false,
        (Some(p), Some(c)) => c.starts_with(p),
        (None, Some(c)) => c.is_empty(),
    };
    if fits {
        CheckResult::pass(BANNER_FAMILY)
    } else {
        let expected = match want {
            Some(p) => format!(
                "SSH-2.0-OpenSSH_<version> {p}<revision> on {}",
                t.distro.slug
            ),
            None => format!(
                "SSH-2.0-OpenSSH_<version> with no vendor comment on {}",
                t.distro.slug
            ),
        };
        CheckResult::tell(BANNER_FAMILY, expected, ident)
    }
}

/// Names each differing list with both values.
fn kexinit_check(want: &NameLists, got: &KexInit) -> CheckResult {
    let mut exp = Vec::new();
    let mut seen = Vec::new();
    for (name, w, g) in [
        ("kex", &want.kex, &got.lists.kex),
        ("host_key", &want.host_key, &got.lists.host_key),
        ("enc", &want.enc, &got.lists.enc),
        ("mac", &want.mac, &got.lists.mac),
        ("comp", &want.comp, &got.lists.comp),
    ] {
        if w != g {
            exp.push(format!("{name}={w}"));
            seen.push(format!("{name}={g}"));
        }
    }
    if !got.symmetric {
        exp.push("client-to-server lists equal to server-to-client".into());
        seen.push("lists differ by direction".into());
    }
    if got.first_kex_follows {
        exp.push("first_kex_packet_follows=false".into());
        seen.push("first_kex_packet_follows=true".into());
    }
    if exp.is_empty() {
        CheckResult::pass(KEXINIT_RELEASE)
    } else {
        CheckResult::tell(KEXINIT_RELEASE, exp.join("; "), seen.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REAL: &[u8] = include_bytes!("../tests/data/sshd-9.2p1-deb12u10.kexinit");

    #[test]
    fn the_real_sshds_kexinit_parses_into_its_name_lists() {
        let k = parse_kexinit_packet(REAL).unwrap();
        assert!(k.symmetric && !k.first_kex_follows);
        assert_eq!(
            k.lists.host_key,
            "rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519"
        );
        assert_eq!(k.lists.comp, "none,zlib@openssh.com");
        assert!(k.lists.kex.ends_with(",kex-strict-s-v00@openssh.com"));
    }

    #[test]
    fn every_truncation_of_a_kexinit_is_an_error_not_a_panic() {
        for n in 0..REAL.len() - 1 {
            if let Ok(k) = parse_kexinit_packet(&REAL[..n]) {
                panic!("{n} bytes parsed: {k:?}");
            }
        }
        let mut bad = REAL.to_vec();
        bad[5] = 21;
        assert_eq!(parse_kexinit_packet(&bad), Err(ParseError::NotKexInit(21)));
        let mut huge = REAL.to_vec();
        huge[22] = 0xff; // first name-list length far past the end
        assert!(parse_kexinit_packet(&huge).is_err());
    }

    #[test]
    fn a_changed_list_is_named_in_the_tell() {
        let real = parse_kexinit_packet(REAL).unwrap();
        let mut want = real.lists.clone();
        assert_eq!(kexinit_check(&want, &real).status, crate::Status::Pass);
        want.mac = "hmac-sha2-256".into();
        let t = kexinit_check(&want, &real);
        assert_eq!(t.status, crate::Status::Tell);
        assert_eq!(t.expected.as_deref(), Some("mac=hmac-sha2-256"));
        assert!(t.seen.unwrap().starts_with("mac=umac-64-etm@openssh.com,"));
    }

    #[test]
    fn the_banner_must_carry_the_openssh_its_distro_ships() {
        let t = |slug: &str| Target {
            name: "d".into(),
            ip: "127.0.0.1".parse().unwrap(),
            os_family: decnet_core::persona::OsFamily::Linux,
            distro: decnet_core::persona::distro(slug).unwrap(),
            ssh: None,
            http: None,
            https: None,
            server_header: None,
        };
        for d in &decnet_core::persona::DISTROS {
            let ident = d.ssh_identification().unwrap();
            assert_eq!(
                release_check(&t(d.slug), &ident, &ident).status,
                crate::Status::Pass,
                "{}",
                d.slug
            );
        }
        // Debian 11's OpenSSH on a Debian 12 userland.
        let old = "SSH-2.0-OpenSSH_8.4p1 Debian-5+deb11u3";
        let r = release_check(&t("debian"), old, old);
        assert_eq!(r.status, crate::Status::Tell);
        assert!(r.expected.unwrap().starts_with("SSH-2.0-OpenSSH_9.2p1"));
        // Not the persona's banner at all.
        let r = release_check(&t("rocky9"), "SSH-2.0-OpenSSH_8.7", "SSH-2.0-OpenSSH_8.7p1");
        assert_eq!(r.status, crate::Status::Tell);
    }

    #[tokio::test]
    async fn lines_after_the_identification_are_read_until_close() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut c, _) = l.accept().await.unwrap();
            let mut req = [0u8; 18];
            c.read_exact(&mut req).await.unwrap();
            c.write_all(
                b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\nInvalid SSH identification string.\r\n",
            )
            .await
            .unwrap();
        });
        let lines = answer_to(addr, b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        assert_eq!(lines, ["Invalid SSH identification string."]);
    }
}
