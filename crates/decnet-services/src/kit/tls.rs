//! Decoy TLS for any service: a self-signed certificate for the persona's host name,
//! generated once per decky and service and kept in that service's state dir so it
//! survives restarts, an acceptor offering the service's own ALPN list, [`sniff`] to
//! tell a TLS ClientHello from plaintext on one port, and [`accept`] to run a
//! handshake under a deadline.
//!
//! Nothing here emits events: a service records a failed handshake as its own
//! `protocol_error` (with [`HandshakeError::reason`]) and TLS facts on its own events.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::kit::io::{peek_rewind, Rewind};
use crate::service::{DeckyRuntime, ServiceError};

const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
/// Records which host name the stored certificate was made for, so a changed
/// persona gets a new certificate instead of a mismatching one.
const HOST_FILE: &str = "cert.host";

/// Builds the TLS acceptor of one service on one decky.
#[derive(Debug, Clone)]
pub struct AcceptorBuilder {
    service: &'static str,
    hostname: String,
    alpn: Vec<Vec<u8>>,
    state_dir: Option<PathBuf>,
}

impl AcceptorBuilder {
    /// An acceptor for `service` presenting a certificate for `hostname`, offering no
    /// ALPN protocol until [`alpn`](Self::alpn) names some.
    pub fn new(service: &'static str, hostname: impl Into<String>) -> AcceptorBuilder {
        AcceptorBuilder {
            service,
            hostname: hostname.into(),
            alpn: Vec::new(),
            state_dir: None,
        }
    }

    /// The ALPN protocols offered, in preference order (`http/1.1`, `imap`, `pop3`, …).
    pub fn alpn(mut self, protocols: &[&[u8]]) -> AcceptorBuilder {
        self.alpn = protocols.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Keeps the certificate in `dir` instead of the decky's state dir for the service.
    pub fn state_dir(mut self, dir: PathBuf) -> AcceptorBuilder {
        self.state_dir = Some(dir);
        self
    }

    /// Loads the stored certificate (or makes one) and builds the acceptor.
    pub fn build(self, decky: &DeckyRuntime) -> Result<TlsAcceptor, ServiceError> {
        let service = self.service;
        let dir = self.state_dir.unwrap_or_else(|| decky.state_dir(service));
        let (certs, key) = match load(service, &dir, &self.hostname) {
            Some(found) => found,
            None => create(service, &dir, decky, &self.hostname)?,
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| crypto(service, "TLS configuration", e))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| crypto(service, "TLS configuration", e))?;
        // rustls offers nothing by default; a real server offers its protocol only.
        cfg.alpn_protocols = self.alpn;
        Ok(TlsAcceptor::from(Arc::new(cfg)))
    }
}

fn crypto(service: &'static str, what: &'static str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Crypto {
        service,
        what,
        message: e.to_string(),
    }
}

