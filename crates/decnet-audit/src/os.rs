//! One machine, one OS: the SSH banner, the HTTP `Server` header, the shell's
//! `/etc/os-release` and `uname -a` must all name the persona's distro family,
//! and the IP TTL of the decky's packets must be its OS family's (p0f and
//! nmap read the TTL before anything else).

use std::io::Read as _;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use decnet_core::persona::OsFamily;
use socket2::{Domain, Protocol, Socket, Type};

use crate::shell::{os_release_value, ShellSeen};
use crate::target::Target;
use crate::CheckResult;

/// Banner, Server header, os-release and uname name one distro family.
pub const FAMILY: &str = "os.family-consistent";
/// The decky's packets carry its OS family's initial TTL.
pub const TTL: &str = "os.ttl-matches-family";

/// What the other probes saw.
#[derive(Debug, Default)]
pub struct Seen<'a> {
    /// The SSH identification line.
    pub ssh_ident: Option<&'a str>,
    /// The HTTP `Server` header.
    pub http_server: Option<&'a str>,
    /// The shell's files.
    pub shell: Option<&'a ShellSeen>,
}

/// Initial TTL of each family's IP stack (Linux and the BSDs 64, Windows 128,
/// Cisco IOS and most embedded stacks 255).
fn initial_ttl(f: OsFamily) -> u8 {
    match f {
        OsFamily::Linux | OsFamily::Bsd => 64,
        OsFamily::Windows => 128,
        OsFamily::Embedded | OsFamily::Cisco => 255,
    }
}

/// The family label of an os-release `ID`.
pub fn family_of_os_id(id: &str) -> &'static str {
    match id {
        "debian" | "kali" | "raspbian" => "debian",
        "ubuntu" => "ubuntu",
        "rocky" | "centos" | "rhel" | "almalinux" | "fedora" => "redhat",
        "alpine" => "alpine",
        "arch" => "arch",
        _ => "other",
    }
}

/// Families an SSH identification line is compatible with.
fn ssh_families(ident: &str) -> Vec<&'static str> {
    match crate::releases::parse_ident(ident).map(|i| i.comment) {
        Some(c) if c.starts_with("Debian-") => vec!["debian"],
        Some(c) if c.starts_with("Ubuntu-") => vec!["ubuntu"],
        Some("") => vec!["redhat", "alpine", "arch", "other"],
        _ => vec!["other"],
    }
}

/// Families an HTTP `Server` header is compatible with; `None` when it names none (nginx).
fn http_families(server: &str) -> Option<Vec<&'static str>> {
    let tag = server.split_once(" (")?.1.strip_suffix(')')?;
    Some(match tag {
        "Debian" => vec!["debian"],
        "Ubuntu" => vec!["ubuntu"],
        "Rocky Linux"
        | "CentOS"
        | "Red Hat"
        | "Red Hat Enterprise Linux"
        | "AlmaLinux"
        | "Fedora Linux"
        | "Fedora" => {
            vec!["redhat"]
        }
        "Unix" => vec!["alpine", "arch", "other"],
        _ => vec!["other"],
    })
}

/// The family a `uname -a` kernel build names.
fn uname_family(uname: &str) -> &'static str {
    if uname.contains(" Debian ") || uname.contains(" Kali ") {
        "debian"
    } else if uname.contains("-Ubuntu ") {
        "ubuntu"
    } else if uname.contains(".el") || uname.contains(".fc") {
        "redhat"
    } else if uname.contains("-arch") {
        "arch"
    } else if uname.contains("-lts ") || uname.contains("-virt ") {
        "alpine"
    } else {
        "other"
    }
}

/// Runs the OS-family checks.
pub async fn run(t: &Target, seen: &Seen<'_>, out: &mut Vec<CheckResult>) {
    out.push(family_check(t, seen));
    out.push(ttl_check(t).await);
}

