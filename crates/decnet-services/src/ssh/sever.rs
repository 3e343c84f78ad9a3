//! A stream that can be cut from outside. russh runs every session in a task
//! of its own, so dropping (or aborting) `serve` would leave the connection
//! open: the supervisor's session deadline, the pre-auth deadline and aborts
//! would close nothing. `serve` holds the [`Cut`] guard; when it goes, the
//! session's pending and later reads and writes fail, and russh ends the session.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::sync::{CancellationToken, DropGuard, WaitForCancellationFutureOwned};

/// Cuts its [`Severable`] stream when dropped.
#[derive(Debug)]
pub struct Cut(#[allow(dead_code)] DropGuard);

/// A stream whose reads and writes fail once its [`Cut`] is dropped.
pub struct Severable<S> {
    inner: S,
    token: CancellationToken,
    cut: Pin<Box<WaitForCancellationFutureOwned>>,
}

/// Wraps `inner`; the stream works until the returned [`Cut`] is dropped.
pub fn severable<S>(inner: S) -> (Severable<S>, Cut) {
    let token = CancellationToken::new();
    let stream = Severable {
        inner,
        cut: Box::pin(token.clone().cancelled_owned()),
        token: token.clone(),
    };
    (stream, Cut(token.drop_guard()))
}

impl<S> Severable<S> {
    /// Whether the stream was cut; registers `cx` to be woken when it is.
    fn is_cut(&mut self, cx: &mut Context<'_>) -> bool {
        self.token.is_cancelled() || self.cut.as_mut().poll(cx).is_ready()
    }
}

fn severed() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "session ended by the server",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for Severable<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_cut(cx) {
            return Poll::Ready(Err(severed()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Severable<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_cut(cx) {
            return Poll::Ready(Err(severed()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_cut(cx) {
            return Poll::Ready(Err(severed()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn dropping_the_cut_fails_a_pending_read_and_later_writes() {
        let (a, _b) = tokio::io::duplex(64);
        let (mut s, cut) = severable(a);
        let reader = tokio::spawn(async move {
            let mut buf = [0u8; 8];
            let r = s.read(&mut buf).await;
            (r.map_err(|e| e.kind()), s)
        });
        tokio::task::yield_now().await;
        assert!(
            !reader.is_finished(),
            "the read waits while the stream is whole"
        );
        drop(cut);
        let (r, mut s) = reader.await.unwrap();
        assert_eq!(r, Err(io::ErrorKind::ConnectionAborted));
        let w = s.write_all(b"x").await.map_err(|e| e.kind());
        assert_eq!(w, Err(io::ErrorKind::ConnectionAborted));
    }

    #[tokio::test]
    async fn an_uncut_stream_passes_bytes_through() {
        let (a, mut b) = tokio::io::duplex(64);
        let (mut s, _cut) = severable(a);
        s.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
    }
}
