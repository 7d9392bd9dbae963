//! Sockets through the ring: TCP, UDP and Unix-domain.
//!
//! Accepts, connects, sends and receives are io_uring ops (IORING_OP_ACCEPT, CONNECT,
//! SEND, RECV, SENDMSG, RECVMSG); on the epoll driver a plain receive or send is a
//! non-blocking syscall on the core's thread instead, waiting on the driver's readiness
//! (docs/architecture.md, "Sockets without ops"). Reads and writes take an owned buffer
//! and give it back with the result ([`BufResult`](crate::BufResult)), as in
//! [`fs`](crate::fs), so the kernel never writes into memory the program has freed, even
//! when the future is dropped.
//!
//! Sockets created by an async constructor (`connect`) come from IORING_OP_SOCKET (Linux
//! 5.19+), or socket(2) where the probe says the kernel lacks it; the synchronous
//! constructors (`bind`) call socket(2), bind(2) and listen(2) directly, which never
//! block. Every socket is close-on-exec.
//!
//! A socket belongs to the core that created it (`!Send`). Its descriptor is closed when
//! the value and every op still in flight on it are gone. A dropped future loses nothing:
//! a receive or accept cut short while the kernel was completing it leaves its bytes,
//! datagram or connection in the socket's stash for the next call (docs/architecture.md,
//! "Late CQEs"), and a dropped `socket` op closes the descriptor it produced, so cancelled
//! accepts and connects leak nothing.
//!
//! Sends use MSG_NOSIGNAL: writing to a connection the peer closed returns `BrokenPipe`
//! instead of raising SIGPIPE.
//!
//! For crates written against `tokio::io` or `futures_io` traits (hyper, tokio-rustls,
//! codecs), `into_poll_io()` on a stream or an owned half gives a [`PollIo`]: the driver's
//! readiness (IORING_OP_POLL_ADD, or the epoll driver's own fd state) and non-blocking
//! recv(2)/send(2) on the core's thread into the caller's borrowed buffers; see [`PollIo`]
//! for the trait impls (features `tokio-io`, `futures-io`, both on by default).
//!
//! The connecting calls ([`TcpStream::connect`], [`UdpSocket::connect`],
//! [`UdpSocket::send_to`]) take a [`ToSocketAddrs`]: an address, or a host name and port
//! (`"localhost:8080"`, `("example.com", 80)`) that is resolved with getaddrinfo(3) on the
//! core's blocking pool, as [`lookup_host`] does, and whose addresses are tried in turn.
//! The synchronous `bind` constructors ([`TcpListener::bind`], [`UdpSocket::bind`]) take
//! the same [`ToSocketAddrs`] but resolve a name on the calling thread (getaddrinfo(3)
//! through std, blocking the core while it runs): bind to numeric addresses, or resolve
//! with [`lookup_host`] first. In a simulation (feature `sim`) every name is a simulated
//! host's, resolved without a query, so a host binds with its own name (`"db:5432"`).

/// `AsRawFd` and `AsFd` for public socket types that wrap a `sock: Socket` field; with
/// `debug`, also a `Debug` that shows the type name and the fd.
macro_rules! socket_fd_impls {
    (debug: $($t:ty),+ $(,)?) => {
        socket_fd_impls!($($t),+);
        $(
            impl std::fmt::Debug for $t {
                fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.debug_struct(stringify!($t))
                        .field("fd", &self.sock.fd.raw())
                        .finish()
                }
            }
        )+
    };
    ($($t:ty),+ $(,)?) => {
        $(
            impl std::os::fd::AsRawFd for $t {
                fn as_raw_fd(&self) -> std::os::fd::RawFd {
                    self.sock.fd.raw()
                }
            }
            impl std::os::fd::AsFd for $t {
                fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                    self.sock.fd.borrow()
                }
            }
        )+
    };
}

mod addr;
mod poll_io;
mod send_queue;
pub(crate) mod socket;
mod split;
mod streams;
mod tcp;
mod udp;
mod unix;

pub use addr::{ResolveError, ToSocketAddrs, lookup_host};
pub use poll_io::{PollIo, PollRead, PollWrite};
pub use send_queue::{DEFAULT_SEND_QUEUE_LIMIT, SendQueue};
pub use split::{OwnedReadHalf, OwnedWriteHalf};
pub use streams::{Incoming, RecvBuf, RecvStream, UnixIncoming};
pub use tcp::{ListenOptions, TcpListener, TcpStream};
pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixSocketAddr, UnixStream};

use std::io;
use std::net::SocketAddr;

/// Resolves `addr` to its first address, on the calling thread. For IP literals
/// ("127.0.0.1:80") this parses and never blocks; in a simulation a name is a simulated
/// host's; otherwise a host name runs getaddrinfo(3) on the calling thread.
fn first_addr(addr: impl ToSocketAddrs) -> io::Result<SocketAddr> {
    addr::lookup_of(&addr)
        .resolve_now()?
        .into_iter()
        .next()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the address resolved to no socket address",
            )
        })
}

fn domain_of(addr: &SocketAddr) -> i32 {
    if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    }
}

// The owned-buffer stream traits of `crate::io` (what `BufReader`/`BufWriter` wrap).
crate::io::traits::read_impls!(TcpStream, UnixStream, OwnedReadHalf);
crate::io::traits::write_impls!(
    TcpStream => |s| s.shutdown(std::net::Shutdown::Write),
    UnixStream => |s| s.shutdown(std::net::Shutdown::Write),
    OwnedWriteHalf => |s| s.shutdown()
);