fn state(service: &'static str, what: &str, path: &Path, source: std::io::Error) -> ServiceError {
    ServiceError::State {
        service,
        what: format!("{what} {}", path.display()),
        source,
    }
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn load(service: &str, dir: &Path, hostname: &str) -> Option<CertAndKey> {
    let host = std::fs::read_to_string(dir.join(HOST_FILE)).ok()?;
    if host.trim() != hostname {
        tracing::info!(
            service,
            dir = %dir.display(),
            "TLS host name changed; generating a new certificate"
        );
        return None;
    }
    let certs = CertificateDer::pem_file_iter(dir.join(CERT_FILE))
        .ok()?
        .collect::<Result<Vec<_>, _>>()
        .ok()?;
    let key = PrivateKeyDer::from_pem_file(dir.join(KEY_FILE)).ok()?;
    if certs.is_empty() {
        return None;
    }
    Some((certs, key))
}

/// A seed label of this service's certificate (`https-cert-year`, as http has always
/// derived it, so switching http over keeps its certificates' shape).
fn label(service: &str, what: &str) -> Vec<u8> {
    format!("{service}-cert-{what}").into_bytes()
}

fn create(
    service: &'static str,
    dir: &Path,
    decky: &DeckyRuntime,
    hostname: &str,
) -> Result<CertAndKey, ServiceError> {
    let key = rcgen::KeyPair::generate().map_err(|e| crypto(service, "TLS key", e))?;
    let mut params = rcgen::CertificateParams::new(vec![hostname.to_owned()])
        .map_err(|e| crypto(service, "TLS certificate", e))?;
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, hostname);
    // Dates and serial come from the instance seed so they differ between deckies
    // and look like a snakeoil certificate made when the host was installed.
    let seed = &decky.seed;
    let year = 2022 + i32::try_from(seed.pick(&label(service, "year"), 3)).unwrap_or(0);
    let month = 1 + u8::try_from(seed.pick(&label(service, "month"), 12)).unwrap_or(0);
    let day = 1 + u8::try_from(seed.pick(&label(service, "day"), 28)).unwrap_or(0);
    params.not_before = rcgen::date_time_ymd(year, month, day);
    params.not_after = rcgen::date_time_ymd(year + 10, month, day);
    let mut serial = seed.derive_bytes(&label(service, "serial"), 16);
    if let Some(first) = serial.first_mut() {
        // A positive, full-length DER integer.
        *first = (*first & 0x7f) | 0x40;
    }
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let cert = params
        .self_signed(&key)
        .map_err(|e| crypto(service, "TLS certificate", e))?;

    std::fs::create_dir_all(dir).map_err(|e| state(service, "creating", dir, e))?;
    write_file(
        service,
        &dir.join(KEY_FILE),
        key.serialize_pem().as_bytes(),
        0o600,
    )?;
    write_file(service, &dir.join(CERT_FILE), cert.pem().as_bytes(), 0o644)?;
    write_file(service, &dir.join(HOST_FILE), hostname.as_bytes(), 0o644)?;
    tracing::info!(service, dir = %dir.display(), "generated TLS certificate");

    let der =
        PrivateKeyDer::try_from(key.serialize_der()).map_err(|e| crypto(service, "TLS key", e))?;
    Ok((vec![cert.der().clone()], der))
}

/// Writes through a temporary file and a rename, so a crash never leaves half a key.
fn write_file(
    service: &'static str,
    path: &Path,
    data: &[u8],
    mode: u32,
) -> Result<(), ServiceError> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&tmp)
        .map_err(|e| state(service, "writing", &tmp, e))?;
    // `mode` only applies to new files; a leftover temporary file keeps its own.
    f.set_permissions(std::fs::Permissions::from_mode(mode))
        .map_err(|e| state(service, "setting permissions of", &tmp, e))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| state(service, "writing", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| state(service, "renaming", path, e))
}

/// What the first bytes of a connection are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sniff {
    /// A TLS handshake record (`0x16 0x03 0x00..=0x04`): a ClientHello.
    Tls,
    /// An SSLv2-compatible ClientHello (old scanners); no decoy TLS stack accepts it.
    Sslv2Hello,
    /// Anything else: the client speaks plaintext.
    Plain,
    /// Too few bytes to tell (none, or the start of a TLS record). A client that
    /// sends nothing is waiting for a plaintext greeting.
    Undecided,
}

/// Bytes [`sniff`] needs to decide.
pub const SNIFF_LEN: usize = 3;

/// Classifies the first bytes of a connection; decides on at most [`SNIFF_LEN`] bytes.
pub fn sniff(head: &[u8]) -> Sniff {
    match *head {
        [] | [0x16] | [0x16, 0x03] => Sniff::Undecided,
        [0x16, 0x03, minor, ..] if minor <= 0x04 => Sniff::Tls,
        // Two-byte record length with the top bit set, then message type 1.
        [len, _, 0x01, ..] if len & 0x80 != 0 => Sniff::Sslv2Hello,
        [len] | [len, _] if len & 0x80 != 0 => Sniff::Undecided,
        _ => Sniff::Plain,
    }
}

/// Peeks at up to [`SNIFF_LEN`] bytes until `deadline`, classifies them, and hands the
/// stream back with those bytes to be read again (by the TLS acceptor or the
/// plaintext protocol).
pub async fn detect<S: AsyncRead + Unpin>(
    stream: S,
    deadline: Instant,
) -> std::io::Result<(Sniff, Rewind<S>)> {
    let stream = peek_rewind(stream, SNIFF_LEN, deadline).await?;
    Ok((sniff(stream.prefix()), stream))
}

