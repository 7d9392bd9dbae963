//! Entering the kernel: pushing SQEs (flushing a full SQ), io_uring_enter(2) once per tick
//! ([`Driver::flush`] without blocking, [`Driver::park`] blocking), reaping CQEs into their
//! slots, and the tick's refill of the inline budget.
//!
//! io_uring_enter(2) retries EINTR; EAGAIN and EBUSY (no room for completions) are answered
//! by reaping. A persistent other error backs off instead of spinning and, after
//! [`ENTER_FAILURE_LIMIT`], fails the core (`enter_failing` holds since when, and the last
//! error).

use std::io;
use std::time::{Duration, Instant};

use super::ring::Wait;
use super::{Driver, Inner, bufring};

/// How long io_uring_enter(2) may keep failing (with an error other than EINTR, EAGAIN,
/// EBUSY) before the core gives up: a seccomp rule or LSM that denies it after setup, a
/// ring the kernel tore down. Until then each failure backs off (1 ms, doubling to 64 ms)
/// instead of spinning.
pub(crate) const ENTER_FAILURE_LIMIT: Duration = Duration::from_secs(1);

impl Driver {
    /// Submits queued SQEs without blocking and takes whatever CQEs are ready. Skips the
    /// syscall when there is nothing to submit and the kernel did not ask to be entered.
    ///
    /// # Panics
    ///
    /// When io_uring_enter(2) has failed persistently for [`ENTER_FAILURE_LIMIT`] (see
    /// [`Driver::park`]).
    pub(crate) fn flush(&self) {
        let mut inner = self.inner.borrow_mut();
        inner.flush();
        // After the enter: SQEs pushed before it (a cancel re-sent) are in the kernel and
        // do not hold the new tick's reads back.
        inner.refill_inline_budget();
    }

    /// Submits queued SQEs and blocks until a CQE arrives or `timeout` passes (or a
    /// missed cancel is due to be re-sent).
    ///
    /// # Panics
    ///
    /// When io_uring_enter(2) has failed with the same kind of non-transient error for
    /// [`ENTER_FAILURE_LIMIT`]: the ring can neither submit nor reap, so no op on this core
    /// can ever complete. The panic names the error (e.g. EPERM from a seccomp rule that
    /// allows io_uring_setup but not io_uring_enter; `Builder::build` catches that case
    /// up front with `BuildError::EnterDenied`).
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        let mut inner = self.inner.borrow_mut();
        if !inner.budget_waiters.is_empty() {
            // A task waits for the budget: it is ready now, so do not block.
            inner.flush();
            inner.refill_inline_budget();
            return;
        }
        // The clock is read only when a cancel waits to be resent (as in `flush`).
        let timeout = if inner.recancel.is_empty() {
            timeout
        } else {
            let now = Instant::now();
            inner.resend_due_cancels(now);
            match inner.recancel.iter().map(|r| r.2).min() {
                Some(due) => {
                    let until = due.saturating_duration_since(now);
                    Some(timeout.map_or(until, |t| t.min(until)))
                }
                None => timeout,
            }
        };
        let res = inner.enter(Wait::One(timeout));
        inner.note_enter(res.map(drop), timeout);
        inner.take_cqes();
        inner.refill_inline_budget();
    }
}

impl Inner {
    /// `Driver::flush` without the budget refill.
    pub(super) fn flush(&mut self) {
        if !self.recancel.is_empty() {
            // Only then: a clock read per tick is a tenth of a cached read's cost.
            self.resend_due_cancels(Instant::now());
        }
        if self.ring.queued() > 0 || self.ring.needs_enter() {
            let res = self.enter(Wait::No);
            self.note_enter(res.map(drop), None);
        }
        self.take_cqes();
    }

    /// Resets the tick's inline budget (after the tick's enter) and queues the waker of the
    /// task that has waited longest for it, if any. One per tick: a woken task reading in a
    /// loop spends the whole budget, and waking the others too would only poll them to
    /// wait again (at 32 reading tasks, 32 polls per 64 reads). The rest wait their turn,
    /// one tick each.
    pub(super) fn refill_inline_budget(&mut self) {
        let n = if self.shut_down {
            0
        } else {
            self.inline_per_tick
        };
        self.budget.reset(n, &mut self.stats);
        crate::coop::refill();
        if let Some(w) = self.budget_waiters.pop_front() {
            self.to_wake.push(w);
        }
    }

