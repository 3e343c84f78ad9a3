//! Decoy TLS for any service, on the system's OpenSSL so that a handshake is
//! the one nginx or Apache on the persona's distro would give: OpenSSL's ~30
//! TLS 1.2 suites and its TLS 1.3 order, fallback SCSV, the groups and options
//! the server configures by default ([`TlsProfile`]). rustls cannot present
//! that, so it stays for DECNET's own API and fleet channels only.
//!
//! Certificates are shaped like Debian's snakeoil (`make-ssl-cert`): RSA 2048,
//! CN and SAN the host name, a random 20-byte serial, NotBefore at a real
//! second, ten years of validity, Basic Constraints `CA:FALSE` and a Subject
//! Key Identifier. OpenSSL cannot derive an RSA key from a seed, so each
//! decky's certificate and key are generated at its first start and kept in
//! the service's state dir (NotBefore and serial still come from the instance
//! seed); a stored certificate of another shape (the ECDSA ones of earlier
//! releases) is replaced.
//!
//! Also here: [`sniff`] to tell a TLS ClientHello from plaintext on one port,
//! and [`accept`] to run a handshake under a deadline. Before OpenSSL sees a
//! byte, [`accept`] reads the client's ClientHello itself (capped, see
//! [`super::ja4`]) and replays it to OpenSSL, so every TLS listener and
//! every STARTTLS upgrade knows the client's JA4 and JA3 ([`ClientFacts`]).
//! Nothing here emits events: a service records a failed handshake as its own
//! `protocol_error` (with [`HandshakeError::reason`]) and TLS facts on its own
//! events ([`ClientFacts::write_fields`]).

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::time::Duration;

use bytes::{BufMut as _, Bytes, BytesMut};
use decnet_core::fields::names;
use decnet_core::Fields;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::dh::Dh;
use openssl::ex_data::Index;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{
    AlpnError, NameType, Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslVerifyMode,
};
use openssl::x509::extension::{BasicConstraints, SubjectAlternativeName, SubjectKeyIdentifier};
use openssl::x509::{X509NameBuilder, X509};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite};
use tokio::time::Instant;

use crate::kit::io::{peek_rewind, Rewind};
use crate::kit::ja4::{self, ClientHello, Progress};
use crate::service::{DeckyRuntime, ServiceError};

/// An accepted decoy TLS connection (over the stream with the ClientHello replayed).
pub type TlsStream<S> = tokio_openssl::SslStream<Rewind<S>>;

const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
/// Records which host name the stored certificate was made for, so a changed
/// persona gets a new certificate instead of a mismatching one.
const HOST_FILE: &str = "cert.host";
/// Key size of the distro's snakeoil certificate.
const RSA_BITS: u32 = 2048;
/// `make-ssl-cert` issues for 3650 days.
const VALIDITY_SECS: i64 = 3650 * 86_400;

/// RFC 7919's ffdhe2048, the group OpenSSL's automatic DH picks for a 2048-bit
/// key and so the one Apache's DHE suites use.
const FFDHE2048: &str = "-----BEGIN DH PARAMETERS-----
MIIBCAKCAQEA//////////+t+FRYortKmq/cViAnPTzx2LnFg84tNpWp4TZBFGQz
+8yTnc4kmz75fS/jY2MMddj2gbICrsRhetPfHtXV/WVhJDP1H18GbtCFY2VVPe0a
87VXE15/V8k1mE8McODmi3fipona8+/och3xWKE2rec1MKzKT0g6eXq8CrGCsyT7
YdEIqUuyyOP7uWrat2DX9GgdT0Kj3jlN9K5W7edjcrsZCwenyO4KbXCeAvzhzffi
7MA0BM0oNC9hkXL+nOmFg/+OTxIy7vKBg8P+OxtMb61zO7X8vC7CIAXFjvGDfRaD
ssbzSibBsu/6iGtCOGEoXJf//////////wIBAg==
-----END DH PARAMETERS-----
";

