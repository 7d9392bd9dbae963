//! The opcode table of the user-space backends: for each SQE, where it runs ([`route`]),
//! and the one function that runs it there ([`perform`]).
//!
//! A backend that performs SQEs in user space (the readiness driver, src/driver/epoll/; a
//! simulation backend could reuse it) asks [`route`] once per SQE and gets a [`Route`]:
//!
//! | Route         | opcodes                                                      |
//! |---------------|--------------------------------------------------------------|
//! | `Answer(res)` | NOP (0); a fixed file, a buffer select, a multishot receive  |
//! |               | or accept, an unknown opcode (-EINVAL); a read or write whose|
//! |               | fd fstat(2) refuses (its errno)                              |
//! | `Cancel`      | ASYNC_CANCEL (the backend answers it from its own state)     |
//! | `Instant`     | SOCKET, CLOSE (releases the fd number), STATX of an open fd  |
//! | `Ready`       | RECV, SEND, RECVMSG, SENDMSG, ACCEPT, CONNECT, POLL_ADD; READ|
//! |               | and WRITE of a socket, pipe, eventfd, signalfd or tty        |
//! | `PageCache`   | READ of a regular file or block device                       |
//! | `Pool`        | WRITE of a regular file, OPENAT, STATX of a path, FSYNC,     |
//! |               | FALLOCATE, FTRUNCATE, RENAMEAT, UNLINKAT, MKDIRAT            |
//! | `WaitsLane`   | only as a step of another route (see [`Outcome::Moved`])     |
//!
//! [`perform`] runs an SQE along its route and says what came of it ([`Outcome`]): a
//! result, "not ready" (wait for readiness and try again), "retry later" (a connect to a
//! full Unix backlog, which no event announces; docs/hazards.md, H27), or "go on along
//! another route": a page-cache miss moves to the pool; a read or write of a blocking fd
//! without RWF_NOWAIT (a tty), and an open that io_uring would finish with a blocking
//! open(2) (a lease, a FIFO's peer), move to the waits lane (docs/hazards.md, H28).
//!
//! A new opcode is one row of [`route`] (and its syscall in `sys::emulate`). The
//! syscalls live in `sys::emulate`; this module only decides, so it depends on no
//! backend.

use std::os::fd::RawFd;

use io_uring::opcode;

use super::ring::Direction;
use crate::sys::emulate::{self, FdKind};
use crate::sys::sqe::{IOSQE_BUFFER_SELECT, IOSQE_FIXED_FILE, RawSqe};

/// IORING_ACCEPT_MULTISHOT (in `ioprio` of ACCEPT).
const IORING_ACCEPT_MULTISHOT: u16 = 1 << 0;
/// IORING_RECV_MULTISHOT (in `ioprio` of RECV).
const IORING_RECV_MULTISHOT: u16 = 1 << 1;

/// Where an SQE runs; see the module docs' table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// Completes at once with this `res`, without a syscall.
    Answer(i32),
    /// ASYNC_CANCEL of the op whose `user_data` is this.
    Cancel(u64),
    /// Runs on the core's thread at once; a CLOSE `releases_fd` (the backend forgets
    /// what it knew of the number first).
    Instant {
        /// The op closes its fd.
        releases_fd: bool,
    },
    /// One non-blocking attempt, then a wait for readiness.
    Ready(Ready),
    /// A read of a regular file: what the page cache holds, inline (RWF_NOWAIT).
    PageCache,
    /// Storage work on the bounded blocking pool.
    Pool,
    /// A call that may wait for another party, on a thread of its own.
    WaitsLane(FdKind),
}

/// A readiness op: what its fd is, which directions it waits for, and what it tells of
/// the fd's readiness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ready {
    /// How the attempt reaches the fd (`sys::emulate::attempt`).
    pub(crate) kind: FdKind,
    /// The op waits for the fd to be readable.
    pub(crate) reads: bool,
    /// The op waits for the fd to be writable.
    pub(crate) writes: bool,
    /// For a transfer (receive, send, read, write; not a peeking receive): the bytes
    /// asked. On a stream socket a result short of it means the socket drained.
    pub(crate) drains_below: Option<usize>,
}

impl Ready {
    /// The direction the op's outcome says something about (a poll for both: reading).
    pub(crate) fn dir(&self) -> Direction {
        if self.reads {
            Direction::Read
        } else {
            Direction::Write
        }
    }
}

/// What came of [`perform`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The CQE's `res`.
    Done(i32),
    /// EAGAIN: wait for readiness in the op's direction and try again.
    NotReady,
    /// Try again after a while: no readiness event will say when (H27).
    RetryLater,
    /// Go on along this route (the pool after a page-cache miss, the waits lane).
    Moved(Route),
}

