//! Socket syscalls that have no ring opcode or must run synchronously: socket(2) (the
//! fallback where IORING_OP_SOCKET is missing), socketpair(2), setsockopt(2),
//! getsockopt(2), bind(2), listen(2), getsockname(2), getpeername(2), shutdown(2), and the
//! conversions between Rust addresses and `sockaddr` structs.
//!
//! Where socket2 has the call (socket, socketpair, listen, shutdown, SO_LINGER, SO_ERROR)
//! it makes it. What stays here is what the ring needs in the kernel's own layout
//! ([`SockAddr`], whose storage and length SQEs point at), the generic `int` socket
//! options, bind/getsockname/getpeername on that layout, and the non-blocking send.

use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use super::cvt_libc;

/// A socket address in the kernel's layout: a `sockaddr_storage` and its used length.
///
/// Ops that hand an address to the kernel keep it in a `Box<SockAddr>` so it does not move
/// while the SQE points at it.
#[derive(Clone, Copy)]
pub(crate) struct SockAddr {
    pub(crate) storage: libc::sockaddr_storage,
    pub(crate) len: libc::socklen_t,
}

impl SockAddr {
    /// An empty address with room for any family (what accept/recvmsg/getsockname fill).
    pub(crate) fn empty() -> Self {
        Self {
            // SAFETY: sockaddr_storage is plain integers; all-zero is a valid (AF_UNSPEC) value.
            storage: unsafe { zeroed() },
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// The `sockaddr_in`/`sockaddr_in6` of an IP socket address.
    pub(crate) fn from_inet(addr: &SocketAddr) -> Self {
        let mut out = Self::empty();
        match addr {
            SocketAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than and suitably aligned for
                // sockaddr_in; we write one whole value at its start.
                unsafe { std::ptr::write((&raw mut out.storage).cast(), sin) };
                out.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            }
            SocketAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo().to_be(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { std::ptr::write((&raw mut out.storage).cast(), sin6) };
                out.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
        }
        out
    }

    /// The `sockaddr_un` of a Unix socket path. A path starting with a NUL byte names the
    /// Linux abstract namespace.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the path is empty, contains an interior NUL (outside the abstract
    /// namespace), or is longer than `sun_path` (107 bytes plus the terminator).
    pub(crate) fn from_unix_path(path: &Path) -> io::Result<Self> {
        let bytes = path.as_os_str().as_bytes();
        let mut out = Self::empty();
        // SAFETY: sockaddr_un fits in and is aligned for sockaddr_storage; all-zero is valid.
        let sun: &mut libc::sockaddr_un = unsafe { &mut *(&raw mut out.storage).cast() };
        sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
        let abstract_name = bytes.first() == Some(&0);
        if bytes.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty Unix socket path",
            ));
        }
        if !abstract_name && bytes.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Unix socket path contains a NUL byte",
            ));
        }
        // Pathnames need a terminating NUL; abstract names do not.
        let room = sun.sun_path.len() - usize::from(!abstract_name);
        if bytes.len() > room {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "Unix socket path is {} bytes, the limit is {room}",
                    bytes.len()
                ),
            ));
        }
        for (dst, src) in sun.sun_path.iter_mut().zip(bytes) {
            *dst = *src as libc::c_char;
        }
        let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
        out.len = (base + bytes.len() + usize::from(!abstract_name)) as libc::socklen_t;
        Ok(out)
    }

    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`, ...).
    pub(crate) fn family(&self) -> i32 {
        i32::from(self.storage.ss_family)
    }

    /// Reads an IP socket address back.
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the family is not AF_INET or AF_INET6.
    pub(crate) fn to_inet(self) -> io::Result<SocketAddr> {
        match self.family() {
            libc::AF_INET => {
                // SAFETY: the kernel filled a sockaddr_in (family AF_INET) at the start of
                // the storage, which is aligned and large enough for it.
                let sin: libc::sockaddr_in =
                    unsafe { std::ptr::read((&raw const self.storage).cast()) };
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                )))
            }
            libc::AF_INET6 => {
                // SAFETY: as above, for sockaddr_in6.
                let sin6: libc::sockaddr_in6 =
                    unsafe { std::ptr::read((&raw const self.storage).cast()) };
                Ok(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                    u16::from_be(sin6.sin6_port),
                    u32::from_be(sin6.sin6_flowinfo),
                    sin6.sin6_scope_id,
                )))
            }
            f => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("not an IP socket address (family {f})"),
            )),
        }
    }

    /// The bytes of a Unix socket address's `sun_path` that are in use: empty for an
    /// unnamed socket, a leading NUL for an abstract name, no trailing NUL for a pathname.
    pub(crate) fn unix_path_bytes(&self) -> Vec<u8> {
        let base = std::mem::offset_of!(libc::sockaddr_un, sun_path);
        let len = (self.len as usize).saturating_sub(base);
        // SAFETY: storage holds a sockaddr_un (the caller asked for a Unix address; other
        // families just give meaningless bytes, still initialised).
        let sun: &libc::sockaddr_un = unsafe { &*(&raw const self.storage).cast() };
        let mut bytes: Vec<u8> = sun.sun_path[..len.min(sun.sun_path.len())]
            .iter()
            .map(|c| *c as u8)
            .collect();
        if bytes.first() != Some(&0)
            && let Some(nul) = bytes.iter().position(|b| *b == 0)
        {
            bytes.truncate(nul);
        }
        bytes
    }

    pub(crate) fn as_ptr(&self) -> *const libc::sockaddr {
        (&raw const self.storage).cast()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&raw mut self.storage).cast()
    }
}

/// socket(2) with SOCK_CLOEXEC: the fallback where IORING_OP_SOCKET is missing, and the
/// path for synchronous constructors (`bind`). `ty` may carry SOCK_NONBLOCK.
pub(crate) fn socket(domain: i32, ty: i32, protocol: i32) -> io::Result<OwnedFd> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::socket(domain, ty) {
        return res;
    }
    let protocol = (protocol != 0).then(|| Protocol::from(protocol));
    Socket::new(Domain::from(domain), Type::from(ty), protocol).map(OwnedFd::from)
}

/// socketpair(2) with SOCK_CLOEXEC.
pub(crate) fn socketpair(domain: i32, ty: i32) -> io::Result<(OwnedFd, OwnedFd)> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::socketpair(domain, ty) {
        return res;
    }
    let (a, b) = Socket::pair(Domain::from(domain), Type::from(ty), None)?;
    Ok((OwnedFd::from(a), OwnedFd::from(b)))
}

/// setsockopt(2) of an `int` option.
pub(crate) fn set_int(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::sockopt(fd.as_raw_fd(), level, name) {
        return res.map(drop);
    }
    // SAFETY: passes a pointer to a live int and its size.
    cvt_libc(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw const value).cast(),
            size_of::<i32>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// getsockopt(2) of an `int` option.
pub(crate) fn get_int(fd: BorrowedFd<'_>, level: i32, name: i32) -> io::Result<i32> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::sockopt(fd.as_raw_fd(), level, name) {
        return res;
    }
    let mut value: i32 = 0;
    let mut len = size_of::<i32>() as libc::socklen_t;
    // SAFETY: passes pointers to a live int and its length, which the kernel fills.
    cvt_libc(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&raw mut value).cast(),
            &mut len,
        )
    })?;
    Ok(value)
}

/// SO_LINGER: `None` turns lingering off, `Some(secs)` turns it on (0 makes close send RST;
/// more than `i32::MAX` seconds is taken as `i32::MAX`).
pub(crate) fn set_linger(fd: BorrowedFd<'_>, secs: Option<u32>) -> io::Result<()> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::sockopt(fd.as_raw_fd(), 0, 0) {
        return res.map(drop);
    }
    let linger = secs.map(|s| Duration::from_secs(u64::from(s.min(i32::MAX as u32))));
    SockRef::from(&fd).set_linger(linger)
}

/// bind(2).
pub(crate) fn bind(fd: BorrowedFd<'_>, addr: &SockAddr) -> io::Result<()> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::bind(fd.as_raw_fd(), addr) {
        return res;
    }
    // SAFETY: the address pointer and length describe a live SockAddr.
    cvt_libc(unsafe { libc::bind(fd.as_raw_fd(), addr.as_ptr(), addr.len) })?;
    Ok(())
}

/// listen(2).
pub(crate) fn listen(fd: BorrowedFd<'_>, backlog: i32) -> io::Result<()> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::listen(fd.as_raw_fd()) {
        return res;
    }
    SockRef::from(&fd).listen(backlog)
}

/// getsockname(2).
pub(crate) fn local_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::addr(fd.as_raw_fd(), false) {
        return res;
    }
    let mut addr = SockAddr::empty();
    // SAFETY: the kernel writes at most `addr.len` bytes into the storage we own.
    cvt_libc(unsafe { libc::getsockname(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len) })?;
    Ok(addr)
}

/// getpeername(2).
pub(crate) fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<SockAddr> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::addr(fd.as_raw_fd(), true) {
        return res;
    }
    let mut addr = SockAddr::empty();
    // SAFETY: the kernel writes at most `addr.len` bytes into the storage we own.
    cvt_libc(unsafe { libc::getpeername(fd.as_raw_fd(), addr.as_mut_ptr(), &mut addr.len) })?;
    Ok(addr)
}

/// shutdown(2); `how` is SHUT_RD, SHUT_WR or SHUT_RDWR (anything else is EINVAL, as the
/// kernel would answer).
pub(crate) fn shutdown(fd: BorrowedFd<'_>, how: i32) -> io::Result<()> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::shutdown(fd.as_raw_fd(), how) {
        return res;
    }
    let how = match how {
        libc::SHUT_RD => Shutdown::Read,
        libc::SHUT_WR => Shutdown::Write,
        libc::SHUT_RDWR => Shutdown::Both,
        _ => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    SockRef::from(&fd).shutdown(how)
}

/// Takes the pending socket error (SO_ERROR), if any.
pub(crate) fn take_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::sockopt(fd.as_raw_fd(), 0, 0) {
        return res.map(|_| None);
    }
    SockRef::from(&fd).take_error()
}

/// send(2) with MSG_DONTWAIT | MSG_NOSIGNAL: sends what fits in the socket buffer now.
/// `WouldBlock` (EAGAIN) if nothing fits; the caller then goes through the ring.
///
/// # Safety
///
/// `ptr` must be valid for reads of `len` bytes.
pub(crate) unsafe fn send_nowait(
    fd: BorrowedFd<'_>,
    ptr: *const u8,
    len: usize,
) -> io::Result<usize> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::nowait(fd.as_raw_fd(), false, &[(ptr as u64, len)])
    {
        return res;
    }
    // SAFETY: the caller guarantees `len` readable bytes at `ptr`; the fd is borrowed and live.
    let n = cvt_libc(unsafe {
        libc::send(
            fd.as_raw_fd(),
            ptr.cast(),
            len,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    })?;
    Ok(n as usize)
}

/// recv(2) with MSG_DONTWAIT into `len` bytes at `ptr`: takes what the socket holds now.
/// `WouldBlock` (EAGAIN) if it holds nothing; 0 at end-of-stream.
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes (they need not be initialised).
pub(crate) unsafe fn recv_nowait(
    fd: BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
) -> io::Result<usize> {
    #[cfg(feature = "sim")]
    if let Some(res) = crate::driver::sim::net::nowait(fd.as_raw_fd(), true, &[(ptr as u64, len)]) {
        return res;
    }
    // SAFETY: the caller guarantees `len` writable bytes at `ptr`; the fd is borrowed and live.
    let n = cvt_libc(unsafe { libc::recv(fd.as_raw_fd(), ptr.cast(), len, libc::MSG_DONTWAIT) })?;
    Ok(n as usize)
}

/// sendmsg(2) with MSG_DONTWAIT | MSG_NOSIGNAL of `bufs` in order (gather): sends what fits
/// in the socket buffer now. `WouldBlock` (EAGAIN) if nothing fits.
pub(crate) fn sendmsg_nowait(fd: BorrowedFd<'_>, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    #[cfg(feature = "sim")]
    {
        let iov: Vec<(u64, usize)> = bufs.iter().map(|b| (b.as_ptr() as u64, b.len())).collect();
        if let Some(res) = crate::driver::sim::net::nowait(fd.as_raw_fd(), false, &iov) {
            return res;
        }
    }
    // SAFETY: msghdr is plain data (pointers and integers); all-zero is valid.
    let mut hdr: libc::msghdr = unsafe { zeroed() };
    // `IoSlice` is guaranteed ABI-compatible with `iovec` on Unix; the kernel only reads
    // through these pointers (the cast to *mut is what the C struct asks for).
    hdr.msg_iov = bufs.as_ptr().cast_mut().cast();
    hdr.msg_iovlen = bufs.len().min(libc::UIO_MAXIOV as usize) as _;
    // SAFETY: `hdr` points at `bufs`' iovecs, which live for the call; no address or
    // control data.
    let n = cvt_libc(unsafe {
        libc::sendmsg(
            fd.as_raw_fd(),
            &hdr,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    })?;
    Ok(n as usize)
}
