//! The readiness driver: a [`Ring`] that performs SQEs in user space over epoll(7), for
//! hosts where io_uring is refused (a seccomp profile, `kernel.io_uring_disabled`).
//!
//! It sits behind the same seam as the io_uring ring (src/driver/ring.rs), so the driver,
//! the op lifecycle (slots, cancels, late CQEs, the socket stash) and everything above it
//! run unchanged: an op pushes the same SQE, and gets the same CQE, with the same `res`
//! (docs/architecture.md, "The readiness driver"). At `enter`, each queued SQE is run by
//! its kind:
//!
//! - **Sockets, pipes and other pollable fds** (recv, send, recvmsg, sendmsg, accept,
//!   connect, poll, and read/write of a socket, pipe, eventfd or signalfd): one
//!   non-blocking attempt (MSG_DONTWAIT; RWF_NOWAIT for a pipe in blocking mode; O_NONBLOCK
//!   where it is set, and on listening and connecting sockets, whose accept(2) and
//!   connect(2) have no per-call flag); on EAGAIN the op waits in its fd's queue for readiness. Each fd
//!   is registered edge-triggered for both directions whenever its queue goes from empty
//!   to non-empty (epoll_ctl MOD, or ADD when the fd is new to the epoll set), so an fd
//!   closed and its number reused between waits is never trusted: the waiting ops hold
//!   their fd open, so while a queue is non-empty its registration is this file's. A
//!   readiness event retries the fd's waiting ops in arrival order until one gets EAGAIN.
//!   A multishot poll is answered once, without IORING_CQE_F_MORE; its owner re-arms.
//! - **Regular files** (read): preadv2(RWF_NOWAIT) inline; a page-cache miss, every
//!   write, and every op that may wait for storage (open, fsync, fallocate, ftruncate,
//!   statx of a path, rename, unlink, mkdir) run on this ring's own blocking pool, whose
//!   threads post the CQE and wake the poll. Reads and writes of a blocking fd without
//!   RWF_NOWAIT (a tty) run there too.
//! - **Instant ops** (socket, close, statx of an open fd, nop) run inline.
//! - **ASYNC_CANCEL**: an op waiting for readiness is removed and completes with
//!   ECANCELED (the cancel with 0); a pool job not started yet is skipped and completes
//!   with ECANCELED; a running one answers EALREADY and the driver re-sends the cancel
//!   until its CQE arrives, as with io_uring; anything else is ENOENT.
//!
//! What the kernel would refuse here (a fixed file, a provided-buffer select, multishot
//! receive or accept, an unknown opcode) completes with EINVAL; `Features` says none of
//! io_uring's optional opcodes are present, so the crate never asks for them.

mod exec;

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use super::ring::{Cqe, Ring, SqFull, Wait};
use super::sqe::{IOSQE_BUFFER_SELECT, IOSQE_FIXED_FILE, RawSqe};
use crate::runtime::blocking::BlockingPool;
use exec::FdKind;

/// The token of the ring's own wake-up (the blocking pool finished a job).
const POOL_TOKEN: Token = Token(usize::MAX);
/// IORING_ACCEPT_MULTISHOT (in `ioprio` of ACCEPT).
const IORING_ACCEPT_MULTISHOT: u16 = 1 << 0;
/// IORING_RECV_MULTISHOT (in `ioprio` of RECV).
const IORING_RECV_MULTISHOT: u16 = 1 << 1;

/// A pool job's state, shared with the thread that runs it.
const JOB_QUEUED: u8 = 0;
const JOB_RUNNING: u8 = 1;
const JOB_CANCELLED: u8 = 2;

/// What the pool threads share with the ring: finished jobs' CQEs and the poll's waker.
struct Shared {
    done: Mutex<Vec<Cqe>>,
    /// `done.len()`, readable without the lock (`needs_enter`).
    pending: AtomicUsize,
    waker: mio::Waker,
}

/// An op waiting for its fd to become ready.
struct Waiter {
    sqe: RawSqe,
    kind: FdKind,
    reads: bool,
    writes: bool,
}

/// The ops waiting on one fd, in arrival order (by `user_data`).
#[derive(Default)]
struct FdQueue {
    readers: VecDeque<u64>,
    writers: VecDeque<u64>,
}

impl FdQueue {
    fn is_empty(&self) -> bool {
        self.readers.is_empty() && self.writers.is_empty()
    }
}

/// The SQE of a pool job, moved to the pool thread.
struct PoolSqe(RawSqe);

// SAFETY: the raw pointers in the SQE point at memory the op's slot owns until the CQE is
// reaped (Ring::push's contract); the core thread does not touch it meanwhile (the op's
// future holds no access to it until completion), so the pool thread is its only user.
unsafe impl Send for PoolSqe {}

