//! Socket SQEs and socket calls on simulated TCP, UDP and Unix sockets (feature `sim`; the model is
//! src/sim/net.rs): CONNECT, ACCEPT, RECV, SEND, RECVMSG, SENDMSG, READ, WRITE and
//! POLL_ADD performed on connections' byte queues, messages delivered, sockets closed.
//!
//! An op that cannot finish now (a receive with nothing to read, an accept with no
//! connection, a connect waiting for its answer) is parked in the world and tried again
//! when a message reaches its socket, in the order ops parked; a cancel takes it out.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

use io_uring::opcode;

use super::multishot;
use crate::sim::net::{CONNECT_TIMEOUT, Msg, Packet, Sock, State, UDP_QUEUE, host_ip, host_of};
use crate::sim::world::{Event, World};
use crate::sys::socket::SockAddr;
use crate::sys::sqe::RawSqe;

pub(crate) use super::calls::{addr, bind, listen, nowait, resolve, shutdown, socket, sockopt};
pub(crate) use super::unix::socketpair;

/// True for the opcodes this module performs on a socket.
pub(crate) fn is_socket_op(code: u8) -> bool {
    matches!(
        code,
        opcode::Connect::CODE
            | opcode::Accept::CODE
            | opcode::Recv::CODE
            | opcode::Send::CODE
            | opcode::RecvMsg::CODE
            | opcode::SendMsg::CODE
            | opcode::Read::CODE
            | opcode::Write::CODE
            | opcode::PollAdd::CODE
    )
}

/// Performs a socket SQE of `host`: its result, or `None` when it must wait (parked by
/// the caller).
pub(crate) fn perform(world: &mut World, host: usize, sqe: &RawSqe) -> Option<i32> {
    let Some(sock) = world.net.socks.get(&sqe.fd) else {
        return Some(-libc::EBADF);
    };
    if sock.host != host {
        return Some(-libc::EBADF);
    }
    if sqe.opcode == opcode::Recv::CODE && multishot::selects_buffer(sqe) {
        return multishot::recv(world, host, sqe);
    }
    if matches!(sock.state, State::Datagram { .. }) && sqe.opcode != opcode::PollAdd::CODE {
        return datagram(world, host, sqe);
    }
    if matches!(sock.state, State::UnixDatagram { .. }) && sqe.opcode != opcode::PollAdd::CODE {
        return super::unix_dgram::perform(world, host, sqe);
    }
    match sqe.opcode {
        opcode::Connect::CODE => connect(world, host, sqe),
        opcode::Accept::CODE if multishot::is_accept_multishot(sqe) => {
            multishot::accept_multishot(world, host, sqe)
        }
        opcode::Accept::CODE => accept(world, host, sqe),
        opcode::PollAdd::CODE => poll(world, sqe),
        opcode::Recv::CODE | opcode::Read::CODE => {
            let peek =
                sqe.opcode == opcode::Recv::CODE && sqe.op_flags as i32 & libc::MSG_PEEK != 0;
            recv(world, sqe.fd, &[(sqe.addr, sqe.len as usize)], peek)
        }
        opcode::RecvMsg::CODE => {
            // SAFETY: a RECVMSG SQE points at a msghdr its op owns until the CQE.
            let iov = unsafe { iovecs(sqe.addr) };
            let res = recv(world, sqe.fd, &iov, false);
            if res.is_some() {
                // SAFETY: as above; a stream has no sender address to report.
                unsafe {
                    let hdr = sqe.addr as *mut libc::msghdr;
                    (*hdr).msg_namelen = 0;
                    (*hdr).msg_flags = 0;
                }
            }
            res
        }
        opcode::Send::CODE | opcode::Write::CODE => {
            send(world, host, sqe.fd, &[(sqe.addr, sqe.len as usize)])
        }
        opcode::SendMsg::CODE => {
            // SAFETY: a SENDMSG SQE points at a msghdr its op owns until the CQE.
            let iov = unsafe { iovecs(sqe.addr) };
            send(world, host, sqe.fd, &iov)
        }
        _ => Some(-libc::EOPNOTSUPP),
    }
}

