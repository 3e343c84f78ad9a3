//! The supervised connection every service reads from: an idle deadline on
//! every read and write, a cap on the bytes a peer may send, and a cap on the
//! size of any single read. Services parse; this type makes sure no attacker
//! can make them wait or allocate without bound.
//!
//! Small reads (russh reads a packet's length, then its body) are served from
//! a small buffer filled by one socket read, so a packet costs one system call
//! rather than one per field; a read as large as the buffer goes straight to
//! the socket. The idle deadline is re-armed only when it fires, from the time
//! of the last read, so a busy connection does not touch the timer on every read.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use decnet_core::config::model::Limits;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Anything a connection can run over (a TCP stream, or a duplex pipe in tests).
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// Which limit ended a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitTrip {
    /// Nothing moved for `idle_timeout`.
    Idle,
    /// The peer sent more than `max_bytes_in`.
    BytesIn,
    /// The connection outlived `session_timeout` (set by the supervisor).
    SessionTime,
}

impl LimitTrip {
    /// Name used in `limit_exceeded` events.
    pub fn as_str(self) -> &'static str {
        match self {
            LimitTrip::Idle => "idle_timeout",
            LimitTrip::BytesIn => "max_bytes_in",
            LimitTrip::SessionTime => "session_timeout",
        }
    }
}

/// Shared record of the first limit a connection hit and of the bytes it received,
/// read by the supervisor after the service returns.
#[derive(Debug, Clone, Default)]
pub struct TripFlag(Arc<TripInner>);

#[derive(Debug, Default)]
struct TripInner {
    trip: Mutex<Option<LimitTrip>>,
    bytes_in: AtomicU64,
}

impl TripFlag {
    /// Records a trip (the first one wins).
    pub fn set(&self, t: LimitTrip) {
        if let Ok(mut g) = self.0.trip.lock() {
            g.get_or_insert(t);
        }
    }
    /// The limit that tripped, if any.
    pub fn get(&self) -> Option<LimitTrip> {
        self.0.trip.lock().ok().and_then(|g| *g)
    }
    /// Bytes the peer sent.
    pub fn bytes_in(&self) -> u64 {
        self.0.bytes_in.load(Ordering::Relaxed)
    }
}

/// Size of the buffer small reads are served from.
const READ_BUF: usize = 4096;

/// A supervised, limited connection.
pub struct Conn {
    io: Box<dyn Io>,
    peer: SocketAddr,
    local: SocketAddr,
    idle: Duration,
    /// Fires at or before `last_read + idle`; re-armed from `last_read` when it fires early.
    read_deadline: Pin<Box<Sleep>>,
    /// When bytes last came off the socket (or the connection was made).
    last_read: Instant,
    /// Bytes read from the socket, not yet handed to the service (allocated on the first small read).
    rbuf: Box<[u8]>,
    /// Next unread byte of `rbuf`.
    rpos: usize,
    /// End of the valid bytes in `rbuf`.
    rend: usize,
    write_deadline: Pin<Box<Sleep>>,
    write_pending: bool,
    bytes_in: u64,
    max_bytes_in: u64,
    max_read: usize,
    trip: TripFlag,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("peer", &self.peer)
            .field("local", &self.local)
            .field("bytes_in", &self.bytes_in)
            .finish()
    }
}

impl Conn {
    /// Wraps a stream under the given limits.
    pub fn new(io: Box<dyn Io>, peer: SocketAddr, local: SocketAddr, limits: &Limits) -> Conn {
        let idle = limits.idle_timeout;
        Conn {
            io,
            peer,
            local,
            idle,
            read_deadline: Box::pin(tokio::time::sleep(idle)),
            last_read: Instant::now(),
            rbuf: Box::default(),
            rpos: 0,
            rend: 0,
            write_deadline: Box::pin(tokio::time::sleep(idle)),
            write_pending: false,
            bytes_in: 0,
            max_bytes_in: limits.max_bytes_in,
            max_read: limits.max_read_bytes.max(1),
            trip: TripFlag::default(),
        }
    }

    /// Peer address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
    /// Local (decky) address.
    pub fn local(&self) -> SocketAddr {
        self.local
    }
    /// Bytes the peer has sent so far.
    pub fn bytes_in(&self) -> u64 {
        self.bytes_in
    }
    /// The trip flag, for the supervisor to read after the service returns.
    pub fn trip_flag(&self) -> TripFlag {
        self.trip.clone()
    }

