//! The io_uring driver (reactor): owns one ring and the slab of in-flight ops.
//!
//! The driver knows nothing about tasks; it stores and wakes `Waker`s. Its public face in
//! the crate is small:
//!
//! - [`Driver::submit`] queues an op's SQE (flushing a full SQ, never panicking) and
//!   returns its [`Op`] future;
//! - [`Driver::park`] / [`Driver::flush`] enter the kernel once per executor tick;
//! - [`Driver::dispatch`] wakes the tasks whose ops completed;
//! - [`Driver::shutdown`] cancels everything in flight and waits for every CQE before any
//!   resource is freed (docs/architecture.md, invariant 7; docs/hazards.md, H2).
//!
//! Every ASYNC_CANCEL's answer is read (its `user_data` names its target, see
//! `lifecycle`): a cancel answered `-ENOENT` or `-EALREADY` while its target has still not
//! completed is sent again on a later tick, with a growing delay, until the target's CQE
//! arrives (docs/architecture.md, "Cancels that cancel"). A persistent io_uring_enter(2)
//! error backs off instead of spinning and, after [`ENTER_FAILURE_LIMIT`], fails the core.
//!
//! All mutable state sits in one `RefCell`; wakers and orphaned resources are collected
//! while it is borrowed and released only after, so a waker or a buffer's `Drop` can re-enter
//! the driver safely.

pub(crate) mod bufring;
pub(crate) mod epoll;
pub(crate) mod fixed;
mod lifecycle;
pub(crate) mod multipoll;
pub(crate) mod multishot;
pub(crate) mod op;
pub(crate) mod ops;
pub(crate) mod ring;
pub(crate) mod shared_fd;
pub(crate) mod sqe;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use io_uring::{opcode, types};
use slab::Slab;

use crate::sys::uring::Features;
use lifecycle::{Lifecycle, MAX_OP_INDEX, Slot, WAKE_USER_DATA};
use op::Orphan;
pub(crate) use op::{Op, OpCode};
pub(crate) use ring::Direction;
use ring::{Cqe, Ring, Wait};

/// Counters read by tests and the debug API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DriverStats {
    /// Ops whose SQE was pushed.
    pub ops_submitted: u64,
    /// CQEs that completed an op (including cancelled ones).
    pub ops_completed: u64,
    /// Calls to io_uring_enter(2).
    pub enters: u64,
    /// CQEs whose generation matched no live slot (ignored).
    pub stale_cqes: u64,
    /// Ops dropped before completion (an ASYNC_CANCEL was queued or the CQE was waiting).
    pub ops_cancelled: u64,
    /// Times a full SQ was flushed to make room for a push.
    pub sq_full_flushes: u64,
    /// io_uring_enter(2) calls that failed with an error other than EINTR, EAGAIN, EBUSY
    /// or ETIME (queued SQEs stay queued and are retried on the next tick).
    pub enter_errors: u64,
    /// Ops completed inline without an SQE (page-cache reads with RWF_NOWAIT).
    pub ops_inline: u64,
    /// ASYNC_CANCELs answered `-ENOENT` or `-EALREADY` while their op had not completed
    /// (the kernel did not find it, or found it running); each is re-sent.
    pub cancels_missed: u64,
    /// ASYNC_CANCELs re-sent after a miss.
    pub cancels_resent: u64,
    /// Buffers of the core's receive pool that a CQE handed out and that are not back in
    /// the pool yet (held by `RecvBuf`s; 0 when no receive stream holds any).
    pub recv_bufs_out: u64,
    /// Multishot receives ended because the receive pool was empty (`ENOBUFS`). After
    /// each, the pool grew (if it was still empty and below its cap) and the receive was
    /// re-armed; with the pool empty at its cap, a plain receive followed, or the stream
    /// parked (`recv_pool_parks`).
    pub recv_pool_exhausted: u64,
    /// Buffers in the core's receive pool: its first count, plus the chunks it grew by
    /// (`Builder::recv_buffer_pool_max`); 0 before the first receive stream.
    pub recv_pool_buffers: u64,
    /// Times a receive stream waited for the pool without a receive armed: the pool was
    /// empty at its cap and the plain receives that stand in for it (at most the pool's cap
    /// in bytes, 16 KiB each) were all in flight. The socket's data waits in the kernel
    /// meanwhile; the stream re-arms once an eighth of the pool is back, or takes a plain
    /// receive once one finishes.
    pub recv_pool_parks: u64,
    /// Sends that went out with IORING_OP_SEND_ZC (`Builder::send_zerocopy_from`).
    pub zerocopy_sends: u64,
    /// Sockets in the core's registered-file table now (`Builder::registered_files`): a
    /// socket takes a slot at its 64th op and gives it back when it closes. 0 on the epoll
    /// driver and when the table could not be registered.
    pub files_registered: u64,
    /// Sockets that asked for a registered-file slot and found none free (they keep
    /// their plain fd), since the core started.
    pub files_table_full: u64,
}

