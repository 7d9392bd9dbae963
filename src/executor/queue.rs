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
//!   unparks the core after unlocking.
//!
//! Both sides hold the same lock when they read or write `sleeping` and the items, so either
//! the waker sees `sleeping` and writes the eventfd (which completes the armed read and ends
//! the park), or the core sees the item before it parks. `wake_flag` wakes (used by
//! `block_on`'s main future) take the same lock for the same reason.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use async_task::Runnable;

use super::task::TaskMeta;

/// Wakes a parked core from any thread.
pub(crate) trait Unpark: Send + Sync + 'static {
    /// Ends the core's current (or next) park.
    fn unpark(&self);
}

/// The cross-thread half of an executor.
pub(crate) struct Remote {
    /// Id of the core that owns this queue (the runtime's core id; the executor only
    /// stores it). Kept here so a task's schedule function needs just this `Arc`.
    owner: usize,
    state: Mutex<State>,
    /// A hint that `items` is non-empty, so the core skips the lock on most ticks.
    has_items: AtomicBool,
    unpark: Box<dyn Unpark>,
    /// Times `unpark` was called (eventfd writes).
    unparks: AtomicU64,
}

struct State {
    items: VecDeque<Runnable<TaskMeta>>,
    sleeping: bool,
    /// Set by `close`: pushes drop their runnable.
    closed: bool,
}

impl Remote {
    pub(crate) fn new(owner: usize, unpark: Box<dyn Unpark>) -> Self {
        Self {
            owner,
            state: Mutex::new(State {
                items: VecDeque::new(),
                sleeping: false,
                closed: false,
            }),
            has_items: AtomicBool::new(false),
            unpark,
            unparks: AtomicU64::new(0),
        }
    }

    /// Id of the core that owns this queue.
    pub(crate) fn owner(&self) -> usize {
        self.owner
    }

    fn unpark(&self) {
        self.unparks.fetch_add(1, Ordering::Relaxed);
        self.unpark.unpark();
    }

    /// How many times a remote wake had to unpark the core (eventfd writes).
    pub(crate) fn unparks(&self) -> u64 {
        self.unparks.load(Ordering::Relaxed)
    }

    /// The core is gone: drops queued runnables and makes later pushes drop theirs.
    pub(crate) fn close(&self) {
        let items = {
            let mut st = self.lock();
            st.closed = true;
            self.has_items.store(false, Ordering::Release);
            std::mem::take(&mut st.items)
        };
        // Dropped outside the lock: a runnable's drop may wake (and push) again.
        drop(items);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave `State` inconsistent (plain pushes
        // and flag writes), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a task woken on a foreign thread and wakes the core if it is parked.
    pub(crate) fn push(&self, runnable: Runnable<TaskMeta>) {
        let wake = {
            let mut st = self.lock();
            if st.closed {
                drop(st);
                drop(runnable);
                return;
            }
            st.items.push_back(runnable);
            self.has_items.store(true, Ordering::Release);
            std::mem::take(&mut st.sleeping)
        };
        if wake {
            self.unpark();
        }
    }

    /// Sets `flag` and wakes the core if it is parked.
    pub(crate) fn wake_flag(&self, flag: &AtomicBool) {
        let wake = {
            let mut st = self.lock();
            flag.store(true, Ordering::Release);
            std::mem::take(&mut st.sleeping)
        };
        if wake {
            self.unpark();
        }
    }

    /// True if a task may be queued: a lock-free hint for a core spinning before it parks.
    pub(crate) fn maybe_has_items(&self) -> bool {
        self.has_items.load(Ordering::Acquire)
    }

    /// Moves every queued task into `out`.
    pub(crate) fn drain_into(&self, out: &mut VecDeque<Runnable<TaskMeta>>) {
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

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").finish_non_exhaustive()
    }
}
