//! Readiness of one socket for transfers made on the core's thread: [`Readiness`], whose
//! [`poll_io`](Readiness::poll_io) runs a non-blocking syscall and waits for readiness in
//! between, and [`ReadinessRing`], what a readiness backend (epoll) adds to `Ring`.
//!
//! The shape is tokio's `Registration::poll_io`: wait until the fd may be ready, try the
//! syscall, and on `WouldBlock` forget the readiness and wait again. The caller never
//! learns how the wait is made; the handle picks one of three mechanisms, per direction,
//! at the first wait:
//!
//! ```text
//! readiness ring (epoll)     the ring's own fd state: `Driver::poll_ready_inline` returns
//!                            at once unless the fd is known not ready, else keeps the
//!                            waker until the fd's next event; every result goes back to
//!                            the ring (`Driver::note_attempt`). No op, no `wait` flag.
//! io_uring, Read             one multishot POLL_ADD registered at the first wait and kept
//!                            for the handle's life (src/driver/multipoll.rs); its
//!                            reported readiness is cleared before each attempt
//! io_uring, Write, or no     a one-shot POLL_ADD armed when a wait begins, kept armed
//!   multishot poll (< 5.13)  across `Pending` returns, dropped when it completes
//! ```
//!
//! Per direction, on io_uring, `wait` says whether the next attempt waits first: set by
//! `WouldBlock` and by a short transfer (the socket is probably drained, or its send buffer
//! full: the next syscall would fail), cleared when readiness is reported. A multishot
//! registration is tried once; a kernel that answers it `EINVAL` makes the direction fall
//! back to one-shot polls for good. Only the handle's owner touches its fields (`&mut
//! self`); the registration's entry in the driver is released when the handle drops.
//!
//! The syscall and its result happen in one poll, and an armed poll lives in the handle,
//! not in the caller's future: a future dropped while `poll_io` is `Pending` has moved no
//! byte, and the next call waits on the same armed poll with its own waker.

use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker, ready};

use super::multipoll::MultiPollKey;
use super::ops::net::PollAdd;
use super::ring::Direction;
use super::shared_fd::SharedFd;
use super::{Driver, Op};

/// What a readiness backend adds to [`Ring`](super::ring::Ring): waits without ops for the
/// caller's own non-blocking syscalls. Only the readiness ring implements it;
/// [`Ring::readiness`](super::ring::Ring::readiness) hands it out (`None` for io_uring and
/// the fake ring).
pub(crate) trait ReadinessRing {
    /// The caller's own non-blocking syscall in `dir` on `fd`, asked for `want` bytes,
    /// returned `res` (a count, or `-errno`). EAGAIN, or a stream socket's receive or send
    /// that moved fewer than `want` bytes, marks the direction not ready, so the next op
    /// waits for an event before trying.
    fn note_attempt(&mut self, fd: RawFd, dir: Direction, res: i32, want: usize);

    /// Waits, without an op, until a non-blocking syscall in `dir` on `fd` may succeed.
    /// `Ready(Ok(()))` at once unless the ring knows the fd is not ready that way (or ops
    /// wait ahead); otherwise keeps `cx`'s waker in the fd's state (registering the fd at
    /// its first wait) and returns `Pending`; the next event for `dir` moves the waker to
    /// [`take_woken`](ReadinessRing::take_woken). `Ready(Err(e))`: the fd cannot be waited
    /// on (epoll_ctl refused it: EPERM, EBADF).
    fn poll_ready(
        &mut self,
        fd: RawFd,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>>;

    /// Moves the wakers of [`poll_ready`](ReadinessRing::poll_ready) waits that became
    /// ready into `out` (all of them, ready or not, with `all`: the driver is shutting
    /// down). The driver wakes them with no borrow held.
    fn take_woken(&mut self, out: &mut Vec<Waker>, all: bool);
}

/// A socket's readiness in both directions, for non-blocking syscalls made on the core's
/// thread (see the module docs for how it waits). Made with [`Readiness::new`]; where a
/// transfer stands in for an op on a readiness ring, [`poll_io_without_op`] serves without
/// a handle.
pub(crate) struct Readiness {
    fd: SharedFd,
    driver: Rc<Driver>,
    /// The driver is a readiness ring: its fd state serves every wait.
    on_ring: bool,
    read: Interest,
    write: Interest,
}

/// One direction's wait on io_uring.
#[derive(Default)]
struct Interest {
    /// The one-shot POLL_ADD armed for this direction, if a wait is under way.
    op: Option<Op<PollAdd>>,
    /// The multishot POLL_ADD registration (reads), made at the first wait.
    multi: Option<MultiPollKey>,
    /// A registration was tried (and may have been refused: then one-shot polls serve).
    tried_multi: bool,
    /// The last attempt found the socket empty (read) or full (write), or moved fewer
    /// bytes than asked: wait for readiness before the next syscall.
    wait: bool,
}

impl Readiness {
    /// A handle for `fd` on `driver`'s core. Registers nothing until the first wait.
    pub(crate) fn new(driver: Rc<Driver>, fd: SharedFd) -> Self {
        Self {
            on_ring: driver.is_readiness(),
            fd,
            driver,
            read: Interest::default(),
            write: Interest::default(),
        }
    }

