//! The cooperative budget: how many socket syscalls the task being polled may still make
//! inline on a readiness ring before it yields.
//!
//! tokio's coop budget is the model: the executor grants [`BUDGET`] units when it starts a
//! task poll ([`task_poll_begins`]), the driver spends one per inline syscall ([`take`]),
//! and a task that finds the budget spent is woken at once and yields, so a task reading
//! a fast socket in a loop still lets the others run. The driver also refills it at every
//! tick ([`refill`]), which is all the budget code outside a task (the main future) gets.
//!
//! It sits below both the executor and the driver (a thread-local `Cell`, no import of
//! either), so the driver never asks the runtime which poll is running. State: one
//! counter per thread, written by the executor (grant), the driver (spend, refill), read
//! by the driver; a thread runs one core at a time, so no two cores share it.

use std::cell::Cell;

/// Units granted per task poll: tokio's cooperative budget is 128 operations per task
/// poll, for the same reason.
pub(crate) const BUDGET: u32 = 128;

thread_local! {
    static LEFT: Cell<u32> = const { Cell::new(BUDGET) };
}

/// A task poll begins: the task gets a full budget.
#[inline]
pub(crate) fn task_poll_begins() {
    refill();
}

/// Refills the budget (a new tick, or a new task poll).
#[inline]
pub(crate) fn refill() {
    let _ = LEFT.try_with(|left| left.set(BUDGET));
}

/// Spends one unit; `false` (spending nothing) when the budget is spent.
#[inline]
pub(crate) fn take() -> bool {
    LEFT.try_with(|left| {
        let n = left.get();
        if n == 0 {
            return false;
        }
        left.set(n - 1);
        true
    })
    .unwrap_or(true)
}
