//! TCP: [`TcpListener`] (with [`ListenOptions`]) and [`TcpStream`].

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::os::fd::OwnedFd;
use std::time::Duration;

use super::socket::Socket;
use super::split::{OwnedReadHalf, OwnedWriteHalf};
use super::{ToSocketAddrs, domain_of, first_addr};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::sys::socket::SockAddr;

/// Options for [`TcpListener::bind_with`] and [`UnixListener::bind_with`](super::UnixListener::bind_with).
///
/// # Examples
///
/// ```
/// use ringcore::net::{ListenOptions, TcpListener};
///
/// ringcore::block_on(async {
///     let opts = ListenOptions::new().reuse_port(true).backlog(4096);
///     let listener = TcpListener::bind_with("127.0.0.1:0", &opts)?;
///     assert!(listener.local_addr()?.port() != 0);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct ListenOptions {
    pub(super) reuse_addr: bool,
    pub(super) reuse_port: bool,
    pub(super) backlog: i32,
}

impl Default for ListenOptions {
    fn default() -> Self {
        Self {
            reuse_addr: true,
            reuse_port: false,
            backlog: 1024,
        }
    }
}

impl ListenOptions {
    /// The defaults: SO_REUSEADDR on, SO_REUSEPORT off, a backlog of 1024 connections.
    pub fn new() -> Self {
        Self::default()
    }

    /// SO_REUSEADDR (TCP only; default on): rebind a port whose old connections are still
    /// in TIME_WAIT.
    pub fn reuse_addr(mut self, on: bool) -> Self {
        self.reuse_addr = on;
        self
    }

    /// SO_REUSEPORT (TCP only; default off): several sockets (one per core) may bind the
    /// same address, and the kernel spreads incoming connections over them.
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// listen(2)'s backlog: completed connections the kernel queues before `accept`
    /// (capped by `net.core.somaxconn`; default 1024; negative values mean the maximum).
    pub fn backlog(mut self, connections: i32) -> Self {
        self.backlog = connections;
        self
    }
}

/// A TCP socket listening for connections; accepts go through the ring.
///
/// # Examples
///
/// ```
/// use ringcore::net::{TcpListener, TcpStream};
///
/// ringcore::block_on(async {
///     let listener = TcpListener::bind("127.0.0.1:0")?;
///     let addr = listener.local_addr()?;
///     let client = ringcore::spawn(async move {
///         let stream = TcpStream::connect(addr).await?;
///         let (res, _) = stream.write_all(b"ping" as &'static [u8]).await;
///         res
///     });
///     let (stream, _peer) = listener.accept().await?;
///     let (res, buf) = stream.read(Vec::with_capacity(16)).await;
///     assert_eq!(&buf[..res?], b"ping");
///     client.await.unwrap()
/// })
/// .unwrap();
/// ```
pub struct TcpListener {
    sock: Socket,
}

impl TcpListener {
    /// Binds to `addr` with SO_REUSEADDR and listens with a backlog of 1024 (socket(2),
    /// bind(2), listen(2); none of them blocks). Port 0 picks a free port; see
    /// [`local_addr`](TcpListener::local_addr).
    ///
    /// # Errors
    ///
    /// `AddrInUse` if another socket holds the address, `AddrNotAvailable` if it is not
    /// local, `PermissionDenied` for a privileged port, `InvalidInput` if `addr` resolves
    /// to nothing; a name that does not resolve is the error [`lookup_host`](super::lookup_host)
    /// gives (a [`ResolveError`](super::ResolveError) inside; in a simulation, `NotFound`
    /// for a name that is no simulated host, `AddrNotAvailable` for another host's name).
    /// `addr` is a [`ToSocketAddrs`](super::ToSocketAddrs); a name is resolved on the
    /// calling thread (see the [module docs](super)).
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<TcpListener> {
        Self::bind_with(addr, &ListenOptions::default())
    }

