//! Loader and resolver tests against a small fake catalog (ssh, and http with its
//! https listener; sip on udp and tcp for the bind check).

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::catalog::{KeyKind, ListenerInfo, PersonaKey, ServiceInfo};
use crate::persona::{distro, generate_hostname, OsFamily};
use crate::seed::InstanceSeed;

static SSH_KEYS: [PersonaKey; 2] = [
    PersonaKey {
        name: "ssh_version",
        kind: KeyKind::Text,
        doc: "identification string",
    },
    PersonaKey {
        name: "users",
        kind: KeyKind::Text,
        doc: "accepted user:password pairs",
    },
];
static HTTP_KEYS: [PersonaKey; 1] = [PersonaKey {
    name: "server_header",
    kind: KeyKind::Text,
    doc: "Server header",
}];
static SSH_LISTENERS: [ListenerInfo; 1] = [ListenerInfo::tcp("ssh", 22)];
static HTTP_LISTENERS: [ListenerInfo; 2] = [
    ListenerInfo::tcp("http", 80),
    ListenerInfo::tcp("https", 443).with_tls().on_request(),
];
static SIP_LISTENERS: [ListenerInfo; 2] = [
    ListenerInfo::udp("sip", 5060),
    ListenerInfo::tcp("sip-tcp", 5060),
];
static SIP: ServiceInfo = ServiceInfo {
    name: "sip",
    summary: "SIP",
    listeners: &SIP_LISTENERS,
    persona_keys: &[],
};
static ALL: [ServiceInfo; 2] = [
    ServiceInfo {
        name: "ssh",
        summary: "SSH",
        listeners: &SSH_LISTENERS,
        persona_keys: &SSH_KEYS,
    },
    ServiceInfo {
        name: "http",
        summary: "HTTP",
        listeners: &HTTP_LISTENERS,
        persona_keys: &HTTP_KEYS,
    },
];

