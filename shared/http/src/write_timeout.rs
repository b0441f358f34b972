//! A connection whose peer stops reading is closed after a while, not kept for its patience.
//!
//! Nothing in hyper bounds how long a write may wait for the peer: a client that opens a stream
//! (server-sent events, a WebSocket) and never reads fills the socket's buffers, then the
//! response waits forever with whatever it had queued. A probe's thousand unread availability
//! streams held 3.7 GB until the client left. [`WriteTimeout`] wraps a connection's I/O so that a
//! write (or flush, or shutdown) that makes no progress for its limit fails with
//! [`WriteStalled`] (as `io::ErrorKind::TimedOut`), which ends the connection and frees what it
//! held. Any progress restarts the clock, so a slow reader on a slow link is served; reads are
//! untouched, and an idle connection (nothing to write) is the header timeout's business.
//!
//! It wraps the connection below hyper, so a connection upgraded to a WebSocket keeps it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// A write to a connection made no progress within its limit: the peer stopped reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the peer took nothing written for {0:?}")]
pub struct WriteStalled(pub Duration);

/// `io` whose writes fail once one has waited on the peer for `limit` without progress.
#[derive(Debug)]
pub struct WriteTimeout<I> {
    io: I,
    limit: Duration,
    /// Set when a write first waits on the peer; cleared by any progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<I> WriteTimeout<I> {
    pub fn new(io: I, limit: Duration) -> Self {
        Self {
            io,
            limit,
            stalled: None,
        }
    }

    /// Runs one write-side operation; a pending one starts (or keeps) the stall clock, and
    /// fails once it has run out.
    fn bounded<T>(
        &mut self,
        cx: &mut Context<'_>,
        op: impl FnOnce(&mut I, &mut Context<'_>) -> Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match op(&mut self.io, cx) {
            Poll::Ready(done) => {
                self.stalled = None;
                Poll::Ready(done)
            }
            Poll::Pending => {
                let limit = self.limit;
                let stalled = self
                    .stalled
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        WriteStalled(limit),
                    ))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for WriteTimeout<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for WriteTimeout<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |io, cx| Pin::new(io).poll_write(cx, buf))
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.bounded(cx, |io, cx| Pin::new(io).poll_write_vectored(cx, bufs))
    }

    /// As the connection's: hyper hands a vectored connection its response's chunks as they are
    /// (shared events included) instead of copying them into one buffer.
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.bounded(cx, |io, cx| Pin::new(io).poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.bounded(cx, |io, cx| Pin::new(io).poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    const LIMIT: Duration = Duration::from_secs(1);

    /// A peer that reads nothing: once its buffer is full, the write fails at the limit.
    #[tokio::test]
    async fn a_write_the_peer_never_takes_fails_at_the_limit() {
        let (ours, _peer) = tokio::io::duplex(64);
        let mut io = WriteTimeout::new(ours, LIMIT);
        io.write_all(&[b'x'; 64]).await.unwrap();
        let started = Instant::now();
        let error = tokio::time::timeout(LIMIT * 10, io.write_all(b"more"))
            .await
            .expect("the write fails rather than waits")
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= LIMIT, "not before the limit");
        assert_eq!(
            error
                .into_inner()
                .unwrap()
                .downcast::<WriteStalled>()
                .unwrap(),
            Box::new(WriteStalled(LIMIT))
        );
    }

    /// A slow reader is served: each bit of progress restarts the clock.
    #[tokio::test]
    async fn a_peer_that_reads_slowly_is_served() {
        let (ours, mut peer) = tokio::io::duplex(64);
        let reader = tokio::spawn(async move {
            let mut buf = [0; 64];
            let mut read = 0;
            while read < 640 {
                tokio::time::sleep(LIMIT / 5).await;
                read += peer.read(&mut buf).await.unwrap();
            }
        });
        let mut io = WriteTimeout::new(ours, LIMIT);
        io.write_all(&[b'x'; 640]).await.unwrap();
        reader.await.unwrap();
    }
}