    /// Binds and listens as [`bind`](TcpListener::bind), with `options`.
    ///
    /// # Errors
    ///
    /// As [`bind`](TcpListener::bind).
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn bind_with(addr: impl ToSocketAddrs, options: &ListenOptions) -> io::Result<TcpListener> {
        let addr = first_addr(addr)?;
        let sock = Socket::create_sync(domain_of(&addr), libc::SOCK_STREAM)?;
        if options.reuse_addr {
            sock.set_int(libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
        }
        if options.reuse_port {
            sock.set_int(libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
        }
        sock.bind(&SockAddr::from_inet(&addr))?;
        sock.listen(options.backlog)?;
        Ok(TcpListener { sock })
    }

    /// Adopts a listening `std::net::TcpListener` (blocking or not).
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> TcpListener {
        TcpListener {
            sock: Socket::from_fd(OwnedFd::from(listener)),
        }
    }

    /// Waits for a connection and accepts it (IORING_OP_ACCEPT, accept4(2) with
    /// SOCK_CLOEXEC). Returns the connected stream and the peer's address.
    ///
    /// # Errors
    ///
    /// accept4(2)'s errors: `EMFILE`/`ENFILE` when out of descriptors (the listener stays
    /// usable; retry after closing some), `ConnectionAborted` if the peer gave up first.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping this future loses no connection. If the accept is cut short
    /// while the kernel is already completing it, the connection it accepted is handed to
    /// the next `accept` (not closed); it is closed only if the listener is dropped first.
    /// No descriptor leaks. Connections still queued stay queued.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (sock, addr) = self.sock.accept().await?;
        Ok((TcpStream { sock }, addr.to_inet()?))
    }

    /// The connections arriving on this listener, as a [`Stream`](futures_core::Stream)
    /// ([`Incoming`](super::Incoming)): one multishot IORING_OP_ACCEPT (IORING_ACCEPT_MULTISHOT,
    /// io_uring_prep_multishot_accept(3)) where the kernel has it, one plain accept per
    /// connection otherwise. It never ends; errors are items and the stream goes on.
    ///
    /// # Errors
    ///
    /// Items are accept4(2)'s errors: `EMFILE`/`ENFILE` when out of descriptors,
    /// `ConnectionAborted`. io_uring reads RLIMIT_NOFILE when it prepares the accept, so a
    /// multishot accept armed before the process lowers its limit goes on allocating
    /// descriptors under the old one until it is re-armed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the stream loses no connection and leaks no descriptor: a connection a CQE
    /// accepts after the drop is kept for the listener's next `accept` or `incoming`
    /// (closed with the listener if none comes).
    pub fn incoming(&self) -> super::Incoming {
        super::Incoming::new(self.sock.clone())
    }

    /// The address this listener is bound to (getsockname(2)).
    ///
    /// # Errors
    ///
    /// getsockname(2)'s errors (practically none).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()?.to_inet()
    }
}

/// A TCP connection; reads and writes go through the ring with owned buffers.
///
/// `read` and `write` take `&self`, so one task may read while another writes through an
/// `Rc<TcpStream>`; [`into_split`](TcpStream::into_split) gives two owned halves instead.
/// Dropping the stream closes it once every op in flight on it has completed.
pub struct TcpStream {
    pub(super) sock: Socket,
}

impl TcpStream {
    /// Connects to `addr` (IORING_OP_SOCKET, or socket(2) before Linux 5.19, then
    /// IORING_OP_CONNECT, connect(2) semantics). `addr` is a [`ToSocketAddrs`](super::ToSocketAddrs):
    /// a `SocketAddr`, `"127.0.0.1:8080"`, or a host name and port (`"localhost:8080"`,
    /// `("example.com", 80)`), resolved on the blocking pool as
    /// [`lookup_host`](super::lookup_host) does. Each address is tried in turn, as std does,
    /// until one connects.
    ///
    /// # Errors
    ///
    /// If no address connects, the last one's error: `ConnectionRefused` if nothing listens
    /// there, `TimedOut` when the SYN retries run out (minutes: wrap the call in
    /// [`timeout`](crate::time::timeout) for a bound), `HostUnreachable`/`NetworkUnreachable`,
    /// `EMFILE` when out of descriptors. A name that does not resolve is an error whose
    /// inner error is a [`ResolveError`](super::ResolveError) naming the host.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the connect and closes the socket (once the kernel has
    /// let go of it); no descriptor leaks. A name lookup in progress is detached.
    #[track_caller]
    pub fn connect(addr: impl super::ToSocketAddrs) -> impl Future<Output = io::Result<TcpStream>> {
        // Panic here, at the caller, rather than at the first poll.
        drop(crate::runtime::context::driver());
        let lookup = super::addr::lookup_of(&addr);
        super::addr::try_each(lookup, |addr| async move {
            let sock = Socket::create(domain_of(&addr), libc::SOCK_STREAM).await?;
            sock.connect(SockAddr::from_inet(&addr)).await?;
            Ok(TcpStream { sock })
        })
    }

    /// Adopts a connected `std::net::TcpStream` (blocking or not).
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> TcpStream {
        TcpStream {
            sock: Socket::from_fd(OwnedFd::from(stream)),
        }
    }