struct Fake(Vec<&'static ServiceInfo>);

impl ServiceCatalog for Fake {
    fn service(&self, name: &str) -> Option<&ServiceInfo> {
        self.0.iter().copied().find(|s| s.name == name)
    }
    fn services(&self) -> Vec<&ServiceInfo> {
        self.0.clone()
    }
}

fn cat() -> Fake {
    Fake(ALL.iter().collect())
}

fn ssh_only() -> Fake {
    Fake(ALL.iter().filter(|s| s.name == "ssh").collect())
}

const KEY: &[u8] = b"test installation key";

/// Every enabled listener of a decky with its port, in order.
fn listeners(d: &DeckyConfig) -> Vec<(&'static str, u16)> {
    d.services
        .iter()
        .flat_map(|s| s.listeners.iter().map(|l| (l.name, l.port)))
        .collect()
}

fn load(text: &str) -> Result<FleetConfig, ConfigError> {
    load_ini(text, "fleet.ini", &cat(), KEY)
}

fn err(text: &str) -> ConfigError {
    match load(text) {
        Ok(f) => panic!("expected an error, got {f:#?}"),
        Err(e) => e,
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn loc(e: &ConfigError) -> (Option<usize>, Option<String>, Option<String>) {
    let l = e.location().expect("error has a location");
    assert_eq!(l.source, "fleet.ini");
    (l.line, l.section.clone(), l.key.clone())
}

const EXAMPLE: &str = "\
# DECNET example
[general]
net = 127.50.0.0/24
gw = 127.50.0.1
log_target = 10.0.0.5:514
driver = loopback
port_offset = 10000
idle_timeout_secs = 60

[decky-gateway]
ip = 127.50.0.2
services = ssh, http
nmap-os = bsd
distro = rocky9
hostname = fw01

[decky-gateway.ssh]
ssh_version = SSH-2.0-OpenSSH_8.0
users = root:toor
port = 2222

[decky-gateway.http]
server_header = nginx

[web]
archetype = web-server
amount = 2
mutate_interval = 30

[web.http]
server_header = Apache/2.4.41 (Ubuntu)
";

#[test]
fn full_example_file_resolves_to_expected_deckies() {
    let f = load(EXAMPLE).unwrap();
    assert_eq!(f.general.net.as_deref(), Some("127.50.0.0/24"));
    assert_eq!(f.general.gw, Some(ip("127.50.0.1")));
    assert_eq!(
        f.general
            .log_target
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("udp://10.0.0.5:514")
    );
    assert_eq!(f.general.driver, Driver::Loopback);
    assert_eq!(f.general.port_offset, 10000);
    assert_eq!(f.general.limits.idle_timeout, Duration::from_secs(60));
    assert_eq!(f.general.limits.max_bytes_in, Limits::DEFAULT.max_bytes_in);

    let names: Vec<&str> = f.deckies.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["decky-gateway", "web-01", "web-02"]);

    let gw = &f.deckies[0];
    assert_eq!(gw.ip, ip("127.50.0.2"));
    assert_eq!(gw.hostname, "fw01");
    assert_eq!(gw.os_family, OsFamily::Bsd);
    assert_eq!(gw.distro.slug, "rocky9");
    assert_eq!(gw.archetype, None);
    assert_eq!(gw.services.len(), 2);
    let ssh = &gw.services[0];
    assert_eq!(listeners(gw)[0], ("ssh", 2222));
    assert_eq!(ssh.get("ssh_version"), Some("SSH-2.0-OpenSSH_8.0"));
    assert_eq!(ssh.get("users"), Some("root:toor"));
    assert_eq!(ssh.get("port"), None, "port is not a persona key");
    assert_eq!(listeners(gw)[1], ("http", 80));
    assert_eq!(gw.services[1].get("server_header"), Some("nginx"));
    assert_eq!(
        gw.bind_addr(&ssh.listeners[0], 10000),
        "127.50.0.2:12222".parse().unwrap()
    );

    // The group: allocated from net, skipping network (.0), gateway (.1) and the explicit .2.
    for (d, want_ip) in f.deckies[1..].iter().zip(["127.50.0.3", "127.50.0.4"]) {
        assert_eq!(d.ip, ip(want_ip));
        assert_eq!(d.archetype, Some("web-server"));
        assert_eq!(d.os_family, OsFamily::Linux);
        assert_eq!(d.distro.slug, "debian");
        assert_eq!(listeners(d), [("http", 80), ("https", 443), ("ssh", 22)]);
        assert_eq!(
            d.services[0].get("server_header"),
            Some("Apache/2.4.41 (Ubuntu)")
        );
        assert!(d.services[1].persona.is_empty());
        let seed = InstanceSeed::derive_for(KEY, &d.name);
        assert_eq!(
            d.hostname,
            generate_hostname(&seed, OsFamily::Linux, distro("debian").unwrap())
        );
    }
    f.check_binds().unwrap();
}

#[test]
fn amount_expands_to_numbered_names_with_own_addresses() {
    let f = load("[db]\nservices = ssh\namount = 12\nhostname = dbhost\n").unwrap();
    let names: Vec<&str> = f.deckies.iter().map(|d| d.name.as_str()).collect();
    let want: Vec<String> = (1..=12).map(|i| format!("db-{i:02}")).collect();
    assert_eq!(names, want);
    assert_eq!(f.deckies[0].hostname, "dbhost-01");
    assert_eq!(f.deckies[11].hostname, "dbhost-12");
    assert_eq!(f.deckies[0].ip, ip("127.42.0.10"));
    assert_eq!(f.deckies[11].ip, ip("127.42.0.21"));
    let single = load("[db]\nservices = ssh\namount = 1\n").unwrap();
    assert_eq!(single.deckies[0].name, "db");
}

#[test]
fn amount_out_of_range_is_refused() {
    for bad in ["0", "101", "-1", "many"] {
        let e = err(&format!("[db]\nservices = ssh\namount = {bad}\n"));
        assert!(matches!(e, ConfigError::InvalidValue { .. }), "{e}");
        assert_eq!(loc(&e), (Some(3), Some("db".into()), Some("amount".into())));
    }
}

#[test]
fn amount_with_ip_is_refused() {
    let e = err("[db]\nservices = ssh\namount = 3\nip = 127.0.0.5\n");
    assert!(
        matches!(e, ConfigError::AmountWithIp { amount: 3, .. }),
        "{e}"
    );
    assert_eq!(loc(&e), (Some(4), Some("db".into()), Some("ip".into())));
    assert!(e.to_string().contains("Remove `ip`"), "{e}");
}

#[test]
fn archetype_expands_to_its_services_family_and_distro() {
    let f = load_ini(
        "[ws]\narchetype = deaddeck\n",
        "fleet.ini",
        &ssh_only(),
        KEY,
    )
    .unwrap();
    let d = &f.deckies[0];
    assert_eq!(d.archetype, Some("deaddeck"));
    assert_eq!(
        d.services
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>(),
        ["ssh"]
    );
    assert_eq!(d.os_family, OsFamily::Linux);
    assert_eq!(d.distro.slug, "debian");

    // nmap_os beats the archetype's family; explicit services beat its services.
    let f = load(
        "[w]\narchetype = web-server\nservices = ssh\nnmap_os = windows_server\ndistro = alpine\n",
    )
    .unwrap();
    let d = &f.deckies[0];
    assert_eq!(d.services.len(), 1);
    assert_eq!(d.os_family, OsFamily::Windows);
    assert_eq!(d.distro.slug, "alpine");
    assert_eq!(d.archetype, Some("web-server"));
}

#[test]
fn unknown_keys_carry_their_line_section_and_key() {
    let e = err("[general]\nnet = 127.0.0.0/8\n\nnte = 1\n[a]\nservices=ssh\n");
    assert_eq!(
        loc(&e),
        (Some(4), Some("general".into()), Some("nte".into()))
    );
    assert!(matches!(&e, ConfigError::UnknownKey { key, .. } if key == "nte"));
    assert!(
        e.to_string()
            .starts_with("fleet.ini:4 [general] `nte`: unknown key"),
        "{e}"
    );

    let e = err("[a]\nservices = ssh\n# c\nservcies = http\n");
    assert_eq!(
        loc(&e),
        (Some(4), Some("a".into()), Some("servcies".into()))
    );

    let e = err("[a]\nservices = ssh\n[a.ssh]\nssh_version = x\nbanner = y\n");
    assert_eq!(
        loc(&e),
        (Some(5), Some("a.ssh".into()), Some("banner".into()))
    );
    assert!(e.to_string().contains("port, ssh_version, users"), "{e}");

    // Keys are case-sensitive.
    let e = err("[a]\nServices = ssh\n");
    assert!(matches!(&e, ConfigError::UnknownKey { key, .. } if key == "Services"));
}

#[test]
fn unknown_sections_carry_their_line() {
    let e = err("[a]\nservices = ssh\n\n[a.sshd]\nport = 1\n");
    assert!(matches!(&e, ConfigError::UnknownSection { section, .. } if section == "a.sshd"));
    assert_eq!(loc(&e), (Some(4), Some("a.sshd".into()), None));
    let e = err("[a]\nservices = ssh\n[.ssh]\n");
    assert!(matches!(e, ConfigError::UnknownSection { .. }), "{e}");
}

#[test]
fn duplicate_keys_and_sections_are_refused() {
    let e = err("[a]\nservices = ssh\nnmap_os = linux\nnmap-os = bsd\n");
    assert_eq!(
        e,
        ConfigError::DuplicateKey {
            at: Box::new(Location {
                source: "fleet.ini".into(),
                line: Some(4),
                section: Some("a".into()),
                key: Some("nmap-os".into())
            }),
            key: "nmap_os".into(),
            first_line: 3
        }
    );
    let e = err("[a]\nservices = ssh\n[a.ssh]\nport = 1\nport = 2\n");
    assert!(
        matches!(e, ConfigError::DuplicateKey { first_line: 4, .. }),
        "{e}"
    );
    let e = err("[general]\n[a]\nservices = ssh\n[general]\n");
    assert!(
        matches!(e, ConfigError::DuplicateSection { first_line: 1, .. }),
        "{e}"
    );
}

#[test]
fn unimplemented_service_names_the_service() {
    let e = err("[a]\nservices = ssh, smb\n");
    assert!(
        matches!(&e, ConfigError::ServiceNotImplemented { service, archetype: None, .. } if service == "smb")
    );
    assert_eq!(
        loc(&e),
        (Some(2), Some("a".into()), Some("services".into()))
    );
    assert!(
        e.to_string().contains("service smb is not implemented yet"),
        "{e}"
    );
}

#[test]
fn unimplemented_service_of_an_archetype_names_both() {
    let e = err("[dc]\narchetype = domain-controller\n");
    assert!(
        matches!(&e, ConfigError::ServiceNotImplemented { service, archetype: Some(a), .. }
        if service == "ldap" && a == "domain-controller")
    );
    assert!(e
        .to_string()
        .contains("archetype domain-controller needs service ldap, which is not implemented yet"));
    assert_eq!(
        loc(&e),
        (Some(2), Some("dc".into()), Some("archetype".into()))
    );

    // A service section for a known but unimplemented service.
    let e = err("[a]\nservices = ssh\n[a.smb]\n");
    assert!(matches!(&e, ConfigError::ServiceNotImplemented { service, .. } if service == "smb"));
}

#[test]
fn unknown_service_archetype_and_distro_are_refused() {
    let e = err("[a]\nservices = gopher\n");
    assert!(matches!(&e, ConfigError::UnknownService { service, .. } if service == "gopher"));
    let e = err("[a]\narchetype = mainframe\n");
    assert!(matches!(e, ConfigError::UnknownArchetype { .. }), "{e}");
    let e = err("[a]\nservices = ssh\ndistro = gentoo\n");
    assert!(matches!(e, ConfigError::UnknownDistro { .. }), "{e}");
    let e = err("[a]\nservices = ssh\nnmap_os = solaris\n");
    assert!(matches!(e, ConfigError::InvalidValue { .. }), "{e}");
    let e = err("[a]\nservices = ssh, ssh\n");
    assert!(matches!(e, ConfigError::DuplicateService { .. }), "{e}");
    let e = err("[a]\nservices = ,\n");
    assert!(matches!(e, ConfigError::NoServices { .. }), "{e}");
    let e = err("[a]\nhostname = x\n");
    assert!(matches!(e, ConfigError::NoServices { .. }), "{e}");
}

#[test]
fn service_sections_must_match_a_decky_running_the_service() {
    let e = err("[a]\nservices = ssh\n[a.http]\nserver_header = x\n");
    assert!(
        matches!(&e, ConfigError::ServiceNotRun { service, decky, .. } if service == "http" && decky == "a")
    );
    assert_eq!(loc(&e), (Some(3), Some("a.http".into()), None));
    let e = err("[a]\nservices = ssh\n[b.ssh]\nport = 2\n");
    assert!(matches!(&e, ConfigError::NoDeckyForServiceSection { decky, .. } if decky == "b"));
    // Expanded names are not sections.
    let e = err("[g]\nservices = ssh\namount = 2\n[g-01.ssh]\nport = 2\n");
    assert!(
        matches!(e, ConfigError::NoDeckyForServiceSection { .. }),
        "{e}"
    );
}

#[test]
fn service_port_key_is_checked() {
    for bad in ["0", "65536", "ssh"] {
        let e = err(&format!("[a]\nservices = ssh\n[a.ssh]\nport = {bad}\n"));
        assert!(matches!(e, ConfigError::InvalidValue { .. }), "{e}");
        assert_eq!(loc(&e).2.as_deref(), Some("port"));
    }
}

#[test]
fn decky_names_are_checked() {
    let long = "x".repeat(64);
    for bad in [".hidden", "a..b", "-rf", "sp ace", "sl/ash", long.as_str()] {
        let e = load_ini(
            &format!("[{bad}]\nservices = ssh\n"),
            "fleet.ini",
            &cat(),
            KEY,
        );
        // `a..b` and `.hidden` read as dotted (service) sections, which is refused too.
        assert!(e.is_err(), "{bad} accepted");
    }
    let e = err("[sp ace]\nservices = ssh\n");
    assert!(matches!(e, ConfigError::InvalidName { .. }), "{e}");
    // 60 characters plus `-01` goes past 63.
    let e = err(&format!(
        "[{}]\nservices = ssh\namount = 2\n",
        "y".repeat(61)
    ));
    assert!(matches!(e, ConfigError::InvalidName { .. }), "{e}");
    let ok = "A_b-9".to_string() + &"z".repeat(58);
    assert!(load(&format!("[{ok}]\nservices = ssh\n")).is_ok());
    let e = plan_deploy(
        &DeployRequest {
            deckies: 1,
            services: Some(vec!["ssh".into()]),
            name_prefix: Some("..".into()),
            ..DeployRequest::default()
        },
        &cat(),
        KEY,
    )
    .unwrap_err();
    assert!(matches!(e, ConfigError::InvalidName { .. }), "{e}");
}

#[test]
fn duplicate_decky_names_after_expansion_are_refused() {
    let e = err("[web]\nservices = ssh\namount = 2\n[web-02]\nservices = http\n");
    match e {
        ConfigError::DuplicateDecky { name, at, first } => {
            assert_eq!(name, "web-02");
            assert_eq!(at.line, Some(4));
            assert_eq!(first.line, Some(1));
        }
        other => panic!("{other}"),
    }
}

#[test]
fn allocation_skips_explicit_and_gateway_addresses_and_never_repeats() {
    let text = "[general]\ndriver = host\nnet = 10.0.0.0/28\ngw = 10.0.0.1\n\
                [a]\nservices = ssh\namount = 3\n\
                [b]\nservices = ssh\nip = 10.0.0.3\n\
                [c]\nservices = ssh\nip = 10.0.0.6\n\
                [d]\nservices = ssh\namount = 5\n";
    let f = load(text).unwrap();
    let got: Vec<(String, IpAddr)> = f.deckies.iter().map(|d| (d.name.clone(), d.ip)).collect();
    let want = [
        ("a-01", "10.0.0.2"),
        ("a-02", "10.0.0.4"),
        ("a-03", "10.0.0.5"),
        ("b", "10.0.0.3"),
        ("c", "10.0.0.6"),
        ("d-01", "10.0.0.7"),
        ("d-02", "10.0.0.8"),
        ("d-03", "10.0.0.9"),
        ("d-04", "10.0.0.10"),
        ("d-05", "10.0.0.11"),
    ];
    let want: Vec<(String, IpAddr)> = want.iter().map(|(n, i)| (n.to_string(), ip(i))).collect();
    assert_eq!(got, want);

    // /28 has 14 hosts: .1 gateway leaves 13; a 14th decky finds no address (.15 is broadcast).
    let e = err("[general]\ndriver = host\nnet = 10.0.0.0/28\ngw = 10.0.0.1\n[a]\nservices = ssh\namount = 14\n");
    assert!(
        matches!(&e, ConfigError::PoolExhausted { decky, .. } if decky == "a-14"),
        "{e}"
    );
}

#[test]
fn explicit_addresses_are_checked() {
    let e = err("[general]\ngw = 127.0.0.9\n[a]\nservices = ssh\nip = 127.0.0.9\n");
    assert!(e.to_string().contains("gateway"), "{e}");
    let e = err("[a]\nservices = ssh\nip = 127.0.0.9\n[b]\nservices = http\nip = 127.0.0.9\n");
    assert!(
        matches!(&e, ConfigError::AddressInUse { other, .. } if other == "a"),
        "{e}"
    );
    let e =
        err("[general]\ndriver = host\nnet = 10.1.0.0/24\n[a]\nservices = ssh\nip = 10.1.0.255\n");
    assert!(e.to_string().contains("broadcast"), "{e}");
    let e = err("[a]\nservices = ssh\nip = 0.0.0.0\n");
    assert!(matches!(e, ConfigError::InvalidValue { .. }), "{e}");
}

#[test]
fn loopback_driver_refuses_other_addresses_and_points_to_driver_host() {
    let e = err("[a]\nservices = ssh\nip = 192.168.1.20\n");
    assert!(matches!(e, ConfigError::NotLoopback { .. }), "{e}");
    assert_eq!(loc(&e), (Some(3), Some("a".into()), Some("ip".into())));
    assert!(e.to_string().contains("driver = host"), "{e}");
    let e = err("[general]\nip_start = 10.0.0.5\n[a]\nservices = ssh\n");
    assert!(matches!(e, ConfigError::NotLoopback { .. }), "{e}");
    // A non-loopback `net` on the loopback driver only describes the LAN.
    let f = load("[general]\nnet = 192.168.1.0/24\n[a]\nservices = ssh\n").unwrap();
    assert_eq!(f.deckies[0].ip, ip("127.42.0.10"));
    assert_eq!(f.general.net.as_deref(), Some("192.168.1.0/24"));
}

#[test]
fn host_driver_needs_an_address_source() {
    let e = err("[general]\ndriver = host\n[a]\nservices = ssh\n");
    assert!(matches!(e, ConfigError::NoAddress { .. }), "{e}");
    let f = load("[general]\ndriver = host\n[a]\nservices = ssh\nip = 192.168.7.7\n").unwrap();
    assert_eq!(f.deckies[0].ip, ip("192.168.7.7"));
    let f = load(
        "[general]\ndriver = host\nip_start = 192.168.7.250\n[a]\nservices = ssh\namount = 3\n",
    )
    .unwrap();
    let ips: Vec<IpAddr> = f.deckies.iter().map(|d| d.ip).collect();
    assert_eq!(
        ips,
        [
            ip("192.168.7.250"),
            ip("192.168.7.251"),
            ip("192.168.7.252")
        ]
    );
}

#[test]
fn general_values_are_checked() {
    let f = load("[general]\nnet = 10.9.8.7/16\nmax_read_bytes = 4096\nmax_connections_per_source = 3\nsession_timeout_secs = 10\n[a]\nservices = ssh\n").unwrap();
    assert_eq!(f.general.net.as_deref(), Some("10.9.0.0/16"));
    assert_eq!(f.general.net_cidr().unwrap().prefix, 16);
    assert_eq!(f.general.limits.max_read_bytes, 4096);
    assert_eq!(f.general.limits.max_connections_per_source, 3);
    assert_eq!(f.general.limits.session_timeout, Duration::from_secs(10));
    for (line, key) in [
        ("net = 10.0.0.0/33", "net"),
        ("net = 10.0.0.0", "net"),
        ("gw = nope", "gw"),
        ("driver = macvlan", "driver"),
        ("port_offset = 70000", "port_offset"),
        ("max_connections_per_decky = 0", "max_connections_per_decky"),
        ("idle_timeout_secs = 999999", "idle_timeout_secs"),
        ("max_bytes_in = -5", "max_bytes_in"),
        ("log_target = nowhere", "log_target"),
        ("log_target = host:0", "log_target"),
        ("interface = eth0 with spaces", "interface"),
    ] {
        let e = err(&format!("[general]\n{line}\n[a]\nservices = ssh\n"));
        assert!(matches!(e, ConfigError::InvalidValue { .. }), "{line}: {e}");
        assert_eq!(
            loc(&e),
            (Some(2), Some("general".into()), Some(key.into())),
            "{line}"
        );
    }
    assert!(load("[general]\nlog_target = [2001:db8::1]:514\n[a]\nservices = ssh\n").is_ok());
}

#[test]
fn port_offset_past_65535_is_refused() {
    let e = err("[general]\nport_offset = 65500\n[a]\nservices = http\n");
    assert!(e.to_string().contains("65580"), "{e}");
    assert_eq!(loc(&e).2.as_deref(), Some("port_offset"));
}

#[test]
fn no_deckies_is_an_error() {
    assert!(matches!(err("[general]\n"), ConfigError::NoDeckies { .. }));
    assert!(matches!(err(""), ConfigError::NoDeckies { .. }));
}

#[test]
fn check_binds_detects_two_deckies_on_one_address_and_names_both() {
    let mut f = load("[alpha]\nservices = ssh\n[beta]\nservices = http, ssh\n").unwrap();
    f.check_binds().unwrap();
    f.deckies[1].ip = f.deckies[0].ip;
    let e = f.check_binds().unwrap_err();
    let addr: SocketAddr = "127.42.0.10:22".parse().unwrap();
    assert_eq!(
        e,
        ConfigError::BindConflict(Box::new(BindConflict {
            origin: "fleet config".into(),
            addr,
            transport: "tcp",
            first_decky: "alpha".into(),
            first_service: "ssh".into(),
            second_decky: "beta".into(),
            second_service: "ssh".into(),
        }))
    );
    let msg = e.to_string();
    assert!(
        msg.contains("`alpha`") && msg.contains("`beta`") && msg.contains("127.42.0.10:22"),
        "{msg}"
    );
}

#[test]
fn two_services_of_one_decky_on_one_port_are_refused_at_load() {
    let e = err("[a]\nservices = ssh, http\n[a.http]\nport = 22\n");
    assert!(
        matches!(&e, ConfigError::BindConflict(c) if c.origin == "fleet.ini" && c.first_service == "ssh" && c.second_service == "http"),
        "{e}"
    );
}

#[test]
fn plan_deploy_and_load_ini_produce_the_same_fleet() {
    let req = DeployRequest {
        deckies: 3,
        archetype: Some("linux-server".into()),
        distro: Some("fedora".into()),
        ip_start: Some(ip("127.0.9.1")),
        port_offset: 10000,
        name_prefix: Some("lab".into()),
        ..DeployRequest::default()
    };
    let from_flags = plan_deploy(&req, &cat(), KEY).unwrap();
    let from_file = load(
        "[general]\nip_start = 127.0.9.1\nport_offset = 10000\n[lab]\narchetype = linux-server\ndistro = fedora\namount = 3\n",
    )
    .unwrap();
    assert_eq!(from_flags, from_file);

    let req = DeployRequest {
        deckies: 2,
        services: Some(vec!["http,ssh".into()]),
        driver: Driver::Loopback,
        ..DeployRequest::default()
    };
    let from_flags = plan_deploy(&req, &cat(), KEY).unwrap();
    let from_file = load("[decky]\nservices = http, ssh\namount = 2\n").unwrap();
    assert_eq!(from_flags, from_file);
    assert_eq!(from_flags.deckies[0].name, "decky-01");
}

#[test]
fn deploy_flag_errors_name_the_flag() {
    let base = DeployRequest {
        deckies: 2,
        ..DeployRequest::default()
    };
    let e = plan_deploy(
        &DeployRequest {
            archetype: Some("printer".into()),
            ..base.clone()
        },
        &cat(),
        KEY,
    )
    .unwrap_err();
    assert_eq!(e.location().unwrap().key.as_deref(), Some("--archetype"));
    assert!(
        e.to_string()
            .starts_with("decnet deploy `--archetype`: archetype printer needs service snmp"),
        "{e}"
    );
    let e = plan_deploy(
        &DeployRequest {
            deckies: 0,
            services: Some(vec!["ssh".into()]),
            ..base.clone()
        },
        &cat(),
        KEY,
    )
    .unwrap_err();
    assert_eq!(e.location().unwrap().key.as_deref(), Some("--deckies"));
    let e = plan_deploy(
        &DeployRequest {
            services: Some(vec!["ssh".into()]),
            randomize_services: true,
            ..base.clone()
        },
        &cat(),
        KEY,
    )
    .unwrap_err();
    assert_eq!(
        e.location().unwrap().key.as_deref(),
        Some("--randomize-services")
    );
    let e = plan_deploy(&base, &cat(), KEY).unwrap_err();
    assert!(matches!(e, ConfigError::NoServices { .. }), "{e}");
    let e = plan_deploy(
        &DeployRequest {
            services: Some(vec!["ssh".into()]),
            ip_start: Some(ip("10.0.0.1")),
            ..base
        },
        &cat(),
        KEY,
    )
    .unwrap_err();
    assert_eq!(e.location().unwrap().key.as_deref(), Some("--ip-start"));
}

#[test]
fn randomized_choices_are_deterministic_and_well_formed() {
    let req = DeployRequest {
        deckies: 30,
        randomize_services: true,
        randomize_distros: true,
        archetype: Some("linux-server".into()),
        ..DeployRequest::default()
    };
    let a = plan_deploy(&req, &cat(), KEY).unwrap();
    let b = plan_deploy(&req, &cat(), KEY).unwrap();
    assert_eq!(a, b);
    let preferred = ["debian", "ubuntu22", "rocky9", "fedora"];
    let mut subsets = HashSet::new();
    let mut distros = HashSet::new();
    for d in &a.deckies {
        assert!(!d.services.is_empty() && d.services.len() <= 3);
        let names: Vec<&str> = d.services.iter().map(|s| s.name.as_str()).collect();
        assert!(
            names.iter().all(|n| ["ssh", "http", "https"].contains(n)),
            "{names:?}"
        );
        let unique: HashSet<&&str> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!(preferred.contains(&d.distro.slug));
        subsets.insert(names.join(","));
        distros.insert(d.distro.slug);
    }
    assert!(subsets.len() > 1, "30 deckies all got {subsets:?}");
    assert!(distros.len() > 1, "30 deckies all got {distros:?}");
    // Another installation key gives another fleet.
    assert_ne!(plan_deploy(&req, &cat(), b"other key").unwrap(), a);
}

#[test]
fn same_file_same_key_gives_the_same_fleet() {
    assert_eq!(load(EXAMPLE).unwrap(), load(EXAMPLE).unwrap());
    let other = load_ini(EXAMPLE, "fleet.ini", &cat(), b"another key").unwrap();
    assert_ne!(
        other.deckies[1].hostname,
        load(EXAMPLE).unwrap().deckies[1].hostname
    );
}

#[test]
fn demo_fleet_is_three_deckies_on_their_own_addresses() {
    let f = demo_fleet(&cat(), KEY, 10000).unwrap();
    let got: Vec<(&str, Option<&str>, IpAddr)> = f
        .deckies
        .iter()
        .map(|d| (d.name.as_str(), d.archetype, d.ip))
        .collect();
    assert_eq!(
        got,
        [
            ("demo-01", Some("linux-server"), ip("127.42.0.10")),
            ("demo-02", Some("web-server"), ip("127.42.0.11")),
            ("demo-03", Some("deaddeck"), ip("127.42.0.12")),
        ]
    );
    assert_eq!(f.general.port_offset, 10000);
    assert_eq!(f.general.driver, Driver::Loopback);
    f.check_binds().unwrap();

    // With only SSH implemented, every slot falls back to an archetype that runs.
    let f = demo_fleet(&ssh_only(), KEY, 0).unwrap();
    assert_eq!(f.deckies.len(), 3);
    assert!(f
        .deckies
        .iter()
        .all(|d| d.services.iter().all(|s| s.name == "ssh")));

    let e = demo_fleet(&Fake(Vec::new()), KEY, 0).unwrap_err();
    assert!(
        matches!(e, ConfigError::ServiceNotImplemented { .. }),
        "{e}"
    );
}

#[test]
fn error_messages_name_source_line_section_and_key() {
    let e = err("[general]\ndriver = host\n[web]\nservices = ssh\nip = banana\n");
    assert_eq!(
        e.to_string(),
        "fleet.ini:5 [web] `ip`: invalid value \"banana\": expected an IP address such as 192.168.1.10"
    );
}

#[test]
fn reference_markdown_covers_the_fake_catalog() {
    let md = service_reference_markdown(&cat());
    assert!(
        md.contains("[NAME.ssh]") && md.contains("`ssh_version`") && md.contains("`server_header`")
    );
}

#[test]
fn mutate_interval_is_checked_then_ignored() {
    assert!(load("[a]\nservices = ssh\nmutate_interval = 30\n").is_ok());
    let e = err("[a]\nservices = ssh\nmutate_interval = 0\n");
    assert!(matches!(e, ConfigError::InvalidValue { .. }), "{e}");
}

fn section_strategy() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("services"),
        Just("ip"),
        Just("amount"),
        Just("archetype"),
        Just("nmap_os"),
        Just("distro"),
        Just("hostname"),
        Just("net"),
        Just("port"),
        Just("driver"),
        Just("gw"),
        Just("ssh_version"),
        Just("bogus"),
    ];
    let value = prop_oneof![
        Just("ssh".to_string()),
        Just("ssh, http".to_string()),
        Just("127.42.0.11".to_string()),
        Just("host".to_string()),
        Just("10.0.0.0/30".to_string()),
        Just("web-server".to_string()),
        Just("3".to_string()),
        Just("100".to_string()),
        Just("".to_string()),
        "[ -~]{0,12}",
    ];
    let name = prop_oneof![
        Just("general".to_string()),
        Just("a".to_string()),
        Just("a.ssh".to_string()),
        Just("b.http".to_string()),
        Just("b".to_string()),
        "[a-z.]{1,6}",
    ];
    (name, proptest::collection::vec((key, value), 0..5)).prop_map(|(n, kvs)| {
        let mut s = format!("[{n}]\n");
        for (k, v) in kvs {
            s.push_str(&format!("{k} = {v}\n"));
        }
        s
    })
}