/// The readiness ring; see the module docs.
pub(crate) struct EpollRing {
    poll: Poll,
    events: Events,
    sq: VecDeque<RawSqe>,
    /// How many SQEs `sq` holds before `push` says it is full, as a ring's SQ would.
    sq_entries: usize,
    cq: VecDeque<Cqe>,
    waiting: HashMap<u64, Waiter>,
    fds: HashMap<RawFd, FdQueue>,
    /// Pool jobs whose CQE has not been taken, by `user_data`.
    offloaded: HashMap<u64, Arc<AtomicU8>>,
    shared: Arc<Shared>,
    pool: Arc<BlockingPool>,
    /// Non-blocking enters since the last epoll_wait, and when that was (see `enter`).
    skipped_polls: u32,
    last_poll: Instant,
}

/// A non-blocking enter asks epoll for readiness only every this many calls, or once this
/// long has passed since it last asked: a busy core that flushes every few microseconds
/// (inline page-cache reads, say) should not pay an epoll_wait(2) per tick, as tokio does
/// not (it polls its driver every 61 task polls). A parking enter always asks.
const POLL_EVERY: u32 = 8;
const POLL_AFTER: Duration = Duration::from_micros(200);

impl EpollRing {
    /// An epoll instance with a submission queue of `sq_entries` SQEs (rounded up to a power
    /// of two, as the kernel sizes rings) and a blocking pool of at most `pool_threads`
    /// threads that retire after `idle` without a job.
    ///
    /// # Errors
    ///
    /// epoll_create1(2) or eventfd(2) failed (EMFILE, ENOMEM).
    pub(crate) fn new(sq_entries: u32, pool_threads: usize, idle: Duration) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = mio::Waker::new(poll.registry(), POOL_TOKEN)?;
        Ok(Self {
            poll,
            events: Events::with_capacity(1024),
            sq: VecDeque::new(),
            sq_entries: sq_entries.max(1).next_power_of_two() as usize,
            cq: VecDeque::new(),
            waiting: HashMap::new(),
            fds: HashMap::new(),
            offloaded: HashMap::new(),
            shared: Arc::new(Shared {
                done: Mutex::new(Vec::new()),
                pending: AtomicUsize::new(0),
                waker,
            }),
            pool: BlockingPool::new(pool_threads, idle),
            skipped_polls: 0,
            last_poll: Instant::now(),
        })
    }

    fn post(&mut self, user_data: u64, result: i32) {
        self.cq.push_back(Cqe {
            user_data,
            result,
            flags: 0,
        });
    }

    /// Runs one SQE as far as it goes now.
    fn submit(&mut self, sqe: RawSqe) {
        let ud = sqe.user_data;
        if sqe.flags & (IOSQE_FIXED_FILE | IOSQE_BUFFER_SELECT) != 0 {
            return self.post(ud, -libc::EINVAL);
        }
        match sqe.opcode {
            opcode::Nop::CODE => self.post(ud, 0),
            opcode::AsyncCancel::CODE => self.cancel(ud, sqe.addr),
            opcode::Accept::CODE if sqe.ioprio & IORING_ACCEPT_MULTISHOT != 0 => {
                self.post(ud, -libc::EINVAL)
            }
            opcode::Recv::CODE if sqe.ioprio & IORING_RECV_MULTISHOT != 0 => {
                self.post(ud, -libc::EINVAL)
            }
            opcode::Recv::CODE
            | opcode::Send::CODE
            | opcode::RecvMsg::CODE
            | opcode::SendMsg::CODE
            | opcode::Accept::CODE
            | opcode::Connect::CODE
            | opcode::PollAdd::CODE => self.ready_op(sqe, FdKind::Socket),
            opcode::Read::CODE | opcode::Write::CODE => match exec::classify(sqe.fd) {
                Err(e) => self.post(ud, e),
                Ok(FdKind::File) if sqe.opcode == opcode::Read::CODE => {
                    match exec::read_cached(&sqe) {
                        r if r == -libc::EAGAIN || r == -libc::EOPNOTSUPP => {
                            self.offload(sqe, FdKind::File)
                        }
                        r => self.post(ud, r),
                    }
                }
                Ok(FdKind::File) => self.offload(sqe, FdKind::File),
                Ok(kind) => self.ready_op(sqe, kind),
            },
            opcode::Statx::CODE if sqe.op_flags & libc::AT_EMPTY_PATH as u32 != 0 => {
                let r = exec::blocking(&sqe, FdKind::File);
                self.post(ud, r)
            }
            opcode::Socket::CODE | opcode::Close::CODE => {
                let r = exec::inline(&sqe);
                self.post(ud, r)
            }
            opcode::OpenAt::CODE
            | opcode::Statx::CODE
            | opcode::Fsync::CODE
            | opcode::Fallocate::CODE
            | opcode::Ftruncate::CODE
            | opcode::RenameAt::CODE
            | opcode::UnlinkAt::CODE
            | opcode::MkDirAt::CODE => self.offload(sqe, FdKind::File),
            _ => self.post(ud, -libc::EINVAL),
        }
    }

    /// A readiness op: try it once, else queue it on its fd.
    ///
    /// IORING_RECVSEND_POLL_FIRST is ignored: the attempt is made anyway. A receive whose
    /// future is dropped in the same tick it was submitted (a short timeout) must still
    /// take what the socket holds, as the kernel does when the poll it arms finds data at
    /// once (the bytes go to the socket's stash); waiting for an edge first would let such
    /// cancels starve the socket.
    fn ready_op(&mut self, sqe: RawSqe, kind: FdKind) {
        let r = exec::attempt(&sqe, kind);
        if r == -libc::EOPNOTSUPP && kind == FdKind::Stream {
            // No RWF_NOWAIT on this file (a tty): a thread waits for it instead.
            return self.offload(sqe, kind);
        }
        if r != -libc::EAGAIN {
            return self.post(sqe.user_data, r);
        }
        let (reads, writes) = match sqe.opcode {
            opcode::PollAdd::CODE => {
                let ev = sqe.op_flags as i16;
                let reads = ev & (libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP) != 0;
                let writes = ev & libc::POLLOUT != 0;
                // A poll for neither (only errors or hang-up) waits on both.
                (reads || !writes, writes || !reads)
            }
            opcode::Send::CODE
            | opcode::SendMsg::CODE
            | opcode::Write::CODE
            | opcode::Connect::CODE => (false, true),
            _ => (true, false),
        };
        let fd = sqe.fd;
        let ud = sqe.user_data;
        let queue = self.fds.entry(fd).or_default();
        let fresh = queue.is_empty();
        if reads {
            queue.readers.push_back(ud);
        }
        if writes {
            queue.writers.push_back(ud);
        }
        self.waiting.insert(
            ud,
            Waiter {
                sqe,
                kind,
                reads,
                writes,
            },
        );
        if fresh && let Err(e) = self.register(fd) {
            // Not pollable (EPERM) or gone (EBADF): every op queued on it fails alike.
            let errno = -e.raw_os_error().unwrap_or(libc::EIO);
            if let Some(q) = self.fds.remove(&fd) {
                for ud in q.readers.into_iter().chain(q.writers) {
                    if self.waiting.remove(&ud).is_some() {
                        self.post(ud, errno);
                    }
                }
            }
        }
    }

    /// (Re-)registers `fd` for both directions, edge-triggered. MOD makes epoll look at the
    /// fd's state again, so readiness that arrived since the failed attempt is reported.
    fn register(&mut self, fd: RawFd) -> io::Result<()> {
        let registry = self.poll.registry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        let token = Token(fd as usize);
        match registry.reregister(&mut SourceFd(&fd), token, interest) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                registry.register(&mut SourceFd(&fd), token, interest)
            }
            other => other,
        }
    }

    /// Retries the ops waiting on `fd` after a readiness event.
    fn on_ready(&mut self, fd: RawFd, readable: bool, writable: bool) {
        let Some(mut queue) = self.fds.remove(&fd) else {
            return;
        };
        if readable {
            self.retry(&mut queue.readers);
        }
        if writable {
            self.retry(&mut queue.writers);
        }
        // Ops waiting on both directions (a poll for POLLIN | POLLOUT) that completed
        // through one list leave the other.
        queue.readers.retain(|ud| self.waiting.contains_key(ud));
        queue.writers.retain(|ud| self.waiting.contains_key(ud));
        if !queue.is_empty() {
            self.fds.insert(fd, queue);
        }
    }

    fn retry(&mut self, list: &mut VecDeque<u64>) {
        while let Some(&ud) = list.front() {
            let Some(w) = self.waiting.get(&ud) else {
                list.pop_front();
                continue;
            };
            let r = exec::attempt(&w.sqe, w.kind);
            if r == -libc::EAGAIN {
                return;
            }
            list.pop_front();
            let w = self.waiting.remove(&ud);
            if r == -libc::EOPNOTSUPP
                && let Some(w) = w.filter(|w| w.kind == FdKind::Stream)
            {
                self.offload(w.sqe, w.kind);
                continue;
            }
            self.post(ud, r);
        }
    }

    /// ASYNC_CANCEL `cancel_ud` aimed at the op whose user_data is `target`.
    fn cancel(&mut self, cancel_ud: u64, target: u64) {
        if let Some(w) = self.waiting.remove(&target) {
            if let Some(q) = self.fds.get_mut(&w.sqe.fd) {
                if w.reads {
                    q.readers.retain(|&u| u != target);
                }
                if w.writes {
                    q.writers.retain(|&u| u != target);
                }
                if q.is_empty() {
                    self.fds.remove(&w.sqe.fd);
                }
            }
            self.post(target, -libc::ECANCELED);
            return self.post(cancel_ud, 0);
        }
        if let Some(state) = self.offloaded.get(&target) {
            let skipped = state
                .compare_exchange(
                    JOB_QUEUED,
                    JOB_CANCELLED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok();
            return self.post(cancel_ud, if skipped { 0 } else { -libc::EALREADY });
        }
        self.post(cancel_ud, -libc::ENOENT)
    }

    /// Hands `sqe` to the blocking pool; its CQE comes back through `Shared::done`.
    fn offload(&mut self, sqe: RawSqe, kind: FdKind) {
        let ud = sqe.user_data;
        let state = Arc::new(AtomicU8::new(JOB_QUEUED));
        self.offloaded.insert(ud, state.clone());
        let shared = self.shared.clone();
        let job = PoolSqe(sqe);
        drop(self.pool.spawn(move || {
            let job = job;
            let result = match state.compare_exchange(
                JOB_QUEUED,
                JOB_RUNNING,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => exec::blocking(&job.0, kind),
                Err(_) => -libc::ECANCELED,
            };
            let cqe = Cqe {
                user_data: job.0.user_data,
                result,
                flags: 0,
            };
            shared
                .done
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(cqe);
            shared.pending.fetch_add(1, Ordering::Release);
            // A failed wake (the eventfd counter is full) still leaves one pending.
            let _ = shared.waker.wake();
        }));
    }

    /// Moves the pool's finished jobs into the CQ.
    fn take_done(&mut self) {
        if self.shared.pending.load(Ordering::Acquire) == 0 {
            return;
        }
        let done = std::mem::take(&mut *self.shared.done.lock().unwrap_or_else(|p| p.into_inner()));
        self.shared.pending.fetch_sub(done.len(), Ordering::AcqRel);
        for cqe in done {
            self.offloaded.remove(&cqe.user_data);
            self.cq.push_back(cqe);
        }
    }
}

