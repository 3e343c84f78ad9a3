//! Looking at a connection's first bytes without losing them: [`peek`] reads a few
//! bytes under a deadline (to tell TLS from plaintext, or one protocol from another),
//! and [`Rewind`] replays them before the rest of the stream, so whatever parses the
//! connection next sees it whole.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{BufMut, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, ReadBuf};
use tokio::time::Instant;

/// A stream that first replays `prefix`, then reads from the inner stream. Writes go
/// straight to the inner stream.
#[derive(Debug)]
pub struct Rewind<I> {
    prefix: Bytes,
    inner: I,
}

impl<I> Rewind<I> {
    /// Replays `prefix` before reading `inner`.
    pub fn new(prefix: Bytes, inner: I) -> Rewind<I> {
        Rewind { prefix, inner }
    }

    /// The bytes still to be replayed.
    pub fn prefix(&self) -> &[u8] {
        &self.prefix
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &I {
        &self.inner
    }

    /// The inner stream, mutably (reads through it skip the unreplayed prefix).
    pub fn get_mut(&mut self) -> &mut I {
        &mut self.inner
    }

    /// The unreplayed prefix and the inner stream.
    pub fn into_parts(self) -> (Bytes, I) {
        (self.prefix, self.inner)
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Rewind<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            let head = self.prefix.split_to(n);
            buf.put_slice(&head);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

/// Implements `AsyncWrite` for a read-side wrapper by passing every write to its
/// `inner` field unchanged (the replay and tap streams only look at what is read).
macro_rules! write_through {
    ($wrapper:ident) => {
        impl<I: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $wrapper<I> {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }
        }
    };
}
pub(crate) use write_through;

write_through!(Rewind);

/// Reads until `n` bytes have arrived, the stream ends or `deadline` passes, and
/// returns what arrived (possibly nothing: a client that waits for a greeting sends
/// nothing, which is itself the answer to "is this TLS?"). Wrap the stream in
/// [`Rewind`] with the result to read it again.
pub async fn peek<S: AsyncRead + Unpin>(
    stream: &mut S,
    n: usize,
    deadline: Instant,
) -> io::Result<Bytes> {
    let mut got = BytesMut::with_capacity(n);
    while got.len() < n {
        let room = n - got.len();
        let mut limited = (&mut got).limit(room);
        match tokio::time::timeout_at(deadline, stream.read_buf(&mut limited)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e),
        }
    }
    Ok(got.freeze())
}

/// [`peek`], then the stream wrapped so the peeked bytes are read again.
pub async fn peek_rewind<S: AsyncRead + Unpin>(
    mut stream: S,
    n: usize,
    deadline: Instant,
) -> io::Result<Rewind<S>> {
    let head = peek(&mut stream, n, deadline).await?;
    Ok(Rewind::new(head, stream))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn rewind_replays_the_prefix_then_reads_on_and_writes_through() {
        let (mut peer, ours) = tokio::io::duplex(64);
        peer.write_all(b" world").await.unwrap();
        drop(peer);
        let mut r = Rewind::new(Bytes::from_static(b"hello"), ours);
        let mut small = [0u8; 3];
        assert_eq!(r.read(&mut small).await.unwrap(), 3);
        assert_eq!(&small, b"hel");
        assert_eq!(r.prefix(), b"lo");
        assert_eq!(read_all(&mut r).await, b"lo world");

        let (mut peer, ours) = tokio::io::duplex(64);
        let mut r = Rewind::new(Bytes::from_static(b"x"), ours);
        r.write_all(b"reply").await.unwrap();
        let mut got = [0u8; 5];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"reply");
    }

    /// Everything up to the end (test streams are small; capped all the same).
    async fn read_all<S: AsyncRead + Unpin>(s: &mut S) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 16];
        while out.len() < 1024 {
            match s.read(&mut chunk).await.unwrap() {
                0 => break,
                n => out.extend_from_slice(&chunk[..n]),
            }
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn peek_stops_at_n_at_eof_or_at_the_deadline() {
        let (mut peer, mut ours) = tokio::io::duplex(64);
        peer.write_all(b"\x16\x03\x01\x02\x00rest").await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(3);
        let head = peek(&mut ours, 3, deadline).await.unwrap();
        assert_eq!(&head[..], b"\x16\x03\x01");
        assert!(Instant::now() < deadline, "enough bytes must not wait");

        // A client that waits for a greeting sends nothing: the deadline answers.
        let (_peer, ours) = tokio::io::duplex(64);
        let deadline = Instant::now() + Duration::from_secs(3);
        let r = peek_rewind(ours, 3, deadline).await.unwrap();
        assert!(r.prefix().is_empty());
        assert!(Instant::now() >= deadline);

        // Fewer bytes than asked, then the end: what arrived is kept and replayed.
        let (mut peer, ours) = tokio::io::duplex(64);
        peer.write_all(b"GE").await.unwrap();
        drop(peer);
        let mut r = peek_rewind(ours, 3, Instant::now() + Duration::from_secs(3))
            .await
            .unwrap();
        assert_eq!(read_all(&mut r).await, b"GE");
    }
}