fn family_check(t: &Target, seen: &Seen<'_>) -> CheckResult {
    let want = family_of_os_id(t.distro.os_id);
    let mut claims: Vec<(String, Vec<&'static str>)> = Vec::new();
    if let Some(i) = seen.ssh_ident {
        claims.push((format!("ssh {i:?}"), ssh_families(i)));
    }
    if let Some(s) = seen.http_server {
        if let Some(f) = http_families(s) {
            claims.push((format!("Server {s:?}"), f));
        }
    }
    if let Some(sh) = seen.shell {
        let id = os_release_value(&sh.os_release, "ID").unwrap_or_default();
        claims.push((format!("os-release ID={id}"), vec![family_of_os_id(&id)]));
        claims.push((
            format!("uname {:?}", sh.uname.trim_end()),
            vec![uname_family(&sh.uname)],
        ));
    }
    // A Windows or Cisco persona (TTL 128 or 255) that announces a Linux distro
    // anywhere is two machines at once.
    let linux: Vec<&str> = claims
        .iter()
        .filter(|(_, f)| !f.contains(&"other"))
        .map(|(c, _)| c.as_str())
        .collect();
    if matches!(t.os_family, OsFamily::Windows | OsFamily::Cisco) {
        return if linux.is_empty() {
            CheckResult::pass(FAMILY)
        } else {
            CheckResult::tell(
                FAMILY,
                format!("nothing naming a Linux distro on a {} host", t.os_family),
                linux.join("; "),
            )
        };
    }
    let wrong: Vec<&String> = claims
        .iter()
        .filter(|(_, f)| !f.contains(&want))
        .map(|(c, _)| c)
        .collect();
    if claims.is_empty() {
        CheckResult::skip(FAMILY, "nothing announced a distro")
    } else if wrong.is_empty() {
        CheckResult::pass(FAMILY)
    } else {
        CheckResult::tell(
            FAMILY,
            format!("every source naming the {want} family of {}", t.distro.slug),
            wrong
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

async fn ttl_check(t: &Target) -> CheckResult {
    let Some(addr) = t.ssh.as_ref().map(|s| s.addr).or(t.http).or(t.https) else {
        return CheckResult::skip(TTL, "no TCP listener to read a TTL from");
    };
    let want = initial_ttl(t.os_family);
    match tokio::task::spawn_blocking(move || received_ttl(addr)).await {
        Ok(Ok(ttl)) if ttl <= want && ttl > want.saturating_sub(32) => CheckResult::pass(TTL),
        Ok(Ok(ttl)) => CheckResult::tell(
            TTL,
            format!("TTL {want} less the hops ({} family)", t.os_family),
            format!("TTL {ttl}"),
        ),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::PermissionDenied => CheckResult::skip(
            TTL,
            "reading a packet's TTL needs a raw socket (root or CAP_NET_RAW)",
        ),
        Ok(Err(e)) => CheckResult::skip(TTL, format!("could not read a TTL: {e}")),
        Err(e) => CheckResult::skip(TTL, format!("probe task failed: {e}")),
    }
}

/// The IP TTL of the SYN-ACK (or any later segment) the listener at `addr`
/// sends us, read from a raw IPv4 TCP socket that sees a copy of every
/// incoming TCP packet.
fn received_ttl(addr: SocketAddr) -> std::io::Result<u8> {
    let IpAddr::V4(ip) = addr.ip() else {
        return Err(std::io::Error::other(
            "IPv6 deckies are not read (no IP header on raw IPv6 sockets)",
        ));
    };
    let raw = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::TCP))?;
    raw.set_read_timeout(Some(Duration::from_millis(200)))?;
    let conn = std::net::TcpStream::connect_timeout(&addr, crate::PROBE_TIMEOUT)?;
    let local = conn.local_addr()?.port();
    let deadline = Instant::now() + Duration::from_secs(3);
    let mut buf = [0u8; 2048];
    let mut raw = &raw;
    while Instant::now() < deadline {
        let n = match raw.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(e),
        };
        if let Some(ttl) = ttl_from(
            buf.get(..n).unwrap_or_default(),
            ip.octets(),
            addr.port(),
            local,
        ) {
            return Ok(ttl);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "no packet from the decky seen on the raw socket",
    ))
}

/// The TTL of an IPv4 packet from `src`:`sport` to our port `dport`, if `pkt` is one.
pub fn ttl_from(pkt: &[u8], src: [u8; 4], sport: u16, dport: u16) -> Option<u8> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    if pkt.first()? >> 4 != 4 || pkt.get(9)? != &6 || pkt.get(12..16)? != src {
        return None;
    }
    let tcp = pkt.get(ihl..ihl + 4)?;
    let sp = u16::from_be_bytes([*tcp.first()?, *tcp.get(1)?]);
    let dp = u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]);
    (sp == sport && dp == dport)
        .then(|| pkt.get(8).copied())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packets_ttl_is_read_only_from_the_connection_it_belongs_to() {
        let mut p = vec![
            0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 127, 42, 0, 10, 127, 0, 0, 1,
        ];
        p.extend_from_slice(&[0, 22, 0xc3, 0x50, 0, 0, 0, 0]);
        assert_eq!(ttl_from(&p, [127, 42, 0, 10], 22, 50_000), Some(64));
        assert_eq!(ttl_from(&p, [127, 42, 0, 11], 22, 50_000), None);
        assert_eq!(ttl_from(&p, [127, 42, 0, 10], 80, 50_000), None);
        assert_eq!(ttl_from(&p[..22], [127, 42, 0, 10], 22, 50_000), None);
        assert_eq!(ttl_from(&[], [0; 4], 0, 0), None);
    }

    fn target(family: OsFamily, slug: &str) -> Target {
        Target {
            name: "d".into(),
            ip: "127.0.0.1".parse().unwrap(),
            os_family: family,
            distro: decnet_core::persona::distro(slug).unwrap(),
            ssh: None,
            http: None,
            https: None,
            server_header: None,
        }
    }

    #[test]
    fn every_source_must_name_the_personas_family() {
        let sh = ShellSeen {
            os_release: "ID=debian\nVERSION_ID=\"12\"\n".into(),
            uname: "Linux h 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64 GNU/Linux\n".into(),
        };
        let seen = Seen {
            ssh_ident: Some("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
            http_server: Some("nginx/1.22.1"),
            shell: Some(&sh),
        };
        assert_eq!(
            family_check(&target(OsFamily::Linux, "debian"), &seen).status,
            crate::Status::Pass
        );
        let apache = Seen {
            http_server: Some("Apache/2.4.52 (Ubuntu)"),
            ..seen
        };
        let t = family_check(&target(OsFamily::Linux, "debian"), &apache);
        assert_eq!(t.status, crate::Status::Tell);
        assert!(t.seen.unwrap().contains("Apache/2.4.52 (Ubuntu)"));
        // A Windows persona's TTL says Windows; a Debian banner says otherwise.
        let w = family_check(&target(OsFamily::Windows, "debian"), &seen);
        assert_eq!(w.status, crate::Status::Tell);
        let windows_ssh = Seen {
            ssh_ident: Some("SSH-2.0-OpenSSH_for_Windows_8.1"),
            http_server: None,
            shell: None,
        };
        assert_eq!(
            family_check(&target(OsFamily::Windows, "debian"), &windows_ssh).status,
            crate::Status::Pass
        );
    }

    #[test]
    fn each_source_names_its_family() {
        assert_eq!(
            ssh_families("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3"),
            ["debian"]
        );
        assert!(ssh_families("SSH-2.0-OpenSSH_8.7").contains(&"redhat"));
        assert_eq!(http_families("Apache/2.4.52 (Ubuntu)").unwrap(), ["ubuntu"]);
        assert_eq!(http_families("nginx/1.22.1"), None);
        assert_eq!(uname_family("Linux h 5.14.0-362.8.1.el9_3.x86_64 #1 SMP PREEMPT_DYNAMIC Wed Nov 8 17:36:32 UTC 2023 x86_64 x86_64 x86_64 GNU/Linux"), "redhat");
        assert_eq!(uname_family("Linux h 6.1.0-18-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01) x86_64 GNU/Linux"), "debian");
    }
}
