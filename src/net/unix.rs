//! Unix-domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`], and their
//! addresses ([`UnixSocketAddr`]).

use std::ffi::OsStr;
use std::io;
use std::net::Shutdown;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::ListenOptions;
use super::socket::{Socket, single};
use super::split::{OwnedReadHalf, OwnedWriteHalf};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::sys::socket::SockAddr;

/// The address of a Unix-domain socket: a filesystem path, a name in Linux's abstract
/// namespace, or nothing (an unbound socket).
#[derive(Clone, PartialEq, Eq)]
pub struct UnixSocketAddr {
    /// `sun_path`'s used bytes: empty when unnamed, leading NUL when abstract.
    bytes: Vec<u8>,
}

impl UnixSocketAddr {
    fn from_raw(addr: &SockAddr) -> Self {
        Self {
            bytes: addr.unix_path_bytes(),
        }
    }

    /// The filesystem path, if the socket is bound to one.
    pub fn as_pathname(&self) -> Option<&Path> {
        match self.bytes.first() {
            None | Some(0) => None,
            Some(_) => Some(Path::new(OsStr::from_bytes(&self.bytes))),
        }
    }

    /// The abstract-namespace name (without its leading NUL), if it has one.
    pub fn as_abstract_name(&self) -> Option<&[u8]> {
        match self.bytes.split_first() {
            Some((0, name)) => Some(name),
            _ => None,
        }
    }

    /// True for an unbound socket's address.
    pub fn is_unnamed(&self) -> bool {
        self.bytes.is_empty()
    }
}

impl std::fmt::Debug for UnixSocketAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(p) = self.as_pathname() {
            write!(f, "{p:?} (pathname)")
        } else if let Some(n) = self.as_abstract_name() {
            write!(f, "{:?} (abstract)", String::from_utf8_lossy(n))
        } else {
            f.write_str("(unnamed)")
        }
    }
}

/// A Unix-domain stream socket listening for connections; accepts go through the ring.
///
/// The socket file is not removed when the listener is dropped (as with std).
///
/// # Examples
///
/// ```
/// use ringcore::net::{UnixListener, UnixStream};
///
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir()?;
///     let path = dir.path().join("sock");
///     let listener = UnixListener::bind(&path)?;
///     let client = UnixStream::connect(&path).await?;
///     let (server, _) = listener.accept().await?;
///     let (res, _) = client.write_all(b"hey" as &'static [u8]).await;
///     res?;
///     let (res, buf) = server.read(Vec::with_capacity(8)).await;
///     assert_eq!(&buf[..res?], b"hey");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub struct UnixListener {
    sock: Socket,
}

impl UnixListener {
    /// Binds to the socket file at `path` (which must not exist) and listens with a
    /// backlog of 1024. A path starting with a NUL byte names the abstract namespace.
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the file exists, `NotFound` for a missing directory,
    /// `InvalidInput` for a path over 107 bytes.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixListener> {
        Self::bind_with(path, &ListenOptions::default())
    }

    /// As [`bind`](UnixListener::bind), with `options`' backlog (the reuse flags do not
    /// apply to Unix sockets and are ignored).
    ///
    /// # Errors
    ///
    /// As [`bind`](UnixListener::bind).
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn bind_with(path: impl AsRef<Path>, options: &ListenOptions) -> io::Result<UnixListener> {
        let addr = SockAddr::from_unix_path(path.as_ref())?;
        let sock = Socket::create_sync(libc::AF_UNIX, libc::SOCK_STREAM)?;
        sock.bind(&addr)?;
        sock.listen(options.backlog)?;
        Ok(UnixListener { sock })
    }

    /// Waits for a connection and accepts it (IORING_OP_ACCEPT).
    ///
    /// # Errors
    ///
    /// accept4(2)'s errors, e.g. `EMFILE` when out of descriptors.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping this future loses no connection. If the accept is cut short
    /// while the kernel is already completing it, the connection it accepted is handed to
    /// the next `accept` (not closed); it is closed only if the listener is dropped first.
    /// No descriptor leaks.
    pub async fn accept(&self) -> io::Result<(UnixStream, UnixSocketAddr)> {
        let (sock, addr) = self.sock.accept().await?;
        Ok((UnixStream { sock }, UnixSocketAddr::from_raw(&addr)))
    }

    /// The connections arriving on this listener, as a [`Stream`](futures_core::Stream)
    /// ([`UnixIncoming`](super::UnixIncoming)): one multishot IORING_OP_ACCEPT (IORING_ACCEPT_MULTISHOT,
    /// io_uring_prep_multishot_accept(3)) where the kernel has it, one plain accept per
    /// connection otherwise. It never ends; errors are items and the stream goes on.
    ///
    /// # Errors
    ///
    /// Items are accept4(2)'s errors: `EMFILE`/`ENFILE` when out of descriptors,
    /// `ConnectionAborted`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream loses no connection and leaks no descriptor: a connection a CQE
    /// accepts after the drop is kept for the listener's next `accept` or `incoming`
    /// (closed with the listener if none comes).
    pub fn incoming(&self) -> super::UnixIncoming {
        super::UnixIncoming::new(self.sock.clone())
    }

    /// The address this listener is bound to (getsockname(2)).
    ///
    /// # Errors
    ///
    /// getsockname(2)'s errors (practically none).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(UnixSocketAddr::from_raw(&self.sock.local_addr()?))
    }
}