/// The (address, length) pairs of a msghdr's iovecs.
///
/// # Safety
///
/// `hdr` points at a live `msghdr` whose `msg_iov` holds `msg_iovlen` live iovecs.
pub(super) unsafe fn iovecs(hdr: u64) -> Vec<(u64, usize)> {
    if hdr == 0 {
        return Vec::new();
    }
    // SAFETY: forwarded from the caller.
    let hdr = unsafe { &*(hdr as *const libc::msghdr) };
    if hdr.msg_iov.is_null() {
        return Vec::new();
    }
    // SAFETY: forwarded from the caller.
    let iov = unsafe { std::slice::from_raw_parts(hdr.msg_iov, hdr.msg_iovlen) };
    iov.iter().map(|v| (v.iov_base as u64, v.iov_len)).collect()
}

fn connect(world: &mut World, host: usize, sqe: &RawSqe) -> Option<i32> {
    let mut addr = SockAddr::empty();
    let len = (sqe.off as usize).min(size_of::<libc::sockaddr_storage>());
    if sqe.addr == 0 || len == 0 {
        return Some(-libc::EFAULT);
    }
    // SAFETY: a CONNECT SQE points at `off` bytes of a sockaddr its op owns until the
    // CQE; we copy at most the storage's size.
    unsafe {
        std::ptr::copy_nonoverlapping(
            sqe.addr as *const u8,
            (&raw mut addr.storage).cast::<u8>(),
            len,
        );
    }
    addr.len = len as libc::socklen_t;
    if world.net.socks.get(&sqe.fd)?.unix.is_some() {
        if addr.family() != libc::AF_UNIX {
            return Some(-libc::EINVAL);
        }
        return super::unix::connect(world, host, sqe.fd, sqe.user_data, &addr);
    }
    let Ok(dest) = addr.to_inet() else {
        return Some(-libc::EAFNOSUPPORT);
    };
    let Some(server) = host_of(dest.ip(), host, world.hosts.len()) else {
        return Some(-libc::ENETUNREACH);
    };
    let sock = world.net.socks.get(&sqe.fd)?;
    if !matches!(sock.state, State::Fresh) {
        return Some(-libc::EISCONN);
    }
    let local = match sock.local {
        Some(a) => a,
        None => SocketAddr::new(host_ip(host).into(), world.net.ephemeral(host)),
    };
    let server_addr = SocketAddr::new(host_ip(server).into(), dest.port());
    let conn = world.net.connect(
        (host, local, sqe.fd),
        (server, server_addr),
        (host, sqe.user_data),
    );
    if let Some(s) = world.net.socks.get_mut(&sqe.fd) {
        s.state = State::Connecting(conn);
        s.local = Some(local);
    }
    world.send(host, server, packet(conn, 1, Msg::Syn));
    let deadline = world.now + CONNECT_TIMEOUT;
    world.at(deadline, Event::Net(packet(conn, 0, Msg::ConnectTimeout)));
    None
}

pub(super) fn packet(conn: u64, to: usize, msg: Msg) -> Packet {
    Packet {
        conn,
        to,
        msg,
        bytes: Vec::new(),
        dgram: None,
    }
}

/// Reads a sockaddr of `len` bytes at `ptr` as an IP address.
fn read_addr(ptr: u64, len: usize) -> Option<SocketAddr> {
    let len = len.min(size_of::<libc::sockaddr_storage>());
    if ptr == 0 || len == 0 {
        return None;
    }
    let mut addr = SockAddr::empty();
    // SAFETY: the SQE (or msghdr) points at `len` bytes of a sockaddr its op owns until the
    // CQE; we copy at most the storage's size.
    unsafe {
        std::ptr::copy_nonoverlapping(ptr as *const u8, (&raw mut addr.storage).cast::<u8>(), len);
    }
    addr.len = len as libc::socklen_t;
    addr.to_inet().ok()
}

