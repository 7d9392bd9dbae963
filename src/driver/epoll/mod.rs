//! The readiness driver: a [`Ring`] that performs SQEs in user space over epoll(7), for
//! hosts where io_uring is refused (a seccomp profile, `kernel.io_uring_disabled`).
//!
//! It sits behind the same seam as the io_uring ring (src/driver/ring.rs), so the driver,
//! the op lifecycle (slots, cancels, late CQEs, the socket stash) and everything above it
//! run unchanged: an op pushes the same SQE, and gets the same CQE, with the same `res`
//! (docs/architecture.md, "The readiness driver"). At `enter`, each queued SQE is run
//! where the opcode table says (src/driver/opcodes.rs: `route`, then `perform` there);
//! this module keeps the state each route needs (the fd state in
//! src/driver/epoll/fds.rs, the jobs on threads in src/driver/epoll/pool.rs):
//!
//! - **Sockets, pipes and other pollable fds** (recv, send, recvmsg, sendmsg, accept,
//!   connect, poll, and read/write of a socket, pipe, eventfd or signalfd): one
//!   non-blocking attempt (MSG_DONTWAIT; RWF_NOWAIT for a pipe in blocking mode; O_NONBLOCK
//!   where it is set, and on listening and connecting sockets, whose accept(2) and
//!   connect(2) have no per-call flag); on EAGAIN the op waits in its fd's queue for
//!   readiness. An fd is registered edge-triggered for both directions at its first wait
//!   (epoll_ctl ADD) and stays registered until the `SharedFd` that owns its number lets
//!   go of it (closes it or hands it out): the ring's `shared_fd::ReleasedFds`
//!   subscription hears of it, and the ring forgets the number before its next look at
//!   the fd, so a number reused by a new file is registered afresh (docs/hazards.md, H20). A readiness event retries the fd's
//!   waiting ops in arrival order until one gets EAGAIN.
//! - **Retries no event announces.** A connect(2) that answers EAGAIN (a Unix listener's
//!   backlog is full; the socket is writable all the while and the kernel wakes only
//!   blocking connectors) waits in no fd queue: it is tried again on a timer, after 1 ms
//!   and then twice as long each time up to 32 ms ([`Backoff`]); the park's timeout is
//!   cut to the next retry. It completes once the listener makes room, as io_uring's
//!   connect does (docs/hazards.md, H27).
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
//!   threads post the CQE and wake the poll. A job running for [`STALL_AFTER`] stops
//!   counting against the pool's bound; `enter` asks the pool to start threads for the
//!   jobs queued behind it (`Pool::rescue`). The threads are a plain `crate::pool::Pool`.
//! - **Calls that may wait for another party** never hold a pool thread: they run on the
//!   *waits lane*, a thread each, never queued (docs/hazards.md, H28). An open is made as
//!   io_uring makes it, with O_NONBLOCK added and then cleared unless the caller set it
//!   (so a FIFO with no writer opens at once for reading, and fails with ENXIO for
//!   writing); only where io_uring goes on to a blocking open(2) (EAGAIN: a lease; ENXIO
//!   with O_CREAT, O_TRUNC or O_TMPFILE, whose opens io_uring always runs blocking: a
//!   `File::create` of a FIFO waits for a reader) does the pool thread hand the open to
//!   the waits lane. Reads and writes of a blocking fd without RWF_NOWAIT (a tty) run
//!   there too. A cancel of such a call answers EALREADY until it returns, as for any
//!   running job.
//! - **Instant ops** (socket, close, statx of an open fd, nop) run inline.
//! - **ASYNC_CANCEL**: an op waiting for readiness is removed and completes with
//!   ECANCELED (the cancel with 0); a pool job not started yet is skipped and completes
//!   with ECANCELED; a running one answers EALREADY and the driver re-sends the cancel
//!   until its CQE arrives, as with io_uring; anything else is ENOENT.
//!
//! What the kernel would refuse here (a fixed file, a provided-buffer select, multishot
//! receive or accept, an unknown opcode) completes with EINVAL; `Features` says none of
//! io_uring's optional opcodes are present, so the crate never asks for them.

mod fds;
pub(crate) mod pool;

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;
use std::task::{Context, Poll as TaskPoll, Waker};
use std::time::{Duration, Instant};

