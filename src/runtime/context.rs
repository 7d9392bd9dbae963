//! The current core's context: one thread-local, reached through the functions here.
//!
//! It is set while a runtime runs on this thread (`Runtime::block_on` and the runtime's
//! shutdown) and holds the core: executor, driver, timers. Futures that need the core grab
//! what they need (an `Rc` of the driver or timers) when they are created; no `Drop` impl
//! reads the context.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use super::core::Core;
use crate::driver::Driver;
use crate::time::Timers;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// Id of the core running on this thread (0: none). Read on every wake to decide
    /// between the local and the remote queue, so it is a plain `Cell`.
    static CURRENT_ID: Cell<usize> = const { Cell::new(0) };
}

/// Makes `core` current until the guard drops.
pub(crate) fn enter(core: &Rc<Core>) -> EnterGuard {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(core.clone()));
    let prev_id = CURRENT_ID.with(|c| c.replace(core.id));
    EnterGuard { prev, prev_id }
}

/// Restores the previous context when dropped.
pub(crate) struct EnterGuard {
    prev: Option<Rc<Core>>,
    prev_id: usize,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
        let _ = CURRENT_ID.try_with(|c| c.set(self.prev_id));
    }
}

/// The id of the core running on this thread, or 0.
#[inline]
pub(crate) fn current_id() -> usize {
    CURRENT_ID.try_with(Cell::get).unwrap_or(0)
}

/// Runs `f` with the current core, if any. `#[inline]`: every task wake on the core's
/// thread comes through here (`Core::spawn`'s schedule function).
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(&Rc<Core>) -> R) -> Option<R> {
    CURRENT
        .try_with(|c| c.borrow().as_ref().map(f))
        .ok()
        .flatten()
}

/// Runs `f` with the current core.
///
/// # Panics
///
/// If no ringcore runtime runs on this thread.
#[track_caller]
pub(crate) fn with<R>(f: impl FnOnce(&Rc<Core>) -> R) -> R {
    match try_with(f) {
        Some(r) => r,
        None => panic!(
            "ringcore: this must be called from inside a ringcore runtime \
             (ringcore::block_on or Runtime::block_on)"
        ),
    }
}

/// True if a ringcore runtime is running on this thread.
pub(crate) fn is_set() -> bool {
    current_id() != 0
}

#[track_caller]
pub(crate) fn driver() -> Rc<Driver> {
    with(|c| c.driver.clone())
}

#[track_caller]
pub(crate) fn timers() -> Rc<Timers> {
    with(|c| c.timers.clone())
}

/// True when no other task is ready on this core, so an op that could complete inline
/// would otherwise go out alone in the next io_uring_enter (nothing to batch it with).
pub(crate) fn nothing_else_ready() -> bool {
    try_with(|core| !core.executor.has_local()).unwrap_or(false)
}

/// The inline policy of sends: may an op that can complete without blocking (a send with
/// MSG_DONTWAIT) run on the core's thread now
/// instead of going through the ring? Yes when it would otherwise go out alone (no other
/// task ready) and the driver allows it (no SQE queued this tick, inline budget left;
/// `Driver::try_inline`, which spends one unit of the budget). File reads ask
/// `Driver::try_inline` alone (see `File::read_at`): batching cached reads in the ring
/// measured slower than one preadv2(RWF_NOWAIT) each.
pub(crate) fn may_complete_inline(driver: &crate::driver::Driver) -> bool {
    // The driver's budget first: it is closed for the rest of a tick once one SQE was
    // queued, the common case under load, and reading it is cheaper than the core's.
    driver.inline_budget_left() && nothing_else_ready() && driver.try_inline()
}
