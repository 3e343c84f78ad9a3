//! The `log_target` forwarder: every journal event, as one RFC 5424 line
//! ([`decnet_core::syslog::format_event`]), to a syslog receiver.
//!
//! - **UDP** (RFC 5426): one message per datagram, cut at [`UDP_MAX_MESSAGE`] bytes.
//! - **TCP** (RFC 6587 octet counting): `LEN SP MSG`, back to back.
//! - **TLS** (RFC 5425): the same framing over rustls, the server verified
//!   against the `log_target_ca` PEM (no system root store is linked, so a
//!   `tls://` target without `log_target_ca` is refused at start).
//!
//! **Delivery is at-least-once.** The forwarder keeps its own journal offset in
//! `<data>/forwarder.offset` (replaced atomically: temp file, fsync, rename). A
//! batch is written (and flushed) first; its offset is committed only once the
//! connection has stayed up for [`CONFIRM_AFTER`] afterwards, because syslog has
//! no acknowledgement and a TCP write "succeeds" into the kernel even when the
//! receiver has just gone. On any error the connection is dropped, the reader
//! rewinds to the committed offset and everything after it is sent again after
//! a jittered backoff: a receiver may see a line twice, never miss one that the
//! journal holds, unless it accepted the bytes and then lost them itself (a
//! receiver crash within [`CONFIRM_AFTER`] of reading). UDP has no connection: a
//! datagram the network drops is gone; an ICMP "port unreachable" is noticed and
//! the batch is resent.
//!
//! Memory is bounded by [`BATCH_EVENTS`] events per batch. While the target is
//! down, one warning line a minute says so (with how many were suppressed).

use std::collections::VecDeque;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use decnet_core::config::model::{LogTarget, LogTransport};
use decnet_core::paths::DataDir;
use decnet_core::syslog::format_event;
use decnet_core::throttle::Throttle;
use decnet_journal::{JournalPos, JournalReader, Record};
use futures::FutureExt as _;
use rand::Rng as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::rustls;
use tokio_util::sync::CancellationToken;

/// Most events read, formatted and sent as one batch (bounds memory).
pub const BATCH_EVENTS: usize = 256;
/// Longest UDP message sent; longer lines are cut (RFC 5426 §3.2 allows it).
pub const UDP_MAX_MESSAGE: usize = 65_000;
/// How long a connection must stay up after a write before its batch counts as delivered.
pub const CONFIRM_AFTER: Duration = Duration::from_millis(200);
/// How often the journal is polled for new events when idle.
const POLL: Duration = Duration::from_millis(100);
/// Longest connect (TCP handshake plus TLS handshake).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest a batch write may take before the connection counts as dead.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// First retry delay after an error.
const BACKOFF_MIN: Duration = Duration::from_millis(200);
/// Longest retry delay.
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// At shutdown, how long the forwarder keeps trying to send what is left.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// At most one warning line per this interval while the target is down.
const ERROR_LOG_INTERVAL: Duration = Duration::from_secs(60);

/// Why the forwarder cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A `tls://` target needs a CA to verify the receiver against.
    #[error("log_target {0} uses TLS but log_target_ca is not set: this build carries no system root store, so set log_target_ca to the PEM file of the CA that signed the receiver's certificate")]
    TlsNeedsCa(String),
    /// The CA file could not be read or holds no usable certificate.
    #[error("log_target_ca {path}: {reason} (give a PEM file with the CA certificate(s) that signed the receiver's certificate)")]
    BadCa {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The target host is not a valid TLS server name.
    #[error(
        "log_target {0}: the host is not a valid TLS server name (use a DNS name or an IP address)"
    )]
    BadServerName(String),
    /// The offset file could not be read or parsed.
    #[error(
        "forwarder offset {path}: {reason} (delete the file to forward the whole journal again)"
    )]
    BadOffset {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// What a forwarder run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ForwardStats {
    /// Events written to the target (a resent event counts again).
    pub sent: u64,
    /// Journal lines skipped because they were not events.
    pub corrupt: u64,
    /// The offset committed when the run ended.
    pub committed: JournalPos,
}