use io_uring::squeue;
use mio::{Events, Poll, Token};
// The maps are keyed by `user_data`, which the driver makes unique: no need for SipHash's
// resistance to chosen keys, and FxHash is several times cheaper per op.
use rustc_hash::FxHashMap as HashMap;

use super::opcodes::{self, Outcome, Ready, Route};
use super::readiness::ReadinessRing;
use super::ring::{Cqe, Direction, Ring, SqFull, Wait};
use super::shared_fd::ReleasedFds;
use crate::loom::Arc;
use crate::pool::Pool;
use crate::sys::emulate::{self, FdKind};
use crate::sys::sqe::RawSqe;
use fds::{FdState, Readiness};
use pool::{Completions, Job, JobState, Shared};

/// The token of the ring's own wake-up (the blocking pool finished a job).
const POOL_TOKEN: Token = Token(usize::MAX);

/// An op waiting for its fd to become ready.
struct Waiter {
    sqe: RawSqe,
    /// Its route (`Ready`); a [`Backoff`] op waits in no fd queue, reading and writing
    /// nothing.
    ready: Ready,
}

/// An op whose retry no readiness event will announce (a connect(2) that found a Unix
/// listener's backlog full, `Outcome::RetryLater`): it stays in `waiting`, in no fd
/// queue, and is tried again at `due`; each failed retry doubles `delay`, up to
/// [`BACKOFF_MAX`].
struct Backoff {
    user_data: u64,
    /// The op's route, to wait for readiness by once its attempt is under way.
    ready: Ready,
    due: Instant,
    delay: Duration,
}

/// A storage call on the pool that has run this long is taken for stalled (a dead NFS
/// server, a failing disk): it stops counting against the pool's bound, and ops queued
/// behind it get threads of their own (docs/hazards.md, H28). Longer than a cold read
/// on a busy disk takes, short enough that cheap file work waits at most about twice
/// this behind stalled calls.
const STALL_AFTER: Duration = Duration::from_millis(100);

/// The first retry of a [`Backoff`] op comes after this long, the later ones after twice
/// the previous wait, up to `BACKOFF_MAX`. A core with nothing else to do wakes once per
/// retry: a connect to a listener that never accepts costs one connect(2) and one
/// epoll_wait(2) per 32 ms (no spin), and a connect waits at most that long after the
/// listener makes room.
const BACKOFF_FIRST: Duration = Duration::from_millis(1);
const BACKOFF_MAX: Duration = Duration::from_millis(32);

