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
    /// recv(2)); see [`TcpStream::read`](super::TcpStream::read).
    ///
    /// # Errors
    ///
    /// recv(2)'s errors, e.g. `ConnectionReset`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the receive; bytes already received into the buffer
    /// are lost with it.
    pub async fn read<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.sock.recv(buf).await
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
    /// Dropping the future cancels the send; an unknown prefix may have been sent.
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
    /// Not cancel-safe: an unknown prefix may have been sent.
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