/// The committed position in an offset file, `None` if there is none yet.
pub fn read_offset(path: &Path) -> Result<Option<JournalPos>, ForwardError> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ForwardError::BadOffset {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })
        }
    };
    text.trim()
        .parse::<JournalPos>()
        .map(Some)
        .map_err(|e| ForwardError::BadOffset {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Replaces the offset file atomically (temp file, fsync, rename, fsync of the dir).
pub fn write_offset(path: &Path, pos: JournalPos) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(format!("{pos}\n").as_bytes())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Forwards a journal to one `log_target` from its own durable offset.
pub struct Forwarder {
    journal: PathBuf,
    offset_file: PathBuf,
    target: LogTarget,
    tls: Option<(
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    )>,
    start: JournalPos,
}

impl fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Forwarder")
            .field("journal", &self.journal)
            .field("target", &self.target.to_string())
            .field("start", &self.start)
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// A forwarder of `data`'s journal to `target`; `ca` is the `log_target_ca` PEM file.
    /// Everything that can be wrong with the configuration fails here, before any event.
    pub fn new(
        data: &DataDir,
        target: LogTarget,
        ca: Option<&Path>,
    ) -> Result<Forwarder, ForwardError> {
        let tls = match target.transport {
            LogTransport::Tls => {
                let ca = ca.ok_or_else(|| ForwardError::TlsNeedsCa(target.to_string()))?;
                Some(tls_connector(&target, ca)?)
            }
            LogTransport::Udp | LogTransport::Tcp => None,
        };
        let offset_file = data.forwarder_offset();
        let start = read_offset(&offset_file)?.unwrap_or(JournalPos::START);
        Ok(Forwarder {
            journal: data.journal(),
            offset_file,
            target,
            tls,
            start,
        })
    }

    /// Forwards until `stop` fires, then sends what is left in the journal
    /// (for at most a few seconds if the target is down) and returns.
    pub async fn run(self, stop: CancellationToken) -> ForwardStats {
        let mut run = Run {
            stats: ForwardStats {
                committed: self.start,
                ..ForwardStats::default()
            },
            reader: Some(JournalReader::open(&self.journal, self.start)),
            conn: None,
            pending: VecDeque::new(),
            gate: ErrorGate::default(),
            backoff: BACKOFF_MIN,
            fwd: &self,
        };
        run.go(stop).await;
        if let Some(mut c) = run.conn.take() {
            c.close().await;
        }
        run.stats
    }
}

/// Loads the CA file into a TLS connector for `target`.
fn tls_connector(
    target: &LogTarget,
    ca: &Path,
) -> Result<
    (
        tokio_rustls::TlsConnector,
        rustls::pki_types::ServerName<'static>,
    ),
    ForwardError,
> {
    use rustls::pki_types::pem::PemObject as _;
    let bad = |reason: String| ForwardError::BadCa {
        path: ca.to_path_buf(),
        reason,
    };
    let pem = fs::read(ca).map_err(|e| bad(e.to_string()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| bad(format!("not PEM: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("not a usable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|_| ForwardError::BadServerName(target.to_string()))?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
}

/// A byte stream to the receiver (TCP or TLS).
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection to the receiver.
enum Conn {
    Udp(UdpSocket),
    Stream(Box<dyn Stream>),
}

impl Conn {
    /// Whether the receiver is still there, without waiting: syslog receivers
    /// never talk, so a readable stream means it closed (or reset), and a
    /// connected UDP socket reports an ICMP "port unreachable" as an error.
    fn alive(&mut self) -> bool {
        let mut buf = [0u8; 512];
        match self {
            Conn::Udp(s) => {
                !matches!(s.try_recv(&mut buf), Err(e) if e.kind() != io::ErrorKind::WouldBlock)
            }
            Conn::Stream(s) => !matches!(s.read(&mut buf).now_or_never(), Some(Ok(0) | Err(_))),
        }
    }

    /// Writes (and for streams flushes) one batch of lines.
    async fn send(&mut self, lines: &[String]) -> io::Result<()> {
        match self {
            Conn::Udp(s) => {
                for l in lines {
                    s.send(cut(l, UDP_MAX_MESSAGE)).await?;
                }
                Ok(())
            }
            Conn::Stream(s) => {
                let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 8).sum());
                for l in lines {
                    buf.extend_from_slice(l.len().to_string().as_bytes());
                    buf.push(b' ');
                    buf.extend_from_slice(l.as_bytes());
                }
                s.write_all(&buf).await?;
                s.flush().await
            }
        }
    }

    /// Closes politely (TLS close_notify, TCP FIN).
    async fn close(&mut self) {
        if let Conn::Stream(s) = self {
            let _ = tokio::time::timeout(Duration::from_secs(1), s.shutdown()).await;
        }
    }
}

/// The longest prefix of `line` of at most `max` bytes ending on a character boundary.
fn cut(line: &str, max: usize) -> &[u8] {
    let mut end = line.len().min(max);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    line.as_bytes().get(..end).unwrap_or_default()
}

/// Logs at most one warning per [`ERROR_LOG_INTERVAL`], counting the rest.
struct ErrorGate {
    throttle: Throttle,
    failing: bool,
}

impl Default for ErrorGate {
    fn default() -> Self {
        ErrorGate {
            throttle: Throttle::new(ERROR_LOG_INTERVAL),
            failing: false,
        }
    }
}

impl ErrorGate {
    /// Notes a failure; true when it was logged.
    fn error(&mut self, target: &LogTarget, what: &str, err: &dyn fmt::Display) -> bool {
        self.failing = true;
        let Some(n) = self.throttle.hit(Instant::now()) else {
            return false;
        };
        tracing::warn!(
            target = %target,
            error = %err,
            suppressed = n - 1,
            "log_target: {what}; retrying with backoff (events wait in the journal and are sent when it is back)"
        );
        true
    }

    fn recovered(&mut self, target: &LogTarget) {
        if std::mem::take(&mut self.failing) {
            tracing::info!(target = %target, "log_target reachable again; resending from the committed offset");
            self.throttle.reset();
        }
    }
}

/// The state of one [`Forwarder::run`].
struct Run<'a> {
    fwd: &'a Forwarder,
    stats: ForwardStats,
    /// `None` only while a blocking read has it.
    reader: Option<JournalReader>,
    conn: Option<Conn>,
    /// Written batches not yet confirmed: their end position and when written.
    pending: VecDeque<(JournalPos, Instant)>,
    gate: ErrorGate,
    backoff: Duration,
}

impl Run<'_> {
    async fn go(&mut self, stop: CancellationToken) {
        let mut drain_deadline: Option<Instant> = None;
        loop {
            if stop.is_cancelled() && drain_deadline.is_none() {
                drain_deadline = Some(Instant::now() + DRAIN_TIMEOUT);
            }
            if drain_deadline.is_some_and(|d| Instant::now() >= d) {
                tracing::warn!(
                    target = %self.fwd.target,
                    committed = %self.stats.committed,
                    "log_target: stopping with events not yet confirmed; they are sent at the next start"
                );
                return;
            }
            self.confirm();
            let batch = match self.read().await {
                Ok(b) => b,
                Err(e) => {
                    self.gate
                        .error(&self.fwd.target, "cannot read the journal", &e);
                    self.pause(&stop, drain_deadline).await;
                    continue;
                }
            };
            let Some(&(_, end)) = batch.last() else {
                if drain_deadline.is_some() && self.pending.is_empty() {
                    return;
                }
                let wait = if self.pending.is_empty() {
                    POLL
                } else {
                    POLL.min(CONFIRM_AFTER)
                };
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stop.cancelled(), if drain_deadline.is_none() => {}
                }
                continue;
            };
            let lines: Vec<String> = batch
                .iter()
                .filter_map(|(r, _)| match r {
                    Record::Event(e) => Some(format_event(e)),
                    Record::Corrupt { at, reason } => {
                        tracing::warn!(%at, %reason, "log_target: skipping a journal line that is not an event");
                        self.stats.corrupt += 1;
                        None
                    }
                })
                .collect();
            drop(batch);
            match self.send(&lines).await {
                Ok(()) => {
                    self.stats.sent += lines.len() as u64;
                    self.pending.push_back((end, Instant::now()));
                    self.gate.recovered(&self.fwd.target);
                    self.backoff = BACKOFF_MIN;
                }
                Err(e) => {
                    self.gate.error(&self.fwd.target, "cannot send events", &e);
                    self.rewind();
                    self.pause(&stop, drain_deadline).await;
                }
            }
        }
    }

    /// Commits every pending batch old enough, if the connection is still up;
    /// rewinds if it is not.
    fn confirm(&mut self) {
        let Some(&(_, oldest)) = self.pending.front() else {
            return;
        };
        if oldest.elapsed() < CONFIRM_AFTER {
            return;
        }
        if !self.conn.as_mut().is_some_and(Conn::alive) {
            self.gate.error(
                &self.fwd.target,
                "the receiver closed the connection",
                &"connection closed",
            );
            self.rewind();
            return;
        }
        let mut upto = None;
        while let Some(&(pos, at)) = self.pending.front() {
            if at.elapsed() < CONFIRM_AFTER {
                break;
            }
            upto = Some(pos);
            self.pending.pop_front();
        }
        if let Some(pos) = upto {
            match write_offset(&self.fwd.offset_file, pos) {
                Ok(()) => self.stats.committed = pos,
                Err(e) => {
                    self.gate.error(
                        &self.fwd.target,
                        &format!(
                            "cannot save the offset file {} (events may be sent twice)",
                            self.fwd.offset_file.display()
                        ),
                        &e,
                    );
                }
            }
        }
    }

    /// Drops the connection and everything unconfirmed: reading resumes at the committed offset.
    fn rewind(&mut self) {
        self.conn = None;
        self.pending.clear();
        self.reader = Some(JournalReader::open(&self.fwd.journal, self.stats.committed));
    }

    /// Waits out the backoff (jittered, doubling), cut short by the drain deadline.
    async fn pause(&mut self, stop: &CancellationToken, drain_deadline: Option<Instant>) {
        let half = self.backoff / 2;
        let jitter = rand::thread_rng().gen_range(Duration::ZERO..=half);
        let mut wait = half + jitter;
        self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
        if let Some(d) = drain_deadline {
            wait = wait.min(d.saturating_duration_since(Instant::now()));
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled(), if drain_deadline.is_none() => {}
        }
    }

    /// The next batch, read off the async threads.
    async fn read(&mut self) -> Result<Vec<(Record, JournalPos)>, String> {
        let mut reader = match self.reader.take() {
            Some(r) => r,
            None => JournalReader::open(&self.fwd.journal, self.stats.committed),
        };
        let joined = tokio::task::spawn_blocking(move || {
            let r = reader.read_batch(BATCH_EVENTS);
            (reader, r)
        })
        .await;
        match joined {
            Ok((reader, r)) => {
                self.reader = Some(reader);
                r.map_err(|e| e.to_string())
            }
            Err(e) => Err(format!("journal read task failed: {e}")),
        }
    }

    /// Sends one batch, connecting first if needed; any error drops the connection.
    async fn send(&mut self, lines: &[String]) -> io::Result<()> {
        if self.conn.as_mut().is_some_and(|c| !c.alive()) {
            self.conn = None;
        }
        if self.conn.is_none() {
            let c = tokio::time::timeout(CONNECT_TIMEOUT, connect(self.fwd))
                .await
                .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
            self.conn = Some(c);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err(io::Error::other("no connection"));
        };
        let r = tokio::time::timeout(WRITE_TIMEOUT, conn.send(lines))
            .await
            .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::TimedOut, "write timed out")));
        if r.is_err() {
            self.conn = None;
        }
        r
    }
}

/// Opens a connection to the forwarder's target.
async fn connect(fwd: &Forwarder) -> io::Result<Conn> {
    {
        let t = &fwd.target;
        let addr = tokio::net::lookup_host((t.host.as_str(), t.port))
            .await?
            .next()
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} resolves to no address", t.host),
                )
            })?;
        match t.transport {
            LogTransport::Udp => {
                let local: std::net::SocketAddr = if addr.is_ipv4() {
                    (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
                } else {
                    (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
                };
                let s = UdpSocket::bind(local).await?;
                s.connect(addr).await?;
                Ok(Conn::Udp(s))
            }
            LogTransport::Tcp => {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                Ok(Conn::Stream(Box::new(s)))
            }
            LogTransport::Tls => {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                let Some((connector, name)) = &fwd.tls else {
                    return Err(io::Error::other("TLS target without a TLS configuration"));
                };
                let tls = connector.connect(name.clone(), s).await?;
                Ok(Conn::Stream(Box::new(tls)))
            }
        }
    }
}

#[cfg(test)]
mod tests;