/// A Unix-domain stream connection; reads and writes go through the ring.
pub struct UnixStream {
    pub(super) sock: Socket,
}

impl UnixStream {
    /// Connects to the socket at `path` (IORING_OP_SOCKET or socket(2), then
    /// IORING_OP_CONNECT).
    ///
    /// # Errors
    ///
    /// `NotFound` if no socket file exists, `ConnectionRefused` if nobody listens on it,
    /// `InvalidInput` for a path over 107 bytes.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the connect and closes the socket; nothing leaks.
    #[track_caller]
    pub fn connect(path: impl AsRef<Path>) -> impl Future<Output = io::Result<UnixStream>> {
        let addr = SockAddr::from_unix_path(path.as_ref());
        let create = Socket::create(libc::AF_UNIX, libc::SOCK_STREAM);
        async move {
            let addr = addr?;
            let sock = create.await?;
            sock.connect(addr).await?;
            Ok(UnixStream { sock })
        }
    }

    /// A pair of connected, unnamed sockets (socketpair(2)).
    ///
    /// # Errors
    ///
    /// `EMFILE` when out of descriptors.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = crate::sys::socket::socketpair(libc::AF_UNIX, libc::SOCK_STREAM)?;
        Ok((
            UnixStream {
                sock: Socket::from_fd(a),
            },
            UnixStream {
                sock: Socket::from_fd(b),
            },
        ))
    }

    /// Adopts a connected `std::os::unix::net::UnixStream`.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> UnixStream {
        UnixStream {
            sock: Socket::from_fd(OwnedFd::from(stream)),
        }
    }

    /// Reads up to `buf.bytes_total()` bytes into the start of `buf` (IORING_OP_RECV);
    /// 0 means the peer shut down its writing side. A `Vec<u8>` comes back with `len()`
    /// equal to the bytes read, so it can be reused with no stale bytes
    /// ([`IoBufMut`](crate::buf::IoBufMut)).
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

    /// The bytes arriving on this stream, as a [`RecvStream`](super::RecvStream) of
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

    /// A write-behind [`SendQueue`](super::SendQueue) on this stream: `send(buf)` queues
    /// `buf` and returns at once, and the core's driver sends the queued buffers in order,
    /// one IORING_OP_SEND in flight at a time, without waking this task when each send
    /// completes. For loops that forward what they receive (an echo server, a proxy), it
    /// saves a task wake-up per message against awaiting [`write_all`](Self::write_all).
    /// Do not write to the stream another way while sends are queued.
    ///
    /// ```no_run
    /// # async fn f(stream: ringcore::net::UnixStream) -> std::io::Result<()> {
    /// use ringcore::stream::StreamExt;
    /// let sends = stream.send_queue();
    /// let mut received = stream.recv_stream();
    /// while let Some(buf) = received.next().await {
    ///     sends.send(buf?).await?;
    /// }
    /// sends.flush().await
    /// # }
    /// ```
    pub fn send_queue<B: IoBuf>(&self) -> super::SendQueue<B> {
        self.sock.send_queue()
    }

    /// Sends `buf`'s initialised bytes (IORING_OP_SEND with MSG_NOSIGNAL); returns how
    /// many were sent.
    ///
    /// # Errors
    ///
    /// send(2)'s errors, e.g. `BrokenPipe`.
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

    /// Shuts down the read, write or both directions (shutdown(2)).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }

    /// The local address (getsockname(2)).
    ///
    /// # Errors
    ///
    /// getsockname(2)'s errors (practically none).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(UnixSocketAddr::from_raw(&self.sock.local_addr()?))
    }

    /// The peer's address (getpeername(2)).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(UnixSocketAddr::from_raw(&self.sock.peer_addr()?))
    }

    /// Splits the stream into halves usable by two tasks at once; dropping the write half
    /// shuts the write direction down.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                sock: self.sock.clone(),
            },
            OwnedWriteHalf { sock: self.sock },
        )
    }
}

/// A Unix-domain datagram socket; sends and receives go through the ring.
///
/// # Examples
///
/// ```
/// use ringcore::net::UnixDatagram;
///
/// ringcore::block_on(async {
///     let (a, b) = UnixDatagram::pair()?;
///     let (res, _) = a.send(b"one" as &'static [u8]).await;
///     res?;
///     let (res, buf) = b.recv(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..res?], b"one");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub struct UnixDatagram {
    sock: Socket,
}

