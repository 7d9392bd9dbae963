//! The socket calls ringcore makes without an SQE (src/sys/socket.rs), on simulated
//! sockets (feature `sim`): socket, socketpair, bind, listen, addresses, shutdown, options, the
//! poll-based bridge's non-blocking transfers, and name resolution. Each answers `None`
//! when no simulation runs on the thread or `fd` is not a simulated socket: the caller then
//! makes the real call. The SQEs on these sockets are performed in src/driver/sim/net.rs.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};

use super::net::{fresh_fd, packet, recv, send};
use crate::sim::net::{Msg, Peer, Sock, State, host_ip, host_of};
use crate::sim::world::{World, with_current};
use crate::sys::socket::SockAddr;

/// socket(2) in a simulation: a TCP, UDP or Unix socket of the current host (other
/// families and types are `Unsupported`).
pub(crate) fn socket(domain: i32, ty: i32) -> Option<io::Result<OwnedFd>> {
    if !crate::sim::is_simulated() {
        return None;
    }
    let ty = ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC);
    let ip = matches!(domain, libc::AF_INET | libc::AF_INET6)
        && matches!(ty, libc::SOCK_STREAM | libc::SOCK_DGRAM);
    let unix = domain == libc::AF_UNIX && matches!(ty, libc::SOCK_STREAM | libc::SOCK_DGRAM);
    if !ip && !unix {
        return Some(Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "ringcore::sim: only TCP, UDP and Unix stream and datagram sockets are simulated (this one would do real I/O)",
        )));
    }
    let state = if unix && ty == libc::SOCK_DGRAM {
        State::UnixDatagram {
            rx: VecDeque::new(),
            peer: Peer::None,
        }
    } else if ty == libc::SOCK_DGRAM {
        State::Datagram {
            rx: VecDeque::new(),
            peer: None,
        }
    } else {
        State::Fresh
    };
    with_current(|w| {
        let raw = fresh_fd(w)?;
        let fd = crate::sys::fd::adopt(raw as u32);
        let host = w.current_host;
        w.net.socks.insert(
            raw,
            Sock {
                host,
                state,
                local: None,
                unix: unix.then(Vec::new),
            },
        );
        Ok(fd)
    })
}

/// Runs `f` on the simulated socket `fd`, if it is one.
fn on_socket<R>(fd: RawFd, f: impl FnOnce(&mut World) -> io::Result<R>) -> Option<io::Result<R>> {
    with_current(|w| w.net.socks.contains_key(&fd).then(|| f(w))).flatten()
}

fn err(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// bind(2) on a simulated socket.
pub(crate) fn bind(fd: RawFd, addr: &SockAddr) -> Option<io::Result<()>> {
    on_socket(fd, |w| {
        if w.net.socks[&fd].unix.is_some() {
            return super::unix::bind(w, fd, addr);
        }
        let want = addr.to_inet()?;
        let host = w.net.socks[&fd].host;
        if host_of(want.ip(), host, w.hosts.len()) != Some(host) {
            return Err(err(libc::EADDRNOTAVAIL));
        }
        let udp = matches!(w.net.socks[&fd].state, State::Datagram { .. });
        let port = match want.port() {
            0 => w.net.ephemeral(host),
            p if !udp && w.net.listeners.contains_key(&(host, p)) => {
                return Err(err(libc::EADDRINUSE));
            }
            p if udp && w.net.udp.contains_key(&(host, p)) => return Err(err(libc::EADDRINUSE)),
            p => p,
        };
        let sock = w.net.socks.get_mut(&fd).ok_or_else(|| err(libc::EBADF))?;
        if sock.local.is_some() {
            return Err(err(libc::EINVAL));
        }
        sock.local = Some(SocketAddr::new(host_ip(host).into(), port));
        if udp {
            w.net.udp.insert((host, port), fd);
        }
        Ok(())
    })
}

/// listen(2) on a simulated socket.
pub(crate) fn listen(fd: RawFd) -> Option<io::Result<()>> {
    on_socket(fd, |w| {
        if w.net.socks[&fd].unix.is_some() {
            return super::unix::listen(w, fd);
        }
        let host = w.net.socks[&fd].host;
        let port = match w.net.socks[&fd].local {
            Some(a) => a.port(),
            None => w.net.ephemeral(host),
        };
        if w.net.listeners.get(&(host, port)).is_some_and(|l| *l != fd) {
            return Err(err(libc::EADDRINUSE));
        }
        let sock = w.net.socks.get_mut(&fd).ok_or_else(|| err(libc::EBADF))?;
        sock.local = Some(SocketAddr::new(host_ip(host).into(), port));
        if matches!(sock.state, State::Fresh) {
            sock.state = State::Listening(VecDeque::new());
        }
        w.net.listeners.insert((host, port), fd);
        Ok(())
    })
}

/// getsockname(2) (`peer` false) or getpeername(2) on a simulated socket.
pub(crate) fn addr(fd: RawFd, peer: bool) -> Option<io::Result<SockAddr>> {
    on_socket(fd, |w| {
        let sock = &w.net.socks[&fd];
        if let Some(path) = &sock.unix {
            return match (&sock.state, peer) {
                (State::Stream { conn, side }, _) => {
                    let c = w.net.conns.get(conn).ok_or_else(|| err(libc::ENOTCONN))?;
                    let paths = c.unix.as_ref().ok_or_else(|| err(libc::ENOTCONN))?;
                    Ok(super::unix::sockaddr(
                        &paths[if peer { 1 - side } else { *side }],
                    ))
                }
                (State::UnixDatagram { peer, .. }, true) => match peer {
                    Peer::Fd(p) => Ok(super::unix::sockaddr(
                        w.net
                            .socks
                            .get(p)
                            .and_then(|s| s.unix.as_deref())
                            .unwrap_or_default(),
                    )),
                    _ => Err(err(libc::ENOTCONN)),
                },
                (_, true) => Err(err(libc::ENOTCONN)),
                (_, false) => Ok(super::unix::sockaddr(path)),
            };
        }
        let addr = match (&sock.state, peer) {
            (State::Datagram { peer: Some(p), .. }, true) => *p,
            (State::Stream { conn, side }, _) => {
                let c = w.net.conns.get(conn).ok_or_else(|| err(libc::ENOTCONN))?;
                c.ends[if peer { 1 - side } else { *side }].addr
            }
            (_, true) => return Err(err(libc::ENOTCONN)),
            (_, false) => sock
                .local
                .unwrap_or_else(|| SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0)),
        };
        Ok(SockAddr::from_inet(&addr))
    })
}

