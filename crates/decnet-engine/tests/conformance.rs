//! The conformance harness every registered service passes: for each of its
//! listeners, hostile bytes and slow peers end within the limits without a
//! panic, an idle peer is closed at the idle deadline, every event carries its
//! session and both addresses, TLS listeners present the decky's own
//! certificate, and UDP replies stay within the amplification cap.
//!
//! A service joins the harness by being in `Registry::builtin()`: there is
//! nothing else to register.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use decnet_core::catalog::{ListenerInfo, ServiceInfo, Transport};
use decnet_core::config::model::{DeckyConfig, Limits, ListenerConfig, ServiceConfig};
use decnet_core::persona::{distro, OsFamily};
use decnet_core::{Event, EventType};
use decnet_engine::{Engine, EngineOptions};
use decnet_journal::JournalOptions;
use decnet_services::{Conn, ConnCtx, DeckyRuntime, Instance, Registry, Service, ServiceError};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use crate::support::{fleet, unique_ip, wait_journal};

/// Short limits so every check ends in seconds.
const LIMITS: Limits = Limits {
    idle_timeout: Duration::from_secs(2),
    session_timeout: Duration::from_secs(6),
    max_bytes_in: 256 * 1024,
    ..Limits::DEFAULT
};
/// How far past a limit a close may come (scheduling on a loaded 2-core machine).
const SLACK: Duration = Duration::from_secs(4);

/// One failed check: which listener and what went wrong.
#[derive(Debug)]
struct Failure {
    listener: String,
    problem: String,
}

/// A deterministic byte stream of the kind scanners throw at ports.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Reads until the peer closes; returns how long that took, or None past `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, read_all)
        .await
        .ok()
        .map(|()| start.elapsed())
}

/// Every listener of `info`, enabled, on any free port.
fn all_listeners(info: &ServiceInfo) -> ServiceConfig {
    let mut cfg = ServiceConfig::defaults(info, Some(0));
    cfg.listeners = info
        .listeners
        .iter()
        .map(|l| ListenerConfig {
            name: l.name,
            transport: l.transport,
            port: 0,
            tls: l.tls,
        })
        .collect();
    cfg
}

/// Runs every check on every listener of every service of `registry`.
async fn conformance(registry: &Registry, data: &Path) -> Vec<Failure> {
    let mut deckies = Vec::new();
    for (i, info) in registry_infos(registry).iter().enumerate() {
        deckies.push(DeckyConfig {
            name: format!("conf-{i}"),
            ip: unique_ip(),
            hostname: format!("conf-host-{i}"),
            os_family: OsFamily::Linux,
            distro: distro("debian").expect("debian persona"),
            windows: None,
            archetype: None,
            services: vec![all_listeners(info)],
        });
    }
    let fleet = fleet(deckies.clone(), LIMITS);
    let engine = Engine::start(
        &fleet,
        registry,
        EngineOptions {
            data_dir: data.to_path_buf(),
            journal: JournalOptions::default(),
            max_open_connections: None,
        },
    )
    .await
    .expect("the conformance fleet starts");

    let mut checks = Vec::new();
    for d in &deckies {
        for l in &d.services[0].listeners {
            let addr = engine.addr_of(&d.name, l.name).expect("listener bound");
            checks.push(tokio::spawn(check_listener(
                d.name.clone(),
                l.name,
                l.transport,
                l.tls,
                addr,
                data.to_path_buf(),
            )));
        }
    }
    let mut failures = Vec::new();
    for c in checks {
        failures.extend(c.await.expect("check task"));
    }
    engine
        .shutdown()
        .await
        .expect("the conformance fleet stops");

    // Everything the fleet recorded, now that it is flushed.
    let events = wait_journal(data, Duration::ZERO, |_| true).await;
    for d in &deckies {
        for e in events.iter().filter(|e| e.decky == d.name) {
            failures.extend(event_problems(d, e));
        }
    }
    failures
}

fn registry_infos(registry: &Registry) -> Vec<ServiceInfo> {
    use decnet_core::catalog::ServiceCatalog as _;
    registry.services().into_iter().copied().collect()
}

fn event_problems(d: &DeckyConfig, e: &Event) -> Vec<Failure> {
    let mut out = Vec::new();
    let mut fail = |problem: String| {
        out.push(Failure {
            listener: e.service.clone(),
            problem,
        })
    };
    if e.session_id.is_none() {
        fail(format!("{:?} event without a session id", e.event_type));
    }
    if e.dst_ip != d.ip || e.dst_port == 0 {
        fail(format!(
            "{:?} event with destination {}:{}, not the decky's",
            e.event_type, e.dst_ip, e.dst_port
        ));
    }
    if !e.src_ip.is_loopback() || e.src_port == 0 {
        fail(format!(
            "{:?} event with source {}:{}, not the test client's",
            e.event_type, e.src_ip, e.src_port
        ));
    }
    if e.event_type == EventType::Disconnect
        && e.fields.get("reason").is_some_and(|r| r == "service_panic")
    {
        fail("the service panicked on a connection".into());
    }
    out
}

async fn check_listener(
    decky: String,
    listener: &'static str,
    transport: Transport,
    tls: bool,
    addr: SocketAddr,
    data: std::path::PathBuf,
) -> Vec<Failure> {
    let mut problems = Vec::new();
    match transport {
        Transport::Tcp => {
            problems.extend(random_bytes(addr).await);
            problems.extend(trickle(addr).await);
            problems.extend(idle(addr).await);
            if tls {
                problems.extend(certificate(addr, &data, &decky).await);
            }
        }
        Transport::Udp => problems.extend(amplification(addr).await),
    }
    problems
        .into_iter()
        .map(|problem| Failure {
            listener: format!("{decky}/{listener}"),
            problem,
        })
        .collect()
}

