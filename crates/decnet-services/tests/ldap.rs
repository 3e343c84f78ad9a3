//! The LDAP emulator against ldapsearch/ldapwhoami, Debian's slapd side by
//! side, nmap, and raw sockets with recorded bytes; the Active Directory
//! persona's NTLM bind driven by NTLMSSP messages built here and its captured
//! NetNTLMv2 recomputed from the password.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use decnet_core::bait::World;
use decnet_core::event::SecretKind;
use decnet_core::{Event, EventType};
use decnet_services::kit::ntlmssp;
use decnet_services::DeckyRuntime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::Command;

use crate::harness::{decky, have, login_of, output, serve, svc, unique_ip, Served};

/// An ldap decky in a fleet with a second (ssh) decky, so the directory has computers.
fn fleet(dir: &Path, name: &str, slug: &str, persona: &[(&str, &str)]) -> Arc<DeckyRuntime> {
    let base = decky(name, &unique_ip(), dir, vec![svc(slug, persona)]);
    let mut d = Arc::try_unwrap(base).expect("a fresh runtime has one owner");
    let web = decky(
        &format!("{name}-web"),
        &unique_ip(),
        dir,
        vec![svc("ssh", &[])],
    );
    d.bait = Arc::new(World::derive(
        b"test-installation",
        &[d.config.clone(), web.config.clone()],
        1_760_000_000,
    ));
    Arc::new(d)
}

async fn start(dir: &Path, name: &str, persona: &[(&str, &str)]) -> Served {
    serve(fleet(dir, name, "ldap", persona), "ldap").await
}

fn base_dn(s: &Served) -> String {
    s.decky
        .bait
        .domain
        .split('.')
        .map(|p| format!("dc={p}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn url(s: &Served) -> String {
    format!("ldap://{}:{}", s.addr.ip(), s.addr.port())
}

fn ldapsearch(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ldapsearch");
    c.env("LDAPNOINIT", "1")
        .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", url])
        .args(args);
    c
}

fn field<'e>(e: &'e Event, k: &str) -> &'e serde_json::Value {
    e.fields
        .get(k)
        .unwrap_or_else(|| panic!("no {k} in {:?}", e.fields))
}

fn tlv(t: u8, v: &[u8]) -> Vec<u8> {
    let mut out = vec![t];
    let n = v.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n < 0x100 {
        out.extend([0x81, n as u8]);
    } else {
        out.extend([0x82, (n >> 8) as u8, n as u8]);
    }
    out.extend_from_slice(v);
    out
}

fn msg(id: u8, op: Vec<u8>) -> Vec<u8> {
    let mut body = tlv(0x02, &[id]);
    body.extend(op);
    tlv(0x30, &body)
}

fn simple_bind(id: u8, dn: &str, pw: &str) -> Vec<u8> {
    let mut b = tlv(0x02, &[3]);
    b.extend(tlv(0x04, dn.as_bytes()));
    b.extend(tlv(0x80, pw.as_bytes()));
    msg(id, tlv(0x60, &b))
}

fn sasl_bind(id: u8, mech: &str, creds: &[u8]) -> Vec<u8> {
    let mut sasl = tlv(0x04, mech.as_bytes());
    sasl.extend(tlv(0x04, creds));
    let mut b = tlv(0x02, &[3]);
    b.extend(tlv(0x04, b""));
    b.extend(tlv(0xa3, &sasl));
    msg(id, tlv(0x60, &b))
}

const UNBIND: &[u8] = b"\x30\x05\x02\x01\x09\x42\x00";
/// nmap's LDAPBindReq probe (nmap-service-probes).
const NMAP_BIND: &[u8] = b"\x30\x0c\x02\x01\x01\x60\x07\x02\x01\x02\x04\0\x80\0";
/// nmap's LDAPSearchReq probe.
const NMAP_SEARCH: &[u8] = b"\x30\x84\x00\x00\x00\x2d\x02\x01\x07\x63\x84\x00\x00\x00\x24\x04\x00\x0a\x01\x00\x0a\x01\x00\x02\x01\x00\x02\x01\x64\x01\x01\x00\x87\x0b\x6f\x62\x6a\x65\x63\x74\x43\x6c\x61\x73\x73\x30\x84\x00\x00\x00\x00";

/// The world's first person (IT staff, so in Domain Admins): (username, password).
fn person(s: &Served) -> (String, String) {
    let p = &s.decky.bait.people[0];
    assert!(p.it);
    (p.username.clone(), p.password.clone())
}