impl UnixDatagram {
    /// A datagram socket bound to `path` (which must not exist).
    ///
    /// # Errors
    ///
    /// `AddrInUse` if the file exists, `NotFound` for a missing directory,
    /// `InvalidInput` for a path over 107 bytes.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn bind(path: impl AsRef<Path>) -> io::Result<UnixDatagram> {
        let addr = SockAddr::from_unix_path(path.as_ref())?;
        let sock = Socket::create_sync(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        sock.bind(&addr)?;
        Ok(UnixDatagram { sock })
    }

    /// An unbound datagram socket (it can send; replies need a bound sender).
    ///
    /// # Errors
    ///
    /// `EMFILE` when out of descriptors.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn unbound() -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            sock: Socket::create_sync(libc::AF_UNIX, libc::SOCK_DGRAM)?,
        })
    }

    /// A pair of connected, unnamed datagram sockets (socketpair(2)).
    ///
    /// # Errors
    ///
    /// `EMFILE` when out of descriptors.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = crate::sys::socket::socketpair(libc::AF_UNIX, libc::SOCK_DGRAM)?;
        Ok((
            UnixDatagram {
                sock: Socket::from_fd(a),
            },
            UnixDatagram {
                sock: Socket::from_fd(b),
            },
        ))
    }

    /// Sets the default peer to the socket at `path` (IORING_OP_CONNECT).
    ///
    /// # Errors
    ///
    /// `NotFound`, `ConnectionRefused`, `InvalidInput` for a bad path.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves it unknown whether the peer was set.
    pub async fn connect(&self, path: impl AsRef<Path>) -> io::Result<()> {
        let addr = SockAddr::from_unix_path(path.as_ref())?;
        self.sock.connect(addr).await
    }

    /// Sends `buf`'s initialised bytes as one datagram to the connected peer
    /// (IORING_OP_SEND).
    ///
    /// # Errors
    ///
    /// `NotConnected` without a peer; `EMSGSIZE` over the socket's send buffer.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the send; the datagram may or may not have gone out
    /// (whole: a datagram is never sent in part).
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.sock.send(buf).await
    }

    /// Receives one datagram into the start of `buf` (IORING_OP_RECV); excess bytes are
    /// discarded. A `Vec<u8>` comes back with `len()` equal to the bytes kept.
    ///
    /// # Errors
    ///
    /// recv(2)'s errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping this future loses no datagram. If the receive is cut short
    /// while the kernel is already completing it, the datagram it received is kept on the
    /// socket and returned by the next `recv` or `recv_from` (with its sender when the cut
    /// receive was a `recv_from`; a datagram a cut `recv` took comes back from `recv_from`
    /// with the connected peer's address, or the unspecified address on an unconnected
    /// socket, since `recv` does not record senders).
    pub async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        self.sock.recv(buf).await
    }

    /// Sends one datagram to the socket at `path` (IORING_OP_SENDMSG).
    ///
    /// # Errors
    ///
    /// `NotFound`, `ConnectionRefused`, `InvalidInput` for a bad path.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](UnixDatagram::send).
    pub async fn send_to<B: IoBuf>(&self, buf: B, path: impl AsRef<Path>) -> BufResult<usize, B> {
        match SockAddr::from_unix_path(path.as_ref()) {
            Ok(addr) => single(self.sock.sendmsg(vec![buf], Some(addr)).await),
            Err(e) => (Err(e), buf),
        }
    }

    /// Receives one datagram into the start of `buf` (IORING_OP_RECVMSG) and returns its
    /// length and the sender's address (unnamed if the sender is unbound). A `Vec<u8>`
    /// comes back with `len()` equal to the bytes kept.
    ///
    /// # Errors
    ///
    /// recvmsg(2)'s errors.
    ///
    /// # Cancel safety
    ///
    /// As [`recv`](UnixDatagram::recv).
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, UnixSocketAddr), B> {
        let (res, buf) = single(self.sock.recvmsg(vec![buf]).await);
        let res = res.map(|(n, addr)| match addr {
            Some(addr) => (n, UnixSocketAddr::from_raw(&addr)),
            // A datagram a dropped `recv` received: its sender was not recorded.
            None => (
                n,
                self.sock
                    .peer_addr()
                    .map(|a| UnixSocketAddr::from_raw(&a))
                    .unwrap_or_else(|_| UnixSocketAddr::from_raw(&SockAddr::empty())),
            ),
        });
        (res, buf)
    }

    /// The local address (getsockname(2)).
    ///
    /// # Errors
    ///
    /// getsockname(2)'s errors (practically none).
    pub fn local_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(UnixSocketAddr::from_raw(&self.sock.local_addr()?))
    }

    /// The connected peer's address (getpeername(2)).
    ///
    /// # Errors
    ///
    /// `NotConnected` without a peer.
    pub fn peer_addr(&self) -> io::Result<UnixSocketAddr> {
        Ok(UnixSocketAddr::from_raw(&self.sock.peer_addr()?))
    }
}

socket_fd_impls!(debug: UnixListener, UnixStream, UnixDatagram);
