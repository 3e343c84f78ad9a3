//! The packet stream of one connection: frames read under a cap (and, before
//! the login, a deadline), packets written and flushed.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use super::packet::{frame, Frame, FrameError, Framer};

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 4096;

/// What reading the next frame gave.
#[derive(Debug)]
pub enum Recv {
    /// A whole frame.
    Frame(Frame),
    /// The peer closed (or the connection failed).
    Eof,
    /// The deadline passed first.
    Deadline,
    /// A frame announced a payload above the cap (its length and sequence number).
    TooLarge(usize, u8),
}

/// One connection's packets.
#[derive(Debug)]
pub struct Wire<S> {
    stream: S,
    framer: Framer,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Wire<S> {
    /// Packets over `stream`, payloads capped at `cap`.
    pub fn new(stream: S, cap: usize) -> Wire<S> {
        Wire {
            stream,
            framer: Framer::new(cap),
        }
    }

    /// Changes the payload cap (larger once the client has logged in).
    pub fn set_cap(&mut self, cap: usize) {
        let mut f = Framer::new(cap);
        std::mem::swap(&mut f, &mut self.framer);
        // Carry over what was already read (pipelined commands).
        while let Ok(Some(fr)) = f.next_frame() {
            self.framer.push(&frame(fr.seq, &fr.payload));
        }
    }

    /// The next frame, waiting at most until `deadline` when one is given.
    pub async fn recv(&mut self, deadline: Option<Instant>) -> Recv {
        loop {
            match self.framer.next_frame() {
                Ok(Some(f)) => return Recv::Frame(f),
                Err(FrameError::TooLarge { len, seq }) => return Recv::TooLarge(len, seq),
                Ok(None) => {}
            }
            let mut buf = [0u8; READ_CHUNK];
            let read = match deadline {
                Some(d) => match tokio::time::timeout_at(d, self.stream.read(&mut buf)).await {
                    Ok(r) => r,
                    Err(_) => return Recv::Deadline,
                },
                None => self.stream.read(&mut buf).await,
            };
            match read {
                Ok(0) | Err(_) => return Recv::Eof,
                Ok(n) => self.framer.push(buf.get(..n).unwrap_or(&[])),
            }
        }
    }

    /// Sends one packet.
    pub async fn send(&mut self, seq: u8, payload: &[u8]) -> std::io::Result<()> {
        self.send_raw(&frame(seq, payload)).await
    }

    /// Sends packets already framed.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes).await?;
        self.stream.flush().await
    }

    /// Closes the write side.
    pub async fn shutdown(&mut self) {
        let _ = self.stream.shutdown().await;
    }
}
