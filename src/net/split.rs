//! Owned read and write halves of a stream socket, so two tasks can read and write at once.

use std::io;

use super::socket::Socket;
use crate::buf::{BufResult, IoBuf, IoBufMut};

/// The reading half of a [`TcpStream`](super::TcpStream) or
/// [`UnixStream`](super::UnixStream), from `into_split`.
///
/// Both halves share the descriptor; it is closed when both are dropped (and every op in
/// flight on it has completed).
pub struct OwnedReadHalf {
    pub(super) sock: Socket,
}

/// The writing half of a [`TcpStream`](super::TcpStream) or
/// [`UnixStream`](super::UnixStream), from `into_split`.
///
/// Dropping it shuts the write direction down (shutdown(2) with SHUT_WR), so the peer sees
/// end-of-stream, as tokio's `OwnedWriteHalf` does.
pub struct OwnedWriteHalf {
    pub(super) sock: Socket,
}

impl OwnedReadHalf {
    /// Reads up to `buf.bytes_total()` bytes into the start of `buf` (IORING_OP_RECV,
    /// recv(2)); a `Vec<u8>` comes back with `len()` equal to the bytes read. See
    /// [`TcpStream::read`](super::TcpStream::read).
    ///
    /// # Errors
    ///
    /// recv(2)'s errors, e.g. `ConnectionReset`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping this future loses no data. If the receive is cut short while
    /// the kernel is already completing it, the bytes it received are kept on the socket and
    /// returned, in order, by the next read (of this stream or either of its halves) before
    /// any new receive is issued (docs/architecture.md, "Late CQEs").
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.sock.recv(buf).await
    }
}

impl OwnedReadHalf {
    /// The bytes arriving on this half's stream, as a [`RecvStream`](super::RecvStream) of
    /// pooled buffers: one multishot IORING_OP_RECV selecting from the core's pool of
    /// provided buffers (io_uring_prep_recv_multishot(3)) where the kernel has it, one plain
    /// receive per item otherwise. The stream ends at end of stream; an error is yielded
    /// once, then it ends. Do not read the socket another way while the stream is alive.
    ///
    /// # Errors
    ///
    /// Items are recv(2)'s errors, e.g. `ConnectionReset`; an empty pool (`ENOBUFS`) is not
    /// an error (that item comes from a plain receive).
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream loses no byte and returns every pool buffer it held in the
    /// kernel: bytes that CQEs deliver after the drop go to the socket's stash, and the next
    /// read returns them first (see [`RecvStream`](super::RecvStream)).
    pub fn recv_stream(&self) -> super::RecvStream {
        super::RecvStream::new(self.sock.clone())
    }
}

impl OwnedWriteHalf {
    /// Sends `buf`'s initialised bytes (IORING_OP_SEND); returns how many were sent.
    ///
    /// # Errors
    ///
    /// send(2)'s errors, e.g. `BrokenPipe`, `ConnectionReset`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the send. The kernel may already have sent part or all
    /// of the bytes (a send is never undone): after a drop, a prefix of unknown length —
    /// possibly empty, possibly everything — has gone out, so the stream's position is
    /// unknown; close it or resynchronise at a higher level.
    pub async fn write<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.sock.send(buf).await
    }

    /// Sends every initialised byte of `buf`, looping over short sends.
    ///
    /// # Errors
    ///
    /// `WriteZero` if a send accepts nothing, or the first send error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: if the future is dropped, some prefix of the bytes (earlier sends
    /// in full, the current one possibly in part) has gone out. When it fails instead, the
    /// error says how many bytes were sent before it: a [`PartialTransfer`](crate::io::PartialTransfer)
    /// inside the `io::Error` whenever at least one byte went
    /// out.
    pub async fn write_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        self.sock.send_all(buf).await
    }

    /// Shuts the write direction down now (shutdown(2) SHUT_WR).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the socket is not connected.
    pub fn shutdown(&self) -> io::Result<()> {
        self.sock.shutdown(std::net::Shutdown::Write)
    }
}

impl Drop for OwnedWriteHalf {
    fn drop(&mut self) {
        // An error means the socket is already shut down or disconnected: nothing to do.
        let _ = self.sock.shutdown(std::net::Shutdown::Write);
    }
}

socket_fd_impls!(debug: OwnedReadHalf, OwnedWriteHalf);
