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
//! The driver's parts, one file each: the op slab and the one `start_op` both submit paths
//! use (src/driver/op_slab.rs); cancels, re-sent until their target completes, and shutdown
//! (src/driver/cancel.rs); pushing, entering the kernel and reaping
//! (src/driver/enter.rs); multishot ops (src/driver/multi_op.rs) and what the driver
//! registers with its ring (src/driver/resources.rs). How a driver is built (backend
//! choice, ring setup, registered-file table) is in src/driver/build.rs.
//!
//! All mutable state sits in one `RefCell`, except the tick's inline budget, which sits in
//! `Cell`s beside it so a cached read spends it without a borrow (src/driver/inline.rs).
//! Wakers and orphaned resources are collected while the `RefCell` is borrowed and released
//! only after, so a waker or a buffer's `Drop` can re-enter the driver safely.

pub(crate) mod bufring;
pub(crate) mod build;
mod cancel;
mod enter;
pub(crate) mod epoll;
pub(crate) mod fixed;
mod inline;
mod lifecycle;
pub(crate) mod multi_op;
pub(crate) mod multipoll;
pub(crate) mod op;
mod op_slab;
pub(crate) mod opcodes;
pub(crate) mod ops;
pub(crate) mod orphans;
pub(crate) mod readiness;
pub(crate) mod resources;
pub(crate) mod ring;
pub(crate) mod shared_fd;
#[cfg(feature = "sim")]
pub(crate) mod sim;

#[cfg(test)]
mod tests;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use io_uring::{opcode, types};
use slab::Slab;

use crate::sys::uring::Features;
use inline::InlineBudget;
use lifecycle::{Slot, WAKE_USER_DATA};
pub(crate) use op::Op;
use op::{Continuation, Orphan};
pub(crate) use ring::Direction;
use ring::{Cqe, Ring};

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

/// The per-core io_uring driver. Shared as `Rc<Driver>` by the core and every `Op`.
pub(crate) struct Driver {
    inner: RefCell<Inner>,
    /// The tick's inline budget, read and spent without borrowing `inner`
    /// (src/driver/inline.rs); `Inner` holds the same `Rc` to reset it.
    budget: Rc<InlineBudget>,
    /// The core's telemetry hooks (src/metrics/); `Inner` holds the same `Rc`.
    metrics: Rc<crate::metrics::Recorder>,
    /// The ring is a readiness ring (`Ring::readiness` is `Some`), fixed at construction:
    /// asked on every socket transfer, so kept out of `inner`'s borrow.
    readiness: bool,
    /// Page-cache reads completed inline since telemetry last took them
    /// (`settle_metrics`, once per tick from `dispatch`), packed as their count times
    /// `metrics::INLINE_READ` plus their bytes: one add per read, outside `inner`.
    inline_reads: Cell<u64>,
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
    /// Detached ops whose CQE arrived, their continuations run once the borrow is released.
    continued: Vec<(Rc<dyn Continuation>, Cqe)>,
    /// The eventfd whose armed read wakes a parked ring, and the 8-byte buffer it reads into.
    wake: Option<WakeRead>,
    features: Features,
    stats: DriverStats,
    shut_down: bool,
    /// The tick's inline budget (shared with `Driver`); see `try_inline`. Reset to
    /// `inline_per_tick` at every tick, to 0 by every SQE push and at shutdown.
    budget: Rc<InlineBudget>,
    /// What the inline budget is reset to at every tick (0: every op goes through the ring).
    inline_per_tick: u32,
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
    /// The receive buffer pool, the registered-file table, the SEND_ZC threshold and
    /// the multishot ops the kernel refused (src/driver/resources.rs).
    resources: resources::RingResources,
    /// The core's telemetry hooks (src/metrics/).
    metrics: Rc<crate::metrics::Recorder>,
}

/// How many times `Driver::look` submits what its own reap queued before it gives up on
/// sleeping this tick.
const LOOK_RESUBMITS: usize = 4;

/// How many ops per tick may complete inline by default before the rest go through the
/// ring, so a task reading cached data in a loop still yields to I/O and timers.
pub(crate) const DEFAULT_INLINE_PER_TICK: u32 = 64;

struct WakeRead {
    fd: Arc<OwnedFd>,
    buf: Box<u64>,
    armed: bool,
}

impl Driver {
    pub(crate) fn new(mut ring: Box<dyn Ring>, features: Features) -> Self {
        let budget = Rc::new(InlineBudget::default());
        let mut stats = DriverStats::default();
        budget.reset(DEFAULT_INLINE_PER_TICK, &mut stats);
        let metrics = Rc::new(crate::metrics::Recorder::default());
        Self {
            budget: budget.clone(),
            metrics: metrics.clone(),
            readiness: ring.readiness().is_some(),
            inline_reads: Cell::new(0),
            inner: RefCell::new(Inner {
                ring,
                slots: Slab::with_capacity(256),
                generation: 0,
                cqes: Vec::with_capacity(256),
                to_wake: Vec::new(),
                orphans: Vec::new(),
                continued: Vec::new(),
                wake: None,
                features,
                stats,
                shut_down: false,
                budget,
                inline_per_tick: DEFAULT_INLINE_PER_TICK,
                budget_waiters: VecDeque::new(),
                missed: Vec::new(),
                recancel: Vec::new(),
                enter_failing: None,
                leaked: false,
                multipoll: multipoll::Registry::default(),
                resources: resources::RingResources::default(),
                metrics,
            }),
        }
    }