proptest! {
    #[test]
    fn arbitrary_text_never_panics_load_ini(text in "\\PC{0,400}") {
        let _ = load(&text);
    }

    #[test]
    fn ini_shaped_text_never_panics_and_resolved_fleets_hold_together(
        sections in proptest::collection::vec(section_strategy(), 0..6)
    ) {
        if let Ok(f) = load(&sections.concat()) {
            f.check_binds().unwrap();
            let ips: HashSet<IpAddr> = f.deckies.iter().map(|d| d.ip).collect();
            prop_assert_eq!(ips.len(), f.deckies.len());
            let names: HashSet<&str> = f.deckies.iter().map(|d| d.name.as_str()).collect();
            prop_assert_eq!(names.len(), f.deckies.len());
        }
    }

    #[test]
    fn allocated_addresses_are_unique_and_avoid_gateway(
        amounts in proptest::collection::vec(1u32..=20, 1..8),
        explicit in proptest::collection::vec(0u8..64, 0..8),
        gw in 0u8..64,
    ) {
        let mut text = format!("[general]\ndriver = host\nnet = 10.3.0.0/25\ngw = 10.3.0.{gw}\n");
        for (i, n) in amounts.iter().enumerate() {
            text.push_str(&format!("[g{i}]\nservices = ssh\namount = {n}\n"));
        }
        for (i, last) in explicit.iter().enumerate() {
            text.push_str(&format!("[e{i}]\nservices = ssh\nip = 10.3.0.{last}\n"));
        }
        match load(&text) {
            Ok(f) => {
                let ips: Vec<IpAddr> = f.deckies.iter().map(|d| d.ip).collect();
                let unique: HashSet<&IpAddr> = ips.iter().collect();
                prop_assert_eq!(unique.len(), ips.len());
                let gw_ip = IpAddr::V4(Ipv4Addr::new(10, 3, 0, gw));
                for d in &f.deckies {
                    let explicit_here = d.name.starts_with('e');
                    if !explicit_here {
                        prop_assert_ne!(d.ip, gw_ip);
                        prop_assert_ne!(d.ip, ip("10.3.0.0"));
                        prop_assert_ne!(d.ip, ip("10.3.0.127"));
                    }
                }
            }
            Err(e) => prop_assert!(matches!(
                e,
                ConfigError::AddressInUse { .. } | ConfigError::InvalidValue { .. } | ConfigError::PoolExhausted { .. }
            ), "{}", e),
        }
    }
}