/// Whose TLS configuration a decoy listener copies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsProfile {
    /// Debian's nginx: `ssl_protocols TLSv1 … TLSv1.3` (OpenSSL's security level
    /// leaves 1.2 and 1.3), `ssl_prefer_server_ciphers on`, nginx's default
    /// `ssl_ciphers HIGH:!aNULL:!MD5`, no DHE, session tickets, no renegotiation.
    #[default]
    Nginx,
    /// Debian's Apache `mod_ssl`: `SSLCipherSuite HIGH:!aNULL`, the client's order
    /// (`SSLHonorCipherOrder off`), DHE with ffdhe2048, `SSLSessionTickets off`.
    Apache,
    /// Go's `crypto/tls` server with its defaults (Go 1.20/1.21, as
    /// kube-apiserver 1.28 is built): TLS 1.2 and 1.3, Go's own suite order
    /// enforced whatever the client prefers (AES-GCM, ChaCha20, ECDHE-CBC, then
    /// the RSA-kex suites and 3DES last), groups X25519, P-256, P-384, P-521,
    /// session tickets, no DHE, no renegotiation, no encrypt-then-MAC.
    Go,
    /// dockerd's `--tlsverify` listener: Go's `crypto/tls` with docker's
    /// `tlsconfig.ServerDefault` (TLS 1.2 at least, only the four ECDHE-GCM
    /// suites, which Go orders AES-128 first).
    Dockerd,
}

/// Go's TLS 1.2 suites in `cipherSuitesPreferenceOrder`, those enabled by default.
const GO_TLS12: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:\
ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:\
ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA:ECDHE-RSA-AES256-SHA:\
AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:AES256-SHA:\
ECDHE-RSA-DES-CBC3-SHA:DES-CBC3-SHA";
/// docker/go-connections' `DefaultServerAcceptedCiphers`, in Go's order.
const DOCKERD_TLS12: &str = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:\
ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
/// Go's TLS 1.3 order on hardware with AES-GCM.
const GO_TLS13: &str = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
/// Go's `defaultCurvePreferences`.
const GO_GROUPS: &str = "X25519:P-256:P-384:P-521";
/// `SSL_OP_NO_ENCRYPT_THEN_MAC` (not named by the openssl crate): Go never negotiates it.
const NO_ENCRYPT_THEN_MAC: u64 = 1 << 19;

/// The TLS acceptor of one service on one decky.
#[derive(Clone)]
pub struct TlsAcceptor {
    ctx: SslContext,
}

impl std::fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsAcceptor").finish_non_exhaustive()
    }
}

/// Builds the TLS acceptor of one service on one decky.
#[derive(Debug, Clone)]
pub struct AcceptorBuilder {
    service: &'static str,
    hostname: String,
    alpn: Vec<Vec<u8>>,
    state_dir: Option<PathBuf>,
    profile: TlsProfile,
}

impl AcceptorBuilder {
    /// An acceptor for `service` presenting a certificate for `hostname`, offering no
    /// ALPN protocol until [`alpn`](Self::alpn) names some, with nginx's profile
    /// until [`profile`](Self::profile) says otherwise.
    pub fn new(service: &'static str, hostname: impl Into<String>) -> AcceptorBuilder {
        AcceptorBuilder {
            service,
            hostname: hostname.into(),
            alpn: Vec::new(),
            state_dir: None,
            profile: TlsProfile::default(),
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

    /// The server whose TLS configuration the listener copies.
    pub fn profile(mut self, profile: TlsProfile) -> AcceptorBuilder {
        self.profile = profile;
        self
    }

    /// Loads the stored certificate (or makes one) and builds the acceptor.
    pub fn build(self, decky: &DeckyRuntime) -> Result<TlsAcceptor, ServiceError> {
        let service = self.service;
        let dir = self.state_dir.unwrap_or_else(|| decky.state_dir(service));
        let (cert, key) = match load(service, &dir, &self.hostname) {
            Some(found) => found,
            None => create(service, &dir, decky, &self.hostname)?,
        };
        let e = |e| crypto(service, "TLS configuration", e);
        let mut b = SslContextBuilder::new(SslMethod::tls_server()).map_err(e)?;
        b.set_certificate(&cert).map_err(e)?;
        b.set_private_key(&key).map_err(e)?;
        b.check_private_key().map_err(e)?;
        b.set_verify(SslVerifyMode::NONE);
        configure(&mut b, self.profile).map_err(e)?;
        if !self.alpn.is_empty() {
            let ours = self.alpn;
            // nginx (1.21.4 and later) ends a handshake that offers none of its
            // protocols; Apache without mod_http2 goes on without ALPN.
            // Go ends it too (`no_application_protocol`).
            let none = match self.profile {
                TlsProfile::Nginx | TlsProfile::Go | TlsProfile::Dockerd => AlpnError::ALERT_FATAL,
                TlsProfile::Apache => AlpnError::NOACK,
            };
            b.set_alpn_select_callback(move |_, client| select_alpn(&ours, client).ok_or(none));
        }
        Ok(TlsAcceptor { ctx: b.build() })
    }
}

/// The first of our protocols (in our order, as `SSL_select_next_proto`
/// prefers them) that the client's wire-format list offers.
fn select_alpn<'c>(ours: &[Vec<u8>], client: &'c [u8]) -> Option<&'c [u8]> {
    let mut offered = Vec::new();
    let mut rest = client;
    while let Some((&len, tail)) = rest.split_first() {
        let proto = tail.get(..usize::from(len))?;
        offered.push(proto);
        rest = tail.get(usize::from(len)..)?;
    }
    ours.iter()
        .find_map(|p| offered.iter().find(|o| **o == p.as_slice()).copied())
}

