//! Unix stream sockets on a simulated host (feature `sim`): `UnixListener`, `UnixStream`
//! and `UnixStream::pair` between the tasks of one host (datagram sockets:
//! unix_dgram.rs, on the paths bound here), over the simulated network's
//! connections (src/sim/net.rs), so reads, writes, receive streams, shutdown, close and
//! crash behave as they do over TCP.
//!
//! - **Paths.** A socket's address is its `sun_path` bytes (a pathname, or an abstract name
//!   with its leading NUL), in the host's own namespace: two hosts may bind one path. A
//!   bound path is the host's until the socket is closed (a second bind is `EADDRINUSE`);
//!   unlike on Linux, nothing appears on the host's simulated disk and closing the socket
//!   frees the path (no `remove_file` needed before binding it again).
//! - **Connecting.** A connect to a path nobody bound fails with `ENOENT`, to a bound
//!   socket that does not listen with `ECONNREFUSED`; otherwise it takes a round trip on
//!   the host's link to itself (its latency; never partitioned, never bandwidth-limited).
//!   The connecting end is unnamed; the accepted end's address is the listener's path.
//! - **Not simulated**: passing fds or credentials (no SCM_RIGHTS: ringcore sends no
//!   ancillary data).

use std::ffi::OsStr;
use std::io;
use std::os::fd::{OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use super::net::{fresh_fd, packet};
use crate::sim::net::{CONNECT_TIMEOUT, Msg, Peer, Sock, State};
use crate::sim::world::{Event, World};
use crate::sys::socket::SockAddr;

/// The socket address of `path` (`sun_path` bytes; empty: an unnamed socket).
pub(crate) fn sockaddr(path: &[u8]) -> SockAddr {
    if path.is_empty() {
        let mut out = SockAddr::empty();
        out.storage.ss_family = libc::AF_UNIX as libc::sa_family_t;
        out.len = std::mem::offset_of!(libc::sockaddr_un, sun_path) as libc::socklen_t;
        return out;
    }
    // Paths come from `unix_path_bytes` of an address that was valid, so they fit.
    SockAddr::from_unix_path(Path::new(OsStr::from_bytes(path))).unwrap_or_else(|_| sockaddr(&[]))
}

/// bind(2) of Unix socket `fd` to `addr`.
pub(crate) fn bind(world: &mut World, fd: RawFd, addr: &SockAddr) -> io::Result<()> {
    if addr.family() != libc::AF_UNIX {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let path = addr.unix_path_bytes();
    if path.is_empty() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let host = world.net.socks[&fd].host;
    if world.net.unix_paths.contains_key(&(host, path.clone())) {
        return Err(io::Error::from_raw_os_error(libc::EADDRINUSE));
    }
    let sock = world
        .net
        .socks
        .get_mut(&fd)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
    if sock.unix.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    sock.unix = Some(path.clone());
    world.net.unix_paths.insert((host, path), fd);
    Ok(())
}

/// listen(2) on Unix socket `fd` (bound: `EINVAL` otherwise).
pub(crate) fn listen(world: &mut World, fd: RawFd) -> io::Result<()> {
    let sock = world
        .net
        .socks
        .get_mut(&fd)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
    if matches!(sock.state, State::UnixDatagram { .. }) {
        return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
    }
    if sock.unix.as_ref().is_none_or(Vec::is_empty) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if matches!(sock.state, State::Fresh) {
        sock.state = State::Listening(Default::default());
    }
    Ok(())
}

/// A CONNECT SQE of Unix socket `fd` of `host` to `dest`: the result now, or `None` while
/// the handshake runs.
pub(crate) fn connect(
    world: &mut World,
    host: usize,
    fd: RawFd,
    user_data: u64,
    dest: &SockAddr,
) -> Option<i32> {
    let path = dest.unix_path_bytes();
    let Some(&listener) = world.net.unix_paths.get(&(host, path.clone())) else {
        return Some(-libc::ENOENT);
    };
    let listening = world
        .net
        .socks
        .get(&listener)
        .is_some_and(|s| matches!(s.state, State::Listening(_)));
    if !listening {
        return Some(-libc::ECONNREFUSED);
    }
    if !matches!(world.net.socks.get(&fd)?.state, State::Fresh) {
        return Some(-libc::EISCONN);
    }
    let nowhere = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
    let conn = world
        .net
        .connect((host, nowhere, fd), (host, nowhere), (host, user_data));
    let mine = world.net.socks.get(&fd).and_then(|s| s.unix.clone());
    if let Some(c) = world.net.conns.get_mut(&conn) {
        c.unix = Some([mine.unwrap_or_default(), path]);
    }
    if let Some(s) = world.net.socks.get_mut(&fd) {
        s.state = State::Connecting(conn);
    }
    world.send(host, host, packet(conn, 1, Msg::Syn));
    let deadline = world.now + CONNECT_TIMEOUT;
    world.at(deadline, Event::Net(packet(conn, 0, Msg::ConnectTimeout)));
    None
}

/// A connected pair of Unix datagram sockets of the current host.
fn dgram_pair() -> io::Result<(OwnedFd, OwnedFd)> {
    crate::sim::world::with_current(|w| {
        let host = w.current_host;
        let a = fresh_fd(w)?;
        let b = match fresh_fd(w) {
            Ok(b) => b,
            Err(e) => {
                let _ = crate::sys::placeholder::close(a);
                return Err(e);
            }
        };
        for (fd, peer) in [(a, b), (b, a)] {
            w.net.socks.insert(
                fd,
                Sock {
                    host,
                    state: State::UnixDatagram {
                        rx: Default::default(),
                        peer: Peer::Fd(peer),
                    },
                    local: None,
                    unix: Some(Vec::new()),
                },
            );
        }
        Ok((
            crate::sys::fd::adopt(a as u32),
            crate::sys::fd::adopt(b as u32),
        ))
    })
    .unwrap_or_else(|| Err(io::ErrorKind::Unsupported.into()))
}

/// socketpair(2) in a simulation: a connected pair of Unix stream sockets of the current
/// host (`None` when no simulation runs; `Unsupported` for other kinds).
pub(crate) fn socketpair(domain: i32, ty: i32) -> Option<io::Result<(OwnedFd, OwnedFd)>> {
    if !crate::sim::is_simulated() {
        return None;
    }
    let ty = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    if domain != libc::AF_UNIX || !matches!(ty, libc::SOCK_STREAM | libc::SOCK_DGRAM) {
        return Some(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "ringcore::sim: only Unix socket pairs are simulated",
        )));
    }
    if ty == libc::SOCK_DGRAM {
        return Some(dgram_pair());
    }
    crate::sim::world::with_current(|w| {
        let host = w.current_host;
        let a = fresh_fd(w)?;
        let b = match fresh_fd(w) {
            Ok(b) => b,
            Err(e) => {
                let _ = crate::sys::placeholder::close(a);
                return Err(e);
            }
        };
        let nowhere = std::net::SocketAddr::from(([0, 0, 0, 0], 0));
        let conn = w
            .net
            .connect((host, nowhere, a), (host, nowhere), (host, 0));
        if let Some(c) = w.net.conns.get_mut(&conn) {
            c.connect_op = None;
            c.established = true;
            c.ends[1].fd = Some(b);
            c.unix = Some([Vec::new(), Vec::new()]);
        }
        for (fd, side) in [(a, 0), (b, 1)] {
            w.net.socks.insert(
                fd,
                Sock {
                    host,
                    state: State::Stream { conn, side },
                    local: None,
                    unix: Some(Vec::new()),
                },
            );
        }
        Ok((
            crate::sys::fd::adopt(a as u32),
            crate::sys::fd::adopt(b as u32),
        ))
    })
}