#[test]
fn cidr_parses_normalizes_and_bounds() {
    let n = Cidr::parse("192.168.1.77/24").unwrap();
    assert_eq!(n.to_string(), "192.168.1.0/24");
    assert!(n.contains(ip("192.168.1.255")) && !n.contains(ip("192.168.2.0")));
    assert_eq!(n.last(), ip("192.168.1.255"));
    assert_eq!(
        Cidr::parse("0.0.0.0/0").unwrap().last(),
        ip("255.255.255.255")
    );
    let v6 = Cidr::parse("2001:db8::5/64").unwrap();
    assert_eq!(v6.to_string(), "2001:db8::/64");
    assert_eq!(v6.last(), ip("2001:db8::ffff:ffff:ffff:ffff"));
    assert!(!v6.contains(ip("10.0.0.1")));
    assert!(Cidr::parse("::/129").is_err() && Cidr::parse("x/8").is_err());
}

#[test]
fn host_driver_allocates_ipv6_after_the_subnet_router_address() {
    let f =
        load("[general]\ndriver = host\nnet = 2001:db8::/120\n[a]\nservices = ssh\namount = 2\n")
            .unwrap();
    let ips: Vec<IpAddr> = f.deckies.iter().map(|d| d.ip).collect();
    assert_eq!(ips, [ip("2001:db8::1"), ip("2001:db8::2")]);
}

