//! Time: [`sleep()`], [`sleep_until`], [`timeout()`] and [`interval()`].
//!
//! Timers live in a per-core ordered map keyed by (deadline, sequence number): inserting,
//! cancelling and firing one timer costs O(log n), and a tick looks only at the earliest
//! deadline, so 100,000 live timers do not make a tick O(n). The core blocks in the ring at
//! most until the earliest deadline (io_uring_enter(2) with IORING_ENTER_EXT_ARG and a
//! timeout), so timers need no SQE of their own.
//!
//! Deadlines are [`Instant`]s on the runtime's clock ([`now`]: CLOCK_MONOTONIC, or a
//! simulation's virtual clock). A timer never fires before its deadline.

mod clock;
mod interval;
mod sleep;
mod timeout;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::task::Waker;
use std::time::Instant;

pub use clock::now;
pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};

/// Key of one registered timer.
pub(crate) type TimerKey = (Instant, u64);

/// The per-core timer structure.
#[derive(Default)]
pub(crate) struct Timers {
    map: RefCell<BTreeMap<TimerKey, Waker>>,
    seq: Cell<u64>,
}

impl Timers {
    pub(crate) fn insert(&self, deadline: Instant, waker: Waker) -> TimerKey {
        let seq = self.seq.get();
        self.seq.set(seq.wrapping_add(1));
        let key = (deadline, seq);
        self.map.borrow_mut().insert(key, waker);
        key
    }

    /// Replaces the waker of a registered timer; returns false if it already fired.
    pub(crate) fn update(&self, key: TimerKey, waker: &Waker) -> bool {
        match self.map.borrow_mut().get_mut(&key) {
            Some(w) => {
                if !w.will_wake(waker) {
                    *w = waker.clone();
                }
                true
            }
            None => false,
        }
    }

    pub(crate) fn remove(&self, key: TimerKey) {
        self.map.borrow_mut().remove(&key);
    }

    /// The earliest deadline, if any timer is registered.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.map.borrow().first_key_value().map(|((d, _), _)| *d)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }

    /// Wakes every timer whose deadline is at or before `now`. Returns how many fired.
    pub(crate) fn fire(&self, now: Instant) -> usize {
        let mut fired = 0;
        loop {
            let waker = {
                let mut map = self.map.borrow_mut();
                match map.first_entry() {
                    Some(e) if e.key().0 <= now => e.remove(),
                    _ => break,
                }
            };
            fired += 1;
            waker.wake();
        }
        fired
    }

    /// Drops every registered waker (core shutdown).
    pub(crate) fn clear(&self) {
        let map = std::mem::take(&mut *self.map.borrow_mut());
        drop(map);
    }
}
