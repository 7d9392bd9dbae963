//! The remote (cross-thread) wake queue and its parking handshake.
//!
//! A task's `Waker` may be woken on any thread. On the owning core's thread the task goes
//! straight onto the local run queue; elsewhere it is pushed here, and the core is woken
//! through its [`Unpark`] (a write to an eventfd whose read is kept armed in the ring).
//!
//! The handshake that makes sure no wake-up is lost while the core parks:
//!
//! - the core, before it blocks in the kernel, locks the queue and, if it is empty, sets
//!   `sleeping` (`prepare_park`); after it wakes it clears `sleeping` (`unparked`);
//! - a remote waker locks the queue, pushes, and if `sleeping` was set clears it and
//!   unparks the core.
//!
//! Both sides hold the same lock when they read or write `sleeping` and the items, so either
//! the waker sees `sleeping` and writes the eventfd (which completes the armed read and ends
//! the park), or the core sees the item before it parks. `wake_flag` wakes (used by
//! `block_on`'s main future) take the same lock for the same reason.
//!
//! Fields of [`State`], all under the one lock:
//!
//! | field | written by | read by |
//! |---|---|---|
//! | `items` | remote wakers (push), the core (drain), `close` (take) | the core |
//! | `sleeping` | the core (set before park, clear after), a waker that unparks (clear) | wakers |
//! | `closed` | `close`, once | every push |
//! | `unpark` | `close` (takes it, so the eventfd is closed) | a waker that unparks |
//!
//! The unpark runs under the lock, so once `close` has returned no unpark can happen: the
//! eventfd is closed with the runtime even while wakers of its tasks live on elsewhere (a
//! user kept one, a blocking job still runs), and a late wake only drops its task.
//!
//! Everything shared here comes from `crate::loom`; the handshake's loom models are in
//! `loom/models.rs`.

use std::collections::VecDeque;

use async_task::Runnable;

use super::task::TaskMeta;
use crate::loom::{AtomicBool, AtomicU64, Lock, MutexGuard, Ordering};
use crate::metrics::WakeClock;

/// Wakes a parked core from any thread.
pub(crate) trait Unpark: Send + Sync + 'static {
    /// Ends the core's current (or next) park.
    fn unpark(&self);
}

/// The cross-thread half of an executor, generic over what it queues (a task's
/// `Runnable` in the runtime; a plain value in the loom models).
pub(crate) struct Remote<R = Runnable<TaskMeta>> {
    /// Id of the core that owns this queue (the runtime's core id; the executor only
    /// stores it). Kept here so a task's schedule function needs just this `Arc`.
    owner: usize,
    state: Lock<State<R>>,
    /// A hint that `items` is non-empty, so the core skips the lock on most ticks.
    has_items: AtomicBool,
    /// Times `unpark` was called (eventfd writes).
    unparks: AtomicU64,
    /// Stamps a task pushed by [`Remote::push_woken`] with the core's telemetry clock
    /// (`None` in the loom models).
    wake_clock: Option<WakeClock>,
}

/// The queue's state; see the module docs for who touches which field.
struct State<R> {
    items: VecDeque<R>,
    sleeping: bool,
    /// Set by `close`: pushes drop their item.
    closed: bool,
    /// `None` once closed.
    unpark: Option<Box<dyn Unpark>>,
}

impl<R> Remote<R> {
    /// A queue for core `owner`, woken through `unpark`.
    pub(crate) fn new(owner: usize, unpark: Box<dyn Unpark>) -> Self {
        Self {
            owner,
            state: Lock::new(State {
                items: VecDeque::new(),
                sleeping: false,
                closed: false,
                unpark: Some(unpark),
            }),
            has_items: AtomicBool::new(false),
            unparks: AtomicU64::new(0),
            wake_clock: None,
        }
    }

    /// Stamps the tasks [`Remote::push_woken`] queues with `clock` (telemetry).
    pub(crate) fn with_wake_clock(mut self, clock: WakeClock) -> Self {
        self.wake_clock = Some(clock);
        self
    }

    /// Id of the core that owns this queue.
    pub(crate) fn owner(&self) -> usize {
        self.owner
    }

    /// Clears `sleeping` and, if it was set, unparks the core. Called with the lock held.
    fn unpark_if_sleeping(&self, st: &mut State<R>) {
        if std::mem::take(&mut st.sleeping)
            && let Some(unpark) = &st.unpark
        {
            self.unparks.fetch_add(1, Ordering::Relaxed);
            unpark.unpark();
        }
    }

    /// How many times a remote wake had to unpark the core (eventfd writes).
    pub(crate) fn unparks(&self) -> u64 {
        self.unparks.load(Ordering::Relaxed)
    }

    /// The core is gone: drops queued items and the unpark (closing the eventfd), and makes
    /// later pushes drop their item without waking anything.
    pub(crate) fn close(&self) {
        let (items, unpark) = {
            let mut st = self.lock();
            st.closed = true;
            st.sleeping = false;
            self.has_items.store(false, Ordering::Release);
            (std::mem::take(&mut st.items), st.unpark.take())
        };
        // Dropped outside the lock: a runnable's drop may wake (and push) again.
        drop(items);
        drop(unpark);
    }

    /// True once [`close`](Self::close) has run.
    #[cfg(all(test, loom))]
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn lock(&self) -> MutexGuard<'_, State<R>> {
        self.state.lock()
    }

    /// Queues an item (a task woken on a foreign thread) and wakes the core if it is
    /// parked. After `close` the item is dropped and nothing is woken.
    pub(crate) fn push(&self, item: R) {
        let mut st = self.lock();
        if st.closed {
            drop(st);
            drop(item);
            return;
        }
        st.items.push_back(item);
        self.has_items.store(true, Ordering::Release);
        self.unpark_if_sleeping(&mut st);
    }

    /// Sets `flag` and wakes the core if it is parked.
    pub(crate) fn wake_flag(&self, flag: &AtomicBool) {
        let mut st = self.lock();
        flag.store(true, Ordering::Release);
        self.unpark_if_sleeping(&mut st);
    }

    /// True if a task may be queued: a lock-free hint for a core spinning before it parks.
    pub(crate) fn maybe_has_items(&self) -> bool {
        self.has_items.load(Ordering::Acquire)
    }

    /// Moves every queued task into `out`.
    pub(crate) fn drain_into(&self, out: &mut VecDeque<R>) {
        if !self.has_items.load(Ordering::Acquire) {
            return;
        }
        let mut st = self.lock();
        out.append(&mut st.items);
        self.has_items.store(false, Ordering::Release);
    }

    /// Marks the core as about to park. Returns `false` (and does not mark) if a remote
    /// task is queued or `flag` is set: the core must not block.
    pub(crate) fn prepare_park(&self, flag: &AtomicBool) -> bool {
        let mut st = self.lock();
        if !st.items.is_empty() || flag.load(Ordering::Acquire) {
            return false;
        }
        st.sleeping = true;
        true
    }

    /// The core is awake again.
    pub(crate) fn unparked(&self) {
        self.lock().sleeping = false;
    }
}

impl Remote {
    /// [`Remote::push`] for a task woken on a foreign thread: with the core's telemetry on,
    /// stamps it as queued now first (one clock reading on the waking thread), so its
    /// scheduling delay runs from this wake rather than from when the core takes it.
    #[inline]
    pub(crate) fn push_woken(&self, runnable: Runnable<TaskMeta>) {
        if let Some(clock) = &self.wake_clock {
            clock.stamp(runnable.metadata());
        }
        self.push(runnable);
    }
}

impl<R> std::fmt::Debug for Remote<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}