/// How long `shutdown` waits for outstanding CQEs before it gives up and leaks the
/// resources still owned by the kernel (a leak is safe; freeing them would not be).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How long io_uring_enter(2) may keep failing (with an error other than EINTR, EAGAIN,
/// EBUSY) before the core gives up: a seccomp rule or LSM that denies it after setup, a
/// ring the kernel tore down. Until then each failure backs off (1 ms, doubling to 64 ms)
/// instead of spinning.
pub(crate) const ENTER_FAILURE_LIMIT: Duration = Duration::from_secs(1);

/// The delay before a missed cancel is re-sent: at once (next tick) the first time, then
/// 1 ms doubling to 128 ms, so an op the kernel is running (EALREADY) is not hammered.
fn recancel_delay(misses: u32) -> Duration {
    match misses {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(1 << (n - 2).min(7)),
    }
}

/// The per-core io_uring driver. Shared as `Rc<Driver>` by the core and every `Op`.
pub(crate) struct Driver {
    inner: RefCell<Inner>,
}

struct Inner {
    ring: Box<dyn Ring>,
    slots: Slab<Slot>,
    generation: u32,
    /// CQEs taken from the ring, reused between reaps.
    cqes: Vec<Cqe>,
    /// Wakers to wake once the borrow is released.
    to_wake: Vec<Waker>,
    /// Resources of cancelled ops whose CQE arrived, released once the borrow is released.
    orphans: Vec<(Box<dyn Orphan>, Cqe)>,
    /// The eventfd whose armed read wakes a parked ring, and the 8-byte buffer it reads into.
    wake: Option<WakeRead>,
    features: Features,
    stats: DriverStats,
    shut_down: bool,
    /// Ops that may still complete inline (without an SQE) this tick; see `try_inline`.
    inline_budget: u32,
    /// What `inline_budget` is reset to at every tick (0: every op goes through the ring).
    inline_per_tick: u32,
    /// Readiness rings: socket syscalls the current task poll may still make inline
    /// (`poll_ready_inline`), and which poll that is (the executor's poll count).
    ready_budget: u32,
    ready_poll: u64,
    /// Tasks waiting for the budget to be refilled (`poll_inline_budget`), oldest first;
    /// each `flush` or `park` wakes the oldest, and then does not block.
    budget_waiters: VecDeque<Waker>,
    /// Ops whose cancel missed in the last reap, checked once the whole batch is in.
    missed: Vec<(usize, u32)>,
    /// Cancels to re-send: (target index, generation, when).
    recancel: Vec<(usize, u32, Instant)>,
    /// Since when io_uring_enter(2) has failed without a success, and the last error.
    enter_failing: Option<(Instant, io::Error)>,
    /// `shutdown` gave up on CQEs and leaked what the kernel may still hold.
    leaked: bool,
    /// Multishot readiness polls (src/driver/multipoll.rs).
    multipoll: multipoll::Registry,
    /// The receive buffer pool and what the kernel refused of the multishot ops
    /// (src/driver/multishot.rs).
    fast: multishot::FastPaths,
}

/// How many times `Driver::look` submits what its own reap queued before it gives up on
/// sleeping this tick.
const LOOK_RESUBMITS: usize = 4;

/// How many ops per tick may complete inline by default before the rest go through the
/// ring, so a task reading cached data in a loop still yields to I/O and timers.
pub(crate) const DEFAULT_INLINE_PER_TICK: u32 = 64;

/// How many socket syscalls one task poll may make inline on a readiness ring before the
/// task yields: tokio's cooperative budget is 128 operations per task poll, for the same
/// reason (a task reading a fast socket in a loop must still let the others run).
const READY_INLINE_PER_POLL: u32 = 128;

struct WakeRead {
    fd: Arc<OwnedFd>,
    buf: Box<u64>,
    armed: bool,
}

impl Driver {
    pub(crate) fn new(ring: Box<dyn Ring>, features: Features) -> Self {
        Self {
            inner: RefCell::new(Inner {
                ring,
                slots: Slab::with_capacity(256),
                generation: 0,
                cqes: Vec::with_capacity(256),
                to_wake: Vec::new(),
                orphans: Vec::new(),
                wake: None,
                features,
                stats: DriverStats::default(),
                shut_down: false,
                inline_budget: DEFAULT_INLINE_PER_TICK,
                inline_per_tick: DEFAULT_INLINE_PER_TICK,
                ready_budget: READY_INLINE_PER_POLL,
                ready_poll: 0,
                budget_waiters: VecDeque::new(),
                missed: Vec::new(),
                recancel: Vec::new(),
                enter_failing: None,
                leaked: false,
                multipoll: multipoll::Registry::default(),
                fast: multishot::FastPaths::default(),
            }),
        }
    }

