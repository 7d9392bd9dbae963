//! [`RingIo`]: hyper's I/O traits over a [`TcpStream`](crate::net::TcpStream) through the
//! ring with owned buffers (a receive into the adapter's buffer, write-behind sends).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

type RingOp<T> = Pin<Box<dyn Future<Output = crate::BufResult<T, Vec<u8>>>>>;

/// `hyper::rt::Read`/`Write` over a [`TcpStream`](crate::net::TcpStream) through the ring
/// with owned buffers: reads are IORING_OP_RECV into the adapter's buffer, copied out to
/// hyper; writes are copied into an owned buffer and handed to IORING_OP_SEND at once
/// (write-behind), so each connection's sends and receives go out in the core's next
/// io_uring_enter together with every other connection's, instead of one recv(2) and one
/// send(2) per call as over [`PollIo`](crate::net::PollIo) with [`HyperIo`](super::HyperIo).
///
/// The price is one copy per direction (`capacity` bytes of read buffer, 16 KiB by
/// default, and one write buffer per connection), and that a write's error is reported by
/// the next call (`poll_write`, `poll_flush` or `poll_shutdown`) rather than the one that
/// accepted the bytes. `poll_flush` waits until the kernel has taken every accepted byte;
/// at most one send is in flight, so a slow peer applies backpressure through
/// `poll_write`. Dropping the adapter cancels what is in flight (unflushed bytes are lost,
/// as with any socket closed before a flush).
///
/// Cancel safety: the in-flight receive and send belong to the adapter, not to the
/// caller's future, so a `poll_read` or `poll_write` that returned `Pending` loses
/// nothing: the next call polls the same op.
pub struct RingIo {
    stream: Rc<crate::net::TcpStream>,
    capacity: usize,
    /// Received bytes not yet handed to hyper: `buf[pos..]`.
    rbuf: Vec<u8>,
    rpos: usize,
    reading: Option<RingOp<usize>>,
    /// A spare write buffer, reused between sends.
    wspare: Vec<u8>,
    writing: Option<RingOp<()>>,
    /// The error of a finished send, for the next write, flush or shutdown.
    werr: Option<io::Error>,
}

impl std::fmt::Debug for RingIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingIo")
            .field("stream", &self.stream)
            .field("buffered", &(self.rbuf.len() - self.rpos))
            .field("reading", &self.reading.is_some())
            .field("writing", &self.writing.is_some())
            .finish()
    }
}

impl RingIo {
    /// Wraps `stream` with a 16 KiB read buffer.
    pub fn new(stream: crate::net::TcpStream) -> Self {
        RingIo::with_capacity(16 * 1024, stream)
    }

    /// Wraps `stream`, receiving at most `capacity` bytes (at least 1) per ring read.
    pub fn with_capacity(capacity: usize, stream: crate::net::TcpStream) -> Self {
        RingIo {
            stream: Rc::new(stream),
            capacity: capacity.max(1),
            rbuf: Vec::new(),
            rpos: 0,
            reading: None,
            wspare: Vec::new(),
            writing: None,
            werr: None,
        }
    }

    /// The stream.
    pub fn get_ref(&self) -> &crate::net::TcpStream {
        &self.stream
    }

    /// Polls the in-flight send, if any; keeps its error for the caller.
    fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if let Some(op) = &mut self.writing {
            let (res, mut buf) = std::task::ready!(op.as_mut().poll(cx));
            self.writing = None;
            if let Err(e) = res {
                self.werr = Some(e);
            }
            buf.clear();
            self.wspare = buf;
        }
        Poll::Ready(())
    }

    fn take_werr(&mut self) -> io::Result<()> {
        match self.werr.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl hyper::rt::Read for RingIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut cursor: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.rpos == this.rbuf.len() {
            let op = this.reading.get_or_insert_with(|| {
                this.rpos = 0;
                let mut buf = std::mem::take(&mut this.rbuf);
                buf.clear();
                buf.reserve(this.capacity);
                let stream = this.stream.clone();
                Box::pin(async move { stream.read(buf).await })
            });
            let (res, buf) = std::task::ready!(op.as_mut().poll(cx));
            this.reading = None;
            this.rbuf = buf;
            this.rpos = 0;
            if let Err(e) = res {
                this.rbuf.clear();
                return Poll::Ready(Err(e));
            }
            // 0 bytes: end of stream, nothing copied.
        }
        let n = (this.rbuf.len() - this.rpos).min(cursor.remaining());
        cursor.put_slice(&this.rbuf[this.rpos..this.rpos + n]);
        this.rpos += n;
        Poll::Ready(Ok(()))
    }
}

impl hyper::rt::Write for RingIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send(cx));
        this.take_werr()?;
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut buf = std::mem::take(&mut this.wspare);
        buf.extend_from_slice(data);
        let stream = this.stream.clone();
        let mut op: RingOp<()> = Box::pin(async move { stream.write_all(buf).await });
        // Poll once so the send is queued for the next io_uring_enter.
        if let Poll::Ready((res, mut buf)) = op.as_mut().poll(cx) {
            if let Err(e) = res {
                this.werr = Some(e);
            }
            buf.clear();
            this.wspare = buf;
        } else {
            this.writing = Some(op);
        }
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send(cx));
        Poll::Ready(this.take_werr())
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        std::task::ready!(this.poll_send(cx));
        this.take_werr()?;
        match this.stream.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}