    /// The core's telemetry hooks, shared with its executor (src/metrics/).
    pub(crate) fn metrics(&self) -> &Rc<crate::metrics::Recorder> {
        &self.metrics
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
        let inner = &mut *self.inner.borrow_mut();
        inner.inline_per_tick = n;
        let n = if inner.shut_down { 0 } else { n };
        inner.budget.reset(n, &mut inner.stats);
    }

    pub(crate) fn features(&self) -> Features {
        self.inner.borrow().features
    }

    /// The registered-file table's size in slots, or `None` where the core has none (the
    /// epoll driver, `Builder::registered_files(0)`, or a kernel that refused it).
    pub(crate) fn registered_file_slots(&self) -> Option<u32> {
        self.inner
            .borrow()
            .resources
            .fixed
            .as_ref()
            .map(|t| t.slots())
    }

    /// Pretends the kernel has (or lacks) the probed opcodes, to test fallbacks.
    #[cfg(test)]
    pub(crate) fn override_features(&self, features: Features) {
        self.inner.borrow_mut().features = features;
    }

    /// May the caller complete an op synchronously instead of queuing its SQE? Yes when
    /// no SQE was pushed this tick (so batching is not lost), the runtime is not shutting
    /// down and the tick's inline budget is not spent; each yes spends one unit. Callers
    /// use it for work that cannot block (a page-cache read with RWF_NOWAIT). One `Cell`
    /// load and store: all three conditions are folded into the budget where they change
    /// (src/driver/inline.rs).
    #[inline]
    pub(crate) fn try_inline(&self) -> bool {
        self.budget.take()
    }

    /// True while [`try_inline`](Driver::try_inline) would grant a unit (spends nothing).
    #[inline]
    pub(crate) fn inline_budget_left(&self) -> bool {
        self.budget.left() != 0
    }

    /// A page-cache read of `n` bytes completed inline (a unit of `try_inline`): for
    /// telemetry's `bytes_in` and inline `read` count, added up here (one add, whether
    /// telemetry is on or not) and handed over once per tick (`settle_metrics`).
    #[inline]
    pub(crate) fn inline_read_hit(&self, n: usize) {
        self.inline_reads.set(
            self.inline_reads
                .get()
                .wrapping_add(crate::metrics::INLINE_READ + n as u64),
        );
    }

    /// Hands telemetry what it takes from the driver once per tick (the inline page-cache
    /// reads) now, so a publish sees them.
    pub(crate) fn settle_metrics(&self) {
        self.metrics.inline_reads(self.inline_reads.replace(0));
    }

    /// True on a readiness ring (epoll), where sockets wait for readiness without ops
    /// ([`poll_ready_inline`](Driver::poll_ready_inline)).
    #[inline]
    pub(crate) fn is_readiness(&self) -> bool {
        self.readiness
    }