/// The server's own choices on top of the system OpenSSL's defaults (which the
/// library loads from the same openssl.cnf the real server would read).
fn configure(
    b: &mut SslContextBuilder,
    profile: TlsProfile,
) -> Result<(), openssl::error::ErrorStack> {
    b.set_options(SslOptions::NO_SSLV2 | SslOptions::NO_SSLV3 | SslOptions::NO_COMPRESSION);
    b.set_options(SslOptions::NO_RENEGOTIATION);
    match profile {
        TlsProfile::Nginx => {
            b.set_cipher_list("HIGH:!aNULL:!MD5")?;
            b.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
        }
        TlsProfile::Apache => {
            b.set_cipher_list("HIGH:!aNULL")?;
            b.set_options(SslOptions::NO_TICKET);
            let dh = Dh::params_from_pem(FFDHE2048.as_bytes())?;
            b.set_tmp_dh(&dh)?;
        }
        TlsProfile::Go | TlsProfile::Dockerd => {
            b.set_min_proto_version(Some(openssl::ssl::SslVersion::TLS1_2))?;
            b.set_cipher_list(if profile == TlsProfile::Go {
                GO_TLS12
            } else {
                DOCKERD_TLS12
            })?;
            b.set_ciphersuites(GO_TLS13)?;
            b.set_groups_list(GO_GROUPS)?;
            b.set_options(SslOptions::CIPHER_SERVER_PREFERENCE);
            b.set_options(SslOptions::from_bits_retain(NO_ENCRYPT_THEN_MAC as _));
        }
    }
    Ok(())
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

type CertAndKey = (X509, PKey<Private>);

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
    let cert = X509::from_pem(&std::fs::read(dir.join(CERT_FILE)).ok()?).ok()?;
    let key = PKey::private_key_from_pem(&std::fs::read(dir.join(KEY_FILE)).ok()?).ok()?;
    let snakeoil_shaped = key.rsa().is_ok_and(|r| r.size() * 8 == RSA_BITS)
        && cert.public_key().is_ok_and(|p| p.public_eq(&key));
    if !snakeoil_shaped {
        tracing::info!(
            service,
            dir = %dir.display(),
            "stored TLS certificate is not shaped like the distro's snakeoil; generating a new one"
        );
        return None;
    }
    Some((cert, key))
}

/// A seed label of this service's certificate (`https-cert-serial`, …).
fn label(service: &str, what: &str) -> Vec<u8> {
    format!("{service}-cert-{what}").into_bytes()
}

fn create(
    service: &'static str,
    dir: &Path,
    decky: &DeckyRuntime,
    hostname: &str,
) -> Result<CertAndKey, ServiceError> {
    let (cert, key) =
        snakeoil(decky, service, hostname).map_err(|e| crypto(service, "TLS certificate", e))?;
    let cert_pem = cert
        .to_pem()
        .map_err(|e| crypto(service, "TLS certificate", e))?;
    let key_pem = key
        .private_key_to_pem_pkcs8()
        .map_err(|e| crypto(service, "TLS key", e))?;
    std::fs::create_dir_all(dir).map_err(|e| state(service, "creating", dir, e))?;
    write_file(service, &dir.join(KEY_FILE), &key_pem, 0o600)?;
    write_file(service, &dir.join(CERT_FILE), &cert_pem, 0o644)?;
    write_file(service, &dir.join(HOST_FILE), hostname.as_bytes(), 0o644)?;
    tracing::info!(service, dir = %dir.display(), "generated TLS certificate");
    Ok((cert, key))
}