async fn random_bytes(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    // The peer may close before taking it all: that is a pass, not an error.
    let _ = s.write_all(&noise(addr.port().into(), 8192)).await;
    let limit = LIMITS.session_timeout + SLACK;
    match closed_within(&mut s, limit).await {
        Some(_) => None,
        None => Some(format!("random bytes: still open after {limit:?}")),
    }
}

async fn trickle(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let start = Instant::now();
    let limit = LIMITS.session_timeout + SLACK;
    // A byte every half idle period: never idle, never done.
    let every = LIMITS.idle_timeout / 2;
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit {
        if s.write_all(b"A").await.is_err() {
            return None;
        }
        match tokio::time::timeout(every, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return None,
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    Some(format!(
        "a one-byte trickle kept the connection past {limit:?}"
    ))
}

async fn idle(addr: SocketAddr) -> Option<String> {
    let mut s = TcpStream::connect(addr).await.ok()?;
    let limit = LIMITS.idle_timeout + SLACK;
    match closed_within(&mut s, limit).await {
        Some(_) => None,
        None => Some(format!("a silent peer is still connected after {limit:?}")),
    }
}

/// Accepts whatever certificate the decky shows, so the harness can look at it.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The certificates kept under the decky's state dir (`<data>/deckies/<decky>/**/cert.pem`).
fn stored_certificates(dir: &Path) -> Vec<CertificateDer<'static>> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(stored_certificates(&path));
        } else if path.file_name().is_some_and(|n| n == "cert.pem") {
            if let Ok(iter) = CertificateDer::pem_file_iter(&path) {
                out.extend(iter.flatten());
            }
        }
    }
    out
}

async fn certificate(addr: SocketAddr, data: &Path, decky: &str) -> Option<String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = TcpStream::connect(addr).await.ok()?;
    let name = ServerName::try_from("conformance.invalid").ok()?;
    let tls = match tokio::time::timeout(LIMITS.idle_timeout, connector.connect(name, tcp)).await {
        Ok(Ok(tls)) => tls,
        Ok(Err(e)) => return Some(format!("TLS handshake failed: {e}")),
        Err(_) => return Some("TLS handshake timed out".into()),
    };
    let presented = tls.get_ref().1.peer_certificates()?.first()?.clone();
    let stored = stored_certificates(&data.join("deckies").join(decky));
    if stored.contains(&presented) {
        None
    } else {
        Some(format!(
            "the TLS listener presents a certificate that is not one of the decky's own ({} stored)",
            stored.len()
        ))
    }
}

async fn amplification(addr: SocketAddr) -> Option<String> {
    let s = UdpSocket::bind("127.0.0.1:0").await.ok()?;
    let mut buf = vec![0u8; 65_536];
    for (i, len) in [1usize, 12, 40, 200, 512].into_iter().enumerate() {
        let request = noise(i as u64 + 7, len);
        s.send_to(&request, addr).await.ok()?;
        let mut answered = 0usize;
        // Replies to one request arrive at once; a quiet gap ends the request.
        while let Ok(Ok((n, _))) =
            tokio::time::timeout(Duration::from_millis(300), s.recv_from(&mut buf)).await
        {
            answered += n;
        }
        if answered > 3 * len {
            return Some(format!(
                "{answered} reply bytes to a {len}-byte datagram (cap {})",
                3 * len
            ));
        }
    }
    None
}

#[tokio::test]
async fn every_registered_service_passes_the_harness() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::builtin();
    let listeners: usize = registry_infos(&registry)
        .iter()
        .map(|s| s.listeners.len())
        .sum();
    assert!(listeners >= 3, "ssh, http and https at least");
    let failures = conformance(&registry, dir.path()).await;
    assert!(failures.is_empty(), "{failures:#?}");
}

static BROKEN: ServiceInfo = ServiceInfo {
    name: "broken",
    summary: "test: panics on the first byte it reads",
    listeners: &[ListenerInfo::tcp("broken", 9)],
    persona_keys: &[],
};

/// A service with the bug class the harness exists to catch.
struct Broken;

struct BrokenInstance;

impl Service for Broken {
    fn info(&self) -> &'static ServiceInfo {
        &BROKEN
    }
    fn instance(
        &self,
        _decky: Arc<DeckyRuntime>,
        _cfg: &ServiceConfig,
    ) -> Result<Arc<dyn Instance>, ServiceError> {
        Ok(Arc::new(BrokenInstance))
    }
}

#[async_trait]
impl Instance for BrokenInstance {
    async fn serve(&self, mut conn: Conn, _ctx: ConnCtx) -> Result<(), ServiceError> {
        let mut b = [0u8; 1];
        conn.read_exact(&mut b).await?;
        panic!("broken test service read {b:?}");
    }
}

#[tokio::test]
async fn a_service_that_panics_on_input_fails_the_harness() {
    let dir = tempfile::tempdir().unwrap();
    let failures = conformance(&Registry::new(vec![Box::new(Broken)]), dir.path()).await;
    assert!(
        failures
            .iter()
            .any(|f| f.listener == "broken" && f.problem.contains("panicked")),
        "{failures:#?}"
    );
}

#[tokio::test]
async fn a_tcp_and_udp_test_service_passes_the_harness() {
    // The echo test service has a UDP listener: the harness's datagram checks run on it.
    let dir = tempfile::tempdir().unwrap();
    let failures = conformance(&crate::support::registry(), dir.path()).await;
    assert!(failures.is_empty(), "{failures:#?}");
}