/// Where `sqe` runs. `fd_kind` says what an fd is (fstat(2) and fcntl(2) on a real
/// backend); it is asked only for READ and WRITE.
pub(crate) fn route(sqe: &RawSqe, fd_kind: impl FnOnce(RawFd) -> Result<FdKind, i32>) -> Route {
    if sqe.flags & (IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT) != 0 {
        return Route::Answer(-libc::EINVAL);
    }
    let socket = |reads, writes| ready(sqe, FdKind::Socket, reads, writes);
    match sqe.opcode {
        opcode::Nop::CODE => Route::Answer(0),
        opcode::AsyncCancel::CODE => Route::Cancel(sqe.addr),
        opcode::Accept::CODE if sqe.ioprio & IORING_ACCEPT_MULTISHOT != 0 => {
            Route::Answer(-libc::EINVAL)
        }
        opcode::Recv::CODE if sqe.ioprio & IORING_RECV_MULTISHOT != 0 => {
            Route::Answer(-libc::EINVAL)
        }
        opcode::Recv::CODE | opcode::RecvMsg::CODE | opcode::Accept::CODE => socket(true, false),
        opcode::Send::CODE | opcode::SendMsg::CODE | opcode::Connect::CODE => socket(false, true),
        opcode::PollAdd::CODE => {
            let ev = sqe.op_flags as i16;
            let reads = ev & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) != 0;
            let writes = ev & libc::POLLOUT != 0;
            // A poll for neither (only errors or hang-up) waits on both.
            socket(reads || !writes, writes || !reads)
        }
        opcode::Read::CODE | opcode::Write::CODE => {
            let read = sqe.opcode == opcode::Read::CODE;
            match fd_kind(sqe.fd) {
                Err(e) => Route::Answer(e),
                Ok(FdKind::File) if read => Route::PageCache,
                Ok(FdKind::File) => Route::Pool,
                Ok(kind) => ready(sqe, kind, read, !read),
            }
        }
        opcode::Statx::CODE if sqe.op_flags & libc::AT_EMPTY_PATH as u32 != 0 => {
            Route::Instant { releases_fd: false }
        }
        opcode::Socket::CODE => Route::Instant { releases_fd: false },
        opcode::Close::CODE => Route::Instant { releases_fd: true },
        opcode::OpenAt::CODE
        | opcode::Statx::CODE
        | opcode::Fsync::CODE
        | opcode::Fallocate::CODE
        | opcode::Ftruncate::CODE
        | opcode::RenameAt::CODE
        | opcode::UnlinkAt::CODE
        | opcode::MkDirAt::CODE => Route::Pool,
        _ => Route::Answer(-libc::EINVAL),
    }
}

/// The `Ready` route of `sqe` on an fd of `kind`.
fn ready(sqe: &RawSqe, kind: FdKind, reads: bool, writes: bool) -> Route {
    let transfer = match sqe.opcode {
        opcode::Recv::CODE => sqe.op_flags as i32 & libc::MSG_PEEK == 0,
        opcode::Send::CODE | opcode::Read::CODE | opcode::Write::CODE => true,
        _ => false,
    };
    Route::Ready(Ready {
        kind,
        reads,
        writes,
        drains_below: transfer.then_some(sqe.len as usize),
    })
}

/// Runs `sqe` along `route` as far as it goes now. Blocks only on the routes meant for
/// it (`Pool`, `WaitsLane`); `Answer` and `Cancel` make no syscall (a backend answers a
/// cancel itself: here it is refused).
pub(crate) fn perform(sqe: &RawSqe, route: Route) -> Outcome {
    match route {
        Route::Answer(res) => Outcome::Done(res),
        Route::Cancel(_) => Outcome::Done(-libc::EINVAL),
        Route::Instant { .. } => Outcome::Done(emulate::inline(sqe)),
        Route::Ready(ready) => match emulate::attempt(sqe, ready.kind) {
            emulate::RETRY_LATER => Outcome::RetryLater,
            res if res == -libc::EAGAIN => Outcome::NotReady,
            // No RWF_NOWAIT on this file (a tty): a thread waits for it instead.
            res if res == -libc::EOPNOTSUPP && ready.kind == FdKind::Stream => {
                Outcome::Moved(Route::WaitsLane(ready.kind))
            }
            res => Outcome::Done(res),
        },
        Route::PageCache => match emulate::read_cached(sqe) {
            res if res == -libc::EAGAIN || res == -libc::EOPNOTSUPP => Outcome::Moved(Route::Pool),
            res => Outcome::Done(res),
        },
        Route::Pool if sqe.opcode == opcode::OpenAt::CODE => match emulate::open_nowait(sqe) {
            Some(res) => Outcome::Done(res),
            None => Outcome::Moved(Route::WaitsLane(FdKind::File)),
        },
        Route::Pool => Outcome::Done(emulate::blocking(sqe, FdKind::File)),
        Route::WaitsLane(kind) => Outcome::Done(emulate::blocking(sqe, kind)),
    }
}