    /// Runs `f` (a non-blocking syscall moving up to `want` bytes in `dir`) until it moves
    /// something, reaches end-of-stream or fails with an error other than `WouldBlock` or
    /// `Interrupted`, waiting for readiness in between; returns its result.
    ///
    /// `Pending` means `f` moved nothing in this call; `cx`'s waker is woken when the fd
    /// may be ready (a wait on io_uring keeps the latest waker only). On a readiness ring a
    /// task poll may make 128 attempts; after that the task is woken and yields.
    ///
    /// # Errors
    ///
    /// `f`'s errors; the runtime is shutting down; the fd cannot be waited on.
    pub(crate) fn poll_io(
        &mut self,
        cx: &mut Context<'_>,
        dir: Direction,
        want: usize,
        mut f: impl FnMut() -> io::Result<usize>,
    ) -> Poll<io::Result<usize>> {
        if self.on_ring {
            return poll_io_without_op(&self.driver, self.fd.raw(), cx, dir, want, f);
        }
        loop {
            ready!(self.poll_ready(cx, dir))?;
            self.clear(dir);
            let res = f();
            if !would_retry(&res) {
                self.driver
                    .metrics()
                    .inline_io(dir == Direction::Read, &res);
            }
            let interest = self.interest(dir);
            match res {
                Ok(n) => {
                    // A short transfer means the socket is drained (read) or its buffer is
                    // full (write): the next attempt would fail, so wait first. 0 is
                    // end-of-stream for reads: later reads must see it at once.
                    interest.wait = n > 0 && n < want;
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => interest.wait = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    /// A one-shot poll is armed for `dir` (a wait under way on io_uring).
    pub(crate) fn is_armed(&self, dir: Direction) -> bool {
        match dir {
            Direction::Read => self.read.op.is_some(),
            Direction::Write => self.write.op.is_some(),
        }
    }

    fn interest(&mut self, dir: Direction) -> &mut Interest {
        match dir {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        }
    }

    /// Ready when an attempt in `dir` may succeed: at once unless the last one says wait;
    /// otherwise when the chosen mechanism reports readiness (or an error or hang-up,
    /// which poll(2) always reports). Only on io_uring: on a readiness ring `poll_io` waits in the ring's fd state
    /// (`poll_io_without_op`) and never comes here.
    fn poll_ready(&mut self, cx: &mut Context<'_>, dir: Direction) -> Poll<io::Result<()>> {
        debug_assert!(
            !self.on_ring,
            "a readiness ring waits in poll_io_without_op"
        );
        let (driver, fd) = (&self.driver, &self.fd);
        let interest = match dir {
            Direction::Read => &mut self.read,
            Direction::Write => &mut self.write,
        };
        if !interest.wait {
            return Poll::Ready(Ok(()));
        }
        // Multishot polls serve reads only: a multishot POLLOUT would report every ACK.
        if !interest.tried_multi && dir == Direction::Read {
            interest.tried_multi = true;
            interest.multi = driver.multipoll_register(fd, POLLIN);
        }
        if let Some(key) = interest.multi {
            match ready!(driver.multipoll_poll(key, cx)) {
                Ok(()) => {
                    interest.wait = false;
                    return Poll::Ready(Ok(()));
                }
                // This kernel has no multishot poll: one-shot polls from now on.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    interest.multi = None;
                    driver.multipoll_release(key);
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let events = match dir {
            Direction::Read => POLLIN,
            Direction::Write => POLLOUT,
        };
        let op = interest.op.get_or_insert_with(|| {
            driver.submit(PollAdd {
                fd: fd.clone(),
                events,
            })
        });
        let res = ready!(Pin::new(op).poll(cx));
        interest.op = None;
        interest.wait = false;
        Poll::Ready(res.map(drop))
    }

    /// Forgets readiness the multishot poll reported before a syscall that consumes it.
    fn clear(&self, dir: Direction) {
        if dir == Direction::Read
            && let Some(key) = self.read.multi
        {
            self.driver.multipoll_clear(key);
        }
    }
}

/// True where the driver moves socket bytes best without an op (a readiness ring: a
/// syscall on the core's thread costs less than a user-space op), so an
/// ownership-passing transfer runs through [`poll_io_without_op`]; false on io_uring,
/// where the caller submits its op. Fixed for the driver's life.
#[inline]
pub(crate) fn takes_no_op(driver: &Driver) -> bool {
    driver.is_readiness()
}

/// [`Readiness::poll_io`] where [`takes_no_op`] holds, without a handle: `fd`'s state in the ring
/// serves every wait, so a transfer that stands in for an op (`Socket::recv`, `send`)
/// makes no `Readiness`, clones no `SharedFd` and keeps nothing in its future but `fd`'s
/// number, which the caller's socket keeps open for the call. Results, errors and the
/// cancel-safety promise are `poll_io`'s. Meant for drivers where [`takes_no_op`] holds;
/// on another ring every attempt runs at once.
pub(crate) fn poll_io_without_op(
    driver: &Driver,
    fd: RawFd,
    cx: &mut Context<'_>,
    dir: Direction,
    want: usize,
    mut f: impl FnMut() -> io::Result<usize>,
) -> Poll<io::Result<usize>> {
    loop {
        // The ring knows whether the fd may be ready, and keeps the waker until its event
        // when it is not: no poll op.
        ready!(driver.poll_ready_inline(fd, dir, cx))?;
        let res = f();
        if !would_retry(&res) {
            driver.metrics().inline_io(dir == Direction::Read, &res);
        }
        // The ring learns what the syscall found (a drained read, a full send buffer), so
        // the next wait needs no syscall to learn it.
        driver.note_attempt(fd, dir, res_code(&res), want);
        match res {
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            res => return Poll::Ready(res),
        }
    }
}

/// True when a non-blocking socket syscall's result means "try again" (`WouldBlock`,
/// `Interrupted`) rather than a finished transfer.
#[inline]
fn would_retry(res: &io::Result<usize>) -> bool {
    matches!(res, Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted))
}

#[cfg(test)]
impl Readiness {
    /// `dir` waits on a multishot poll registration.
    pub(crate) fn is_multishot(&self, dir: Direction) -> bool {
        match dir {
            Direction::Read => self.read.multi.is_some(),
            Direction::Write => self.write.multi.is_some(),
        }
    }
}

impl Drop for Readiness {
    fn drop(&mut self) {
        for key in [self.read.multi.take(), self.write.multi.take()]
            .into_iter()
            .flatten()
        {
            self.driver.multipoll_release(key);
        }
    }
}

const POLLIN: u32 = libc::POLLIN as u32;
const POLLOUT: u32 = libc::POLLOUT as u32;

/// A syscall's result as a CQE's `res` would carry it: a count, or `-errno`.
fn res_code(res: &io::Result<usize>) -> i32 {
    match res {
        Ok(n) => i32::try_from(*n).unwrap_or(i32::MAX),
        Err(e) => -e.raw_os_error().unwrap_or(libc::EIO),
    }
}
