//! [`HyperIo`]: hyper's I/O traits over any tokio `AsyncRead`/`AsyncWrite`, such as a
//! [`PollIo`](crate::net::PollIo).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

/// `hyper::rt::Read` and `hyper::rt::Write` over a `tokio::io::AsyncRead` /
/// `tokio::io::AsyncWrite` (and the tokio traits over a hyper I/O type, so hyper-util's
/// helpers that want either side work).
///
/// Reads go straight into hyper's (possibly uninitialised) buffer through tokio's
/// `ReadBuf`; nothing is copied or buffered here. Cancel safety is the inner type's: over
/// [`PollIo`](crate::net::PollIo), a read or write that returns `Pending` has moved no
/// bytes.
#[derive(Debug)]
pub struct HyperIo<T> {
    inner: T,
}

impl<T> HyperIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> Self {
        HyperIo { inner }
    }

    /// The wrapped I/O object.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The wrapped I/O object, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// Unwraps the I/O object.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: tokio::io::AsyncRead + Unpin> hyper::rt::Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // SAFETY: tokio's `ReadBuf::uninit` only ever writes initialised bytes into the
        // slice and never de-initialises any; the slice is hyper's unfilled, possibly
        // uninitialised part, which is what `ReadBuf::uninit` expects.
        let mut tbuf = tokio::io::ReadBuf::uninit(unsafe { buf.as_mut() });
        match tokio::io::AsyncRead::poll_read(Pin::new(&mut this.inner), cx, &mut tbuf) {
            Poll::Ready(Ok(())) => {
                let n = tbuf.filled().len();
                // SAFETY: the first `n` bytes of the cursor's slice were filled (so
                // initialised) by the read above.
                unsafe { buf.advance(n) };
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> hyper::rt::Write for HyperIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.get_mut().inner), cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.get_mut().inner), cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.get_mut().inner), cx)
    }

    fn is_write_vectored(&self) -> bool {
        tokio::io::AsyncWrite::is_write_vectored(&self.inner)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write_vectored(Pin::new(&mut self.get_mut().inner), cx, bufs)
    }
}
