//! Unix datagram sockets on a simulated host (feature `sim`): `UnixDatagram` (`bind`,
//! `unbound`, `pair`, `connect`, `send`/`send_to`, `recv`/`recv_from`) between the tasks of
//! one host, with paths in the host's own namespace (src/driver/sim/unix.rs).
//!
//! As on Linux within one host, a datagram is never lost, duplicated or reordered, and it
//! arrives at once (no link is crossed). A send to a path nobody bound fails with `ENOENT`,
//! to a bound socket that is not a datagram socket with `EPROTOTYPE`, to a connected peer
//! that was closed with `ECONNREFUSED`; a send with no address on an unconnected socket
//! with `EDESTADDRREQ`. A connected socket takes datagrams only from its peer (others'
//! sends fail with `EPERM`). Unlike Linux, a receiver's queue is unbounded (a send never
//! waits for room). `recv_from` reports the sender's path (empty: unnamed).

use std::os::fd::RawFd;

use io_uring::opcode;

use super::net::iovecs;
use crate::sim::net::{Peer, State};
use crate::sim::world::World;
use crate::sys::socket::SockAddr;
use crate::sys::sqe::RawSqe;

/// Reads the Unix address of `len` bytes at `ptr`: its path bytes (`None`: no address, or
/// not a Unix one).
fn read_path(ptr: u64, len: usize) -> Option<Vec<u8>> {
    let len = len.min(size_of::<libc::sockaddr_storage>());
    if ptr == 0 || len == 0 {
        return None;
    }
    let mut addr = SockAddr::empty();
    // SAFETY: the SQE points at `len` bytes of a sockaddr its op owns until the CQE; we
    // copy at most the storage's size.
    unsafe {
        std::ptr::copy_nonoverlapping(ptr as *const u8, (&raw mut addr.storage).cast::<u8>(), len);
    }
    addr.len = len as libc::socklen_t;
    (addr.family() == libc::AF_UNIX).then(|| addr.unix_path_bytes())
}

/// The datagram socket bound to `path` on `host`, or the errno of a send to it.
fn target(world: &World, host: usize, path: &[u8]) -> Result<RawFd, i32> {
    let fd = *world
        .net
        .unix_paths
        .get(&(host, path.to_vec()))
        .ok_or(-libc::ENOENT)?;
    match world.net.socks.get(&fd).map(|s| &s.state) {
        Some(State::UnixDatagram { .. }) => Ok(fd),
        _ => Err(-libc::EPROTOTYPE),
    }
}

/// Performs an SQE of `host` on Unix datagram socket `sqe.fd`: the result, or `None` when
/// a receive must wait.
pub(crate) fn perform(world: &mut World, host: usize, sqe: &RawSqe) -> Option<i32> {
    let fd = sqe.fd;
    let State::UnixDatagram { peer, .. } = &world.net.socks.get(&fd)?.state else {
        return Some(-libc::EBADF);
    };
    let peer = *peer;
    match sqe.opcode {
        opcode::Connect::CODE => {
            let Some(path) = read_path(sqe.addr, sqe.off as usize) else {
                return Some(-libc::EINVAL);
            };
            let to = match target(world, host, &path) {
                Ok(to) => to,
                Err(e) => return Some(e),
            };
            if let Some(State::UnixDatagram { peer, .. }) =
                world.net.socks.get_mut(&fd).map(|s| &mut s.state)
            {
                *peer = Peer::Fd(to);
            }
            Some(0)
        }
        opcode::Send::CODE | opcode::Write::CODE | opcode::SendMsg::CODE => {
            let (bufs, named) = if sqe.opcode == opcode::SendMsg::CODE {
                // SAFETY: a SENDMSG SQE points at a msghdr its op owns until the CQE.
                let hdr = unsafe { &*(sqe.addr as *const libc::msghdr) };
                let named = read_path(hdr.msg_name as u64, hdr.msg_namelen as usize);
                // SAFETY: as above.
                (unsafe { iovecs(sqe.addr) }, named)
            } else {
                (vec![(sqe.addr, sqe.len as usize)], None)
            };
            let to = match (named, peer) {
                (Some(path), _) => match target(world, host, &path) {
                    Ok(to) => to,
                    Err(e) => return Some(e),
                },
                (None, Peer::Fd(to)) => to,
                (None, Peer::Gone) => return Some(-libc::ECONNREFUSED),
                (None, Peer::None) => return Some(-libc::EDESTADDRREQ),
            };
            let mut bytes = Vec::new();
            for (ptr, len) in bufs {
                if len > 0 {
                    // SAFETY: a send's buffers are `len` readable bytes its op owns until
                    // the CQE.
                    bytes.extend_from_slice(unsafe {
                        std::slice::from_raw_parts(ptr as *const u8, len)
                    });
                }
            }
            let n = bytes.len() as i32;
            let from_path = world.net.socks.get(&fd)?.unix.clone().unwrap_or_default();
            let Some(State::UnixDatagram { rx, peer }) =
                world.net.socks.get_mut(&to).map(|s| &mut s.state)
            else {
                return Some(-libc::ECONNREFUSED);
            };
            if matches!(peer, Peer::Fd(p) if *p != fd) {
                return Some(-libc::EPERM);
            }
            rx.push_back((from_path, bytes));
            super::net::wake(world, host, to);
            Some(n)
        }
        opcode::Recv::CODE | opcode::Read::CODE | opcode::RecvMsg::CODE => {
            let State::UnixDatagram { rx, .. } = &mut world.net.socks.get_mut(&fd)?.state else {
                return Some(-libc::EBADF);
            };
            let (from, bytes) = rx.pop_front()?;
            Some(super::net::hand_datagram(
                sqe,
                &bytes,
                &super::unix::sockaddr(&from),
            ))
        }
        _ => Some(-libc::EOPNOTSUPP),
    }
}

/// Unix datagram socket `fd` was closed: sockets connected to it see `ECONNREFUSED` on
/// their next send (the number may come back for another socket).
pub(crate) fn closed(world: &mut World, fd: RawFd) {
    for sock in world.net.socks.values_mut() {
        if let State::UnixDatagram { peer, .. } = &mut sock.state
            && *peer == Peer::Fd(fd)
        {
            *peer = Peer::Gone;
        }
    }
}
