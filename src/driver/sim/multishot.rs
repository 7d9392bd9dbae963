//! Multishot ops and provided buffers on simulated sockets (feature `sim`): what the kernel
//! does for IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT, IORING_OP_RECV with
//! IORING_RECV_MULTISHOT and IOSQE_BUFFER_SELECT, and IORING_REGISTER_PBUF_RING, done on
//! the simulated network's state (src/sim/net.rs) so `TcpListener::incoming()` and
//! `TcpStream::recv_stream()` run their fast paths under simulation, with io_uring's
//! semantics:
//!
//! - **The pool.** A host's driver registers its receive pool (src/driver/bufring.rs) with
//!   its ring; the world keeps the ring's address, its entry count and the consumer's head,
//!   and reads entries up to the tail the pool publishes (the reserved `u16` of entry 0),
//!   as the kernel does. A buffer taken is the driver's until the pool republishes it. A
//!   crash forgets the registration (the host's driver is gone).
//! - **Multishot receive.** Each time the socket has bytes, one CQE per pool buffer filled
//!   (at most a buffer's size each), with `IORING_CQE_F_BUFFER`, the buffer id in the flags'
//!   high half and `IORING_CQE_F_MORE`; the op stays armed (parked in the world). It ends
//!   with one final CQE without `F_MORE`: `-ENOBUFS` when bytes wait and the pool is empty
//!   (nothing taken off the socket), `0` at end of stream, `-ECONNRESET` after a reset,
//!   `-ECANCELED` when cancelled. (A single-shot receive with IOSQE_BUFFER_SELECT, which
//!   ringcore never issues, is `EINVAL`.)
//! - **Multishot accept.** One CQE with `F_MORE` per queued connection (the new fd); the op
//!   stays armed until cancelled. No peer address is reported, as with the kernel.
//!
//! Every CQE posted here enters the trace as a completion, as a single-shot op's does.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::opcode;
use io_uring::types::BufRingEntry;

use super::net::{accept, trace_and_post};
use crate::sim::net::{Pool, State};
use crate::sim::world::World;
use crate::sys::sqe::{IOSQE_BUFFER_SELECT, RawSqe};
use crate::sys::uring::Features;

/// IORING_RECV_MULTISHOT, in a receive SQE's `ioprio`.
const RECV_MULTISHOT: u16 = 1 << 1;
/// IORING_ACCEPT_MULTISHOT, in an accept SQE's `ioprio`.
const ACCEPT_MULTISHOT: u16 = 1 << 0;
/// IORING_CQE_F_BUFFER: the CQE names a provided buffer (its id from bit 16).
const CQE_F_BUFFER: u32 = 1 << 0;
/// IORING_CQE_F_MORE: the op stays armed; more CQEs follow.
pub(crate) const CQE_F_MORE: u32 = 1 << 1;

/// What a simulated host's driver may use: FTRUNCATE, the provided-buffer pool and
/// multishot accept and receive (no SOCKET, no SEND_ZC, no incremental pool).
pub(crate) fn features() -> Features {
    Features {
        ftruncate: true,
        buf_ring: true,
        accept_multishot: true,
        ..Default::default()
    }
}

/// IORING_REGISTER_PBUF_RING for core `core` of `host`: the `entries` ring entries at
/// `ring` become that core's pool (one group per core: each core has its own ring and
/// pool). Incremental consumption (`flags` non-zero) is `EINVAL`.
pub(crate) fn register(
    world: &mut World,
    host: usize,
    core: usize,
    ring: u64,
    entries: u16,
    flags: u16,
) -> io::Result<()> {
    if flags != 0 || ring == 0 || !entries.is_power_of_two() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if world.net.pools.contains_key(&(host, core)) {
        return Err(io::Error::from_raw_os_error(libc::EEXIST));
    }
    world.net.pools.insert(
        (host, core),
        Pool {
            ring,
            entries,
            head: 0,
        },
    );
    Ok(())
}

/// IORING_UNREGISTER_PBUF_RING for core `core` of `host`.
pub(crate) fn unregister(world: &mut World, host: usize, core: usize) -> io::Result<()> {
    match world.net.pools.remove(&(host, core)) {
        Some(_) => Ok(()),
        None => Err(io::Error::from_raw_os_error(libc::EINVAL)),
    }
}

/// True for a receive that picks its buffer from the pool (multishot or not).
pub(crate) fn selects_buffer(sqe: &RawSqe) -> bool {
    sqe.flags & IOSQE_BUFFER_SELECT != 0
}

