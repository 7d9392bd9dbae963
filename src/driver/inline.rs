//! The tick's inline budget: how many more ops may complete on the core's thread without
//! an SQE (page-cache reads with RWF_NOWAIT, sends with MSG_DONTWAIT) before the next tick.
//!
//! It lives outside the driver's `RefCell`, in `Cell`s shared (`Rc`) by the `Driver` and
//! its `Inner`, so a cached read spends a unit with one load and one store: no borrow, no
//! look at the SQ, no counter update. What used to be checked per op is folded into `left`
//! at the points where it changes:
//!
//! ```text
//! left = inline_per_tick   at every tick (Driver::flush, Driver::park: refill), and by
//!                          Driver::set_inline_per_tick
//! left = 0                 when an SQE is pushed (Inner::push: ops after it in the tick
//!                          go through the ring and batch with it), at shutdown, and when
//!                          the path is off (inline_per_tick 0)
//! left -= 1                per op that completes inline (`take`)
//! ```
//!
//! `granted` is what `left` was last set to, so `granted - left` units were spent since;
//! `settle` adds them to `DriverStats::ops_inline` whenever `left` is reset, and
//! `Driver::stats` adds the units spent in the current tick. Written and read only on the
//! core's thread (the `Driver` is `!Send`).

use std::cell::Cell;

use super::DriverStats;

/// The tick's inline budget (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct InlineBudget {
    /// Ops that may still complete inline before `left` is next reset.
    left: Cell<u32>,
    /// What `left` was last reset to.
    granted: Cell<u32>,
}

impl InlineBudget {
    /// Spends one unit if there is one: true when the caller may complete its op inline.
    #[inline]
    pub(crate) fn take(&self) -> bool {
        let left = self.left.get();
        if left == 0 {
            return false;
        }
        self.left.set(left - 1);
        true
    }

    /// Units left before the next reset (0: spent, an SQE is queued, or the path is off).
    #[inline]
    pub(crate) fn left(&self) -> u32 {
        self.left.get()
    }

    /// True when the budget was spent by `take`s alone: the last reset granted some, and
    /// no SQE was pushed since (a push resets to 0), nor did shutdown come.
    #[inline]
    pub(crate) fn spent_out(&self) -> bool {
        self.left.get() == 0 && self.granted.get() > 0
    }

    /// Units spent since the last reset.
    #[inline]
    pub(crate) fn spent(&self) -> u32 {
        self.granted.get() - self.left.get()
    }

    /// No more inline ops until the next reset (an SQE was pushed): `reset(0, stats)`,
    /// with one test when the budget is already closed (every push after the first).
    #[inline]
    pub(crate) fn close(&self, stats: &mut DriverStats) {
        if self.granted.get() != 0 {
            self.reset(0, stats);
        }
    }

    /// Counts the units spent so far into `stats.ops_inline`, then grants `n`.
    #[inline]
    pub(crate) fn reset(&self, n: u32, stats: &mut DriverStats) {
        stats.ops_inline += u64::from(self.spent());
        self.left.set(n);
        self.granted.set(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spends_down_to_zero_and_counts_what_was_spent_at_each_reset() {
        let b = InlineBudget::default();
        let mut stats = DriverStats::default();
        assert!(!b.take());
        b.reset(3, &mut stats);
        assert!(b.take() && b.take());
        assert_eq!((b.left(), b.spent()), (1, 2));
        assert!(!b.spent_out());
        // An SQE pushed mid-tick: nothing more inline, the two spent are counted.
        b.reset(0, &mut stats);
        assert!(!b.take() && !b.spent_out());
        assert_eq!(stats.ops_inline, 2);
        b.reset(3, &mut stats);
        assert!(b.take() && b.take() && b.take() && !b.take());
        assert!(b.spent_out());
        b.reset(3, &mut stats);
        assert_eq!(stats.ops_inline, 5);
    }
}