    /// Keeps a read of `fd` (an eventfd) armed in the ring so a write to it from any
    /// thread completes a CQE and ends a `park`.
    pub(crate) fn arm_wake_fd(&self, fd: Arc<OwnedFd>) -> io::Result<()> {
        let mut inner = self.inner.borrow_mut();
        inner.wake = Some(WakeRead {
            fd,
            buf: Box::new(0),
            armed: false,
        });
        inner.rearm_wake()
    }

    /// Sets how many ops per tick may complete inline (0 disables the inline path).
    pub(crate) fn set_inline_per_tick(&self, n: u32) {
        let mut inner = self.inner.borrow_mut();
        inner.inline_per_tick = n;
        inner.inline_budget = n;
    }

    pub(crate) fn features(&self) -> Features {
        self.inner.borrow().features
    }

    /// Pretends the kernel has (or lacks) the probed opcodes, to test fallbacks.
    #[cfg(test)]
    pub(crate) fn override_features(&self, features: Features) {
        self.inner.borrow_mut().features = features;
    }

    /// Queues `data`'s SQE and returns the future of its completion.
    pub(crate) fn submit<T: OpCode>(self: &Rc<Self>, mut data: T) -> Op<T> {
        let mut inner = self.inner.borrow_mut();
        if inner.shut_down {
            drop(inner);
            return Op::failed(self.clone(), data, shut_down_error());
        }
        inner.generation = inner.generation.wrapping_add(1);
        let generation = inner.generation;
        let entry = inner.slots.vacant_entry();
        let index = entry.key();
        if index >= MAX_OP_INDEX as usize {
            drop(inner);
            return Op::failed(
                self.clone(),
                data,
                io::Error::other("ringcore: too many ops in flight on one core"),
            );
        }
        entry.insert(Slot {
            generation,
            state: Lifecycle::Submitted,
            cancels: 0,
        });
        let mut sqe = data.sqe();
        if let (Some(table), Some(fd)) = (&inner.fast.fixed, data.fixed_file()) {
            fd.fixed_sqe(table, &mut sqe);
        }
        let sqe = sqe.user_data(lifecycle::encode(index, generation));
        // SAFETY: `data` owns everything the SQE points to (OpCode's contract) and moves
        // into the returned Op; if the Op is dropped early, `data` moves into the slot
        // (`drop_op`) and is released only when this user_data's CQE is reaped.
        match unsafe { inner.push(&sqe) } {
            Ok(()) => {
                inner.stats.ops_submitted += 1;
                drop(inner);
                Op::new(self.clone(), (index, generation), data)
            }
            Err(e) => {
                // The SQE never reached the ring: nothing in the kernel points at `data`.
                inner.slots.remove(index);
                drop(inner);
                Op::failed(self.clone(), data, e)
            }
        }
    }