#[test]
fn a_listener_slug_enables_that_listener_of_its_service() {
    let f = load("[web]\nservices = https, ssh\n").unwrap();
    let d = &f.deckies[0];
    assert_eq!(d.services.len(), 2);
    assert_eq!(d.services[0].name, "http");
    assert_eq!(listeners(d), [("https", 443), ("ssh", 22)]);
    assert!(d.services[0].listeners[0].tls);

    let f = load("[web]\nservices = http, https\n").unwrap();
    assert_eq!(
        f.deckies[0].services.len(),
        1,
        "one http service, two listeners"
    );
    assert_eq!(listeners(&f.deckies[0]), [("http", 80), ("https", 443)]);
}

#[test]
fn sections_move_and_choose_listeners() {
    let f = load(
        "[web]\nservices = http, https\n[web.https]\nport = 8443\nserver_header = nginx\n[web.http]\nport = 8080\n",
    )
    .unwrap();
    let d = &f.deckies[0];
    assert_eq!(listeners(d), [("http", 8080), ("https", 8443)]);
    assert_eq!(d.services[0].get("server_header"), Some("nginx"));

    let f =
        load("[web]\nservices = http\n[web.http]\nlisteners = https\nhttps_port = 4443\n").unwrap();
    assert_eq!(listeners(&f.deckies[0]), [("https", 4443)]);
}

