//! The current core's context: one thread-local, reached through the functions here.
//!
//! It is set while a runtime runs on this thread (`Runtime::block_on` and the runtime's
//! shutdown) and holds the core: executor, driver, timers. Futures that need the core grab
//! what they need (an `Rc` of the driver or timers) when they are created; no `Drop` impl
//! reads the context.

use std::cell::{Cell, RefCell};
use std::ptr;
use std::rc::Rc;

use super::core::Core;
use crate::driver::Driver;
use crate::time::Timers;

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
    /// Id and address of the core running on this thread ((0, null): none): the core
    /// `CURRENT` holds. Read on every wake to decide between the local and the remote
    /// queue and to reach the local one, so it is a plain `Cell` with nothing to drop
    /// (one thread-local load, no destructor registration, no `RefCell` borrow).
    static CURRENT_CORE: Cell<(usize, *const Core)> = const { Cell::new((0, ptr::null())) };
}

/// Makes `core` current until the guard drops.
pub(crate) fn enter(core: &Rc<Core>) -> EnterGuard {
    // `CURRENT` first: `CURRENT_CORE` never names a core that `CURRENT` does not hold.
    let prev = CURRENT.with(|c| c.borrow_mut().replace(core.clone()));
    let prev_core = CURRENT_CORE.with(|c| c.replace((core.id, Rc::as_ptr(core))));
    EnterGuard { prev, prev_core }
}

/// Restores the previous context when dropped.
pub(crate) struct EnterGuard {
    prev: Option<Rc<Core>>,
    prev_core: (usize, *const Core),
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        // `CURRENT_CORE` first: dropping the `Rc` below may drop the core, and a task woken
        // meanwhile must not reach it through `CURRENT_CORE` (it goes to the remote queue,
        // like a wake after the core is gone).
        let _ = CURRENT_CORE.try_with(|c| c.set(self.prev_core));
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
    }
}

/// The id of the core running on this thread, or 0.
#[inline]
pub(crate) fn current_id() -> usize {
    current().0
}

/// The id and address of the core running on this thread, `(0, null)` if none.
#[inline]
fn current() -> (usize, *const Core) {
    CURRENT_CORE.try_with(Cell::get).unwrap_or((0, ptr::null()))
}

/// Borrows the core at `core`, an address `current` returned on this thread.
///
/// # Safety
///
/// `core` is non-null, and the borrow ends before the caller returns to the code that
/// called `current` (so before the `EnterGuard` in force then can drop).
#[inline]
unsafe fn borrow<'a>(core: *const Core) -> &'a Core {
    // SAFETY: `CURRENT_CORE` holds the address of the core whose `Rc` `CURRENT` holds:
    // `enter` sets it after storing that `Rc`, and `EnterGuard` resets it before
    // releasing it; nothing else writes either. So the core is alive while the guard in
    // force is, which by the caller's contract outlives the borrow. `Core` is only ever
    // shared (it lives in an `Rc`), never borrowed mutably.
    unsafe { &*core }
}

/// Calls `here` with the current core and `value` if the core running on this thread has
/// id `id` (never 0); otherwise hands `value` back. The wake path of every task
/// (`Core::spawn`'s schedule function): one thread-local load decides and reaches the
/// core.
#[inline]
pub(crate) fn on_core<T>(id: usize, value: T, here: impl FnOnce(&Core, T)) -> Result<(), T> {
    let (current, core) = current();
    if current != id || core.is_null() {
        return Err(value);
    }
    // SAFETY: non-null, and the borrow ends inside this call.
    here(unsafe { borrow(core) }, value);
    Ok(())
}

/// Runs `f` with the current core, if any. `#[inline]`: the inline-send policy asks it on
/// every send (`may_complete_inline`).
#[inline]
pub(crate) fn try_with<R>(f: impl FnOnce(&Core) -> R) -> Option<R> {
    let (_, core) = current();
    if core.is_null() {
        return None;
    }
    // SAFETY: non-null, and the borrow ends inside this call.
    Some(f(unsafe { borrow(core) }))
}

/// Runs `f` with the current core.
///
/// # Panics
///
/// If no ringcore runtime runs on this thread.
#[track_caller]
pub(crate) fn with<R>(f: impl FnOnce(&Core) -> R) -> R {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `on_core` reaches the core only on its thread while it is current, and hands the
    /// value back otherwise (the wake path sends those runnables to the remote queue).
    #[test]
    fn on_core_reaches_only_the_current_core() {
        assert_eq!(current_id(), 0);
        assert_eq!(on_core(1, 7u32, |_, _| unreachable!()), Err(7));
        assert!(try_with(|_| ()).is_none());
        crate::block_on(async {
            let id = current_id();
            assert_ne!(id, 0);
            let mut seen = None;
            assert_eq!(
                on_core(id, 7u32, |core, v| seen = Some((core.id, v))),
                Ok(())
            );
            assert_eq!(seen, Some((id, 7)));
            assert_eq!(try_with(|core| core.id), Some(id));
            // Another core's id (ids are never reused).
            assert_eq!(on_core(id + 1, 8u32, |_, _| unreachable!()), Err(8));
        });
        // The guard has reset the context.
        assert_eq!(current_id(), 0);
        assert_eq!(on_core(1, 9u32, |_, _| unreachable!()), Err(9));
        assert!(try_with(|_| ()).is_none());
    }
}