    /// Readiness rings only: `Ready(Ok(()))` when the caller may make a non-blocking
    /// socket syscall in `dir` on `fd` now, spending one unit of the task poll's cooperative
    /// budget (`crate::coop`; outside tasks, of the tick's). Otherwise `Pending`: the
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
        if let Some(ring) = inner.ring.readiness() {
            match ring.poll_ready(fd, dir, cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
        if !crate::coop::take() {
            drop(inner);
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        inner.stats.ops_inline += 1;
        Poll::Ready(Ok(()))
    }

    /// What a socket syscall made on the core's thread returned
    /// (`res`: a count or `-errno`, of `want` bytes asked); see
    /// `ReadinessRing::note_attempt`. Readiness rings only.
    pub(crate) fn note_attempt(&self, fd: RawFd, dir: Direction, res: i32, want: usize) {
        if let Some(ring) = self.inner.borrow_mut().ring.readiness() {
            ring.note_attempt(fd, dir, res, want);
        }
    }

    /// True when [`try_inline`](Driver::try_inline) refuses only because this tick's
    /// budget is spent (the path is on, nothing is queued): a caller that waits for
    /// [`poll_inline_budget`](Driver::poll_inline_budget) may complete inline then.
    #[inline]
    pub(crate) fn inline_budget_spent(&self) -> bool {
        // A positive grant that `take` spent down: the path is on, the runtime is not
        // shutting down, and no SQE was pushed since the tick began (src/driver/inline.rs).
        self.budget.spent_out()
    }

    /// Ready once this tick's inline budget is not spent; otherwise registers the waker,
    /// which the next `flush` or `park` wakes when it refills the budget (after the
    /// other ready tasks ran, the timers fired and completions were reaped: that tick
    /// boundary is what the budget is for).
    pub(crate) fn poll_inline_budget(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut inner = self.inner.borrow_mut();
        if inner.budget.left() > 0 || inner.inline_per_tick == 0 || inner.shut_down {
            return Poll::Ready(());
        }
        inner.budget_waiters.push_back(cx.waker().clone());
        Poll::Pending
    }

    /// True when a task waits for the next tick's inline budget
    /// ([`poll_inline_budget`](Driver::poll_inline_budget)): it is as good as ready, so
    /// the tick should [`flush`](Driver::flush), which wakes it, rather than park.
    pub(crate) fn budget_waiting(&self) -> bool {
        !self.inner.borrow().budget_waiters.is_empty()
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
    /// The second value is when the sleep must end, if anything is due: the next missed
    /// cancel to re-send, or the ring's own next visit (`Ring::next_deadline`: a readiness
    /// ring's connect retry or pool rescue).
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
        if !inner.budget_waiters.is_empty() {
            // A task waits for the budget: it is ready now, so do not sleep.
            inner.flush();
            inner.refill_inline_budget();
            return (true, None);
        }
        inner.resend_due_cancels(Instant::now());
        if inner.ring.readiness().is_some() {
            let res = inner.enter(ring::Wait::One(Some(std::time::Duration::ZERO)));
            inner.note_enter(res.map(drop), None);
        } else if inner.ring.queued() > 0 || inner.ring.needs_enter() {
            let res = inner.enter(ring::Wait::No);
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
            let res = inner.enter(ring::Wait::No);
            inner.note_enter(res.map(drop), None);
            inner.take_cqes();
        }
        // After the enters, as `park` does: SQEs pushed before them are in the kernel.
        inner.refill_inline_budget();
        // Still queued (an SQ full of cancels, a wake read completing again at once):
        // not safe to sleep; the next tick submits the rest.
        let busy = !inner.to_wake.is_empty()
            || !inner.orphans.is_empty()
            || !inner.continued.is_empty()
            || inner.ring.queued() > 0;
        // The sleep ends by the next re-sent cancel, or by the ring's own next visit (a
        // readiness ring's connect retry or pool rescue, which epoll does not signal).
        let recancel = inner.recancel.iter().map(|r| r.2).min();
        let deadline = recancel.into_iter().chain(inner.ring.next_deadline()).min();
        (busy, deadline)
    }

    /// Wakes tasks whose ops completed, releases orphaned resources and runs the
    /// continuations of detached ops. Call with no borrow of the driver held (it is not
    /// re-entrant by itself, but wakers and continuations may be).
    pub(crate) fn dispatch(&self) {
        self.settle_metrics();
        let (mut wakers, mut orphans, mut continued) = {
            let mut inner = self.inner.borrow_mut();
            if let Some(pool) = inner
                .resources
                .pool
                .as_ref()
                .filter(|p| p.owes_wakes())
                .cloned()
            {
                // Buffers late CQEs republished while the driver was borrowed.
                drop(inner);
                pool.wake_owed();
                inner = self.inner.borrow_mut();
            }
            if inner.to_wake.is_empty() && inner.orphans.is_empty() && inner.continued.is_empty() {
                return;
            }
            (
                std::mem::take(&mut inner.to_wake),
                std::mem::take(&mut inner.orphans),
                std::mem::take(&mut inner.continued),
            )
        };
        for w in wakers.drain(..) {
            w.wake();
        }
        for (data, cqe) in orphans.drain(..) {
            data.late_cqe(cqe);
        }
        // A continuation may wake tasks directly; what it submits joins the next enter.
        for (continuation, cqe) in continued.drain(..) {
            continuation.on_cqe(self, cqe);
        }
        let mut inner = self.inner.borrow_mut();
        if inner.to_wake.is_empty() {
            inner.to_wake = wakers;
        }
        if inner.orphans.is_empty() {
            inner.orphans = orphans;
        }
        if inner.continued.is_empty() {
            inner.continued = continued;
        }
    }

    /// Ops whose final CQE has not been reaped yet (live or cancelled).
    pub(crate) fn in_flight(&self) -> usize {
        self.inner.borrow().slots.len()
    }

    pub(crate) fn stats(&self) -> DriverStats {
        let inner = self.inner.borrow();
        let mut stats = inner.stats;
        stats.ops_inline += u64::from(self.budget.spent());
        if let Some(pool) = &inner.resources.pool {
            stats.recv_bufs_out = pool.out().into();
            stats.recv_pool_exhausted = pool.exhausted();
            stats.recv_pool_buffers = pool.buffers().into();
            stats.recv_pool_parks = pool.parks();
        }
        if let Some(table) = &inner.resources.fixed {
            stats.files_registered = table.in_use();
            stats.files_table_full = table.full();
        }
        stats
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // Every Op holds an Rc<Driver>, so no live future remains; cancelled ops may.
        self.shutdown();
        let inner = self.inner.borrow();
        if let Some(table) = &inner.resources.fixed {
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
}

fn shut_down_error() -> io::Error {
    io::Error::other("ringcore: the runtime that owns this op has shut down")
}