#[test]
fn listener_keys_are_checked_and_named() {
    let msg = err("[web]\nservices = http\n[web.http]\nlisteners = gopher\n").to_string();
    assert!(
        msg.contains("\"gopher\" is not a listener of http"),
        "{msg}"
    );
    assert!(msg.contains("http, https"), "{msg}");
    let msg = err("[web]\nservices = http\n[web.http]\nftp_port = 21\n").to_string();
    assert!(msg.contains("ftp_port"), "{msg}");
    assert!(msg.contains("https_port"), "{msg}");
    let msg = err("[web]\nservices = http\n[web.https]\nport = 8443\n").to_string();
    assert!(
        msg.contains("https"),
        "an https section needs the https listener: {msg}"
    );
    let msg = err(
        "[web]\nservices = http, https\n[web.http]\nserver_header = a\n[web.https]\nserver_header = b\n",
    )
    .to_string();
    assert!(msg.contains("set it once"), "{msg}");
}

#[test]
fn binds_are_keyed_by_transport_address_and_port() {
    // SIP answers on 5060 over UDP and TCP: not a conflict.
    let with_sip = Fake(ALL.iter().chain([&SIP]).collect());
    let f = load_ini(
        "[pbx]\nservices = sip\nip = 127.60.0.1\n",
        "fleet.ini",
        &with_sip,
        KEY,
    )
    .unwrap();
    assert_eq!(listeners(&f.deckies[0]), [("sip", 5060), ("sip-tcp", 5060)]);
    f.check_binds().unwrap();
    // Two TCP listeners on one port are.
    let msg = err("[web]\nservices = http, https\nip = 127.60.0.2\n[web.http]\nhttps_port = 80\n")
        .to_string();
    assert!(msg.contains("127.60.0.2:80/tcp"), "{msg}");
    assert!(msg.contains("`http`") && msg.contains("`https`"), "{msg}");
}

