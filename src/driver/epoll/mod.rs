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
//!   connect(2) have no per-call flag); on EAGAIN the op waits in its fd's queue for readiness. An fd
//!   is registered edge-triggered for both directions at its first wait (epoll_ctl ADD)
//!   and stays registered until the `SharedFd` that owns its number lets go of it (closes
//!   it or hands it out): [`fd_released`] tells every readiness ring on the thread, which
//!   forgets the number before its next look at the fd, so a number reused by a new file
//!   is registered afresh (docs/hazards.md, H20). A readiness event retries the fd's
//!   waiting ops in arrival order until one gets EAGAIN.
//! - **What the ring knows of readiness.** An attempt that gets EAGAIN, or a receive on a
//!   stream socket that leaves its buffer unfilled (the socket is drained), marks that
//!   direction not ready until the next event for it; an op submitted meanwhile waits
//!   without a first attempt, and a socket's own wait ([`Ring::poll_ready`]) keeps its
//!   waker until that event. That saves the failed receive per message of request/response
//!   traffic, as tokio's readiness does. A waiting op that is cancelled clears the mark,
//!   so the next op tries at once (a loop of receives cancelled in the tick they were
//!   submitted still takes what arrives, as with io_uring).
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

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll as TaskPoll, Waker};
use std::time::{Duration, Instant};

use io_uring::{opcode, squeue};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
// The maps are keyed by `user_data`, which the driver makes unique: no need for SipHash's
// resistance to chosen keys, and FxHash is several times cheaper per op.
use rustc_hash::FxHashMap as HashMap;

use super::ring::{Cqe, Direction, Ring, SqFull, Wait};
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

/// What the ring knows of one fd number: the ops waiting on it, in arrival order (by
/// `user_data`), its epoll registration and its readiness.
#[derive(Default)]
struct FdState {
    readers: VecDeque<u64>,
    writers: VecDeque<u64>,
    /// Registered in the epoll set for the file now at this number; cleared when the
    /// number is released ([`fd_released`]).
    registered: bool,
    /// A stream socket (SOCK_STREAM), learnt at registration: a receive that leaves its
    /// buffer unfilled drained it.
    stream: bool,
    /// The last attempt in this direction found the fd not ready, and no event came since.
    unready_read: bool,
    unready_write: bool,
    /// An event said the peer closed this direction, or the fd has an error: every later
    /// attempt returns at once (0, or the error), and no further event need come, so
    /// the direction is never "not ready" again (tokio keeps its closed bits likewise).
    read_closed: bool,
    write_closed: bool,
    /// Tasks waiting without an op (`Ring::poll_ready`) for each direction.
    read_wakers: Vec<Waker>,
    write_wakers: Vec<Waker>,
}

impl FdState {
    fn is_empty(&self) -> bool {
        self.readers.is_empty() && self.writers.is_empty()
    }

    /// Would an attempt in `dir` fail or overtake a waiting op? Only trusted while the fd
    /// is registered: an event reports every change of readiness from then on.
    fn blocked(&self, dir: Direction) -> bool {
        self.registered
            && match dir {
                Direction::Read => {
                    (self.unready_read && !self.read_closed) || !self.readers.is_empty()
                }
                Direction::Write => {
                    (self.unready_write && !self.write_closed) || !self.writers.is_empty()
                }
            }
    }

    fn mark_unready(&mut self, dir: Direction) {
        match dir {
            Direction::Read => self.unready_read = true,
            Direction::Write => self.unready_write = true,
        }
    }
}

/// What one epoll event reported for an fd.
#[derive(Debug, Clone, Copy)]
struct Readiness {
    /// Readable, or closed for reading, or failed: a receive would not wait.
    readable: bool,
    /// Writable, or closed for writing, or failed: a send would not wait.
    writable: bool,
    /// The peer shut down its writing side (EPOLLRDHUP, EPOLLHUP), or an error.
    read_closed: bool,
    /// The connection can take no more writes (EPOLLHUP), or an error.
    write_closed: bool,
}

/// The fd numbers this thread's `SharedFd`s let go of, one list per readiness ring living
/// on the thread (a core has one; a thread may build runtimes one after another).
type Released = Rc<RefCell<Vec<RawFd>>>;

thread_local! {
    static RELEASED: RefCell<Vec<Released>> = const { RefCell::new(Vec::new()) };
}