    /// Polls the slot of a live op.
    pub(crate) fn poll_op(&self, index: usize, generation: u32, cx: &mut Context<'_>) -> Poll<Cqe> {
        let mut inner = self.inner.borrow_mut();
        let Some(slot) = inner.live_slot(index, generation) else {
            // Cannot happen: a live Op's slot is freed only through this function or drop_op.
            return Poll::Ready(Cqe {
                user_data: 0,
                result: -libc::ECANCELED,
                flags: 0,
                buf_offset: 0,
            });
        };
        match &mut slot.state {
            Lifecycle::Completed(cqe) => {
                let cqe = *cqe;
                inner.slots.remove(index);
                Poll::Ready(cqe)
            }
            Lifecycle::Waiting(w) if w.will_wake(cx.waker()) => Poll::Pending,
            state => {
                *state = Lifecycle::Waiting(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// The future of a live op was dropped: keep its resources until the CQE.
    pub(crate) fn drop_op(&self, index: usize, generation: u32, data: Box<dyn Orphan>) {
        let mut inner = self.inner.borrow_mut();
        inner.stats.ops_cancelled += 1;
        let Some(slot) = inner.live_slot(index, generation) else {
            return;
        };
        match std::mem::replace(&mut slot.state, Lifecycle::Submitted) {
            Lifecycle::Completed(cqe) => {
                inner.slots.remove(index);
                drop(inner);
                data.late_cqe(cqe);
            }
            _ => {
                slot.state = Lifecycle::Cancelled(data);
                if !inner.shut_down {
                    inner.send_cancel(index, generation);
                }
            }
        }
    }

    /// May the caller complete an op synchronously instead of queuing its SQE? Yes when
    /// no SQE is queued this tick (so batching is not lost) and the tick's inline budget is
    /// not spent; each yes spends one unit. Callers use it for work that cannot block (a
    /// page-cache read with RWF_NOWAIT).
    pub(crate) fn try_inline(&self) -> bool {
        let mut inner = self.inner.borrow_mut();
        if inner.shut_down || inner.inline_budget == 0 || inner.ring.queued() > 0 {
            return false;
        }
        inner.inline_budget -= 1;
        inner.stats.ops_inline += 1;
        true
    }

    /// True on a readiness ring (epoll), where sockets wait for readiness without ops
    /// ([`poll_ready_inline`](Driver::poll_ready_inline)).
    pub(crate) fn is_readiness(&self) -> bool {
        self.inner.borrow().ring.is_readiness()
    }

    /// Readiness rings only: `Ready(Ok(()))` when the caller may make a non-blocking
    /// socket syscall in `dir` on `fd` now, spending one unit of the task poll's budget of
    /// [`READY_INLINE_PER_POLL`] (outside tasks, of the tick's). Otherwise `Pending`: the
    /// ring keeps `cx`'s waker until the fd's next event for `dir`, or, when the budget is
    /// spent, the waker is woken at once (the task yields, as tokio's coop budget makes it).
    ///
    /// # Errors
    ///
    /// The runtime is shutting down; epoll refused the fd (EPERM, EBADF).
    pub(crate) fn poll_ready_inline(
        &self,
        fd: RawFd,
        dir: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut inner = self.inner.borrow_mut();
        if inner.shut_down {
            return Poll::Ready(Err(shut_down_error()));
        }
        match inner.ring.poll_ready(fd, dir, cx) {
            Some(Poll::Ready(Ok(()))) | None => {}
            Some(other) => return other,
        }
        let poll = crate::runtime::context::task_polls();
        if poll != inner.ready_poll {
            inner.ready_poll = poll;
            inner.ready_budget = READY_INLINE_PER_POLL;
        }
        if inner.ready_budget == 0 {
            drop(inner);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        inner.ready_budget -= 1;
        inner.stats.ops_inline += 1;
        Poll::Ready(Ok(()))
    }

    /// What a socket syscall made on the core's thread returned
    /// (`res`: a count or `-errno`, of `want` bytes asked); see `Ring::note_attempt`.
    pub(crate) fn note_attempt(&self, fd: RawFd, dir: Direction, res: i32, want: usize) {
        self.inner
            .borrow_mut()
            .ring
            .note_attempt(fd, dir, res, want);
    }

    /// True when [`try_inline`](Driver::try_inline) refuses only because this tick's
    /// budget is spent (the path is on, nothing is queued): a caller that waits for
    /// [`poll_inline_budget`](Driver::poll_inline_budget) may complete inline then.
    pub(crate) fn inline_budget_spent(&self) -> bool {
        let mut inner = self.inner.borrow_mut();
        !inner.shut_down
            && inner.inline_per_tick > 0
            && inner.inline_budget == 0
            && inner.ring.queued() == 0
    }

    /// Ready once this tick's inline budget is not spent; otherwise registers the waker,
    /// which the next `flush` or `park` wakes when it refills the budget (after the
    /// other ready tasks ran, the timers fired and completions were reaped: that tick
    /// boundary is what the budget is for).
    pub(crate) fn poll_inline_budget(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.inner.borrow_mut();
        if inner.inline_budget > 0 || inner.inline_per_tick == 0 || inner.shut_down {
            return Poll::Ready(());
        }
        inner.budget_waiters.push_back(cx.waker().clone());
        Poll::Pending
    }

    /// Submits queued SQEs without blocking and takes whatever CQEs are ready. Skips the
    /// syscall when there is nothing to submit and the kernel did not ask to be entered.
    ///
    /// # Panics
    ///
    /// When io_uring_enter(2) has failed persistently for [`ENTER_FAILURE_LIMIT`] (see
    /// [`Driver::park`]).
    pub(crate) fn flush(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.refill_inline_budget();
        inner.flush();
    }

    /// Submits queued SQEs and blocks until a CQE arrives or `timeout` passes (or a
    /// missed cancel is due to be re-sent).
    ///
    /// # Panics
    ///
    /// When io_uring_enter(2) has failed with the same kind of non-transient error for
    /// [`ENTER_FAILURE_LIMIT`]: the ring can neither submit nor reap, so no op on this core
    /// can ever complete. The panic names the error (e.g. EPERM from a seccomp rule that
    /// allows io_uring_setup but not io_uring_enter; `Builder::build` catches that case
    /// up front with `BuildError::EnterDenied`).
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        let mut inner = self.inner.borrow_mut();
        if inner.refill_inline_budget() {
            // A task waits for the budget: it is ready now, so do not block.
            return inner.flush();
        }
        let now = Instant::now();
        inner.resend_due_cancels(now);
        let timeout = match inner.recancel.iter().map(|r| r.2).min() {
            Some(due) => {
                let until = due.saturating_duration_since(now);
                Some(timeout.map_or(until, |t| t.min(until)))
            }
            None => timeout,
        };
        let res = inner.enter(Wait::One(timeout));
        inner.note_enter(res.map(drop), timeout);
        inner.take_cqes();
    }

    /// The fd that polls readable while this ring has something for the driver (see
    /// `Ring::park_fd`): the io_uring fd, or the readiness ring's epoll fd.
    #[cfg_attr(not(feature = "tokio-context"), allow(dead_code))]
    pub(crate) fn park_fd(&self) -> Option<RawFd> {
        self.inner.borrow().ring.park_fd()
    }

    /// A park whose sleep happens elsewhere (in tokio's reactor, feature `tokio-context`)
    /// calls this before and after that sleep instead of [`Driver::park`]: it refills the
    /// tick's inline budget, re-sends due cancels, submits queued SQEs and takes the CQEs
    /// that are ready, never blocking. A readiness ring is asked with a zero timeout, so it
    /// looks at its epoll (a skipped look could leave events that epoll has already
    /// reported to the outer reactor). What the reap itself queued (the wake-up read
    /// re-armed by a remote wake's CQE) is submitted before it returns. Returns `true` if
    /// the core must not sleep: a task waits for the budget, completions were taken
    /// (`dispatch` wakes their tasks), or SQEs are still queued.
    /// The second value is when the next missed cancel is due to be re-sent, if any; the
    /// sleep must end by then.
    ///
    /// An io_uring ring set up with DEFER_TASKRUN must not sleep on its fd: the kernel
    /// runs deferred completions only inside io_uring_enter(2) and does not wake pollers
    /// of the ring fd for them (measured: a poll(2) on the fd slept its whole timeout while
    /// a read completed). The runtime does not combine the two.
    ///
    /// # Panics
    ///
    /// As [`Driver::flush`].
    #[cfg_attr(not(feature = "tokio-context"), allow(dead_code))]
    pub(crate) fn look(&self) -> (bool, Option<Instant>) {
        let mut inner = self.inner.borrow_mut();
        if inner.refill_inline_budget() {
            inner.flush();
            return (true, None);
        }
        inner.resend_due_cancels(Instant::now());
        if inner.ring.is_readiness() {
            let res = inner.enter(Wait::One(Some(Duration::ZERO)));
            inner.note_enter(res.map(drop), None);
        } else if inner.ring.queued() > 0 || inner.ring.needs_enter() {
            let res = inner.enter(Wait::No);
            inner.note_enter(res.map(drop), None);
        }
        inner.take_cqes();
        // Reaping queues SQEs of its own: the wake-up read re-armed by its CQE (a remote
        // wake), a re-sent cancel. They must reach the kernel (or the readiness ring)
        // before the core sleeps elsewhere, where nothing submits them: an unsubmitted
        // wake-up read lets the next eventfd write go unnoticed, and the core sleeps
        // through its remote wakes (`Driver::park` submits them in its own enter).
        for _ in 0..LOOK_RESUBMITS {
            if inner.ring.queued() == 0 {
                break;
            }
            let res = inner.enter(Wait::No);
            inner.note_enter(res.map(drop), None);
            inner.take_cqes();
        }
        // Still queued (an SQ full of cancels, a wake read completing again at once):
        // not safe to sleep; the next tick submits the rest.
        let busy =
            !inner.to_wake.is_empty() || !inner.orphans.is_empty() || inner.ring.queued() > 0;
        (busy, inner.recancel.iter().map(|r| r.2).min())
    }

    /// Wakes tasks whose ops completed and releases orphaned resources. Call with no
    /// borrow of the driver held (it is not re-entrant by itself, but wakers may be).
    pub(crate) fn dispatch(&self) {
        let (mut wakers, mut orphans) = {
            let mut inner = self.inner.borrow_mut();
            if let Some(pool) = inner.fast.pool.as_ref().filter(|p| p.owes_wakes()).cloned() {
                // Buffers late CQEs republished while the driver was borrowed.
                drop(inner);
                pool.wake_owed();
                inner = self.inner.borrow_mut();
            }
            if inner.to_wake.is_empty() && inner.orphans.is_empty() {
                return;
            }
            (
                std::mem::take(&mut inner.to_wake),
                std::mem::take(&mut inner.orphans),
            )
        };
        for w in wakers.drain(..) {
            w.wake();
        }
        for (data, cqe) in orphans.drain(..) {
            data.late_cqe(cqe);
        }
        let mut inner = self.inner.borrow_mut();
        if inner.to_wake.is_empty() {
            inner.to_wake = wakers;
        }
        if inner.orphans.is_empty() {
            inner.orphans = orphans;
        }
    }

    /// Ops whose final CQE has not been reaped yet (live or cancelled).
    pub(crate) fn in_flight(&self) -> usize {
        self.inner.borrow().slots.len()
    }

    pub(crate) fn stats(&self) -> DriverStats {
        let inner = self.inner.borrow();
        let mut stats = inner.stats;
        if let Some(pool) = &inner.fast.pool {
            stats.recv_bufs_out = pool.out().into();
            stats.recv_pool_exhausted = pool.exhausted();
            stats.recv_pool_buffers = pool.buffers().into();
            stats.recv_pool_parks = pool.parks();
        }
        if let Some(table) = &inner.fast.fixed {
            stats.files_registered = table.in_use();
            stats.files_table_full = table.full();
        }
        stats
    }

    /// Cancels every op still in flight (and the wake-up read), then waits for all their
    /// CQEs and releases their resources. Idempotent. New ops fail with an error afterwards.
    pub(crate) fn shutdown(&self) {
        {
            let mut inner = self.inner.borrow_mut();
            inner.shut_down = true;
            let live: Vec<u64> = inner
                .slots
                .iter()
                .filter(|(_, s)| s.state.in_kernel())
                .map(|(i, s)| lifecycle::encode(i, s.generation))
                .collect();
            let wake_armed = inner.wake.as_ref().is_some_and(|w| w.armed);
            for user_data in live {
                let (index, generation) = lifecycle::decode(user_data);
                inner.send_cancel(index, generation);
            }
            if wake_armed {
                let cancel = opcode::AsyncCancel::new(WAKE_USER_DATA)
                    .build()
                    .user_data(lifecycle::encode_cancel(0, 0));
                // SAFETY: an ASYNC_CANCEL SQE points at no memory. Its answer targets slot 0
                // of generation 0, which no op ever has (generations start at 1), so a miss
                // is ignored.
                let _ = unsafe { inner.push(&cancel) };
            }
        }
        let start = Instant::now();
        loop {
            self.dispatch();
            {
                let mut inner = self.inner.borrow_mut();
                // Ops whose future is still alive but already completed own nothing in
                // the kernel; only slots still waiting for a CQE matter.
                let waiting = inner
                    .slots
                    .iter()
                    .filter(|(_, s)| s.state.in_kernel())
                    .count();
                let wake_armed = inner.wake.as_ref().is_some_and(|w| w.armed);
                if waiting == 0 && !wake_armed {
                    inner.release_pool();
                    break;
                }
                if start.elapsed() > SHUTDOWN_GRACE {
                    inner.leak_kernel_owned();
                    break;
                }
                inner.resend_due_cancels(Instant::now());
                if inner
                    .enter(Wait::One(Some(Duration::from_millis(50))))
                    .is_err()
                {
                    // The ring cannot be entered (a denied or failing io_uring_enter):
                    // nothing more will complete, so what the kernel may hold is leaked.
                    inner.leak_kernel_owned();
                    break;
                }
                inner.take_cqes();
            }
        }
        self.dispatch();
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Every Op holds an Rc<Driver>, so no live future remains; cancelled ops may.
        self.shutdown();
        let inner = self.inner.borrow();
        if let Some(table) = &inner.fast.fixed {
            // Sockets that outlive the driver must not touch the ring's slots: its fd
            // closes with `inner`, and the number may be reused.
            table.close();
        }
        debug_assert!(
            inner.leaked || inner.slots.is_empty(),
            "ringcore: {} op slots left after a shutdown that leaked nothing",
            inner.slots.len()
        );
    }
}

impl Inner {
    /// The slot of the op `(index, generation)`, if it is still that op's (H3).
    fn live_slot(&mut self, index: usize, generation: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
    }

    /// `Driver::flush` without the budget refill.
    fn flush(&mut self) {
        self.resend_due_cancels(Instant::now());
        if self.ring.queued() > 0 || self.ring.needs_enter() {
            let res = self.enter(Wait::No);
            self.note_enter(res.map(drop), None);
        }
        self.take_cqes();
    }

    /// Resets the tick's inline budget and queues the waker of the task that has waited
    /// longest for it; true if there was one. One per tick: a woken task reading in a
    /// loop spends the whole budget, and waking the others too would only poll them to
    /// wait again (at 32 reading tasks, 32 polls per 64 reads). The rest wait their turn,
    /// one tick each.
    fn refill_inline_budget(&mut self) -> bool {
        self.inline_budget = self.inline_per_tick;
        self.ready_budget = READY_INLINE_PER_POLL;
        match self.budget_waiters.pop_front() {
            Some(w) => {
                self.to_wake.push(w);
                true
            }
            None => false,
        }
    }

    /// Pushes an SQE, flushing the SQ to the kernel while it is full.
    ///
    /// # Safety
    ///
    /// As `Ring::push`: what the SQE points to outlives its CQE.
    unsafe fn push(&mut self, sqe: &io_uring::squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: forwarded from the caller.
            if unsafe { self.ring.push(sqe) }.is_ok() {
                return Ok(());
            }
            self.stats.sq_full_flushes += 1;
            let before = self.ring.queued();
            self.enter(Wait::No)?;
            if self.ring.queued() >= before {
                // The kernel took nothing (CQ backlog): make room by reaping, then wait for
                // at least one completion so the next attempt can progress.
                self.take_cqes();
                let _ = self.enter(Wait::One(Some(Duration::from_millis(1))));
            }
            self.take_cqes();
        }
    }

    /// io_uring_enter(2), retrying EINTR; EAGAIN/EBUSY (no room for completions) are
    /// answered by reaping the CQ so the next tick can submit. Other errors are returned;
    /// queued SQEs stay queued and their resources stay owned by their slots.
    fn enter(&mut self, wait: Wait) -> io::Result<usize> {
        loop {
            self.stats.enters += 1;
            match self.ring.enter(wait) {
                Ok(n) => return Ok(n),
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => {
                        if matches!(wait, Wait::One(_)) {
                            return Ok(0);
                        }
                    }
                    Some(libc::EAGAIN) | Some(libc::EBUSY) => {
                        self.take_cqes();
                        return Ok(0);
                    }
                    _ => {
                        self.stats.enter_errors += 1;
                        return Err(e);
                    }
                },
            }
        }
    }

    /// Moves ready CQEs into their slots; collects wakers and orphaned resources.
    fn take_cqes(&mut self) {
        let all = self.shut_down;
        self.ring.take_woken(&mut self.to_wake, all);
        let mut cqes = std::mem::take(&mut self.cqes);
        self.ring.reap(&mut cqes);
        for mut cqe in cqes.drain(..) {
            if let Some(pool) = &self.fast.pool
                && let Some(bid) = bufring::selected(cqe.flags)
            {
                cqe.buf_offset = pool.note_selected(bid, cqe.result, cqe.flags);
            }
            self.complete(cqe);
        }
        self.cqes = cqes;
        if !self.missed.is_empty() {
            self.schedule_recancels();
        }
    }

    /// Queues an ASYNC_CANCEL for the op in slot `index` of `generation`. A failed push
    /// only means the op runs to completion instead of being cut short.
    fn send_cancel(&mut self, index: usize, generation: u32) {
        if let Some(slot) = self.slots.get_mut(index) {
            slot.cancels += 1;
        }
        let cancel = opcode::AsyncCancel::new(lifecycle::encode(index, generation))
            .build()
            .user_data(lifecycle::encode_cancel(index, generation));
        // SAFETY: an ASYNC_CANCEL SQE points at no memory.
        let _ = unsafe { self.push(&cancel) };
    }

    /// A cancel missed (ENOENT/EALREADY). Once the whole batch of CQEs is in, an op that
    /// still has no CQE is really still in the kernel (its CQE did not just trail the
    /// cancel's): schedule its cancel again.
    fn schedule_recancels(&mut self) {
        let now = Instant::now();
        let mut missed = std::mem::take(&mut self.missed);
        for (index, generation) in missed.drain(..) {
            let Some(slot) = self.slots.get(index).filter(|s| s.generation == generation) else {
                continue;
            };
            if !matches!(slot.state, Lifecycle::Cancelled(_)) {
                continue;
            }
            self.stats.cancels_missed += 1;
            let due = now + recancel_delay(slot.cancels);
            if !self
                .recancel
                .iter()
                .any(|r| r.0 == index && r.1 == generation)
            {
                self.recancel.push((index, generation, due));
            }
        }
        self.missed = missed;
    }

    /// Re-sends the cancels that are due, for ops still cancelled and without a CQE.
    fn resend_due_cancels(&mut self, now: Instant) {
        if self.recancel.is_empty() {
            return;
        }
        let mut due = Vec::new();
        self.recancel.retain(|&(index, generation, when)| {
            if when <= now {
                due.push((index, generation));
                false
            } else {
                true
            }
        });
        for (index, generation) in due {
            let live = self.slots.get(index).is_some_and(|s| {
                s.generation == generation && matches!(s.state, Lifecycle::Cancelled(_))
            });
            if live {
                self.stats.cancels_resent += 1;
                self.send_cancel(index, generation);
            }
        }
    }

    /// Tracks persistent io_uring_enter(2) failures: backs off instead of spinning, and
    /// fails the core after [`ENTER_FAILURE_LIMIT`]. `timeout` bounds the back-off sleep
    /// (a park must not outsleep its earliest timer by much).
    fn note_enter(&mut self, res: io::Result<()>, timeout: Option<Duration>) {
        let err = match res {
            Ok(()) => {
                self.enter_failing = None;
                return;
            }
            Err(e) => e,
        };
        let now = Instant::now();
        let since = match &self.enter_failing {
            Some((since, _)) => *since,
            None => now,
        };
        let failing_for = now - since;
        if failing_for >= ENTER_FAILURE_LIMIT {
            panic!(
                "ringcore: io_uring_enter has failed for {failing_for:?} ({err}); this core's \
                 ring can neither submit nor complete ops (a seccomp rule or LSM denying \
                 io_uring_enter, or a torn-down ring)"
            );
        }
        let backoff = Duration::from_millis(1 << (failing_for.as_millis() / 16).min(6) as u32);
        std::thread::sleep(timeout.map_or(backoff, |t| t.min(backoff)));
        self.enter_failing = Some((since, err));
    }

    fn complete(&mut self, cqe: Cqe) {
        match cqe.user_data {
            WAKE_USER_DATA => {
                if let Some(w) = &mut self.wake {
                    w.armed = false;
                }
                if !self.shut_down {
                    let _ = self.rearm_wake();
                }
                return;
            }
            user_data if multipoll::owns(user_data) => {
                self.complete_multipoll(cqe);
                return;
            }
            user_data => {
                if let Some(target) = lifecycle::decode_cancel(user_data) {
                    // 0: found and cut short (its own CQE follows). ENOENT: not found,
                    // either done (its CQE is here or in this batch) or between a wake-up
                    // and its retry; EALREADY: running, maybe unstoppable. Decided once the
                    // batch is in (`schedule_recancels`).
                    if matches!(-cqe.result, libc::ENOENT | libc::EALREADY) {
                        self.missed.push(target);
                    }
                    return;
                }
            }
        }
        let (index, generation) = lifecycle::decode(cqe.user_data);
        // Field-level borrow: `self.stats` is updated while `slot` is held.
        let Some(slot) = self
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
        else {
            self.stats.stale_cqes += 1;
            return;
        };
        if matches!(slot.state, Lifecycle::Completed(_)) {
            // Single-shot ops: a second CQE for the same user_data is stale.
            self.stats.stale_cqes += 1;
            return;
        }
        let more = io_uring::cqueue::more(cqe.flags);
        match &mut slot.state {
            Lifecycle::Streaming(stream) => {
                // A multishot op (lifecycle.rs, second diagram).
                if stream.ended {
                    self.stats.stale_cqes += 1;
                    return;
                }
                stream.ended = !more;
                stream.cqes.push_back(cqe);
                if let Some(w) = stream.waker.take() {
                    self.to_wake.push(w);
                }
                if !more {
                    self.stats.ops_completed += 1;
                }
                return;
            }
            Lifecycle::Cancelled(data) if more => {
                data.late_more(cqe);
                return;
            }
            _ => {}
        }
        self.stats.ops_completed += 1;
        match std::mem::replace(&mut slot.state, Lifecycle::Completed(cqe)) {
            Lifecycle::Waiting(w) => self.to_wake.push(w),
            Lifecycle::Cancelled(data) => {
                self.slots.remove(index);
                self.orphans.push((data, cqe));
            }
            Lifecycle::Submitted | Lifecycle::Completed(_) | Lifecycle::Streaming(_) => {}
        }
    }

    fn rearm_wake(&mut self) -> io::Result<()> {
        let Some(w) = &mut self.wake else {
            return Ok(());
        };
        if w.armed {
            return Ok(());
        }
        let ptr: *mut u64 = &mut *w.buf;
        let sqe = opcode::Read::new(types::Fd(w.fd.as_raw_fd()), ptr.cast(), 8)
            .build()
            .user_data(WAKE_USER_DATA);
        w.armed = true;
        // SAFETY: the buffer is a Box owned by `self.wake` and the fd an Arc it holds; both
        // stay alive until this read's CQE clears `armed` (`shutdown` waits for that, and
        // `leak_kernel_owned` leaks them otherwise).
        let res = unsafe { self.push(&sqe) };
        if res.is_err()
            && let Some(w) = &mut self.wake
        {
            w.armed = false;
        }
        res
    }

    /// Gives up on CQEs that never came: forget (leak) every resource the kernel may still
    /// write to, instead of freeing it.
    fn leak_kernel_owned(&mut self) {
        self.leaked = true;
        for (_, slot) in self.slots.iter_mut() {
            if let Lifecycle::Cancelled(data) =
                std::mem::replace(&mut slot.state, Lifecycle::Submitted)
            {
                std::mem::forget(data);
            }
        }
        if let Some(w) = self.wake.take().filter(|w| w.armed) {
            std::mem::forget(w);
        }
        // The kernel may still write into pool buffers: never free them.
        std::mem::forget(self.fast.pool.take());
    }
}

fn shut_down_error() -> io::Error {
    io::Error::other("ringcore: the runtime that owns this op has shut down")
}