/// Sends `req`, then reads until the server closes (20 s at most).
#[allow(clippy::disallowed_methods)] // the server closes after one answer; the timeout bounds it
async fn exchange(addr: std::net::SocketAddr, req: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(req).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), c.read_to_end(&mut out))
        .await
        .expect("the server closes")
        .ok();
    out
}

/// Sends `req` and reads the answers up to the first that is not a
/// SearchResultEntry (slapd abandons what an unbind overtakes, so the
/// connection is not closed first).
async fn answered(addr: std::net::SocketAddr, req: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(req).await.unwrap();
    let mut out = Vec::new();
    let read = async {
        loop {
            let m = read_message(&mut c).await;
            out.extend_from_slice(&m);
            // The op tag follows the message id.
            let (h, _) = header_len(&m);
            let id_len = 2 + m[h + 1] as usize;
            if m[h + id_len] != 0x64 {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the server answers");
    out
}

/// (header length, content length) of the message `m` starts with.
fn header_len(m: &[u8]) -> (usize, usize) {
    match m[1] {
        n if n < 0x80 => (2, n as usize),
        n => {
            let k = (n & 0x7f) as usize;
            (
                2 + k,
                m[2..2 + k].iter().fold(0, |a, b| (a << 8) | *b as usize),
            )
        }
    }
}

#[tokio::test]
async fn ldapsearch_simple_bind_is_invalid_credentials_and_captured_with_its_dn() {
    if !have("ldapsearch") {
        eprintln!("skipped: ldapsearch (ldap-utils) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "ld-bind", &[]).await;
    let (user, _) = person(&s);
    let dn = format!("uid={user},ou=people,{}", base_dn(&s));
    let out = output({
        let mut c = ldapsearch(
            &url(&s),
            &["-D", &dn, "-w", "Wr0ng pass!", "-b", "", "-s", "base"],
        );
        c.arg("namingContexts");
        c
    })
    .await;
    assert_eq!(out.status.code(), Some(49));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim_end(),
        "ldap_bind: Invalid credentials (49)"
    );
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    assert_eq!(
        login_of(&e),
        (dn.clone(), b"Wr0ng pass!".to_vec(), SecretKind::Password)
    );
    assert_eq!(field(&e, "user"), &serde_json::json!(user));
    assert_eq!(field(&e, "method"), "password");
}

#[tokio::test]
async fn a_bait_person_binds_and_a_subtree_search_returns_people_and_hosts() {
    if !have("ldapsearch") {
        eprintln!("skipped: ldapsearch (ldap-utils) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "ld-sub", &[]).await;
    let (user, pw) = person(&s);
    let base = base_dn(&s);
    let dn = format!("uid={user},ou=people,{base}");
    let out = output(ldapsearch(
        &url(&s),
        &[
            "-D",
            &dn,
            "-w",
            &pw,
            "-b",
            &base,
            "-s",
            "sub",
            "(|(objectClass=posixAccount)(objectClass=ipHost))",
            "uid",
            "mail",
            "ipHostNumber",
        ],
    ))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = s
        .wait_type(EventType::LoginSuccess)
        .await
        .expect("login_success");
    assert_eq!(login_of(&ok).0, dn);
    for p in &s.decky.bait.people {
        assert!(
            text.contains(&format!(
                "dn: uid={},ou=people,{base}\nuid: {}\nmail: {}\n",
                p.username, p.username, p.email
            )),
            "{} missing from:\n{text}",
            p.username
        );
    }
    for h in &s.decky.bait.hosts {
        assert!(
            text.contains(&format!(
                "dn: cn={},ou=hosts,{base}\nipHostNumber: {}\n",
                h.hostname, h.ip
            )),
            "{} missing from:\n{text}",
            h.hostname
        );
    }
    assert!(
        !text.contains("cn=admin"),
        "the filter leaves the admin role out"
    );
    let q = s.wait_type(EventType::Query).await.expect("query");
    assert_eq!(field(&q, "base"), &serde_json::json!(base));
    assert_eq!(field(&q, "scope"), "sub");
    assert_eq!(
        field(&q, "filter"),
        "(|(objectClass=posixAccount)(objectClass=ipHost))"
    );
    assert_eq!(
        field(&q, "attributes"),
        &serde_json::json!(["uid", "mail", "ipHostNumber"])
    );
    assert_eq!(
        field(&q, "entries"),
        &serde_json::json!(s.decky.bait.people.len() + s.decky.bait.hosts.len())
    );

    // Anonymous reads are allowed as slapd's default ACL allows them; sizeLimit holds.
    let out = output(ldapsearch(
        &url(&s),
        &[
            "-z",
            "2",
            "-b",
            &format!("ou=people,{base}"),
            "-s",
            "one",
            "(uid=*)",
            "1.1",
        ],
    ))
    .await;
    assert_eq!(out.status.code(), Some(4), "sizeLimitExceeded");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).matches("dn: ").count(),
        2
    );
}

#[tokio::test]
async fn anonymous_root_dse_names_the_suffix_and_slapds_oids() {
    if !have("ldapsearch") {
        eprintln!("skipped: ldapsearch (ldap-utils) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "ld-dse", &[]).await;
    let out = output(ldapsearch(&url(&s), &["-b", "", "-s", "base", "+"])).await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.starts_with("dn:\nstructuralObjectClass: OpenLDAProotDSE\nconfigContext: cn=config\n"),
        "{text}"
    );
    assert!(text.contains(&format!("namingContexts: {}\n", base_dn(&s))));
    assert!(text.contains("supportedLDAPVersion: 3\n"));
    assert!(text.contains("subschemaSubentry: cn=Subschema\n"));
    let out = output(ldapsearch(&url(&s), &["-b", "", "-s", "base"])).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "dn:\nobjectClass: top\nobjectClass: OpenLDAProotDSE\n\n"
    );
}

/// A throwaway slapd on loopback with `suffix`, killed and removed on drop.
struct Slapd {
    _child: tokio::process::Child,
    addr: std::net::SocketAddr,
    _dir: tempfile::TempDir,
}

async fn slapd(suffix: &str) -> Option<Slapd> {
    let bin = Path::new("/usr/sbin/slapd");
    if !bin.exists() || !have("slapadd") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let schema = |n: &str| {
        let p = format!("/etc/ldap/schema/{n}.schema");
        if Path::new(&p).exists() {
            p
        } else {
            format!("{p}.dpkg-new")
        }
    };
    let d = dir.path();
    std::fs::create_dir(d.join("db")).unwrap();
    let conf = format!(
        "include {}\ninclude {}\ninclude {}\ninclude {}\nmodulepath /usr/lib/ldap\nmoduleload back_mdb\npidfile {}/slapd.pid\ndatabase mdb\nsuffix \"{suffix}\"\nrootdn \"cn=admin,{suffix}\"\nrootpw secret\ndirectory {}/db\n",
        schema("core"),
        schema("cosine"),
        schema("inetorgperson"),
        schema("nis"),
        d.display(),
        d.display()
    );
    std::fs::write(d.join("slapd.conf"), conf).unwrap();
    let dc = suffix.split(',').next().unwrap().trim_start_matches("dc=");
    std::fs::write(
        d.join("base.ldif"),
        format!("dn: {suffix}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\no: x\ndc: {dc}\n"),
    )
    .unwrap();
    let st = std::process::Command::new("slapadd")
        .arg("-f")
        .arg(d.join("slapd.conf"))
        .arg("-l")
        .arg(d.join("base.ldif"))
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "slapadd: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = Command::new(bin)
        .arg("-f")
        .arg(d.join("slapd.conf"))
        .arg("-h")
        .arg(format!("ldap://{addr}/"))
        .args(["-d", "0"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Ready once it accepts connections.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "slapd did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Some(Slapd {
        _child: child,
        addr,
        _dir: dir,
    })
}

#[tokio::test]
async fn side_by_side_with_slapd_the_root_dse_and_the_answers_match() {
    if !have("ldapsearch") {
        eprintln!("skipped: ldapsearch (ldap-utils) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "ld-cmp", &[]).await;
    let base = base_dn(&s);
    let Some(real) = slapd(&base).await else {
        eprintln!("skipped: slapd is not installed");
        return;
    };
    let real_url = format!("ldap://{}", real.addr);
    for args in [
        &["-b", "", "-s", "base", "+"][..],
        &["-b", "", "-s", "base", "*", "+"],
        &[
            "-b",
            "",
            "-s",
            "base",
            "namingContexts",
            "supportedLDAPVersion",
        ],
        &["-b", "", "-s", "base", "(objectClass=nothing)"],
        &["-b", "", "-s", "sub"],
    ] {
        let ours = output(ldapsearch(&url(&s), args)).await;
        let theirs = output(ldapsearch(&real_url, args)).await;
        assert_eq!(
            (String::from_utf8_lossy(&ours.stdout), ours.status.code()),
            (
                String::from_utf8_lossy(&theirs.stdout),
                theirs.status.code()
            ),
            "ldapsearch {args:?}"
        );
    }
    let missing = format!("ou=nobody,{base}");
    let requests: Vec<(&str, Vec<u8>)> = vec![
        ("nmap's LDAPv2 bind", NMAP_BIND.to_vec()),
        ("nmap's search", NMAP_SEARCH.to_vec()),
        (
            "wrong password",
            simple_bind(1, &format!("cn=admin,{base}"), "wrong"),
        ),
        ("DN without password", simple_bind(1, "cn=x", "")),
        ("invalid DN", simple_bind(1, "garbage", "pw")),
        ("anonymous", simple_bind(1, "", "")),
        ("unknown SASL mechanism", sasl_bind(1, "FOO", b"")),
        ("SASL PLAIN", sasl_bind(1, "PLAIN", b"\0u\0p")),
        ("SASL NTLM without a request", sasl_bind(1, "NTLM", b"")),
        (
            "StartTLS",
            msg(1, tlv(0x77, &tlv(0x80, b"1.3.6.1.4.1.1466.20037"))),
        ),
        (
            "whoami",
            msg(1, tlv(0x77, &tlv(0x80, b"1.3.6.1.4.1.4203.1.11.3"))),
        ),
        (
            "modify",
            msg(
                3,
                tlv(0x66, &[tlv(0x04, base.as_bytes()), tlv(0x30, b"")].concat()),
            ),
        ),
        (
            "missing base",
            msg(
                2,
                tlv(
                    0x63,
                    &[
                        tlv(0x04, missing.as_bytes()),
                        tlv(0x0a, &[0]),
                        tlv(0x0a, &[0]),
                        tlv(0x02, &[0]),
                        tlv(0x02, &[0]),
                        tlv(0x01, &[0]),
                        tlv(0x87, b"objectClass"),
                        tlv(0x30, b""),
                    ]
                    .concat(),
                ),
            ),
        ),
    ];
    for (what, req) in &requests {
        assert_eq!(
            answered(s.addr, req).await,
            answered(real.addr, req).await,
            "{what}"
        );
    }
    // Unknown operations get the Notice of Disconnection; bytes liblber cannot read, a silent close.
    for (what, req) in [
        ("unknown operation", &b"\x30\x05\x02\x01\x01\x4f\x00"[..]),
        ("high tag", b"\x30\x05\x02\x01\x01\x7f\x00"),
        ("over the cap", b"\x30\x84\x10\x00\x00\x00\x02\x01\x01"),
        ("indefinite length", b"\x30\x80\x02\x01\x01\x42\x00\x00\x00"),
        ("message id 0", b"\x30\x05\x02\x01\x00\x42\x00"),
    ] {
        assert_eq!(
            exchange(s.addr, req).await,
            exchange(real.addr, req).await,
            "{what}"
        );
    }

    // SASL NTLM through Cyrus: the CHALLENGE's shape, then the refusal, as slapd's.
    let mut seen = Vec::new();
    for addr in [s.addr, real.addr] {
        let mut c = TcpStream::connect(addr).await.unwrap();
        c.write_all(&sasl_bind(1, "NTLM", NTLM_NEGOTIATE))
            .await
            .unwrap();
        let first = read_message(&mut c).await;
        let challenge = challenge_of(&first);
        let (nt, _) = ntlmv2("pw", "bob", "WORKGROUP", &challenge);
        let auth = ntlmssp::authenticate_message("bob", "WORKGROUP", "WS01", &[0; 24], &nt);
        c.write_all(&sasl_bind(2, "NTLM", &auth)).await.unwrap();
        let second = read_message(&mut c).await;
        let head = first[..first.len() - challenge.len()].to_vec();
        // Type, target name offset and flags (the length and name are the host's, the challenge random).
        let shape = [&challenge[8..12], &challenge[16..24], &challenge[32..48]].concat();
        seen.push((head.len(), head[..head.len() - 2].to_vec(), shape, second));
    }
    // The message and BindResponse lengths follow the host name.
    assert_eq!(seen[0].1[7..], seen[1].1[7..], "resultCode and text");
    assert_eq!(seen[0].2, seen[1].2, "CHALLENGE layout");
    assert_eq!(seen[0].3, seen[1].3, "the AUTHENTICATE's refusal");
}

/// nmap's probes and matches for LDAP alone (nmap-service-probes' NULL,
/// LDAPSearchReq and LDAPBindReq), so a version scan takes seconds.
fn ldap_probes(dir: &Path) -> Option<std::path::PathBuf> {
    let src = std::fs::read("/usr/share/nmap/nmap-service-probes").ok()?;
    let src = String::from_utf8_lossy(&src);
    let sep = "##############################NEXT PROBE##############################";
    let keep: Vec<&str> = src
        .split(sep)
        .filter(|p| {
            [
                "\nProbe TCP NULL ",
                "\nProbe TCP LDAPSearchReq ",
                "\nProbe TCP LDAPBindReq ",
            ]
            .iter()
            .any(|n| p.contains(n))
        })
        .collect();
    let path = dir.join("nmap-service-probes");
    std::fs::write(&path, keep.join(&format!("\n{sep}\n"))).ok()?;
    Some(path)
}

/// Whether nmap runs (it is installed without its libraries on some hosts).
fn nmap_runs() -> bool {
    have("nmap")
        && std::process::Command::new("nmap")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
}

async fn nmap_version(dir: &Path, addr: std::net::SocketAddr) -> String {
    let probes = ldap_probes(dir).expect("nmap's service probes");
    let mut c = Command::new("nmap");
    c.args(["-sV", "-Pn", "-n", "--versiondb"])
        .arg(probes)
        .arg("-p")
        .arg(addr.port().to_string())
        .arg(addr.ip().to_string());
    let out = output(c).await;
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn nmap_names_openldap() {
    if !nmap_runs() {
        eprintln!("skipped: nmap is not installed or does not run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), "ld-nmap", &[]).await;
    let text = nmap_version(dir.path(), s.addr).await;
    assert!(
        text.contains("open  ldap    OpenLDAP 2.2.X - 2.3.X"),
        "nmap said:\n{text}"
    );
}

#[tokio::test]
async fn nmap_names_active_directory_with_its_domain() {
    if !nmap_runs() {
        eprintln!("skipped: nmap is not installed or does not run");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        dir.path(),
        "ad-nmap",
        &[
            ("ldap_vendor", "active-directory"),
            ("domain", "corp.local"),
        ],
    )
    .await;
    let text = nmap_version(dir.path(), s.addr).await;
    assert!(
        text.contains("Microsoft Windows Active Directory LDAP (Domain: corp.local, Site: Default-First-Site-Name)"),
        "nmap said:\n{text}"
    );
}

#[tokio::test]
#[allow(clippy::disallowed_methods)] // the server closes on the client's close
async fn recorded_bytes_nmaps_bind_truncated_over_long_and_too_deep() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(dir.path(), "ld-raw", &[]).await;
    // slapd 2.5.13's answer to nmap's LDAPv2 bind, recorded.
    assert_eq!(
        answered(s.addr, NMAP_BIND).await,
        b"0E\x02\x01\x01a@\n\x01\x02\x04\x00\x049historical protocol version requested, use LDAPv3 instead"
    );
    // An unbind closes.
    assert!(exchange(s.addr, UNBIND).await.is_empty());
    // A truncated message is waited for; the client's close ends it without a word.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"\x30\x0c\x02\x01").await.unwrap();
    c.shutdown().await.unwrap();
    let mut out = Vec::new();
    c.read_to_end(&mut out).await.unwrap();
    assert!(out.is_empty());
    assert!(s.wait_type(EventType::Scan).await.is_some());
    // Past slapd's 262143-byte anonymous cap: closed at once, before the bytes arrive.
    assert!(exchange(s.addr, b"\x30\x83\x04\x00\x00\x02\x01\x01")
        .await
        .is_empty());
    let e = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert_eq!(
        field(&e, "reason"),
        "message of 262144 bytes past the 262143 byte cap"
    );
    // A filter nested past slapd's 1000 levels: the Notice of Disconnection, recorded.
    let mut f = tlv(0x87, b"objectClass");
    for _ in 0..1500 {
        f = tlv(0xa2, &f);
    }
    let search = msg(
        2,
        tlv(
            0x63,
            &[
                tlv(0x04, b""),
                tlv(0x0a, &[0]),
                tlv(0x0a, &[0]),
                tlv(0x02, &[0]),
                tlv(0x02, &[0]),
                tlv(0x01, &[0]),
                f,
                tlv(0x30, b""),
            ]
            .concat(),
        ),
    );
    assert_eq!(
        exchange(s.addr, &search).await,
        b"0<\x02\x01\x00x7\n\x01\x02\x04\x00\x04\x18filter nested too deeply\x8a\x161.3.6.1.4.1.1466.20036"
    );
    let e = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert_eq!(field(&e, "reason"), "filter nested too deeply");
    // Garbage (an HTTP request) is read as one element and dropped silently.
    // ('G', then 'E' = 69 bytes), dropped silently as slapd drops it.
    let mut get = b"GET / HTTP/1.0\r\nHost: x\r\nUser-Agent: y\r\nAccept: */*\r\n\r\n".to_vec();
    get.extend([b'A'; 100]);
    assert!(exchange(s.addr, &get).await.is_empty());
    let e = s.wait_type(EventType::ProtocolError).await.unwrap();
    assert!(field(&e, "reason")
        .as_str()
        .unwrap()
        .starts_with("not an LDAPMessage"));
}

/// The CHALLENGE carried in a BindResponse's serverSaslCreds.
fn challenge_of(resp: &[u8]) -> Vec<u8> {
    let at = resp
        .windows(8)
        .position(|w| w == b"NTLMSSP\0")
        .expect("an NTLMSSP CHALLENGE");
    resp[at..].to_vec()
}

/// An NTLMv2 response of `password` to `challenge` with the target info it carried.
fn ntlmv2(password: &str, user: &str, domain: &str, challenge_msg: &[u8]) -> (Vec<u8>, [u8; 8]) {
    let mut ch = [0u8; 8];
    ch.copy_from_slice(&challenge_msg[24..32]);
    let info_len = u16::from_le_bytes([challenge_msg[40], challenge_msg[41]]) as usize;
    let info_off = u32::from_le_bytes(challenge_msg[44..48].try_into().unwrap()) as usize;
    let info = &challenge_msg[info_off..info_off + info_len];
    let mut blob = vec![1, 1, 0, 0, 0, 0, 0, 0];
    blob.extend_from_slice(&0x01da_0000_0000_0000u64.to_le_bytes());
    blob.extend_from_slice(b"\xc1\x1e\x27\x0e\x55\x66\x77\x88");
    blob.extend_from_slice(&[0; 4]);
    blob.extend_from_slice(info);
    blob.extend_from_slice(&[0; 4]);
    let proof = ntlmssp::ntlmv2_proof(&ntlmssp::nt_hash(password), user, domain, &ch, &blob);
    let mut nt = proof.to_vec();
    nt.extend_from_slice(&blob);
    (nt, ch)
}

/// Reads one whole LDAP message from `c`.
async fn read_message(c: &mut TcpStream) -> Vec<u8> {
    let mut m = vec![0u8; 2];
    c.read_exact(&mut m).await.unwrap();
    if m[1] >= 0x80 {
        let mut more = vec![0u8; (m[1] & 0x7f) as usize];
        c.read_exact(&mut more).await.unwrap();
        m.extend(more);
    }
    let (_, len) = header_len(&m);
    let mut body = vec![0u8; len];
    c.read_exact(&mut body).await.unwrap();
    m.extend(body);
    m
}

/// A NEGOTIATE with the flags and VERSION Windows Server 2019's SSPI sends.
const NTLM_NEGOTIATE: &[u8] = b"NTLMSSP\x00\x01\x00\x00\x00\x97\x82\x08\xe2\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x0a\x00\x63\x45\x00\x00\x00\x0f";

fn sicily(id: u8, choice: u8, data: &[u8]) -> Vec<u8> {
    let mut b = tlv(0x02, &[3]);
    b.extend(tlv(0x04, b""));
    b.extend(tlv(0x80 | choice, data));
    msg(id, tlv(0x60, &b))
}

#[tokio::test]
async fn active_directory_sicily_ntlm_bind_carries_the_challenge_in_matched_dn() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(
        dir.path(),
        "ad-sicily",
        &[("ldap_vendor", "active-directory")],
    )
    .await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(&sicily(1, 9, b"")).await.unwrap();
    let r = read_message(&mut c).await;
    assert_eq!(
        &r[15..],
        b"\n\x01\x00\x04\x04NTLM\x04\x00",
        "package discovery names NTLM"
    );
    c.write_all(&sicily(2, 10, NTLM_NEGOTIATE)).await.unwrap();
    let r = read_message(&mut c).await;
    assert_eq!(&r[15..18], b"\n\x01\x00");
    let challenge = challenge_of(&r);
    let (nt, ch) = ntlmv2("Spring2026?", "svc_backup", "CORPX", &challenge);
    let auth = ntlmssp::authenticate_message("svc_backup", "CORPX", "WS01", &[0; 24], &nt);
    c.write_all(&sicily(3, 11, &auth)).await.unwrap();
    let r = read_message(&mut c).await;
    assert!(r.windows(3).any(|w| w == b"\n\x011"), "invalidCredentials");
    let e = s
        .wait_type(EventType::LoginAttempt)
        .await
        .expect("login_attempt");
    let (principal, secret, kind) = login_of(&e);
    assert_eq!(
        (principal.as_str(), kind),
        ("CORPX\\svc_backup", SecretKind::NtlmsspV2)
    );
    assert_eq!(
        String::from_utf8(secret).unwrap(),
        format!(
            "svc_backup::CORPX:{}:{}:{}",
            hex::encode(ch),
            hex::encode(&nt[..16]),
            hex::encode(&nt[16..])
        )
    );
    assert_eq!(
        e.credential.as_ref().unwrap().realm.as_deref(),
        Some("CORPX")
    );
}

#[tokio::test]
async fn active_directory_ntlm_bind_captures_netntlmv2_that_recomputes_from_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(
        dir.path(),
        "ad-ntlm",
        &[("ldap_vendor", "active-directory")],
    )
    .await;
    let negotiate = NTLM_NEGOTIATE;
    let domain = s
        .decky
        .bait
        .domain
        .split('.')
        .next()
        .unwrap()
        .to_uppercase();
    for (password, good) in [("Autumn2025!", false), (person(&s).1.as_str(), true)] {
        let (user, _) = person(&s);
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(&sasl_bind(1, "GSS-SPNEGO", negotiate))
            .await
            .unwrap();
        let r = read_message(&mut c).await;
        assert_eq!(&r[..2], b"0\x84", "AD's wide lengths");
        assert_eq!(&r[6..11], b"\x02\x01\x01a\x84");
        assert_eq!(&r[15..18], b"\n\x01\x0e", "saslBindInProgress");
        let challenge = challenge_of(&r);
        assert_eq!(ntlmssp::message_type(&challenge), Some(2));
        let (nt, ch) = ntlmv2(password, &user, &domain, &challenge);
        let auth = ntlmssp::authenticate_message(&user, &domain, "WS01", &[0; 24], &nt);
        c.write_all(&sasl_bind(2, "GSS-SPNEGO", &auth))
            .await
            .unwrap();
        let r = read_message(&mut c).await;
        let e = s
            .wait_for(Duration::from_secs(20), |e| {
                matches!(
                    e.event_type,
                    EventType::LoginAttempt | EventType::LoginSuccess
                )
            })
            .await
            .expect("the AUTHENTICATE is a login event");
        let (principal, secret, kind) = login_of(&e);
        assert_eq!(principal, format!("{domain}\\{user}"));
        assert_eq!(kind, SecretKind::NtlmsspV2);
        let line = String::from_utf8(secret).unwrap();
        let expected = format!(
            "{user}::{domain}:{}:{}:{}",
            hex::encode(ch),
            hex::encode(&nt[..16]),
            hex::encode(&nt[16..])
        );
        assert_eq!(line, expected);
        // The captured line cracks back: its NTProofStr is the password's.
        let parts: Vec<&str> = line.split(':').collect();
        let blob = hex::decode(parts[5]).unwrap();
        let proof =
            ntlmssp::ntlmv2_proof(&ntlmssp::nt_hash(password), parts[0], parts[2], &ch, &blob);
        assert_eq!(hex::encode(proof), parts[4]);
        assert_eq!(field(&e, "hashcat_mode"), 5600);
        if good {
            assert_eq!(e.event_type, EventType::LoginSuccess);
            assert!(r.windows(3).any(|w| w == b"\n\x01\x00"), "success");
        } else {
            assert_eq!(e.event_type, EventType::LoginAttempt);
            assert!(r.windows(3).any(|w| w == b"\n\x011"), "invalidCredentials");
            assert!(r
                .windows(30)
                .any(|w| w == &b"80090308: LdapErr: DSID-0C09044E"[..30]));
        }
    }
}

#[tokio::test]
async fn active_directory_refuses_anonymous_tree_searches_but_answers_the_root_dse() {
    if !have("ldapsearch") {
        eprintln!("skipped: ldapsearch (ldap-utils) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = start(
        dir.path(),
        "ad-anon",
        &[
            ("ldap_vendor", "active-directory"),
            ("domain", "corp.local"),
        ],
    )
    .await;
    let out = output(ldapsearch(
        &url(&s),
        &["-b", "DC=corp,DC=local", "(objectClass=user)"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("000004DC: LdapErr: DSID-0C090A5C, comment: In order to perform this operation a successful bind must be completed on the connection., data 0, v4563"),
        "{err}"
    );
    let out = output(ldapsearch(
        &url(&s),
        &[
            "-b",
            "",
            "-s",
            "base",
            "defaultNamingContext",
            "dnsHostName",
            "supportedSASLMechanisms",
        ],
    ))
    .await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "dn:\ndefaultNamingContext: DC=corp,DC=local\nsupportedSASLMechanisms: GSSAPI\nsupportedSASLMechanisms: GSS-SPNEGO\nsupportedSASLMechanisms: EXTERNAL\nsupportedSASLMechanisms: DIGEST-MD5\ndnsHostName: ad-anon-host.corp.local\n\n"
    );
    // A person's UPN and password let them in; then sAMAccountName and memberOf show.
    let (user, pw) = person(&s);
    let out = output(ldapsearch(
        &url(&s),
        &[
            "-D",
            &format!("{user}@corp.local"),
            "-w",
            &pw,
            "-b",
            "CN=Users,DC=corp,DC=local",
            &format!("(sAMAccountName={user})"),
            "userPrincipalName",
            "memberOf",
        ],
    ))
    .await;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("userPrincipalName: {user}@corp.local\n")),
        "{text}"
    );
    assert!(
        text.contains("memberOf: CN=Domain Admins,CN=Users,DC=corp,DC=local\n"),
        "the first person is IT: {text}"
    );
    assert!(s.wait_type(EventType::LoginSuccess).await.is_some());
    // A wrong password gets AD's 52e text.
    let out = output(ldapsearch(
        &url(&s),
        &["-D", "CORP\\nobody", "-w", "x", "-b", "", "-s", "base"],
    ))
    .await;
    assert_eq!(out.status.code(), Some(49));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("AcceptSecurityContext error, data 52e, v4563"));
}

#[tokio::test]
async fn ldaps_serves_the_root_dse_over_tls() {
    if !have("ldapsearch") {
        eprintln!("skipped: ldapsearch (ldap-utils) is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut s = serve(fleet(dir.path(), "ld-tls", "ldaps", &[]), "ldaps").await;
    let mut c = ldapsearch(
        &format!("ldaps://{}:{}", s.addr.ip(), s.addr.port()),
        &["-b", "", "-s", "base", "namingContexts"],
    );
    // LDAPNOINIT would make libldap ignore LDAPTLS_REQCERT too.
    c.env_remove("LDAPNOINIT").env("LDAPTLS_REQCERT", "never");
    let out = output(c).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("dn:\nnamingContexts: {}\n\n", base_dn(&s))
    );
    let q = s.wait_type(EventType::Query).await.unwrap();
    assert!(q.fields.contains_key("tls_ja4"), "{:?}", q.fields);
    assert_eq!(q.service, "ldaps");
}

#[tokio::test]
async fn active_directory_answers_spnego_wrapped_ntlm_with_a_neg_token_resp() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        dir.path(),
        "ad-spnego",
        &[("ldap_vendor", "active-directory")],
    )
    .await;
    // GSS InitialContextToken: SPNEGO OID, NegTokenInit offering NTLMSSP with the NEGOTIATE.
    let ntlm_oid = tlv(0x06, b"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a");
    let init = tlv(
        0xa0,
        &tlv(
            0x30,
            &[
                tlv(0xa0, &tlv(0x30, &ntlm_oid)),
                tlv(0xa2, &tlv(0x04, NTLM_NEGOTIATE)),
            ]
            .concat(),
        ),
    );
    let token = tlv(
        0x60,
        &[tlv(0x06, b"\x2b\x06\x01\x05\x05\x02"), init].concat(),
    );
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(&sasl_bind(1, "GSS-SPNEGO", &token))
        .await
        .unwrap();
    let r = read_message(&mut c).await;
    assert_eq!(&r[15..18], b"\n\x01\x0e", "saslBindInProgress");
    // serverSaslCreds [7], its length in one or two bytes, then the negTokenResp [1].
    let creds = (18..r.len() - 4)
        .find_map(|i| match (r[i], r[i + 1]) {
            (0x87, 0x81) if r[i + 3] == 0xa1 => Some(&r[i + 3..]),
            (0x87, 0x82) if r[i + 4] == 0xa1 => Some(&r[i + 4..]),
            _ => None,
        })
        .expect("serverSaslCreds holding a negTokenResp");
    assert!(
        creds
            .windows(ntlm_oid.len())
            .any(|w| w == ntlm_oid.as_slice()),
        "supportedMech NTLMSSP"
    );
    assert_eq!(ntlmssp::message_type(&challenge_of(creds)), Some(2));
}