/// A certificate as `make-ssl-cert generate-default-snakeoil` makes one when
/// the package is installed: made some months before now, at a real second.
fn snakeoil(
    decky: &DeckyRuntime,
    service: &str,
    hostname: &str,
) -> Result<CertAndKey, openssl::error::ErrorStack> {
    let seed = &decky.seed;
    let key = PKey::from_rsa(Rsa::generate(RSA_BITS)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, hostname)?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    // `openssl req -x509` draws a 159-bit serial: 20 bytes, top bit clear.
    let mut serial = seed.derive_bytes(&label(service, "serial"), 20);
    if let Some(first) = serial.first_mut() {
        *first = (*first & 0x7f) | 0x01;
    }
    b.set_serial_number(BigNum::from_slice(&serial)?.to_asn1_integer()?.as_ref())?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let age_secs = (30 + seed.pick(&label(service, "age-days"), 700)) * 86_400
        + seed.pick(&label(service, "age-secs"), 86_400);
    let not_before =
        chrono::Utc::now().timestamp() - i64::try_from(age_secs).unwrap_or(30 * 86_400);
    b.set_not_before(Asn1Time::from_unix(not_before)?.as_ref())?;
    b.set_not_after(Asn1Time::from_unix(not_before + VALIDITY_SECS)?.as_ref())?;
    let bc = BasicConstraints::new().build()?;
    let san = SubjectAlternativeName::new()
        .dns(hostname)
        .build(&b.x509v3_context(None, None))?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(bc)?;
    b.append_extension(san)?;
    b.append_extension(ski)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok((b.build(), key))
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
/// The client's ClientHello is read first (within the same `timeout`) and
/// fingerprinted; [`ClientFacts::of`] hands the fingerprint out afterwards.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &TlsAcceptor,
    stream: S,
    timeout: Duration,
) -> Result<TlsStream<S>, HandshakeError> {
    accept_fingerprinted(acceptor, stream, timeout).await.0
}

/// [`accept`], also handing out the client's fingerprint when its ClientHello
/// parsed, so a handshake that fails (a scanner offering nothing we accept)
/// is still recorded with the tool's JA4.
pub async fn accept_fingerprinted<S: AsyncRead + AsyncWrite + Unpin>(
    acceptor: &TlsAcceptor,
    mut stream: S,
    timeout: Duration,
) -> (Result<TlsStream<S>, HandshakeError>, Option<Fingerprint>) {
    let deadline = Instant::now() + timeout;
    let (hello, wire) = match tokio::time::timeout_at(deadline, read_hello(&mut stream)).await {
        Err(_elapsed) => return (Err(HandshakeError::TimedOut), None),
        Ok(Err(e)) => return (Err(HandshakeError::Io(e)), None),
        Ok(Ok(read)) => read,
    };
    let fingerprint = hello.as_ref().map(Fingerprint::of);
    let mut ssl = match Ssl::new(&acceptor.ctx) {
        Ok(ssl) => ssl,
        Err(e) => return (Err(HandshakeError::Tls(e.to_string())), fingerprint),
    };
    if let (Some(fp), Some(index)) = (&fingerprint, fingerprint_index()) {
        ssl.set_ex_data(index, fp.clone());
    }
    let stream = Rewind::new(wire, stream);
    let mut tls = match TlsStream::new(ssl, stream) {
        Ok(tls) => tls,
        Err(e) => return (Err(HandshakeError::Tls(e.to_string())), fingerprint),
    };
    let done = match tokio::time::timeout_at(deadline, Pin::new(&mut tls).accept()).await {
        Err(_elapsed) => Err(HandshakeError::TimedOut),
        Ok(Ok(())) => Ok(tls),
        Ok(Err(e)) => Err(classify(e)),
    };
    (done, fingerprint)
}