/// What the ring's pool threads (and its waits lane's) are called.
const POOL_NAME: &str = "ringcore-blocking";

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
    /// Numbers `SharedFd`s released since the ring last looked (H20).
    released: ReleasedFds,
    /// Events of the last epoll_wait, reused.
    ready: Vec<(RawFd, Readiness)>,
    /// Wakers kept in `fds` (`poll_ready`), and those an event (or a release) took out
    /// for the driver to wake.
    ready_waiters: usize,
    woken: Vec<Waker>,
    /// Ops retried on a timer rather than on readiness (their `Waiter` is in `waiting`).
    backoff: Vec<Backoff>,
    /// Pool jobs whose CQE has not been taken, by `user_data`.
    offloaded: HashMap<u64, Arc<JobState>>,
    shared: Arc<Shared>,
    /// Storage work: at most `Builder::blocking_threads` threads running jobs that have
    /// not stalled ([`STALL_AFTER`]).
    pool: std::sync::Arc<Pool<Job>>,
    /// When to ask the pool to start threads for jobs queued behind stalled ones
    /// (`Pool::rescue`); `None` while the pool needs no look.
    rescue_at: Option<Instant>,
    /// Calls that may wait for another party for as long as it pleases (a FIFO's peer, a
    /// lease holder, a tty's input): a thread each, never queued, so no number of them
    /// holds up the pool's work (docs/hazards.md, H28). Threads retire when idle.
    waits: std::sync::Arc<Pool<Job>>,
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
            waiting: HashMap::default(),
            fds: Vec::new(),
            released: ReleasedFds::subscribe(),
            ready: Vec::new(),
            ready_waiters: 0,
            woken: Vec::new(),
            backoff: Vec::new(),
            offloaded: HashMap::default(),
            shared: Arc::new(Shared {
                completions: Completions::default(),
                waker,
            }),
            pool: Pool::with_stall_limit(POOL_NAME, pool_threads, idle, STALL_AFTER),
            rescue_at: None,
            waits: Pool::new(POOL_NAME, usize::MAX, idle),
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

    /// Runs one SQE as far as it goes now, along its route (src/driver/opcodes.rs).
    fn submit(&mut self, sqe: RawSqe) {
        match opcodes::route(&sqe, emulate::fd_kind) {
            Route::Cancel(target) => self.cancel(sqe.user_data, target),
            Route::Ready(ready) => self.ready_op(sqe, ready),
            route @ (Route::Pool | Route::WaitsLane(_)) => self.offload(sqe, route),
            route @ (Route::Answer(_) | Route::Instant { .. } | Route::PageCache) => {
                if route == (Route::Instant { releases_fd: true }) {
                    // The owner released the number already; a close from elsewhere too.
                    self.forget(sqe.fd);
                }
                match opcodes::perform(&sqe, route) {
                    Outcome::Moved(route) => self.offload(sqe, route),
                    Outcome::Done(res) => self.post(sqe.user_data, res),
                    // Not an outcome of these routes.
                    Outcome::NotReady | Outcome::RetryLater => {
                        self.post(sqe.user_data, -libc::EAGAIN)
                    }
                }
            }
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
    fn ready_op(&mut self, sqe: RawSqe, ready: Ready) {
        let Ready { reads, writes, .. } = ready;
        let fd = sqe.fd;
        let st = self.state(fd);
        let skip =
            (!reads || st.blocked(Direction::Read)) && (!writes || st.blocked(Direction::Write));
        if !skip {
            match opcodes::perform(&sqe, Route::Ready(ready)) {
                Outcome::Moved(route) => return self.offload(sqe, route),
                Outcome::RetryLater => return self.retry_later(sqe, ready, BACKOFF_FIRST),
                Outcome::Done(r) => {
                    self.note_op(fd, ready.dir(), r, ready);
                    return self.post(sqe.user_data, r);
                }
                Outcome::NotReady => {}
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
        self.waiting.insert(ud, Waiter { sqe, ready });
        if fresh && let Err(e) = self.register(fd, ready.kind) {
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

    fn retry(&mut self, fd: RawFd, dir: Direction, list: &mut VecDeque<u64>) {
        while let Some(&ud) = list.front() {
            let Some(w) = self.waiting.get(&ud) else {
                list.pop_front();
                continue;
            };
            let outcome = opcodes::perform(&w.sqe, Route::Ready(w.ready));
            if outcome == Outcome::NotReady {
                self.state(fd).mark_unready(dir);
                return;
            }
            list.pop_front();
            let Some(w) = self.waiting.remove(&ud) else {
                continue;
            };
            match outcome {
                Outcome::Moved(route) => self.offload(w.sqe, route),
                Outcome::RetryLater => self.retry_later(w.sqe, w.ready, BACKOFF_FIRST),
                Outcome::Done(r) => {
                    self.note_op(fd, dir, r, w.ready);
                    self.post(ud, r);
                }
                Outcome::NotReady => {}
            }
        }
    }

    /// Keeps `sqe` waiting, in no fd queue, for a retry `delay` from now (see
    /// [`Backoff`]).
    fn retry_later(&mut self, sqe: RawSqe, ready: Ready, delay: Duration) {
        let user_data = sqe.user_data;
        let waiter = Waiter {
            sqe,
            ready: Ready {
                reads: false,
                writes: false,
                ..ready
            },
        };
        self.waiting.insert(user_data, waiter);
        self.backoff.push(Backoff {
            user_data,
            ready,
            due: Instant::now() + delay,
            delay,
        });
    }

    /// Retries the [`Backoff`] ops that are due: a success or failure completes the op,
    /// `Outcome::RetryLater` waits twice as long (up to `BACKOFF_MAX`), and an attempt
    /// that is now under way (EINPROGRESS) waits for readiness like any other.
    fn retry_due(&mut self) {
        if self.backoff.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut i = 0;
        while i < self.backoff.len() {
            if self.backoff[i].due > now {
                i += 1;
                continue;
            }
            let b = self.backoff.swap_remove(i);
            let Some(w) = self.waiting.remove(&b.user_data) else {
                continue;
            };
            match opcodes::perform(&w.sqe, Route::Ready(w.ready)) {
                Outcome::RetryLater => {
                    self.retry_later(w.sqe, w.ready, (b.delay * 2).min(BACKOFF_MAX));
                    // The pushed entry is at the end, not due before `now` moves on.
                }
                // Under way now: waits for readiness in its directions.
                Outcome::NotReady => self.ready_op(w.sqe, b.ready),
                Outcome::Done(r) => self.post(b.user_data, r),
                Outcome::Moved(route) => self.offload(w.sqe, route),
            }
        }
    }

    /// How long until the next [`Backoff`] op is due, if any waits.
    fn next_due(&self) -> Option<Duration> {
        let due = self.backoff.iter().map(|b| b.due).min()?;
        Some(due.saturating_duration_since(Instant::now()))
    }

    /// ASYNC_CANCEL `cancel_ud` aimed at the op whose user_data is `target`.
    fn cancel(&mut self, cancel_ud: u64, target: u64) {
        if let Some(w) = self.waiting.remove(&target) {
            self.backoff.retain(|b| b.user_data != target);
            let st = self.state(w.sqe.fd);
            // The next op in the cancelled op's direction tries at once: a loop of ops
            // cancelled before the ring looks at epoll again must still see the data.
            if w.ready.reads {
                st.readers.retain(|&u| u != target);
                st.unready_read = false;
            }
            if w.ready.writes {
                st.writers.retain(|&u| u != target);
                st.unready_write = false;
            }
            self.post(target, -libc::ECANCELED);
            return self.post(cancel_ud, 0);
        }
        if let Some(state) = self.offloaded.get(&target) {
            let skipped = state.cancel();
            return self.post(cancel_ud, if skipped { 0 } else { -libc::EALREADY });
        }
        self.post(cancel_ud, -libc::ENOENT)
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
        self.retry_due();
        self.rescue();
        self.take_done();
        let mut timeout = match wait {
            Wait::One(t) if self.cq.is_empty() => t,
            _ => Some(Duration::ZERO),
        };
        let rescue = self
            .rescue_at
            .map(|t| t.saturating_duration_since(Instant::now()));
        if let Some(due) = self.next_due().into_iter().chain(rescue).min() {
            timeout = Some(timeout.map_or(due, |t| t.min(due)));
        }
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
        self.retry_due();
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
        // Readiness is only learnt by asking epoll, pool results by looking, and stalled
        // pool jobs by asking the pool.
        !self.waiting.is_empty()
            || self.ready_waiters > 0
            || self.shared.completions.pending()
            || self.rescue_at.is_some_and(|t| t <= Instant::now())
    }

    fn readiness(&mut self) -> Option<&mut dyn ReadinessRing> {
        Some(self)
    }

    fn park_fd(&self) -> Option<RawFd> {
        use std::os::fd::AsRawFd;
        Some(self.poll.as_raw_fd())
    }

    fn next_deadline(&self) -> Option<Instant> {
        let retry = self.backoff.iter().map(|b| b.due).min();
        retry.into_iter().chain(self.rescue_at).min()
    }
}

impl ReadinessRing for EpollRing {
    fn note_attempt(&mut self, fd: RawFd, dir: Direction, res: i32, want: usize) {
        self.forget_released();
        self.note(fd, dir, res, want, 0);
    }

    fn poll_ready(
        &mut self,
        fd: RawFd,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> TaskPoll<io::Result<()>> {
        self.forget_released();
        let st = self.state(fd);
        if !st.blocked(dir) {
            if st.registered {
                return TaskPoll::Ready(Ok(()));
            }
            // Not registered yet, so not known unready: an attempt first, and register
            // only when it fails (the caller notes the EAGAIN and comes back).
            let unready = match dir {
                Direction::Read => st.unready_read,
                Direction::Write => st.unready_write,
            };
            if !unready {
                return TaskPoll::Ready(Ok(()));
            }
        }
        if !self.state(fd).registered
            && let Err(e) = self.register(fd, FdKind::Socket)
        {
            return TaskPoll::Ready(Err(e));
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
        TaskPoll::Pending
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
        self.waits.shutdown();
        // `released` unsubscribes as it drops.
    }
}