/// shutdown(2) on a simulated socket: writing sends a FIN; reading is not simulated
/// (ignored).
pub(crate) fn shutdown(fd: RawFd, how: i32) -> Option<io::Result<()>> {
    on_socket(fd, |w| {
        let (conn, side) = w.net.end_of(fd).ok_or_else(|| err(libc::ENOTCONN))?;
        if how == libc::SHUT_RD {
            return Ok(());
        }
        let host = w.net.socks[&fd].host;
        let c = w
            .net
            .conns
            .get_mut(&conn)
            .ok_or_else(|| err(libc::ENOTCONN))?;
        if !std::mem::replace(&mut c.ends[side].fin_sent, true) {
            let peer = c.ends[1 - side].host;
            w.send(host, peer, packet(conn, 1 - side, Msg::Fin));
        }
        Ok(())
    })
}

/// getsockopt(2)/setsockopt(2) of an `int` on a simulated socket: options are accepted
/// and ignored; reads answer SO_TYPE, SO_DOMAIN, SO_ERROR (0) and 0 for the rest.
pub(crate) fn sockopt(fd: RawFd, level: i32, name: i32) -> Option<io::Result<i32>> {
    on_socket(fd, |w| {
        let sock = &w.net.socks[&fd];
        Ok(match (level, name) {
            (libc::SOL_SOCKET, libc::SO_TYPE)
                if matches!(
                    sock.state,
                    State::Datagram { .. } | State::UnixDatagram { .. }
                ) =>
            {
                libc::SOCK_DGRAM
            }
            (libc::SOL_SOCKET, libc::SO_TYPE) => libc::SOCK_STREAM,
            (libc::SOL_SOCKET, libc::SO_DOMAIN) if sock.unix.is_some() => libc::AF_UNIX,
            (libc::SOL_SOCKET, libc::SO_DOMAIN) => libc::AF_INET,
            _ => 0,
        })
    })
}

/// recv(2) (`recv` true) or send(2)/sendmsg(2) with MSG_DONTWAIT on a simulated socket,
/// `bufs` being (address, length) pairs the caller guarantees valid for the call (writable
/// for a receive): `WouldBlock` when a receive finds nothing (the caller then waits for
/// readiness with a POLL_ADD, which the world parks until a message arrives).
pub(crate) fn nowait(fd: RawFd, recv_: bool, bufs: &[(u64, usize)]) -> Option<io::Result<usize>> {
    on_socket(fd, |w| {
        let host = w.current_host;
        let res = if recv_ {
            recv(w, fd, bufs, false)
        } else {
            send(w, host, fd, bufs)
        };
        match res {
            None => Err(io::ErrorKind::WouldBlock.into()),
            Some(n) if n < 0 => Err(err(-n)),
            Some(n) => Ok(n as usize),
        }
    })
}

/// The addresses of `host:port` in the current simulation: the simulated host of that
/// name (`None` when no simulation runs).
pub(crate) fn resolve(host: &str, port: Option<u16>) -> Option<io::Result<Vec<SocketAddr>>> {
    if !crate::sim::is_simulated() {
        return None;
    }
    let index = crate::sim::host_index(host);
    Some(match (index, port) {
        (Some(i), Some(p)) => Ok(vec![SocketAddr::new(host_ip(i).into(), p)]),
        (Some(_), None) => Err(io::Error::new(io::ErrorKind::InvalidInput, "no port given")),
        (None, _) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("ringcore::sim: no simulated host named {host:?}"),
        )),
    })
}