fn classify(e: openssl::ssl::Error) -> HandshakeError {
    use std::io::ErrorKind as K;
    if let Some(io) = e.io_error() {
        return match io.kind() {
            K::UnexpectedEof | K::ConnectionReset | K::BrokenPipe => HandshakeError::Closed,
            K::TimedOut => HandshakeError::TimedOut,
            kind => HandshakeError::Io(std::io::Error::new(kind, io.to_string())),
        };
    }
    // OpenSSL 3 reports a peer that left mid-handshake as an SSL error of its own.
    let eof = e.ssl_error().is_some_and(|stack| {
        stack
            .errors()
            .iter()
            .any(|x| x.reason().is_some_and(|r| r.contains("unexpected eof")))
    });
    if eof || (e.code() == openssl::ssl::ErrorCode::SYSCALL && e.ssl_error().is_none()) {
        return HandshakeError::Closed;
    }
    HandshakeError::Tls(e.to_string())
}

/// Reads the connection's first bytes up to the end of a ClientHello (never past
/// it, never more than [`ja4::MAX_WIRE`]) and returns the parsed hello, if that is
/// what came, with every byte read, for OpenSSL to read again. A client that
/// sends something else, or ends the stream, gets what it sent replayed and the
/// handshake fails as OpenSSL decides.
async fn read_hello<S: AsyncRead + Unpin>(
    stream: &mut S,
) -> std::io::Result<(Option<ClientHello>, Bytes)> {
    let mut wire = BytesMut::new();
    loop {
        match ja4::progress(&wire) {
            Progress::Hello { hello, .. } => return Ok((Some(hello), wire.freeze())),
            Progress::NotHello => return Ok((None, wire.freeze())),
            Progress::Need(n) => {
                let room = n.min(ja4::MAX_WIRE).saturating_sub(wire.len());
                if room == 0 {
                    return Ok((None, wire.freeze()));
                }
                wire.reserve(room);
                let mut limited = (&mut wire).limit(room);
                if stream.read_buf(&mut limited).await? == 0 {
                    return Ok((None, wire.freeze()));
                }
            }
        }
    }
}

/// Where an accepted connection keeps its client's fingerprint (OpenSSL ex_data).
fn fingerprint_index() -> Option<Index<Ssl, Fingerprint>> {
    static INDEX: std::sync::OnceLock<Option<Index<Ssl, Fingerprint>>> = std::sync::OnceLock::new();
    *INDEX.get_or_init(|| match Ssl::new_ex_index() {
        Ok(index) => Some(index),
        Err(e) => {
            tracing::warn!(error = %e, "OpenSSL has no ex_data slot for TLS fingerprints; JA4/JA3 are not recorded");
            None
        }
    })
}

/// The client's TLS fingerprints, computed from its ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// JA4 (`t13d1516h2_8daaf6152771_e5627efa2ab1`).
    pub ja4: String,
    /// The JA3 string (`771,4865-4866-…,0-23-…,29-23-24,0`).
    pub ja3: String,
    /// MD5 of the JA3 string, lower-case hex.
    pub ja3_hash: String,
}

impl Fingerprint {
    /// The fingerprints of `hello`.
    pub fn of(hello: &ClientHello) -> Fingerprint {
        Fingerprint {
            ja4: hello.ja4(),
            ja3: hello.ja3(),
            ja3_hash: hello.ja3_hash(),
        }
    }
}

/// What a client revealed in its handshake, for the service's events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientFacts {
    /// Server name it asked for (SNI).
    pub sni: Option<String>,
    /// Negotiated protocol version (`TLSv1.3`, …, as OpenSSL names it).
    pub version: Option<String>,
    /// Negotiated cipher suite (`TLS_AES_256_GCM_SHA384`, `ECDHE-RSA-AES256-GCM-SHA384`).
    pub cipher: Option<String>,
    /// Negotiated ALPN protocol.
    pub alpn: Option<String>,
    /// The client's JA4 fingerprint.
    pub ja4: Option<String>,
    /// The client's JA3 string.
    pub ja3: Option<String>,
    /// MD5 of the JA3 string.
    pub ja3_hash: Option<String>,
}