/// Why a TLS handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    /// The client did not finish the handshake in time.
    #[error("TLS handshake timed out")]
    TimedOut,
    /// The client closed or reset the connection mid-handshake (a scanner probing).
    #[error("client closed the connection during the TLS handshake")]
    Closed,
    /// The client broke TLS or offered nothing we accept (the library's message).
    #[error("TLS handshake failed: {0}")]
    Tls(String),
    /// The connection failed otherwise (including a connection limit tripping).
    #[error("connection failed during the TLS handshake: {0}")]
    Io(std::io::Error),
}

impl HandshakeError {
    /// A short reason for the service's `protocol_error` event.
    pub fn reason(&self) -> &'static str {
        match self {
            HandshakeError::TimedOut => "timeout",
            HandshakeError::Closed => "closed",
            HandshakeError::Tls(_) => "tls_error",
            HandshakeError::Io(_) => "io_error",
        }
    }
}

/// Runs the server side of a handshake on `stream`, giving up after `timeout`.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &TlsAcceptor,
    stream: S,
    timeout: Duration,
) -> Result<TlsStream<S>, HandshakeError> {
    match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
        Err(_elapsed) => Err(HandshakeError::TimedOut),
        Ok(Ok(tls)) => Ok(tls),
        Ok(Err(e)) => Err(classify(e)),
    }
}

fn classify(e: std::io::Error) -> HandshakeError {
    use std::io::ErrorKind as K;
    match e.kind() {
        // tokio-rustls reports TLS-level failures as InvalidData around rustls's error.
        K::InvalidData => HandshakeError::Tls(e.to_string()),
        K::UnexpectedEof | K::ConnectionReset | K::BrokenPipe => HandshakeError::Closed,
        K::TimedOut => HandshakeError::TimedOut,
        _ => HandshakeError::Io(e),
    }
}

/// What a client revealed in its handshake, for the service's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFacts {
    /// Server name it asked for (SNI).
    pub sni: Option<String>,
    /// Negotiated protocol version (`TLSv1_3`, …).
    pub version: Option<String>,
    /// Negotiated cipher suite.
    pub cipher: Option<String>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
}

impl ClientFacts {
    /// The facts of an accepted connection.
    pub fn of<S>(tls: &TlsStream<S>) -> ClientFacts {
        let (_, conn) = tls.get_ref();
        ClientFacts {
            sni: conn.server_name().map(str::to_owned),
            version: conn.protocol_version().map(|v| format!("{v:?}")),
            cipher: conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite())),
            alpn: conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::config::model::{DeckyConfig, Limits};
    use decnet_core::persona::{distro, OsFamily};
    use decnet_core::seed::InstanceSeed;
    use rustls::pki_types::ServerName;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn decky(name: &str, data: &Path) -> DeckyRuntime {
        DeckyRuntime {
            config: DeckyConfig {
                name: name.into(),
                ip: "127.0.0.1".parse().unwrap(),
                hostname: format!("{name}-host"),
                os_family: OsFamily::Linux,
                distro: distro("debian").unwrap(),
                windows: None,
                archetype: None,
                services: vec![],
            },
            seed: InstanceSeed::derive_for(b"k", name),
            data_dir: data.to_path_buf(),
            limits: Limits::DEFAULT,
        }
    }