/// Binds a UDP socket with no address to an ephemeral port of its host.
pub(super) fn auto_bind(world: &mut World, host: usize, fd: RawFd) -> Option<SocketAddr> {
    if let Some(local) = world.net.socks.get(&fd)?.local {
        return Some(local);
    }
    let local = SocketAddr::new(host_ip(host).into(), world.net.ephemeral(host));
    world.net.socks.get_mut(&fd)?.local = Some(local);
    world.net.udp.insert((host, local.port()), fd);
    Some(local)
}

/// An SQE on a UDP socket: CONNECT sets the peer; SEND/WRITE/SENDMSG send one datagram;
/// RECV/READ/RECVMSG take one (truncated to the buffers), or park.
fn datagram(world: &mut World, host: usize, sqe: &RawSqe) -> Option<i32> {
    let fd = sqe.fd;
    let peer = match &world.net.socks.get(&fd)?.state {
        State::Datagram { peer, .. } => *peer,
        _ => return Some(-libc::EBADF),
    };
    match sqe.opcode {
        opcode::Connect::CODE => {
            let Some(to) = read_addr(sqe.addr, sqe.off as usize) else {
                return Some(-libc::EINVAL);
            };
            auto_bind(world, host, fd);
            if let Some(State::Datagram { peer, .. }) =
                world.net.socks.get_mut(&fd).map(|s| &mut s.state)
            {
                *peer = Some(to);
            }
            Some(0)
        }
        opcode::Send::CODE | opcode::Write::CODE | opcode::SendMsg::CODE => {
            let (bufs, named) = if sqe.opcode == opcode::SendMsg::CODE {
                // SAFETY: a SENDMSG SQE points at a msghdr its op owns until the CQE.
                let hdr = unsafe { &*(sqe.addr as *const libc::msghdr) };
                let named = read_addr(hdr.msg_name as u64, hdr.msg_namelen as usize);
                // SAFETY: as above.
                (unsafe { iovecs(sqe.addr) }, named)
            } else {
                (vec![(sqe.addr, sqe.len as usize)], None)
            };
            let Some(to) = named.or(peer) else {
                return Some(-libc::EDESTADDRREQ);
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
            let from = auto_bind(world, host, fd)?;
            let n = bytes.len() as i32;
            let Some(to_host) = host_of(to.ip(), host, world.hosts.len()) else {
                // Nobody at that address: the datagram is lost, as on a real network.
                return Some(n);
            };
            let (loss, dup) = (world.net.udp_loss, world.net.udp_duplicate);
            if world.chance(loss) {
                return Some(n);
            }
            let copies = if world.chance(dup) { 2 } else { 1 };
            for _ in 0..copies {
                let p = Packet {
                    conn: u64::MAX,
                    to: to_host,
                    msg: Msg::Datagram,
                    bytes: bytes.clone(),
                    dgram: Some((from, to)),
                };
                world.send(host, to_host, p);
            }
            Some(n)
        }
        opcode::Recv::CODE | opcode::Read::CODE | opcode::RecvMsg::CODE => {
            let State::Datagram { rx, .. } = &mut world.net.socks.get_mut(&fd)?.state else {
                return Some(-libc::EBADF);
            };
            let (from, bytes) = rx.pop_front()?;
            Some(hand_datagram(sqe, &bytes, &SockAddr::from_inet(&from)))
        }
        _ => Some(-libc::EOPNOTSUPP),
    }
}

pub(super) fn accept(world: &mut World, host: usize, sqe: &RawSqe) -> Option<i32> {
    let State::Listening(backlog) = &mut world.net.socks.get_mut(&sqe.fd)?.state else {
        return Some(-libc::EINVAL);
    };
    let conn = backlog.pop_front()?;
    let fd = match fresh_fd(world) {
        Ok(fd) => fd,
        Err(e) => return Some(-e.raw_os_error().unwrap_or(libc::EMFILE)),
    };
    let c = world.net.conns.get_mut(&conn)?;
    c.ends[1].fd = Some(fd);
    let (local, peer) = (c.ends[1].addr, c.ends[0].addr);
    let unix = c.unix.clone();
    world.net.socks.insert(
        fd,
        Sock {
            host,
            state: State::Stream { conn, side: 1 },
            local: Some(local),
            unix: unix.as_ref().map(|[_, mine]| mine.clone()),
        },
    );
    if sqe.addr != 0 && sqe.off != 0 {
        let sa = match &unix {
            Some([peer, _]) => super::unix::sockaddr(peer),
            None => SockAddr::from_inet(&peer),
        };
        // SAFETY: an ACCEPT SQE points at a sockaddr buffer and its socklen_t (addr2),
        // owned by its op until the CQE; we write at most the length it says it has.
        unsafe {
            let lenp = sqe.off as *mut libc::socklen_t;
            let n = (*lenp).min(sa.len) as usize;
            std::ptr::copy_nonoverlapping(
                (&raw const sa.storage).cast::<u8>(),
                sqe.addr as *mut u8,
                n,
            );
            *lenp = sa.len;
        }
    }
    Some(fd)
}

fn poll(world: &mut World, sqe: &RawSqe) -> Option<i32> {
    let events = sqe.op_flags as i16;
    let sock = world.net.socks.get(&sqe.fd)?;
    let mut ready: i16 = 0;
    match &sock.state {
        State::Listening(backlog) if !backlog.is_empty() => ready |= libc::POLLIN,
        State::Datagram { rx, .. } => {
            if !rx.is_empty() {
                ready |= libc::POLLIN;
            }
            ready |= libc::POLLOUT;
        }
        State::UnixDatagram { rx, .. } => {
            if !rx.is_empty() {
                ready |= libc::POLLIN;
            }
            ready |= libc::POLLOUT;
        }
        State::Stream { conn, side } => {
            let end = &world.net.conns.get(conn)?.ends[*side];
            if !end.rx.is_empty() || end.eof {
                ready |= libc::POLLIN;
            }
            if end.eof {
                ready |= libc::POLLRDHUP;
            }
            if end.reset {
                ready |= libc::POLLERR | libc::POLLHUP;
            }
            ready |= libc::POLLOUT;
        }
        _ => {}
    }
    let hit = ready & (events | libc::POLLERR | libc::POLLHUP);
    (hit != 0).then_some(i32::from(hit as u16))
}

pub(super) fn recv(world: &mut World, fd: RawFd, bufs: &[(u64, usize)], peek: bool) -> Option<i32> {
    let (conn, side) = match world.net.socks.get(&fd)?.state {
        State::Stream { conn, side } => (conn, side),
        _ => return Some(-libc::ENOTCONN),
    };
    let end = &mut world.net.conns.get_mut(&conn)?.ends[side];
    let want: usize = bufs.iter().map(|b| b.1).sum();
    if want == 0 {
        return Some(0);
    }
    if end.rx.is_empty() {
        if end.reset {
            return Some(-libc::ECONNRESET);
        }
        if end.eof {
            return Some(0);
        }
        return None;
    }
    let mut n = 0;
    for &(ptr, len) in bufs {
        let take = len.min(end.rx.len() - n);
        if take == 0 {
            break;
        }
        let chunk: Vec<u8> = end.rx.range(n..n + take).copied().collect();
        // SAFETY: a receive SQE's buffers (or iovecs) are `len` writable bytes owned by its
        // op until the CQE; `take <= len`.
        unsafe { std::ptr::copy_nonoverlapping(chunk.as_ptr(), ptr as *mut u8, take) };
        n += take;
    }
    if !peek {
        end.rx.drain(..n);
    }
    Some(n as i32)
}

pub(super) fn send(
    world: &mut World,
    host: usize,
    fd: RawFd,
    bufs: &[(u64, usize)],
) -> Option<i32> {
    let (conn, side) = match world.net.socks.get(&fd)?.state {
        State::Stream { conn, side } => (conn, side),
        _ => return Some(-libc::ENOTCONN),
    };
    let c = world.net.conns.get(&conn)?;
    let (me, peer) = (&c.ends[side], &c.ends[1 - side]);
    if me.reset {
        return Some(-libc::ECONNRESET);
    }
    if me.fin_sent {
        return Some(-libc::EPIPE);
    }
    let to_host = peer.host;
    let mut bytes = Vec::new();
    for &(ptr, len) in bufs {
        if len > 0 {
            // SAFETY: a send SQE's buffers (or iovecs) are `len` readable bytes owned by
            // its op until the CQE.
            bytes.extend_from_slice(unsafe { std::slice::from_raw_parts(ptr as *const u8, len) });
        }
    }
    let n = bytes.len();
    if n > 0 {
        world.send(
            host,
            to_host,
            Packet {
                conn,
                to: 1 - side,
                msg: Msg::Data,
                bytes,
                dgram: None,
            },
        );
    }
    Some(n as i32)
}

/// A new placeholder fd. The fds ringcore released are forgotten (sockets closed) first:
/// a released number may come back now, and must not be mistaken for the old socket.
pub(crate) fn fresh_fd(world: &mut World) -> io::Result<RawFd> {
    for fd in world.take_released() {
        close(world, fd);
    }
    crate::sys::placeholder::open()
}

/// A message arrives: update the connection, then finish what waited for it.
pub(crate) fn deliver(world: &mut World, p: Packet) {
    for fd in world.take_released() {
        close(world, fd);
    }
    if let Some((from, to)) = p.dgram {
        let Some(&fd) = world.net.udp.get(&(p.to, to.port())) else {
            return;
        };
        if let Some(Sock {
            state: State::Datagram { rx, peer },
            ..
        }) = world.net.socks.get_mut(&fd)
        {
            // A connected socket takes only its peer's datagrams; a full queue drops.
            if peer.is_none_or(|p| p == from) && rx.len() < UDP_QUEUE {
                rx.push_back((from, p.bytes));
                wake(world, p.to, fd);
            }
        }
        return;
    }
    let Some(c) = world.net.conns.get(&p.conn) else {
        return;
    };
    let to_host = c.ends[p.to].host;
    let from_host = c.ends[1 - p.to].host;
    let open = c.ends[p.to].fd;
    let port = c.ends[1].addr.port();
    match p.msg {
        Msg::Syn => {
            let listener = match &c.unix {
                Some([_, path]) => world.net.unix_paths.get(&(to_host, path.clone())).copied(),
                None => world.net.listeners.get(&(to_host, port)).copied(),
            };
            let reply = match listener {
                Some(lfd) => {
                    if let Some(Sock {
                        state: State::Listening(backlog),
                        ..
                    }) = world.net.socks.get_mut(&lfd)
                    {
                        backlog.push_back(p.conn);
                    }
                    wake(world, to_host, lfd);
                    Msg::SynAck
                }
                None => Msg::Refused,
            };
            world.send(to_host, from_host, packet(p.conn, 0, reply));
        }
        Msg::SynAck | Msg::Refused | Msg::ConnectTimeout => {
            let Some(c) = world.net.conns.get_mut(&p.conn) else {
                return;
            };
            let Some((host, ud)) = c.connect_op else {
                return;
            };
            let res = match p.msg {
                Msg::SynAck => 0,
                Msg::Refused => -libc::ECONNREFUSED,
                _ => -libc::ETIMEDOUT,
            };
            c.connect_op = None;
            c.established = res == 0;
            if res != 0 {
                c.ends[0].reset = true;
            }
            if let Some(fd) = open
                && let Some(s) = world.net.socks.get_mut(&fd)
            {
                s.state = State::Stream {
                    conn: p.conn,
                    side: 0,
                };
            }
            if let Some(sqe) = world.unpark(host, ud) {
                finish(world, host, &sqe, res);
            } else if res == 0 {
                // The connect was cancelled as it succeeded: the server's end is reset.
                world.send(host, from_host, packet(p.conn, 1, Msg::Rst));
            }
        }
        // Datagrams were handled above.
        Msg::Datagram => {}
        Msg::Data | Msg::Fin | Msg::Rst => {
            let Some(c) = world.net.conns.get_mut(&p.conn) else {
                return;
            };
            let end = &mut c.ends[p.to];
            if end.closed && p.msg == Msg::Data && !end.reset {
                // Data for a closed socket: the sender is reset.
                world.send(to_host, from_host, packet(p.conn, 1 - p.to, Msg::Rst));
                return;
            }
            match p.msg {
                Msg::Data => end.rx.extend(p.bytes),
                Msg::Fin => end.eof = true,
                _ => end.reset = true,
            }
            if let Some(fd) = open {
                wake(world, to_host, fd);
            }
        }
    }
}

/// Traces a CQE of an op that stays armed (`flags` has `IORING_CQE_F_MORE`) and queues it
/// for `host`'s driver.
pub(super) fn trace_and_post(world: &mut World, host: usize, sqe: &RawSqe, res: i32, flags: u32) {
    super::trace_completion(world, host, sqe, res);
    let h = &mut world.hosts[host];
    h.cq.borrow_mut().push(crate::driver::ring::Cqe {
        user_data: sqe.user_data,
        result: res,
        flags,
        buf_offset: 0,
    });
    h.has_cqes = true;
}

/// Hands a datagram to a receive SQE: its `bytes` into the buffers ([`scatter`]) and, for a
/// RECVMSG, the sender's address `from` into the header's name buffer (cut to
/// `msg_namelen`, which then says the full length) and MSG_TRUNC into `msg_flags` when
/// the datagram did not fit. Returns the CQE's result: the bytes copied.
pub(super) fn hand_datagram(sqe: &RawSqe, bytes: &[u8], from: &SockAddr) -> i32 {
    let n = scatter(sqe, bytes);
    if sqe.opcode == opcode::RecvMsg::CODE {
        // SAFETY: a RECVMSG SQE points at a msghdr its op owns until the CQE, and its name
        // buffer, when set, is `msg_namelen` writable bytes; at most that many are copied.
        unsafe {
            let hdr = &mut *(sqe.addr as *mut libc::msghdr);
            if !hdr.msg_name.is_null() {
                let k = (hdr.msg_namelen).min(from.len) as usize;
                std::ptr::copy_nonoverlapping(
                    (&raw const from.storage).cast::<u8>(),
                    hdr.msg_name.cast::<u8>(),
                    k,
                );
                hdr.msg_namelen = from.len;
            }
            hdr.msg_flags = if n < bytes.len() { libc::MSG_TRUNC } else { 0 };
        }
    }
    n as i32
}

/// Copies a datagram's `bytes` into a receive SQE's buffers (a RECVMSG's iovecs in order,
/// or the one buffer of a RECV or READ); returns the bytes copied (the rest of a datagram
/// that does not fit is dropped, as datagram sockets do).
pub(super) fn scatter(sqe: &RawSqe, bytes: &[u8]) -> usize {
    let bufs = if sqe.opcode == opcode::RecvMsg::CODE {
        // SAFETY: a RECVMSG SQE points at a msghdr its op owns until the CQE.
        unsafe { iovecs(sqe.addr) }
    } else {
        vec![(sqe.addr, sqe.len as usize)]
    };
    let mut n = 0;
    for (ptr, len) in bufs {
        let take = len.min(bytes.len() - n);
        if take == 0 {
            break;
        }
        // SAFETY: a receive's buffers are `len` writable bytes its op owns until the CQE;
        // `take <= len`.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes[n..].as_ptr(), ptr as *mut u8, take);
        }
        n += take;
    }
    n
}