impl ClientFacts {
    /// The facts of an accepted connection.
    pub fn of<S>(tls: &TlsStream<S>) -> ClientFacts {
        let ssl = tls.ssl();
        let fp = fingerprint_index().and_then(|i| ssl.ex_data(i));
        ClientFacts {
            ja4: fp.map(|f| f.ja4.clone()),
            ja3: fp.map(|f| f.ja3.clone()),
            ja3_hash: fp.map(|f| f.ja3_hash.clone()),
            sni: ssl.servername(NameType::HOST_NAME).map(str::to_owned),
            version: Some(ssl.version_str().to_owned()),
            cipher: ssl.current_cipher().map(|c| c.name().to_owned()),
            alpn: ssl
                .selected_alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned()),
        }
    }

    /// The event fields of these facts, under the names every TLS listener uses:
    /// `tls_sni`, `tls_version`, `tls_cipher`, `tls_alpn`, `tls_ja4`, `tls_ja3`
    /// (the JA3 string) and `tls_ja3_hash` (its MD5); a fact not known is left out.
    pub fn write_fields(&self, fields: &mut Fields) {
        for (k, v) in self.named() {
            if let Some(v) = v {
                fields.insert(k.into(), v.clone().into());
            }
        }
    }

    fn named(&self) -> [(&'static str, &Option<String>); 7] {
        [
            ("tls_sni", &self.sni),
            ("tls_version", &self.version),
            ("tls_cipher", &self.cipher),
            ("tls_alpn", &self.alpn),
            (names::TLS_JA4, &self.ja4),
            (names::TLS_JA3, &self.ja3),
            (names::TLS_JA3_HASH, &self.ja3_hash),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use decnet_core::config::model::{DeckyConfig, Limits};
    use decnet_core::persona::{distro, OsFamily};
    use decnet_core::seed::InstanceSeed;
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::sync::Arc;
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
            bait: Default::default(),
            prefix: 24,
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
        // rustls offers TLS 1.3, a server name and h2 first.
        let ja4 = facts.ja4.as_deref().unwrap();
        assert!(ja4.starts_with("t13d") && ja4[8..10] == *"h2", "{ja4}");
        let ja3 = facts.ja3.as_deref().unwrap();
        assert!(ja3.starts_with("771,"), "{ja3}");
        use md5::Digest as _;
        assert_eq!(
            facts.ja3_hash.as_deref(),
            Some(hex::encode(md5::Md5::digest(ja3.as_bytes())).as_str())
        );
        let mut fields = Fields::new();
        facts.write_fields(&mut fields);
        assert_eq!(fields["tls_ja4"], ja4);
        assert_eq!(fields["tls_alpn"], "imap");
    }

    #[tokio::test]
    async fn the_hello_is_read_whole_and_nothing_past_it() {
        // A ClientHello fragmented over three records and three writes, then bytes
        // that belong to the next flight.
        let hello: Vec<u8> = {
            let mut body = vec![0x01, 0x00, 0x00, 0x29, 0x03, 0x03];
            body.extend_from_slice(&[7u8; 32]);
            body.extend_from_slice(&[0x00, 0x00, 0x02, 0x13, 0x01, 0x01, 0x00]);
            body
        };
        let mut wire = Vec::new();
        for chunk in hello.chunks(20) {
            wire.extend_from_slice(&[0x16, 0x03, 0x01, 0x00, chunk.len() as u8]);
            wire.extend_from_slice(chunk);
        }
        let (mut peer, mut ours) = tokio::io::duplex(1024);
        let writer = async {
            for piece in wire.chunks(17) {
                peer.write_all(piece).await.unwrap();
                tokio::task::yield_now().await;
            }
            peer.write_all(b"NEXT").await.unwrap();
            peer
        };
        let (read, _peer) = tokio::join!(read_hello(&mut ours), writer);
        let (parsed, replay) = read.unwrap();
        let parsed = parsed.unwrap();
        assert_eq!(parsed.ciphers, vec![0x1301]);
        assert_eq!(replay, wire);
        let mut next = [0u8; 4];
        ours.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"NEXT");

        // Plaintext is handed back as it came, without waiting for more.
        let (mut peer, mut ours) = tokio::io::duplex(1024);
        peer.write_all(b"EHLO x\r\n").await.unwrap();
        let (parsed, replay) = read_hello(&mut ours).await.unwrap();
        assert!(parsed.is_none());
        assert_eq!(&replay[..], b"EHLO ");
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

        // A hello offering nothing we accept fails, and still names its client.
        let mut hello = vec![
            0x16, 0x03, 0x01, 0x00, 0x2d, 0x01, 0x00, 0x00, 0x29, 0x03, 0x03,
        ];
        hello.extend_from_slice(&[7u8; 32]);
        hello.extend_from_slice(&[0x00, 0x00, 0x02, 0x00, 0x01, 0x01, 0x00]);
        let (ours, mut scanner) = tokio::io::duplex(4096);
        scanner.write_all(&hello).await.unwrap();
        let (done, fp) = accept_fingerprinted(&acceptor, ours, Duration::from_secs(10)).await;
        assert_eq!(done.unwrap_err().reason(), "tls_error");
        assert!(fp.unwrap().ja4.starts_with("t12i010000_"));
    }

    #[test]
    fn alpn_picks_ours_in_our_order_and_survives_garbage() {
        let ours = vec![b"http/1.1".to_vec(), b"http/1.0".to_vec()];
        assert_eq!(
            select_alpn(&ours, b"\x02h2\x08http/1.0\x08http/1.1"),
            Some(&b"http/1.1"[..])
        );
        assert_eq!(select_alpn(&ours, b"\x02h2"), None);
        assert_eq!(select_alpn(&ours, b"\x09http/1.1"), None);
        assert_eq!(select_alpn(&ours, b""), None);
    }

    #[test]
    fn certificates_are_shaped_like_the_distros_snakeoil() {
        let tmp = tempfile::tempdir().unwrap();
        let d = decky("web", tmp.path());
        AcceptorBuilder::new("https", "web-host").build(&d).unwrap();
        let pem = std::fs::read(d.state_dir("https").join(CERT_FILE)).unwrap();
        let cert = X509::from_pem(&pem).unwrap();
        let key = cert.public_key().unwrap();
        assert_eq!(key.rsa().unwrap().size() * 8, 2048);
        let cn: Vec<String> = cert
            .subject_name()
            .entries_by_nid(Nid::COMMONNAME)
            .map(|e| e.data().to_string().unwrap())
            .collect();
        assert_eq!(cn, ["web-host"]);
        let names = cert.subject_alt_names().unwrap();
        let san: Vec<&str> = names.iter().filter_map(|n| n.dnsname()).collect();
        assert_eq!(san, ["web-host"]);
        assert_eq!(cert.serial_number().to_bn().unwrap().num_bytes(), 20);
        let diff = cert.not_before().diff(cert.not_after()).unwrap();
        assert_eq!((diff.days, diff.secs), (3650, 0));
        // A real second, not midnight.
        let text = String::from_utf8(cert.to_text().unwrap()).unwrap();
        assert!(!text.contains("00:00:00 "), "{text}");
        let order: Vec<&str> = [
            "X509v3 Basic Constraints",
            "X509v3 Subject Alternative Name",
            "X509v3 Subject Key Identifier",
        ]
        .into_iter()
        .filter(|e| text.contains(e))
        .collect();
        assert_eq!(order.len(), 3, "{text}");
        let at = |e: &str| text.find(e).unwrap();
        assert!(at(order[0]) < at(order[1]) && at(order[1]) < at(order[2]));
        assert!(text.contains("CA:FALSE"));
        assert!(text.contains("sha256WithRSAEncryption"));
    }

    #[test]
    fn a_stored_certificate_of_another_shape_is_replaced() {
        let tmp = tempfile::tempdir().unwrap();
        let d = decky("old", tmp.path());
        let dir = d.state_dir("https");
        std::fs::create_dir_all(&dir).unwrap();
        // An ECDSA certificate as earlier releases stored.
        let ec = openssl::ec::EcKey::generate(
            &openssl::ec::EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap(),
        )
        .unwrap();
        let key = PKey::from_ec_key(ec).unwrap();
        let mut b = X509::builder().unwrap();
        b.set_pubkey(&key).unwrap();
        b.sign(&key, MessageDigest::sha256()).unwrap();
        std::fs::write(dir.join(CERT_FILE), b.build().to_pem().unwrap()).unwrap();
        std::fs::write(dir.join(KEY_FILE), key.private_key_to_pem_pkcs8().unwrap()).unwrap();
        std::fs::write(dir.join(HOST_FILE), "old-host").unwrap();
        AcceptorBuilder::new("https", "old-host").build(&d).unwrap();
        let cert = X509::from_pem(&std::fs::read(dir.join(CERT_FILE)).unwrap()).unwrap();
        assert!(cert.public_key().unwrap().rsa().is_ok());
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