/// True for a multishot accept.
pub(crate) fn is_accept_multishot(sqe: &RawSqe) -> bool {
    sqe.opcode == opcode::Accept::CODE && sqe.ioprio & ACCEPT_MULTISHOT != 0
}

/// Takes the next buffer of the pool of core `core` of `host`: (address, length, buffer
/// id), or `None` when the pool is empty (or not registered).
fn take_buffer(world: &mut World, host: usize, core: usize) -> Option<(u64, usize, u16)> {
    let pool = world.net.pools.get_mut(&(host, core))?;
    // SAFETY: the registration's promise (`Ring::register_buf_ring`): the `entries` ring
    // entries at `ring` stay valid until unregistered, which removes `pool`. The tail is
    // entry 0's reserved u16, aligned to 2; only the pool's owner stores it, on this
    // thread, so an atomic load is exclusive enough.
    let tail = unsafe {
        let ptr = BufRingEntry::tail(pool.ring as *const BufRingEntry).cast_mut();
        AtomicU16::from_ptr(ptr).load(Ordering::Acquire)
    };
    if tail == pool.head {
        return None;
    }
    let index = usize::from(pool.head & (pool.entries - 1));
    // SAFETY: `index < entries`, inside the registered ring; entries below the tail were
    // written by the pool before it stored the tail (the load above acquired it).
    let entry = unsafe { &*(pool.ring as *const BufRingEntry).add(index) };
    pool.head = pool.head.wrapping_add(1);
    Some((entry.addr(), entry.len() as usize, entry.bid()))
}

/// A receive with IOSQE_BUFFER_SELECT on stream socket `sqe.fd` of `host`: see the module
/// docs. `None` while it stays armed. Only the multishot form is simulated (ringcore
/// issues no other): a single-shot one is `EINVAL`.
pub(crate) fn recv(world: &mut World, host: usize, sqe: &RawSqe) -> Option<i32> {
    if sqe.ioprio & RECV_MULTISHOT == 0 {
        return Some(-libc::EINVAL);
    }
    let fd: RawFd = sqe.fd;
    // Each core has its own pool: the one of the core that submitted this receive.
    let core = world.core_of(host, sqe.user_data);
    let (conn, side) = match world.net.socks.get(&fd)?.state {
        State::Stream { conn, side } => (conn, side),
        State::Datagram { .. } => return Some(-libc::EOPNOTSUPP),
        _ => return Some(-libc::ENOTCONN),
    };
    loop {
        let end = &world.net.conns.get(&conn)?.ends[side];
        if end.rx.is_empty() {
            return if end.reset {
                Some(-libc::ECONNRESET)
            } else if end.eof {
                Some(0)
            } else {
                None
            };
        }
        let Some((ptr, len, bid)) = take_buffer(world, host, core) else {
            return Some(-libc::ENOBUFS);
        };
        let end = &mut world.net.conns.get_mut(&conn)?.ends[side];
        let n = len.min(end.rx.len());
        let (a, b) = end.rx.as_slices();
        let first = n.min(a.len());
        // SAFETY: a published pool buffer is `len` writable bytes the kernel side owns
        // from its pick until the CQE naming it is taken (the pool keeps it allocated
        // while registered); `first + (n - first) = n <= len`.
        unsafe {
            std::ptr::copy_nonoverlapping(a.as_ptr(), ptr as *mut u8, first);
            std::ptr::copy_nonoverlapping(b.as_ptr(), (ptr as *mut u8).add(first), n - first);
        }
        end.rx.drain(..n);
        let flags = CQE_F_BUFFER | (u32::from(bid) << 16) | CQE_F_MORE;
        trace_and_post(world, host, sqe, n as i32, flags);
    }
}

/// A multishot accept on listener `sqe.fd` of `host`: one CQE with `F_MORE` per queued
/// connection; `None` (stays armed) when the backlog is empty. An error (out of fds) is
/// its final CQE.
pub(crate) fn accept_multishot(world: &mut World, host: usize, sqe: &RawSqe) -> Option<i32> {
    loop {
        match &world.net.socks.get(&sqe.fd)?.state {
            State::Listening(backlog) if backlog.is_empty() => return None,
            State::Listening(_) => {}
            _ => return Some(-libc::EINVAL),
        }
        let res = accept(world, host, sqe)?;
        if res < 0 {
            return Some(res);
        }
        trace_and_post(world, host, sqe, res, CQE_F_MORE);
    }
}
