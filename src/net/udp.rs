//! UDP: [`UdpSocket`].

use std::io;
use std::net::SocketAddr;
use std::os::fd::OwnedFd;

use super::socket::{Socket, single};
use super::{ToSocketAddrs, domain_of, first_addr};
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::sys::socket::SockAddr;

/// A UDP socket; sends and receives go through the ring with owned buffers.
///
/// # Examples
///
/// ```
/// use ringcore::net::UdpSocket;
///
/// ringcore::block_on(async {
///     let a = UdpSocket::bind("127.0.0.1:0")?;
///     let b = UdpSocket::bind("127.0.0.1:0")?;
///     let (res, _) = a.send_to(b"hi" as &'static [u8], b.local_addr()?).await;
///     res?;
///     let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
///     let (n, from) = res?;
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr()?));
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub struct UdpSocket {
    sock: Socket,
}

impl UdpSocket {
    /// Creates a UDP socket bound to `addr` (socket(2), bind(2); neither blocks). Port 0
    /// picks a free port.
    ///
    /// # Errors
    ///
    /// `AddrInUse`, `AddrNotAvailable`, `PermissionDenied`; `InvalidInput` if `addr`
    /// resolves to nothing; a name that does not resolve as with
    /// [`TcpListener::bind`](super::TcpListener::bind), which resolves names the same way.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn bind(addr: impl ToSocketAddrs) -> io::Result<UdpSocket> {
        let addr = first_addr(addr)?;
        let sock = Socket::create_sync(domain_of(&addr), libc::SOCK_DGRAM)?;
        sock.bind(&SockAddr::from_inet(&addr))?;
        Ok(UdpSocket { sock })
    }

    /// Adopts a `std::net::UdpSocket`.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> UdpSocket {
        UdpSocket {
            sock: Socket::from_fd(OwnedFd::from(socket)),
        }
    }

    /// Sets the default peer (IORING_OP_CONNECT, connect(2) on a datagram socket: no
    /// packets are sent). Afterwards [`send`](UdpSocket::send) goes there and only its
    /// datagrams are received. `addr` is a [`ToSocketAddrs`](super::ToSocketAddrs) (an
    /// address, or a host name and port resolved on the blocking pool); each address is
    /// tried in turn, as std does.
    ///
    /// # Errors
    ///
    /// The last address's connect(2) error, e.g. `NetworkUnreachable`, or `EAFNOSUPPORT`
    /// for an address of the other IP family than the socket's; a name that does not
    /// resolve is an error whose inner error is a [`ResolveError`](super::ResolveError).
    ///
    /// # Panics
    ///
    /// If a name has to be looked up outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves it unknown whether the peer was set.
    pub async fn connect(&self, addr: impl super::ToSocketAddrs) -> io::Result<()> {
        let lookup = super::addr::lookup_of(&addr);
        let sock = &self.sock;
        super::addr::try_each(lookup, |addr| sock.connect(SockAddr::from_inet(&addr))).await
    }

    /// Sends `buf`'s initialised bytes as one datagram to the connected peer
    /// (IORING_OP_SEND). Returns the bytes sent.
    ///
    /// # Errors
    ///
    /// `NotConnected` (EDESTADDRREQ) without [`connect`](UdpSocket::connect);
    /// `ConnectionRefused` if an earlier datagram drew an ICMP port-unreachable;
    /// `EMSGSIZE` for a datagram over 65,507 bytes.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the send; the datagram may or may not have gone out
    /// (whole: a datagram is never sent in part).
    pub async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.sock.send(buf).await
    }

    /// Receives one datagram from the connected peer into the start of `buf`
    /// (IORING_OP_RECV). Bytes beyond `buf.bytes_total()` are discarded. A `Vec<u8>` comes
    /// back with `len()` equal to the datagram's bytes kept ([`IoBufMut`](crate::buf::IoBufMut)).
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` if an earlier datagram drew an ICMP port-unreachable.
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

    /// Sends `buf`'s initialised bytes as one datagram to `target` (IORING_OP_SENDMSG).
    /// `target` is a [`ToSocketAddrs`](super::ToSocketAddrs); a name is resolved on the
    /// blocking pool (for each call: resolve once with [`lookup_host`](super::lookup_host)
    /// to send many) and the datagram goes to its first address.
    ///
    /// # Errors
    ///
    /// sendmsg(2)'s errors, e.g. `EMSGSIZE`, `NetworkUnreachable`; a name that does not
    /// resolve is an error whose inner error is a [`ResolveError`](super::ResolveError).
    ///
    /// # Panics
    ///
    /// If a name has to be looked up outside a ringcore runtime.
    ///
    /// # Cancel safety
    ///
    /// As [`send`](UdpSocket::send).
    pub async fn send_to<B: IoBuf>(
        &self,
        buf: B,
        target: impl super::ToSocketAddrs,
    ) -> BufResult<usize, B> {
        let lookup = super::addr::lookup_of(&target);
        let target = match super::addr::first(lookup).await {
            Ok(target) => target,
            Err(e) => return (Err(e), buf),
        };
        let addr = SockAddr::from_inet(&target);
        single(self.sock.sendmsg(vec![buf], Some(addr)).await)
    }

    /// Receives one datagram into the start of `buf` (IORING_OP_RECVMSG) and returns its
    /// length and sender. Bytes beyond `buf.bytes_total()` are discarded. A `Vec<u8>`
    /// comes back with `len()` equal to the bytes kept ([`IoBufMut`](crate::buf::IoBufMut)).
    ///
    /// # Errors
    ///
    /// recvmsg(2)'s errors.
    ///
    /// # Cancel safety
    ///
    /// As [`recv`](UdpSocket::recv).
    pub async fn recv_from<B: IoBufMut>(&self, buf: B) -> BufResult<(usize, SocketAddr), B> {
        let (res, buf) = single(self.sock.recvmsg(vec![buf]).await);
        let res = res.and_then(|(n, addr)| match addr {
            Some(addr) => Ok((n, addr.to_inet()?)),
            // A datagram a dropped `recv` received: its sender was not recorded.
            None => Ok((n, self.peer_addr().unwrap_or_else(|_| unspecified(self)))),
        });
        (res, buf)
    }

    /// The local address (getsockname(2)).
    ///
    /// # Errors
    ///
    /// getsockname(2)'s errors (practically none).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.sock.local_addr()?.to_inet()
    }

    /// The connected peer (getpeername(2)).
    ///
    /// # Errors
    ///
    /// `NotConnected` without [`connect`](UdpSocket::connect).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.sock.peer_addr()?.to_inet()
    }

    /// Sets SO_BROADCAST: whether datagrams may go to broadcast addresses.
    ///
    /// # Errors
    ///
    /// setsockopt(2)'s errors.
    pub fn set_broadcast(&self, on: bool) -> io::Result<()> {
        self.sock
            .set_int(libc::SOL_SOCKET, libc::SO_BROADCAST, i32::from(on))
    }

    /// Takes the socket's pending error (SO_ERROR), if any.
    ///
    /// # Errors
    ///
    /// getsockopt(2)'s errors.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.sock.take_error()
    }
}

socket_fd_impls!(UdpSocket);

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket")
            .field("fd", &self.sock.fd.raw())
            .field("local", &self.local_addr().ok())
            .finish()
    }
}

/// The unspecified address of `socket`'s family, port 0.
fn unspecified(socket: &UdpSocket) -> SocketAddr {
    match socket.local_addr() {
        Ok(SocketAddr::V6(_)) => SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, 0)),
        _ => SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)),
    }
}