    /// Pushes an SQE, flushing the SQ to the kernel while it is full.
    ///
    /// # Safety
    ///
    /// As `Ring::push`: what the SQE points to outlives its CQE.
    pub(super) unsafe fn push(&mut self, sqe: &io_uring::squeue::Entry) -> io::Result<()> {
        loop {
            // SAFETY: forwarded from the caller.
            if unsafe { self.ring.push(sqe) }.is_ok() {
                // Ops later in this tick go through the ring and batch with this one.
                self.budget.close(&mut self.stats);
                return Ok(());
            }
            self.stats.sq_full_flushes += 1;
            let before = self.ring.queued();
            self.enter(Wait::No)?;
            if self.ring.queued() >= before {
                // The kernel took nothing (CQ backlog): make room by reaping, then wait for
                // at least one completion so the next attempt can progress.
                self.take_cqes();
                let _ = self.enter(Wait::One(Some(Duration::from_millis(1))));
            }
            self.take_cqes();
        }
    }

    /// io_uring_enter(2), retrying EINTR; EAGAIN/EBUSY (no room for completions) are
    /// answered by reaping the CQ so the next tick can submit. Other errors are returned;
    /// queued SQEs stay queued and their resources stay owned by their slots.
    pub(super) fn enter(&mut self, wait: Wait) -> io::Result<usize> {
        loop {
            self.stats.enters += 1;
            match self.ring.enter(wait) {
                Ok(n) => {
                    self.metrics.entered(n);
                    return Ok(n);
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::EINTR) => {
                        if matches!(wait, Wait::One(_)) {
                            return Ok(0);
                        }
                    }
                    Some(libc::EAGAIN) | Some(libc::EBUSY) => {
                        self.take_cqes();
                        return Ok(0);
                    }
                    _ => {
                        self.stats.enter_errors += 1;
                        return Err(e);
                    }
                },
            }
        }
    }

    /// Moves ready CQEs into their slots; collects wakers and orphaned resources.
    pub(super) fn take_cqes(&mut self) {
        let all = self.shut_down;
        if let Some(ring) = self.ring.readiness() {
            ring.take_woken(&mut self.to_wake, all);
        }
        let mut cqes = std::mem::take(&mut self.cqes);
        // The tick's one clock reading outside task polls (src/metrics/).
        self.metrics.tick_clock();
        self.ring.reap(&mut cqes);
        if !cqes.is_empty() && self.ring.cq_overflow() {
            self.metrics.cq_overflowed();
        }
        for mut cqe in cqes.drain(..) {
            if let Some(pool) = &self.resources.pool
                && let Some(bid) = bufring::selected(cqe.flags)
            {
                cqe.buf_offset = pool.note_selected(bid, cqe.result, cqe.flags);
            }
            self.complete(cqe);
        }
        self.cqes = cqes;
        if !self.missed.is_empty() {
            self.schedule_recancels();
        }
    }

    /// Tracks persistent io_uring_enter(2) failures: backs off instead of spinning, and
    /// fails the core after [`ENTER_FAILURE_LIMIT`]. `timeout` bounds the back-off sleep
    /// (a park must not outsleep its earliest timer by much).
    #[inline]
    pub(super) fn note_enter(&mut self, res: io::Result<()>, timeout: Option<Duration>) {
        if res.is_ok() && self.enter_failing.is_none() {
            return;
        }
        self.note_enter_slow(res, timeout);
    }

    /// `note_enter` for a failed enter, or the first good one after failures.
    #[inline(never)]
    fn note_enter_slow(&mut self, res: io::Result<()>, timeout: Option<Duration>) {
        let err = match res {
            Ok(()) => {
                self.enter_failing = None;
                return;
            }
            Err(e) => e,
        };
        let now = Instant::now();
        let since = match &self.enter_failing {
            Some((since, _)) => *since,
            None => now,
        };
        let failing_for = now - since;
        if failing_for >= ENTER_FAILURE_LIMIT {
            panic!(
                "ringcore: io_uring_enter has failed for {failing_for:?} ({err}); this core's \
                 ring can neither submit nor complete ops (a seccomp rule or LSM denying \
                 io_uring_enter, or a torn-down ring)"
            );
        }
        let backoff = Duration::from_millis(1 << (failing_for.as_millis() / 16).min(6) as u32);
        std::thread::sleep(timeout.map_or(backoff, |t| t.min(backoff)));
        self.enter_failing = Some((since, err));
    }
}