impl Ring for EpollRing {
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> Result<(), SqFull> {
        if self.sq.len() >= self.sq_entries {
            return Err(SqFull);
        }
        self.sq.push_back(RawSqe::parse(sqe));
        Ok(())
    }

    fn enter(&mut self, wait: Wait) -> io::Result<usize> {
        let submitted = self.sq.len();
        while let Some(sqe) = self.sq.pop_front() {
            self.submit(sqe);
        }
        self.take_done();
        let timeout = match wait {
            Wait::One(t) if self.cq.is_empty() => t,
            _ => Some(Duration::ZERO),
        };
        if timeout == Some(Duration::ZERO) {
            if self.waiting.is_empty() {
                return Ok(submitted);
            }
            self.skipped_polls += 1;
            if self.skipped_polls < POLL_EVERY && self.last_poll.elapsed() < POLL_AFTER {
                return Ok(submitted);
            }
        }
        self.skipped_polls = 0;
        self.last_poll = Instant::now();
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(submitted),
            Err(e) => return Err(e),
        }
        let ready: Vec<(RawFd, bool, bool)> = self
            .events
            .iter()
            .filter(|ev| ev.token() != POOL_TOKEN)
            .map(|ev| {
                let failed = ev.is_error();
                let readable =
                    ev.is_readable() || ev.is_read_closed() || ev.is_priority() || failed;
                let writable = ev.is_writable() || ev.is_write_closed() || failed;
                (ev.token().0 as RawFd, readable, writable)
            })
            .collect();
        for (fd, readable, writable) in ready {
            self.on_ready(fd, readable, writable);
        }
        self.take_done();
        Ok(submitted)
    }

    fn reap(&mut self, out: &mut Vec<Cqe>) {
        out.extend(self.cq.drain(..));
    }

    fn queued(&mut self) -> usize {
        self.sq.len()
    }

    fn needs_enter(&mut self) -> bool {
        // Readiness is only learnt by asking epoll, and pool results by looking.
        !self.waiting.is_empty() || self.shared.pending.load(Ordering::Acquire) > 0
    }
}

impl Drop for EpollRing {
    fn drop(&mut self) {
        // The driver drained every op before dropping its ring (or leaked what a pool job
        // may still use); idle pool threads exit.
        self.pool.shutdown();
    }
}
