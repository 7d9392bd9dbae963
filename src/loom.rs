//! The one place cross-thread atomics, locks, `Arc`s and cells come from.
//!
//! In a normal build this module re-exports `std`. Built with `RUSTFLAGS="--cfg loom"`, it
//! re-exports loom's model-checked versions instead, so the handshakes that use it (the
//! remote wake queue, the cross-core channel, the `submit_to` reply slot, the workers' stop
//! signal, the epoll driver's job states and completion queue) can be explored under
//! every interleaving loom finds; the models are in `loom/models.rs` and run with
//! `cargo test --release --lib loom` (see docs/architecture.md, "Cross-thread state and
//! loom").
//!
//! What stays on `std`, and why:
//!
//! - an `Arc` that becomes a `Waker` (`std::task::Wake` takes std's), an `Arc<Self>` method
//!   receiver (the thread pool, src/pool.rs), and the `Arc<Remote>` the runtime hands to schedule
//!   functions (the models wrap a `Remote` in loom's `Arc` themselves); what those `Arc`s
//!   point to still takes its atomics and locks from here;
//! - process-wide id counters in `static`s (loom's atomics cannot be built in a `const`);
//! - the driver's single-threaded state (`Rc`, `Cell`), which never crosses a thread.
//!
//! [`Lock`] is the crate's one poison-ignoring mutex: every critical section behind it only
//! moves values in and out or flips flags (no invariant spans an unwinding point), so a
//! panic on another thread while it held the lock leaves the data consistent and the lock
//! usable.

use std::sync::PoisonError;
use std::time::Duration;

#[cfg(not(loom))]
use std::sync::Mutex;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence};
#[cfg(not(loom))]
pub(crate) use std::sync::{Arc, Condvar, MutexGuard};

#[cfg(loom)]
use loom::sync::Mutex;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering, fence,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Arc, Condvar, MutexGuard};

#[cfg(all(test, loom))]
mod models;

/// A mutex whose `lock` ignores poisoning; see the module docs for why that is sound here.
#[derive(Debug, Default)]
pub(crate) struct Lock<T> {
    inner: Mutex<T>,
}

impl<T> Lock<T> {
    /// A lock around `value`.
    pub(crate) fn new(value: T) -> Self {
        Self {
            inner: Mutex::new(value),
        }
    }

    /// Locks, waiting for other holders; a poisoned lock is used as is.
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The value, through exclusive access (no locking needed).
    pub(crate) fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Releases `guard`, waits on `cond` for at most `timeout`, and locks again. Returns
    /// the guard and whether the wait timed out (rather than being notified or spurious).
    pub(crate) fn wait_timeout<'a>(
        &self,
        cond: &Condvar,
        guard: MutexGuard<'a, T>,
        timeout: Duration,
    ) -> (MutexGuard<'a, T>, bool) {
        let (guard, result) = cond
            .wait_timeout(guard, timeout)
            .unwrap_or_else(PoisonError::into_inner);
        (guard, result.timed_out())
    }
}