/// The file at number `fd` is leaving ringcore's hands (closed, or handed to the caller
/// as an `OwnedFd`): every readiness ring on this thread forgets what it knew of the
/// number (its registration and readiness) before it next looks at it, so a new file
/// that gets the number is registered afresh (docs/hazards.md, H20). Called by
/// `SharedFd`; costs one thread-local look when no readiness ring lives on the thread.
pub(crate) fn fd_released(fd: RawFd) {
    let _ = RELEASED.try_with(|rings| {
        if let Ok(rings) = rings.try_borrow() {
            for r in rings.iter() {
                r.borrow_mut().push(fd);
            }
        }
    });
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
    /// Indexed by fd number.
    fds: Vec<FdState>,
    /// Numbers released since the ring last looked (see [`fd_released`]).
    released: Released,
    /// Events of the last epoll_wait, reused.
    ready: Vec<(RawFd, Readiness)>,
    /// Wakers kept in `fds` (`poll_ready`), and those an event (or a release) took out
    /// for the driver to wake.
    ready_waiters: usize,
    woken: Vec<Waker>,
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
        let released = Released::default();
        RELEASED.with(|rings| rings.borrow_mut().push(released.clone()));
        Ok(Self {
            poll,
            events: Events::with_capacity(1024),
            sq: VecDeque::new(),
            sq_entries: sq_entries.max(1).next_power_of_two() as usize,
            cq: VecDeque::new(),
            waiting: HashMap::default(),
            fds: Vec::new(),
            released,
            ready: Vec::new(),
            ready_waiters: 0,
            woken: Vec::new(),
            offloaded: HashMap::default(),
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
            buf_offset: 0,
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
                if sqe.opcode == opcode::Close::CODE {
                    // The owner released the number already; a close from elsewhere too.
                    self.forget(sqe.fd);
                }
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

    /// The state of fd number `fd` (a valid fd is never negative), grown on demand.
    fn state(&mut self, fd: RawFd) -> &mut FdState {
        let i = usize::try_from(fd).unwrap_or(0);
        if i >= self.fds.len() {
            self.fds.resize_with(i + 1, FdState::default);
        }
        &mut self.fds[i]
    }

    /// Forgets the numbers `SharedFd`s released since the last look (H20).
    fn forget_released(&mut self) {
        if self.released.borrow().is_empty() {
            return;
        }
        let released = std::mem::take(&mut *self.released.borrow_mut());
        for fd in released {
            self.forget(fd);
        }
    }

    /// Forgets what the ring knew of number `fd` (its registration, readiness and the
    /// wakers of waits whose future was dropped: a live wait holds its fd open). Its
    /// queues are empty for the same reason; they are kept all the same.
    fn forget(&mut self, fd: RawFd) {
        let Some(st) = usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)) else {
            return;
        };
        debug_assert!(st.is_empty(), "fd {fd} released with ops waiting on it");
        let fresh = FdState {
            readers: std::mem::take(&mut st.readers),
            writers: std::mem::take(&mut st.writers),
            ..FdState::default()
        };
        let old = std::mem::replace(st, fresh);
        self.ready_waiters -= old.read_wakers.len() + old.write_wakers.len();
        self.woken.extend(old.read_wakers);
        self.woken.extend(old.write_wakers);
    }

    /// Records what an attempt in `dir` on `fd` returned (`res`, for `want` bytes asked
    /// with receive flags `flags`): EAGAIN marks the direction not ready; so does a
    /// receive on a stream socket that left its buffer unfilled (drained: any later data
    /// brings an event), unless it only peeked.
    fn note(&mut self, fd: RawFd, dir: Direction, res: i32, want: usize, flags: i32) {
        let st = self.state(fd);
        if res == -libc::EAGAIN
            || (st.stream
                && res > 0
                && (res as usize) < want
                && (dir == Direction::Write || flags & libc::MSG_PEEK == 0))
        {
            st.mark_unready(dir);
        }
    }

    /// Records what a finished transfer op (receive, send, read, write) got; see `note`.
    fn note_op(&mut self, sqe: &RawSqe, dir: Direction, res: i32) {
        if matches!(
            sqe.opcode,
            opcode::Recv::CODE | opcode::Send::CODE | opcode::Read::CODE | opcode::Write::CODE
        ) {
            let flags = if sqe.opcode == opcode::Recv::CODE {
                sqe.op_flags as i32
            } else {
                0
            };
            self.note(sqe.fd, dir, res, sqe.len as usize, flags);
        }
    }

    /// A readiness op: try it once, unless the ring knows the fd is not ready in its
    /// direction, else queue it on its fd.
    ///
    /// IORING_RECVSEND_POLL_FIRST is ignored: the attempt is made unless the ring knows
    /// it would fail. A receive whose future is dropped in the same tick it was submitted
    /// (a short timeout) must still take what the socket holds, as the kernel does when
    /// the poll it arms finds data at once (the bytes go to the socket's stash); waiting
    /// for an edge first, on the submitter's word alone, would let such cancels starve
    /// the socket.
    fn ready_op(&mut self, sqe: RawSqe, kind: FdKind) {
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
        let st = self.state(fd);
        let skip =
            (!reads || st.blocked(Direction::Read)) && (!writes || st.blocked(Direction::Write));
        if !skip {
            let r = exec::attempt(&sqe, kind);
            if r == -libc::EOPNOTSUPP && kind == FdKind::Stream {
                // No RWF_NOWAIT on this file (a tty): a thread waits for it instead.
                return self.offload(sqe, kind);
            }
            let dir = if reads {
                Direction::Read
            } else {
                Direction::Write
            };
            if r != -libc::EAGAIN {
                self.note_op(&sqe, dir, r);
                return self.post(sqe.user_data, r);
            }
            let st = self.state(fd);
            if reads {
                st.mark_unready(Direction::Read);
            }
            if writes {
                st.mark_unready(Direction::Write);
            }
        }
        let ud = sqe.user_data;
        let st = self.state(fd);
        if reads {
            st.readers.push_back(ud);
        }
        if writes {
            st.writers.push_back(ud);
        }
        let fresh = !st.registered;
        self.waiting.insert(
            ud,
            Waiter {
                sqe,
                kind,
                reads,
                writes,
            },
        );
        if fresh && let Err(e) = self.register(fd, kind) {
            // Not pollable (EPERM) or gone (EBADF): every op queued on it fails alike.
            let errno = -e.raw_os_error().unwrap_or(libc::EIO);
            let st = self.state(fd);
            let queued: Vec<u64> = st.readers.drain(..).chain(st.writers.drain(..)).collect();
            for ud in queued {
                if self.waiting.remove(&ud).is_some() {
                    self.post(ud, errno);
                }
            }
        }
    }

    /// Registers `fd` for both directions, edge-triggered (ADD; MOD if this file is in
    /// the set already, handed out and back in under the same number). The kernel looks
    /// at the file's state as it registers it, so readiness that arrived since the failed
    /// attempt is reported.
    fn register(&mut self, fd: RawFd, kind: FdKind) -> io::Result<()> {
        let registry = self.poll.registry();
        let interest = Interest::READABLE | Interest::WRITABLE;
        let token = Token(fd as usize);
        match registry.register(&mut SourceFd(&fd), token, interest) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                registry.reregister(&mut SourceFd(&fd), token, interest)
            }
            other => other,
        }?;
        let stream = kind == FdKind::Socket
            && matches!(
                crate::sys::socket::get_int(
                    // SAFETY: `fd` is open for the call: an op waiting on it holds it.
                    unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
                    libc::SOL_SOCKET,
                    libc::SO_TYPE,
                ),
                Ok(libc::SOCK_STREAM)
            );
        let st = self.state(fd);
        st.registered = true;
        st.stream = stream;
        Ok(())
    }

    /// Retries the ops waiting on `fd` after a readiness event.
    fn on_ready(&mut self, fd: RawFd, ev: Readiness) {
        let Readiness {
            readable,
            writable,
            read_closed,
            write_closed,
        } = ev;
        self.state(fd);
        let st = &mut self.fds[fd as usize];
        if readable {
            st.unready_read = false;
        }
        if writable {
            st.unready_write = false;
        }
        st.read_closed |= read_closed;
        st.write_closed |= write_closed;
        let mut n = 0;
        if readable {
            n += st.read_wakers.len();
            self.woken.append(&mut st.read_wakers);
        }
        if writable {
            n += st.write_wakers.len();
            self.woken.append(&mut st.write_wakers);
        }
        self.ready_waiters -= n;
        let st = self.state(fd);
        if st.is_empty() {
            return;
        }
        if readable {
            let mut list = std::mem::take(&mut self.state(fd).readers);
            self.retry(fd, Direction::Read, &mut list);
            self.state(fd).readers = list;
        }
        if writable {
            let mut list = std::mem::take(&mut self.state(fd).writers);
            self.retry(fd, Direction::Write, &mut list);
            self.state(fd).writers = list;
        }
        // Ops waiting on both directions (a poll for POLLIN | POLLOUT) that completed
        // through one list leave the other.
        let waiting = &self.waiting;
        let st = &mut self.fds[fd as usize];
        st.readers.retain(|ud| waiting.contains_key(ud));
        st.writers.retain(|ud| waiting.contains_key(ud));
    }

    fn retry(&mut self, fd: RawFd, dir: Direction, list: &mut VecDeque<u64>) {
        while let Some(&ud) = list.front() {
            let Some(w) = self.waiting.get(&ud) else {
                list.pop_front();
                continue;
            };
            let r = exec::attempt(&w.sqe, w.kind);
            if r == -libc::EAGAIN {
                self.state(fd).mark_unready(dir);
                return;
            }
            list.pop_front();
            let Some(w) = self.waiting.remove(&ud) else {
                continue;
            };
            if r == -libc::EOPNOTSUPP && w.kind == FdKind::Stream {
                self.offload(w.sqe, w.kind);
                continue;
            }
            self.note_op(&w.sqe, dir, r);
            self.post(ud, r);
        }
    }

    /// ASYNC_CANCEL `cancel_ud` aimed at the op whose user_data is `target`.
    fn cancel(&mut self, cancel_ud: u64, target: u64) {
        if let Some(w) = self.waiting.remove(&target) {
            let st = self.state(w.sqe.fd);
            // The next op in the cancelled op's direction tries at once: a loop of ops
            // cancelled before the ring looks at epoll again must still see the data.
            if w.reads {
                st.readers.retain(|&u| u != target);
                st.unready_read = false;
            }
            if w.writes {
                st.writers.retain(|&u| u != target);
                st.unready_write = false;
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
                buf_offset: 0,
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
        self.forget_released();
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
            if self.waiting.is_empty() && self.ready_waiters == 0 {
                return Ok(submitted);
            }
            // A flush, or a wait that has completions already, may skip the look; a wait
            // with a zero timeout and nothing done must look: a core about to sleep in
            // another reactor asks this way (feature `tokio-context`), and an event left
            // in this epoll would not be reported to that reactor again.
            let may_skip = matches!(wait, Wait::No) || !self.cq.is_empty();
            self.skipped_polls += 1;
            if may_skip && self.skipped_polls < POLL_EVERY && self.last_poll.elapsed() < POLL_AFTER
            {
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
        let mut ready = std::mem::take(&mut self.ready);
        ready.clear();
        ready.extend(
            self.events
                .iter()
                .filter(|ev| ev.token() != POOL_TOKEN)
                .map(|ev| {
                    let failed = ev.is_error();
                    let read_closed = ev.is_read_closed() || failed;
                    let write_closed = ev.is_write_closed() || failed;
                    let ready = Readiness {
                        readable: ev.is_readable() || ev.is_priority() || read_closed,
                        writable: ev.is_writable() || write_closed,
                        read_closed,
                        write_closed,
                    };
                    (ev.token().0 as RawFd, ready)
                }),
        );
        self.forget_released();
        for &(fd, ev) in &ready {
            self.on_ready(fd, ev);
        }
        self.ready = ready;
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
        !self.waiting.is_empty()
            || self.ready_waiters > 0
            || self.shared.pending.load(Ordering::Acquire) > 0
    }

    fn is_readiness(&self) -> bool {
        true
    }

    fn park_fd(&self) -> Option<RawFd> {
        use std::os::fd::AsRawFd;
        Some(self.poll.as_raw_fd())
    }

    fn note_attempt(&mut self, fd: RawFd, dir: Direction, res: i32, want: usize) {
        self.forget_released();
        self.note(fd, dir, res, want, 0);
    }

    fn poll_ready(
        &mut self,
        fd: RawFd,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Option<TaskPoll<io::Result<()>>> {
        self.forget_released();
        let st = self.state(fd);
        if !st.blocked(dir) {
            if st.registered {
                return Some(TaskPoll::Ready(Ok(())));
            }
            // Not registered yet, so not known unready: an attempt first, and register
            // only when it fails (the caller notes the EAGAIN and comes back).
            let unready = match dir {
                Direction::Read => st.unready_read,
                Direction::Write => st.unready_write,
            };
            if !unready {
                return Some(TaskPoll::Ready(Ok(())));
            }
        }
        if !self.state(fd).registered
            && let Err(e) = self.register(fd, FdKind::Socket)
        {
            return Some(TaskPoll::Ready(Err(e)));
        }
        let st = self.state(fd);
        let wakers = match dir {
            Direction::Read => &mut st.read_wakers,
            Direction::Write => &mut st.write_wakers,
        };
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
            self.ready_waiters += 1;
        }
        Some(TaskPoll::Pending)
    }

    fn take_woken(&mut self, out: &mut Vec<Waker>, all: bool) {
        if all {
            for st in &mut self.fds {
                out.append(&mut st.read_wakers);
                out.append(&mut st.write_wakers);
            }
            self.ready_waiters = 0;
        }
        out.append(&mut self.woken);
    }
}

impl Drop for EpollRing {
    fn drop(&mut self) {
        // The driver drained every op before dropping its ring (or leaked what a pool job
        // may still use); idle pool threads exit.
        self.pool.shutdown();
        let mine = &self.released;
        let _ = RELEASED.try_with(|rings| rings.borrow_mut().retain(|r| !Rc::ptr_eq(r, mine)));
    }
}