    fn tripped(&self, t: LimitTrip) -> io::Error {
        self.trip.set(t);
        let kind = match t {
            LimitTrip::Idle | LimitTrip::SessionTime => io::ErrorKind::TimedOut,
            LimitTrip::BytesIn => io::ErrorKind::ConnectionAborted,
        };
        io::Error::new(kind, t.as_str())
    }
}

impl Conn {
    /// One read from the socket into `dst`, at most `cap` bytes: counts them,
    /// notes the activity, and trips the idle deadline while nothing comes.
    fn poll_socket(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut limited = ReadBuf::new(dst);
        match Pin::new(&mut self.io).poll_read(cx, &mut limited) {
            Poll::Ready(Ok(())) => {
                let n = limited.filled().len();
                self.bytes_in += n as u64;
                self.trip.0.bytes_in.store(self.bytes_in, Ordering::Relaxed);
                self.last_read = Instant::now();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => loop {
                if self.read_deadline.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                let due = self.last_read + self.idle;
                if due <= Instant::now() {
                    return Poll::Ready(Err(self.tripped(LimitTrip::Idle)));
                }
                // Bytes came since the deadline was armed: it counts from them.
                self.read_deadline.as_mut().reset(due);
            },
        }
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let want = buf.remaining().min(this.max_read);
        if want == 0 {
            return Poll::Ready(Ok(()));
        }
        // Buffered bytes first: they were counted when they came off the socket.
        if this.rpos < this.rend {
            let avail = this.rbuf.get(this.rpos..this.rend).unwrap_or(&[]);
            let n = avail.len().min(want);
            buf.put_slice(avail.get(..n).unwrap_or(&[]));
            this.rpos += n;
            return Poll::Ready(Ok(()));
        }
        if this.bytes_in >= this.max_bytes_in {
            return Poll::Ready(Err(this.tripped(LimitTrip::BytesIn)));
        }
        let remaining = usize::try_from(this.max_bytes_in - this.bytes_in).unwrap_or(usize::MAX);
        let want = want.min(remaining);
        if want >= READ_BUF {
            // Large reads gain nothing from the buffer: straight into the caller's.
            let dst = buf.initialize_unfilled_to(want);
            return match this.poll_socket(cx, dst) {
                Poll::Ready(Ok(n)) => {
                    buf.advance(n);
                    Poll::Ready(Ok(()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            };
        }
        if this.rbuf.is_empty() {
            this.rbuf = vec![0u8; READ_BUF].into_boxed_slice();
        }
        let fill = READ_BUF.min(remaining);
        let mut rbuf = std::mem::take(&mut this.rbuf);
        let r = match rbuf.get_mut(..fill) {
            Some(dst) => this.poll_socket(cx, dst),
            None => Poll::Ready(Ok(0)),
        };
        let r = match r {
            Poll::Ready(Ok(n)) => {
                let n = n.min(fill);
                let give = n.min(want);
                buf.put_slice(rbuf.get(..give).unwrap_or(&[]));
                this.rpos = give;
                this.rend = n;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        };
        this.rbuf = rbuf;
        r
    }
}

impl Conn {
    fn poll_write_deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        r: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match r {
            Poll::Pending => {
                if !self.write_pending {
                    self.write_pending = true;
                    self.write_deadline
                        .as_mut()
                        .reset(Instant::now() + self.idle);
                }
                if self.write_deadline.as_mut().poll(cx).is_ready() {
                    Poll::Ready(Err(self.tripped(LimitTrip::Idle)))
                } else {
                    Poll::Pending
                }
            }
            ready => {
                self.write_pending = false;
                ready
            }
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_write(cx, buf);
        this.poll_write_deadline(cx, r)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_flush(cx);
        this.poll_write_deadline(cx, r)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_shutdown(cx);
        this.poll_write_deadline(cx, r)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        let r = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.poll_write_deadline(cx, r)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits() -> Limits {
        Limits {
            idle_timeout: Duration::from_secs(5),
            max_bytes_in: 10,
            max_read_bytes: 4,
            ..Limits::DEFAULT
        }
    }

    fn pair(l: &Limits) -> (Conn, tokio::io::DuplexStream) {
        let (a, b) = tokio::io::duplex(1024);
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap_or_else(|_| unreachable!());
        (Conn::new(Box::new(a), addr, addr, l), b)
    }

    #[tokio::test]
    async fn reads_are_capped_per_call_and_in_total() {
        let (mut c, mut peer) = pair(&limits());
        peer.write_all(b"0123456789abcdef").await.unwrap();
        let mut buf = [0u8; 64];
        let n = c.read(&mut buf).await.unwrap();
        assert_eq!(n, 4, "a single read must not exceed max_read_bytes");
        let mut total = n;
        let err = loop {
            match c.read(&mut buf).await {
                Ok(n) => total += n,
                Err(e) => break e,
            }
        };
        assert_eq!(total, 10);
        assert_eq!(err.kind(), io::ErrorKind::ConnectionAborted);
        assert_eq!(c.trip_flag().get(), Some(LimitTrip::BytesIn));
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_trips_the_idle_deadline() {
        let (mut c, _peer) = pair(&limits());
        let mut buf = [0u8; 8];
        let err = c.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(c.trip_flag().get(), Some(LimitTrip::Idle));
    }

    #[tokio::test(start_paused = true)]
    async fn a_peer_that_never_reads_trips_the_write_deadline() {
        let (a, _b) = tokio::io::duplex(16);
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut c = Conn::new(Box::new(a), addr, addr, &limits());
        let err = c.write_all(&[0u8; 1024]).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(c.trip_flag().get(), Some(LimitTrip::Idle));
    }

    /// An `Io` that counts the reads that reach it.
    struct Counted(tokio::io::DuplexStream, Arc<AtomicU64>);

    impl AsyncRead for Counted {
        fn poll_read(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let r = Pin::new(&mut self.0).poll_read(cx, buf);
            if r.is_ready() {
                self.1.fetch_add(1, Ordering::Relaxed);
            }
            r
        }
    }

    impl AsyncWrite for Counted {
        fn poll_write(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.0).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.0).poll_shutdown(cx)
        }
    }

    #[tokio::test]
    async fn small_reads_of_one_packet_take_one_socket_read() {
        let (a, mut peer) = tokio::io::duplex(1024);
        let reads = Arc::new(AtomicU64::new(0));
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let mut c = Conn::new(
            Box::new(Counted(a, reads.clone())),
            addr,
            addr,
            &Limits::DEFAULT,
        );
        let packet: Vec<u8> = (0..100u8).collect();
        peer.write_all(&packet).await.unwrap();
        // A length, then the body, as russh reads a packet.
        let mut len = [0u8; 4];
        c.read_exact(&mut len).await.unwrap();
        let mut body = [0u8; 96];
        c.read_exact(&mut body).await.unwrap();
        assert_eq!([&len[..], &body[..]].concat(), packet);
        assert_eq!(reads.load(Ordering::Relaxed), 1);
        assert_eq!(c.bytes_in(), 100);
        // What follows still arrives, in order, after the buffer is used up.
        peer.write_all(b"next").await.unwrap();
        let mut next = [0u8; 4];
        c.read_exact(&mut next).await.unwrap();
        assert_eq!(&next, b"next");
    }

    #[tokio::test]
    async fn a_large_read_gets_what_came_and_eof_passes_through() {
        let (mut c, mut peer) = pair(&Limits {
            max_bytes_in: 100_000,
            max_read_bytes: 64 * 1024,
            ..limits()
        });
        let data = vec![7u8; 10_000];
        peer.write_all(&data[..1000]).await.unwrap();
        let mut buf = vec![0u8; 8192];
        assert_eq!(c.read(&mut buf).await.unwrap(), 1000);
        assert_eq!(c.bytes_in(), 1000);
        drop(peer);
        assert_eq!(c.read(&mut buf).await.unwrap(), 0, "EOF passes through");
    }

    #[tokio::test(start_paused = true)]
    async fn the_idle_deadline_counts_from_the_last_read() {
        let (mut c, mut peer) = pair(&Limits {
            max_bytes_in: 1000,
            ..limits()
        });
        let start = Instant::now();
        let mut buf = [0u8; 8];
        tokio::time::advance(Duration::from_secs(4)).await;
        peer.write_all(b"x").await.unwrap();
        assert_eq!(c.read(&mut buf).await.unwrap(), 1);
        // The deadline armed at the start passes at 5 s; the trip is 5 s after the read.
        let err = c.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(start.elapsed(), Duration::from_secs(9));
        assert_eq!(c.trip_flag().get(), Some(LimitTrip::Idle));
    }

    #[tokio::test(start_paused = true)]
    async fn activity_resets_the_idle_deadline() {
        let (mut c, mut peer) = pair(&Limits {
            max_bytes_in: 1000,
            ..limits()
        });
        let mut buf = [0u8; 8];
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(4)).await;
            peer.write_all(b"x").await.unwrap();
            assert_eq!(c.read(&mut buf).await.unwrap(), 1);
        }
        assert_eq!(c.trip_flag().get(), None);
    }
}