#[test]
fn windows_archetypes_present_windows_builds_not_linux_distros() {
    for (arch, default) in [
        ("windows-workstation", "win10"),
        ("windows-server", "win2019"),
        ("domain-controller", "win2019"),
    ] {
        let f = load(&format!("[w]\narchetype = {arch}\nservices = ssh\n")).unwrap();
        let d = &f.deckies[0];
        assert_eq!(d.os_family, OsFamily::Windows, "{arch}");
        assert_eq!(d.windows.map(|w| w.slug), Some(default), "{arch}");
        assert_eq!(d.persona().slug(), default, "{arch}");
    }
    // A Windows build slug on `distro=`.
    let f = load("[w]\narchetype = windows-server\nservices = ssh\ndistro = win2022\n").unwrap();
    assert_eq!(f.deckies[0].persona().slug(), "win2022");
    // Random draws stay among the archetype's Windows builds.
    let req = DeployRequest {
        deckies: 12,
        services: Some(vec!["ssh".into()]),
        randomize_distros: true,
        archetype: Some("windows-workstation".into()),
        ..DeployRequest::default()
    };
    let f = plan_deploy(&req, &cat(), KEY).unwrap();
    for d in &f.deckies {
        let slug = d.windows.map(|w| w.slug);
        assert!(matches!(slug, Some("win10" | "win11")), "{slug:?}");
    }
    // Without an archetype a Windows build makes a Windows decky.
    let f = load("[w]\nservices = ssh\ndistro = win10\n").unwrap();
    assert_eq!(f.deckies[0].os_family, OsFamily::Windows);
    assert!(f.deckies[0].windows.is_some());
    // Linux deckies have none and serialize as before.
    let f = load("[l]\nservices = ssh\n").unwrap();
    assert_eq!(f.deckies[0].windows, None);
    let json = serde_json::to_value(&f.deckies[0]).unwrap();
    assert!(json.get("windows").is_none(), "{json}");
    assert_eq!(json["distro"], "debian");
}

#[test]
fn a_linux_distro_for_a_windows_archetype_is_refused_naming_key_line_and_choices() {
    let e = err("[w]\narchetype = windows-server\nservices = ssh\ndistro = debian\n");
    assert!(matches!(e, ConfigError::PersonaMismatch { .. }), "{e}");
    assert_eq!(loc(&e), (Some(4), Some("w".into()), Some("distro".into())));
    let msg = e.to_string();
    assert!(msg.contains("`debian` is a Linux distro"), "{msg}");
    assert!(
        msg.contains("win10, win11, win2016, win2019, win2022"),
        "{msg}"
    );
    // And the other way round.
    let e = err("[l]\narchetype = linux-server\nservices = ssh\ndistro = win2019\n");
    assert!(matches!(e, ConfigError::PersonaMismatch { .. }), "{e}");
    assert!(e.to_string().contains("debian, ubuntu22"), "{e}");
    // An unknown slug lists both kinds.
    let e = err("[a]\nservices = ssh\ndistro = win95\n");
    assert!(e.to_string().contains("Windows builds: win10"), "{e}");
}

#[test]
fn log_target_takes_a_transport_scheme_and_defaults_to_udp() {
    let general =
        |line: &str| load(&format!("[general]\n{line}\n[a]\nservices = ssh\n")).map(|f| f.general);
    for (line, want) in [
        ("log_target = siem:514", "udp://siem:514"),
        ("log_target = udp://10.0.0.5:514", "udp://10.0.0.5:514"),
        (
            "log_target = tcp://siem.example.net:601",
            "tcp://siem.example.net:601",
        ),
        (
            "log_target = tls://[2001:db8::1]:6514",
            "tls://[2001:db8::1]:6514",
        ),
    ] {
        let g = general(line).unwrap();
        assert_eq!(g.log_target.unwrap().to_string(), want, "{line}");
    }
    let t = general("log_target = tls://siem:6514")
        .unwrap()
        .log_target
        .unwrap();
    assert_eq!(
        (t.transport, t.host.as_str(), t.port),
        (LogTransport::Tls, "siem", 6514)
    );
    for bad in [
        "http://siem:80",
        "tcp://:514",
        "tcp://siem",
        "udp://a b:514",
    ] {
        let e = err(&format!(
            "[general]\nlog_target = {bad}\n[a]\nservices = ssh\n"
        ));
        assert_eq!(loc(&e).2.as_deref(), Some("log_target"), "{bad}");
    }
}