/// Completes a parked op and traces it.
fn finish(world: &mut World, host: usize, sqe: &RawSqe, res: i32) {
    super::trace_completion(world, host, sqe, res);
    world.complete(host, sqe.user_data, res);
}

/// Tries again, in the order they parked, the ops of `host` parked on `fd`.
pub(super) fn wake(world: &mut World, host: usize, fd: RawFd) {
    for sqe in world.parked_on(host, fd) {
        if sqe.opcode == opcode::Connect::CODE {
            continue;
        }
        if let Some(res) = perform(world, host, &sqe) {
            world.unpark(host, sqe.user_data);
            finish(world, host, &sqe, res);
        }
    }
}

/// Socket `fd` was closed: its peer gets a FIN (a RST for a connect in flight); a
/// listener's queued connections are reset.
pub(crate) fn close(world: &mut World, fd: RawFd) {
    let Some(sock) = world.net.socks.remove(&fd) else {
        return;
    };
    if let Some(path) = &sock.unix
        && world.net.unix_paths.get(&(sock.host, path.clone())) == Some(&fd)
    {
        world.net.unix_paths.remove(&(sock.host, path.clone()));
    }
    match sock.state {
        State::Fresh => {}
        State::UnixDatagram { .. } => super::unix_dgram::closed(world, fd),
        State::Datagram { .. } => {
            if let Some(local) = sock.local
                && world.net.udp.get(&(sock.host, local.port())) == Some(&fd)
            {
                world.net.udp.remove(&(sock.host, local.port()));
            }
        }
        State::Listening(backlog) => {
            if let Some(local) = sock.local {
                world.net.listeners.remove(&(sock.host, local.port()));
            }
            for conn in backlog {
                let client = world.net.conns.get_mut(&conn).map(|c| {
                    c.ends[1].closed = true;
                    c.ends[0].host
                });
                if let Some(client) = client {
                    world.send(sock.host, client, packet(conn, 0, Msg::Rst));
                }
            }
        }
        State::Connecting(conn) | State::Stream { conn, .. } => {
            let side = match sock.state {
                State::Stream { side, .. } => side,
                _ => 0,
            };
            let Some(c) = world.net.conns.get_mut(&conn) else {
                return;
            };
            c.ends[side].fd = None;
            c.ends[side].closed = true;
            let peer = c.ends[1 - side].host;
            let msg = if c.established { Msg::Fin } else { Msg::Rst };
            let fin_sent = std::mem::replace(&mut c.ends[side].fin_sent, true);
            if !(fin_sent && msg == Msg::Fin) {
                world.send(sock.host, peer, packet(conn, 1 - side, msg));
            }
        }
    }
}

/// `host` crashed: every connection end it had resets its peer; its sockets are gone.
pub(crate) fn crash(world: &mut World, host: usize) {
    let mut resets = Vec::new();
    for (id, c) in &mut world.net.conns {
        for side in 0..2 {
            let end = &mut c.ends[side];
            if end.host == host && (end.fd.is_some() || (side == 1 && !c.established)) {
                end.fd = None;
                end.closed = true;
                resets.push((*id, 1 - side, c.ends[1 - side].host));
            }
        }
    }
    for (conn, to, to_host) in resets {
        world.send(host, to_host, packet(conn, to, Msg::Rst));
    }
    world.net.socks.retain(|_, s| s.host != host);
    world.net.listeners.retain(|(h, _), _| *h != host);
    world.net.udp.retain(|(h, _), _| *h != host);
    world.net.unix_paths.retain(|(h, _), _| *h != host);
    world.net.pools.retain(|(h, _), _| *h != host);
}
