//! Cancels: the ASYNC_CANCEL of a dropped op, re-sent until its target's CQE arrives, and
//! the shutdown that cancels everything and waits for every CQE.
//!
//! Every ASYNC_CANCEL's answer is read (its `user_data` names its target, see
//! `lifecycle`): a cancel answered `-ENOENT` or `-EALREADY` while its target has still not
//! completed is sent again on a later tick, with a growing delay ([`recancel_delay`]), until
//! the target's CQE arrives (docs/architecture.md, "Cancels that cancel"). `missed` holds
//! the misses of the last reap until the whole batch is in; `recancel` the cancels due
//! later. Shutdown waits up to [`SHUTDOWN_GRACE`] and then leaks, never frees, what the
//! kernel may still hold (docs/architecture.md, invariant 7; docs/hazards.md, H2).

use std::time::{Duration, Instant};

use io_uring::opcode;

use super::lifecycle::{self, Lifecycle, WAKE_USER_DATA};
use super::ring::Wait;
use super::{Driver, Inner};

/// How long `shutdown` waits for outstanding CQEs before it gives up and leaks the
/// resources still owned by the kernel (a leak is safe; freeing them would not be).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The delay before a missed cancel is re-sent: at once (next tick) the first time, then
/// 1 ms doubling to 128 ms, so an op the kernel is running (EALREADY) is not hammered.
fn recancel_delay(misses: u32) -> Duration {
    match misses {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(1 << (n - 2).min(7)),
    }
}

impl Driver {
    /// Cancels every op still in flight (and the wake-up read), then waits for all their
    /// CQEs and releases their resources. Idempotent. New ops fail with an error afterwards.
    pub(crate) fn shutdown(&self) {
        {
            let inner = &mut *self.inner.borrow_mut();
            inner.shut_down = true;
            inner.budget.reset(0, &mut inner.stats);
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

impl Inner {
    /// Queues an ASYNC_CANCEL for the op in slot `index` of `generation`. A failed push
    /// only means the op runs to completion instead of being cut short.
    pub(super) fn send_cancel(&mut self, index: usize, generation: u32) {
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
    pub(super) fn schedule_recancels(&mut self) {
        let now = Instant::now();
        let mut missed = std::mem::take(&mut self.missed);
        for (index, generation) in missed.drain(..) {
            let Some(slot) = self.slots.get(index).filter(|s| s.generation == generation) else {
                continue;
            };
            if !matches!(slot.state, Lifecycle::Cancelled(_) | Lifecycle::Detached(_)) {
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
    pub(super) fn resend_due_cancels(&mut self, now: Instant) {
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
                s.generation == generation
                    && matches!(s.state, Lifecycle::Cancelled(_) | Lifecycle::Detached(_))
            });
            if live {
                self.stats.cancels_resent += 1;
                self.send_cancel(index, generation);
            }
        }
    }

    /// Gives up on CQEs that never came: forget (leak) every resource the kernel may still
    /// write to, instead of freeing it.
    pub(super) fn leak_kernel_owned(&mut self) {
        self.leaked = true;
        for (_, slot) in self.slots.iter_mut() {
            match std::mem::replace(&mut slot.state, Lifecycle::Submitted) {
                Lifecycle::Cancelled(data) => std::mem::forget(data),
                Lifecycle::Detached(continuation) => std::mem::forget(continuation),
                _ => {}
            }
        }
        if let Some(w) = self.wake.take().filter(|w| w.armed) {
            std::mem::forget(w);
        }
        // The kernel may still write into pool buffers: never free them.
        std::mem::forget(self.resources.pool.take());
    }
}