#[test]
fn journal_retention_and_disk_watermark_parse_with_units_and_default_sensibly() {
    let general =
        |line: &str| load(&format!("[general]\n{line}\n[a]\nservices = ssh\n")).map(|f| f.general);
    let d = general("").unwrap();
    assert_eq!(d.journal_retention, Some(Duration::from_secs(7 * 86_400)));
    // The default is the smaller of 1 GiB and 5 %: a 20 MiB disk needs 1 MiB free, a 1 TiB one 1 GiB.
    assert_eq!(d.disk_watermark.threshold(20 << 20), 1 << 20);
    assert_eq!(d.disk_watermark.threshold(1 << 40), 1 << 30);
    for (v, secs) in [
        ("12h", Some(43_200)),
        ("30m", Some(1800)),
        ("90", Some(90)),
        ("forever", None),
        ("0", None),
    ] {
        let g = general(&format!("journal_retention = {v}")).unwrap();
        assert_eq!(g.journal_retention, secs.map(Duration::from_secs), "{v}");
    }
    for (v, total, want) in [
        ("5%", 1000u64, 50u64),
        ("500MiB", 1 << 40, 500 << 20),
        ("0", 1 << 40, 0),
        ("4096", 1 << 40, 4096),
    ] {
        let g = general(&format!("disk_watermark = {v}")).unwrap();
        assert_eq!(g.disk_watermark.threshold(total), want, "{v}");
    }
    for (line, key) in [
        ("journal_retention = 7w", "journal_retention"),
        ("journal_retention = -1d", "journal_retention"),
        ("disk_watermark = 80%", "disk_watermark"),
        ("disk_watermark = lots", "disk_watermark"),
        ("pre_auth_timeout_secs = 0", "pre_auth_timeout_secs"),
        (
            "max_connections_per_service = 0",
            "max_connections_per_service",
        ),
        (
            "max_decky_connections_per_source = 0",
            "max_decky_connections_per_source",
        ),
    ] {
        let e = err(&format!("[general]\n{line}\n[a]\nservices = ssh\n"));
        assert_eq!(loc(&e).2.as_deref(), Some(key), "{line}");
    }
}

#[test]
fn persona_origins_name_the_line_for_every_member_of_a_group() {
    let f = load("[web]\namount = 2\nservices = ssh, https\n\n[web.ssh]\nusers = a:b\n[web.https]\nserver_header = x\n").unwrap();
    for name in ["web-01", "web-02"] {
        let at = f
            .origins
            .get(name, "ssh", "users")
            .expect("origin recorded");
        assert_eq!(
            (at.line, at.key.as_deref()),
            (Some(6), Some("users")),
            "{name}"
        );
        // A listener's section counts for its service.
        let at = f
            .origins
            .get(name, "http", "server_header")
            .expect("origin recorded");
        assert_eq!(at.line, Some(8));
    }
    assert!(f.origins.get("web-01", "ssh", "ssh_version").is_none());
}

#[test]
fn bait_file_reads_each_entry_for_every_member_of_a_group() {
    let dir = tempfile::tempdir().unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "vpn: remote / Spring2026!\n").unwrap();
    let f = load(&format!(
        "[web]\nservices = ssh\namount = 2\nbait_file = /root/notes.txt={}\n",
        notes.display()
    ))
    .unwrap();
    for name in ["web-01", "web-02"] {
        let files = &f.bait_files[name];
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].path, "/root/notes.txt");
        assert_eq!(files[0].content, "vpn: remote / Spring2026!\n");
    }
}

#[test]
fn a_missing_or_malformed_bait_file_is_an_error_naming_the_file_and_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.txt");
    let e = err(&format!(
        "[web]\nservices = ssh\nbait_file = /root/a={}\n",
        missing.display()
    ))
    .to_string();
    assert!(e.starts_with("fleet.ini:3 [web] `bait_file`"), "{e}");
    assert!(
        e.contains(&format!("cannot read bait file {}", missing.display())),
        "{e}"
    );

    let binary = dir.path().join("bin");
    std::fs::write(&binary, [b'o', b'k', 0xff, 0xfe]).unwrap();
    let e = err(&format!(
        "[web]\nservices = ssh\nbait_file = /root/a={}\n",
        binary.display()
    ))
    .to_string();
    assert!(
        e.contains("is not UTF-8 text (invalid byte at offset 2)"),
        "{e}"
    );

    let ok = dir.path().join("ok");
    std::fs::write(&ok, "x").unwrap();
    for bad in ["root/a", "/root/../etc/shadow", "/root/"] {
        let e = err(&format!(
            "[web]\nservices = ssh\nbait_file = {bad}={}\n",
            ok.display()
        ))
        .to_string();
        assert!(e.contains("must be an absolute file path"), "{bad}: {e}");
    }
    let e = err("[web]\nservices = ssh\nbait_file = /root/a\n").to_string();
    assert!(e.contains("expected GUEST_PATH=HOST_FILE"), "{e}");
    let e = err(&format!(
        "[web]\nservices = ssh\nbait_file = /a={p}, /a={p}\n",
        p = ok.display()
    ))
    .to_string();
    assert!(e.contains("`/a` is given twice"), "{e}");
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'a'; 1024 * 1024 + 1]).unwrap();
    let e = err(&format!(
        "[web]\nservices = ssh\nbait_file = /a={}\n",
        big.display()
    ))
    .to_string();
    assert!(e.contains("the limit is 1048576"), "{e}");
}

#[test]
fn an_archetype_deploys_with_the_services_this_build_has() {
    // file-server is smb, ftp, ssh: the test catalog has ssh alone of those.
    let f = load("[fs]\narchetype = file-server\n").unwrap();
    let names: Vec<&str> = f.deckies[0]
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["ssh"]);
    // With none of its services built, it is still refused.
    assert!(matches!(
        err("[dc]\narchetype = domain-controller\n"),
        ConfigError::ServiceNotImplemented { .. }
    ));
}