    /// Reads up to `buf.bytes_total()` bytes into the start of `buf` (IORING_OP_RECV,
    /// recv(2)). Returns the number of bytes read, 0 once the peer has shut down its
    /// writing side, and the buffer: a `Vec<u8>` comes back with `len()` equal to the bytes
    /// read, so one buffer can be reused read after read with no stale bytes (a
    /// [`Slice`](crate::buf::Slice) view only grows its buffer; see
    /// [`IoBufMut`](crate::buf::IoBufMut)). Use
    /// [`IoBuf::slice`] to read into the middle of a buffer.
    ///
    /// # Errors
    ///
    /// recv(2)'s errors: `ConnectionReset` if the peer reset the connection.
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
    /// # async fn f(stream: ringcore::net::TcpStream) -> std::io::Result<()> {
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

    /// Reads into several buffers in order (IORING_OP_RECVMSG with one iovec per buffer,
    /// readv(2) semantics). Returns the total bytes read (0 at end-of-stream). Each
    /// `Vec<u8>` comes back with `len()` equal to the bytes read into it (0 for buffers the
    /// data did not reach).
    ///
    /// # Errors
    ///
    /// As [`read`](TcpStream::read); `InvalidInput` for more than 1024 buffers (IOV_MAX).
    ///
    /// # Cancel safety
    ///
    /// As [`read`](TcpStream::read).
    pub async fn readv<B: IoBufMut>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        let (res, bufs) = self.sock.recvmsg(bufs).await;
        (res.map(|(n, _)| n), bufs)
    }

    /// Sends `buf`'s initialised bytes (IORING_OP_SEND, send(2) with MSG_NOSIGNAL).
    /// Returns how many were sent, which may be fewer than asked.
    ///
    /// # Errors
    ///
    /// send(2)'s errors: `BrokenPipe` after the peer closed, `ConnectionReset`.
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

    /// Sends the initialised bytes of several buffers in order, in one op
    /// (IORING_OP_SENDMSG, writev(2) semantics). Returns the total bytes sent, which may
    /// be fewer than asked.
    ///
    /// # Errors
    ///
    /// As [`write`](TcpStream::write); `InvalidInput` for more than 1024 buffers.
    ///
    /// # Cancel safety
    ///
    /// As [`write`](TcpStream::write).
    pub async fn writev<B: IoBuf>(&self, bufs: Vec<B>) -> BufResult<usize, Vec<B>> {
        self.sock.sendmsg(bufs, None).await
    }

    /// Shuts down the read, write or both directions (shutdown(2)); pending and future
    /// ops in that direction see end-of-stream or `BrokenPipe`.
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.sock.shutdown(how)
    }

    /// The remote address (getpeername(2)).
    ///
    /// # Errors
    ///
    /// `NotConnected` if the connection is gone.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()?.to_inet()
    }

    /// The local address (getsockname(2)).
    ///
    /// # Errors
    ///
    /// getsockname(2)'s errors (practically none).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()?.to_inet()
    }

    /// Sets TCP_NODELAY: `true` sends small writes at once instead of waiting (Nagle) to
    /// merge them.
    ///
    /// # Errors
    ///
    /// setsockopt(2)'s errors.
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.sock
            .set_int(libc::IPPROTO_TCP, libc::TCP_NODELAY, i32::from(nodelay))
    }

    /// Whether TCP_NODELAY is set.
    ///
    /// # Errors
    ///
    /// getsockopt(2)'s errors.
    pub fn nodelay(&self) -> io::Result<bool> {
        Ok(self.sock.get_int(libc::IPPROTO_TCP, libc::TCP_NODELAY)? != 0)
    }

    /// Sets SO_LINGER: `Some(d)` makes close wait up to `d` (whole seconds) for unsent
    /// data; `Some(Duration::ZERO)` makes close reset the connection (RST); `None` restores
    /// the default background close.
    ///
    /// # Errors
    ///
    /// setsockopt(2)'s errors.
    pub fn set_linger(&self, linger: Option<Duration>) -> io::Result<()> {
        let secs = linger.map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX));
        crate::sys::socket::set_linger(self.sock.fd.borrow(), secs)
    }

    /// Takes the socket's pending error (SO_ERROR), if any.
    ///
    /// # Errors
    ///
    /// getsockopt(2)'s errors.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }

    /// Splits the stream into a read half and a write half that can be used by two tasks
    /// at once. Dropping the write half shuts the write direction down.
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        (
            OwnedReadHalf {
                sock: self.sock.clone(),
            },
            OwnedWriteHalf { sock: self.sock },
        )
    }
}

socket_fd_impls!(TcpListener, TcpStream);

macro_rules! tcp_debug {
    ($t:ty) => {
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("fd", &self.sock.fd.raw())
                    .field(
                        "local",
                        &self.sock.local_addr().and_then(|a| a.to_inet()).ok(),
                    )
                    .finish()
            }
        }
    };
}
tcp_debug!(TcpListener);
tcp_debug!(TcpStream);