    /// A client that trusts exactly the certificate the service stored.
    fn client(dir: &Path, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_file_iter(dir.join(CERT_FILE)).unwrap() {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
    }

    #[test]
    fn certificate_is_per_service_kept_and_regenerated_on_host_change() {
        let tmp = tempfile::tempdir().unwrap();
        let d = decky("mail", tmp.path());
        AcceptorBuilder::new("imaps", "mail-host")
            .build(&d)
            .unwrap();
        let dir = d.state_dir("imaps");
        let first = std::fs::read(dir.join(CERT_FILE)).unwrap();
        let mode = std::fs::metadata(dir.join(KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        AcceptorBuilder::new("imaps", "mail-host")
            .build(&d)
            .unwrap();
        assert_eq!(std::fs::read(dir.join(CERT_FILE)).unwrap(), first);
        // Another service of the same decky has its own certificate.
        AcceptorBuilder::new("pop3s", "mail-host")
            .build(&d)
            .unwrap();
        assert_ne!(
            std::fs::read(d.state_dir("pop3s").join(CERT_FILE)).unwrap(),
            first
        );
        AcceptorBuilder::new("imaps", "other-name")
            .build(&d)
            .unwrap();
        assert_ne!(std::fs::read(dir.join(CERT_FILE)).unwrap(), first);
    }

    #[tokio::test]
    async fn handshake_presents_the_host_certificate_and_the_service_alpn() {
        let tmp = tempfile::tempdir().unwrap();
        let d = decky("mail", tmp.path());
        let acceptor = AcceptorBuilder::new("imaps", "mail-host")
            .alpn(&[b"imap"])
            .build(&d)
            .unwrap();
        let connector = client(&d.state_dir("imaps"), &[b"h2", b"imap"]);
        let (ours, theirs) = tokio::io::duplex(16 * 1024);
        let server = async {
            let mut tls = accept(&acceptor, ours, Duration::from_secs(5))
                .await
                .unwrap();
            let facts = ClientFacts::of(&tls);
            tls.write_all(b"* OK\r\n").await.unwrap();
            tls.flush().await.unwrap();
            facts
        };
        let client = async {
            // Verification against the stored certificate checks its SAN is the host name.
            let name = ServerName::try_from("mail-host").unwrap();
            let mut tls = connector.connect(name, theirs).await.unwrap();
            let mut greeting = [0u8; 6];
            tls.read_exact(&mut greeting).await.unwrap();
            greeting
        };
        let (facts, greeting) = tokio::join!(server, client);
        assert_eq!(&greeting, b"* OK\r\n");
        assert_eq!(facts.alpn.as_deref(), Some("imap"));
        assert_eq!(facts.sni.as_deref(), Some("mail-host"));
        assert!(facts.version.is_some() && facts.cipher.is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn failed_handshakes_say_why() {
        let tmp = tempfile::tempdir().unwrap();
        let d = decky("web", tmp.path());
        let acceptor = AcceptorBuilder::new("https", "web-host").build(&d).unwrap();

        let (ours, _silent) = tokio::io::duplex(1024);
        let err = accept(&acceptor, ours, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "timeout");

        let (ours, mut plain) = tokio::io::duplex(1024);
        plain.write_all(b"GET / HTTP/1.0\r\n\r\n").await.unwrap();
        let err = accept(&acceptor, ours, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "tls_error", "{err}");

        let (ours, mut gone) = tokio::io::duplex(1024);
        gone.write_all(b"\x16\x03\x01").await.unwrap();
        drop(gone);
        let err = accept(&acceptor, ours, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(err.reason(), "closed", "{err}");
    }

    #[test]
    fn sniff_tells_tls_from_plaintext() {
        assert_eq!(sniff(b"\x16\x03\x01\x02\x00\x01"), Sniff::Tls);
        assert_eq!(sniff(b"\x16\x03\x03"), Sniff::Tls);
        assert_eq!(sniff(b"\x16\x03\x00"), Sniff::Tls);
        assert_eq!(sniff(b"\x16\x03\x05"), Sniff::Plain);
        assert_eq!(sniff(b"\x16\x02\x01"), Sniff::Plain);
        assert_eq!(sniff(b"\x80\x2e\x01\x00\x02"), Sniff::Sslv2Hello);
        assert_eq!(sniff(b"EHLO x\r\n"), Sniff::Plain);
        assert_eq!(sniff(b"G"), Sniff::Plain);
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), Sniff::Plain);
        for undecided in [&b""[..], b"\x16", b"\x16\x03", b"\x80", b"\x80\x2e"] {
            assert_eq!(sniff(undecided), Sniff::Undecided, "{undecided:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn detect_keeps_the_sniffed_bytes_for_what_comes_next() {
        let (ours, mut peer) = tokio::io::duplex(1024);
        peer.write_all(b"a001 CAPABILITY\r\n").await.unwrap();
        let (kind, mut stream) = detect(ours, Instant::now() + Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(kind, Sniff::Plain);
        let mut line = [0u8; 17];
        stream.read_exact(&mut line).await.unwrap();
        assert_eq!(&line, b"a001 CAPABILITY\r\n");

        // A client waiting for the greeting is undecided once the deadline passes.
        let (ours, _peer) = tokio::io::duplex(1024);
        let (kind, _) = detect(ours, Instant::now() + Duration::from_secs(2))
            .await
            .unwrap();
        assert_eq!(kind, Sniff::Undecided);
    }
}
