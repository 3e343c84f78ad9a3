//! Data channels: passive (`PASV`/`EPSV`: a listener on the decky's own
//! address, a port from the persona's range) and active (`PORT`/`EPRT`: a
//! connection back to the control connection's peer, never to a third host).
//!
//! Bounded as vsftpd is: one channel is prepared at a time (a new `PASV` drops
//! the previous listener), a passive listener waits [`ACCEPT_TIMEOUT`] for its
//! peer and takes only the control connection's peer address ("Security: Bad IP
//! connecting."), and a control connection prepares at most
//! [`MAX_DATA_CHANNELS`] in its life. Every channel holds a slot of the
//! supervisor's limits from the moment it is prepared ([`ExtraSlots`](crate::service::ExtraSlots)), and
//! everything here is owned by the control connection's task, so channels
//! close with it. Transfers run through a [`Conn`]: idle deadline and byte cap.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};

use crate::conn::Conn;
use crate::service::{ConnCtx, SlotGuard, SlotRefused};

/// How long a passive listener waits for its peer, and an active connect may take
/// (vsftpd's `accept_timeout` and `connect_timeout`).
pub const ACCEPT_TIMEOUT: Duration = Duration::from_secs(60);
/// Data channels one control connection may prepare in its life.
pub const MAX_DATA_CHANNELS: u32 = 500;
/// Ports of a range tried before a passive listener gives up.
const BIND_TRIES: u32 = 32;

/// `limit` of the `limit_exceeded` event of a control connection past [`MAX_DATA_CHANNELS`].
pub const LIMIT_DATA_CHANNELS: &str = "max_data_channels";

/// The passive port range (`pasv_min_port`..=`pasv_max_port`); `None` lets the
/// kernel pick, as vsftpd does when both are 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange(pub Option<(u16, u16)>);

/// A data channel prepared by the last `PASV`, `EPSV`, `PORT` or `EPRT`.
#[derive(Debug)]
enum Prepared {
    None,
    Passive {
        listener: TcpListener,
        slot: SlotGuard,
    },
    Active {
        peer: SocketAddr,
        slot: SlotGuard,
    },
}

/// Why no channel could be prepared.
#[derive(Debug)]
pub enum PrepareError {
    /// The supervisor's limits are full.
    Refused(SlotRefused),
    /// This control connection prepared [`MAX_DATA_CHANNELS`] already.
    Exhausted,
    /// No port of the range could be bound.
    Bind(std::io::Error),
}

/// Why a transfer found no data connection.
#[derive(Debug)]
pub enum OpenError {
    /// Nothing prepared: `425 Use PORT or PASV first.`
    NotPrepared,
    /// The peer never came, or the connect back failed: `425 Failed to establish connection.`
    Failed,
    /// Someone else connected to the passive port: `425 Security: Bad IP connecting.`
    BadIp(SocketAddr),
}

/// The data channels of one control connection.
#[derive(Debug)]
pub struct Channels {
    range: PortRange,
    prepared: Prepared,
    count: u32,
}

impl Channels {
    /// No channel yet.
    pub fn new(range: PortRange) -> Channels {
        Channels {
            range,
            prepared: Prepared::None,
            count: 0,
        }
    }

    /// Whether a channel is prepared.
    pub fn is_prepared(&self) -> bool {
        !matches!(self.prepared, Prepared::None)
    }

    /// Drops the prepared channel (its listener and slot).
    pub fn clear(&mut self) {
        self.prepared = Prepared::None;
    }

    fn slot(&mut self, ctx: &ConnCtx) -> Result<SlotGuard, PrepareError> {
        // The previous channel goes first: its slot is free for this one.
        self.clear();
        if self.count >= MAX_DATA_CHANNELS {
            return Err(PrepareError::Exhausted);
        }
        self.count += 1;
        ctx.slots
            .admit(ctx.peer.ip(), &ctx.abort)
            .map_err(PrepareError::Refused)
    }

    /// Opens a passive listener on the decky's own address; its port.
    pub async fn passive(&mut self, ctx: &ConnCtx) -> Result<u16, PrepareError> {
        let slot = self.slot(ctx)?;
        let ip = ctx.local.ip();
        let listener = bind_in(ip, self.range).map_err(PrepareError::Bind)?;
        let port = listener.local_addr().map_err(PrepareError::Bind)?.port();
        self.prepared = Prepared::Passive { listener, slot };
        Ok(port)
    }

    /// Remembers where to connect back to. The caller has checked that `peer`
    /// is the control connection's peer.
    pub fn active(&mut self, ctx: &ConnCtx, peer: SocketAddr) -> Result<(), PrepareError> {
        let slot = self.slot(ctx)?;
        self.prepared = Prepared::Active { peer, slot };
        Ok(())
    }

    /// The data connection of the prepared channel (used up by this call).
    pub async fn open(&mut self, ctx: &ConnCtx) -> Result<Conn, OpenError> {
        let limits = &ctx.decky.limits;
        let wait = ACCEPT_TIMEOUT.min(limits.idle_timeout);
        match std::mem::replace(&mut self.prepared, Prepared::None) {
            Prepared::None => Err(OpenError::NotPrepared),
            Prepared::Passive { listener, slot } => {
                let (stream, peer) = tokio::time::timeout(wait, listener.accept())
                    .await
                    .map_err(|_| OpenError::Failed)?
                    .map_err(|_| OpenError::Failed)?;
                if peer.ip() != ctx.peer.ip() {
                    return Err(OpenError::BadIp(peer));
                }
                let local = stream.local_addr().unwrap_or(ctx.local);
                Ok(Conn::new(
                    Box::new(Held {
                        stream,
                        _slot: slot,
                    }),
                    peer,
                    local,
                    limits,
                ))
            }
            Prepared::Active { peer, slot } => {
                let socket = match ctx.local.ip() {
                    IpAddr::V4(_) => TcpSocket::new_v4(),
                    IpAddr::V6(_) => TcpSocket::new_v6(),
                }
                .map_err(|_| OpenError::Failed)?;
                // From the decky's own address, so the peer sees the host it talks to.
                socket
                    .bind(SocketAddr::new(ctx.local.ip(), 0))
                    .map_err(|_| OpenError::Failed)?;
                let stream = tokio::time::timeout(wait, socket.connect(peer))
                    .await
                    .map_err(|_| OpenError::Failed)?
                    .map_err(|_| OpenError::Failed)?;
                let local = stream.local_addr().unwrap_or(ctx.local);
                Ok(Conn::new(
                    Box::new(Held {
                        stream,
                        _slot: slot,
                    }),
                    peer,
                    local,
                    limits,
                ))
            }
        }
    }
}

/// A listener on `ip`, on a port of `range` (tried from a random point of it).
fn bind_in(ip: IpAddr, range: PortRange) -> std::io::Result<TcpListener> {
    let Some((min, max)) = range.0 else {
        return listen(SocketAddr::new(ip, 0));
    };
    let span = u32::from(max.saturating_sub(min)) + 1;
    let start = rand::random::<u32>() % span;
    let mut last = std::io::Error::other("empty passive port range");
    for i in 0..span.min(BIND_TRIES) {
        let offset = (start + i) % span;
        let port = u16::try_from(u32::from(min) + offset).unwrap_or(min);
        match listen(SocketAddr::new(ip, port)) {
            Ok(l) => return Ok(l),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1)
}

/// A data socket carrying its slot of the supervisor's limits: both go when it closes.
struct Held {
    stream: tokio::net::TcpStream,
    _slot: SlotGuard,
}

impl tokio::io::AsyncRead for Held {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Held {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
