//! `ReadAt`: the future of `File::read_at`, whose first poll reads page-cache hits inline
//! and whose later states wait for the tick's budget or for the ring.
//!
//! ```text
//! Start        first poll: a bad offset -> Ring (`read_op` answers InvalidInput with
//!              no SQE, on the same poll). If the file's tracker wants to
//!              try and the driver grants a unit of the tick's budget: preadv2
//!              (RWF_NOWAIT) into `buf` -> Ready on a hit, EOF or error; EAGAIN -> Ring.
//!              No unit because only the budget is spent -> WaitBudget; otherwise (no try
//!              wanted, an SQE queued, path off) -> Ring
//! WaitBudget   waits for the next tick's refill (Driver::poll_inline_budget), then one
//!              more ask: granted -> the inline read as above; refused or EAGAIN -> Ring
//! Ring         `buf` moves into the IORING_OP_READ's `op`, polled to its CQE
//! Done         after Ready
//! ```
//!
//! `buf` is `Some` from construction until it goes back (Ready) or into `op`; `op` is
//! `Some` only in Ring. Only `poll` touches the fields.
//!
//! A hand-written future rather than an `async fn`: the hit is one pass through `poll`
//! with the buffer moved once (back to the caller), no nested future to build and no drop
//! glue to run for the states it never entered (docs/benchmarks.md, "Instructions per
//! read (issue 24)").

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::super::nowait::Outcome;
use super::{File, check_offset};
use crate::buf::{BufResult, IoBufMut};
use crate::driver::Op;
use crate::driver::ops::rw::Read;
use crate::sys::fd::pread_nowait;

/// The future of [`File::read_at`] (see the module docs for its states). The buffer and
/// the ring op sit in their own fields rather than in one enum: the first poll then moves
/// 24 bytes (a `Vec`) out, not a whole enum that would hold an `Op`.
pub(super) struct ReadAt<'a, B: IoBufMut> {
    pub(super) file: &'a File,
    pub(super) pos: u64,
    pub(super) phase: Phase,
    /// The buffer, until it goes back to the caller or into the ring op.
    pub(super) buf: Option<B>,
    /// The ring read, once submitted (`Phase::Ring`). In `ManuallyDrop` so that dropping
    /// a read that finished inline costs one test, not a call into `Option<Op>`'s drop
    /// glue: `Drop for ReadAt` drops it, only when it is `Some`.
    pub(super) op: ManuallyDrop<Option<Op<Read<B>>>>,
}

impl<B: IoBufMut> Drop for ReadAt<'_, B> {
    #[inline]
    fn drop(&mut self) {
        if self.op.is_some() {
            self.drop_op();
        }
    }
}

/// Where a [`ReadAt`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Not polled yet.
    Start,
    /// The tick's inline budget was spent: waiting for the next tick's.
    WaitBudget,
    /// Going through the ring (the op is submitted on the way in).
    Ring,
    /// Finished.
    Done,
}

impl<B: IoBufMut> Future for ReadAt<'_, B> {
    type Output = BufResult<usize, B>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `ReadAt` is Unpin: `B: IoBuf` is, `Op` is, and a reference is.
        let this = self.get_mut();
        let (file, pos) = (this.file, this.pos);
        if this.phase == Phase::Start {
            // Inline even when other tasks are ready (unlike sends, which wait for
            // `context::may_complete_inline`): the per-tick budget keeps it fair, and an
            // SQE already queued this tick (a miss) sends the rest to the ring to batch
            // with it (the budget is 0 then).
            if check_offset(pos).is_ok() && file.nowait.wants_try() {
                if file.driver.try_inline() {
                    // The hit, written out here so that it stays one straight line: the
                    // buffer is read into in place and moves only to go back.
                    if let Some(buf) = &mut this.buf {
                        let len = buf.bytes_total();
                        // SAFETY: the pointer and capacity come from the buffer we own
                        // for the whole call; IoBufMut guarantees `bytes_total` writable
                        // bytes there. `pos` passed `check_offset`: it fits an off_t.
                        let res = unsafe {
                            pread_nowait(file.fd.borrow(), buf.stable_mut_ptr(), len, pos as i64)
                        };
                        // With RWF_NOWAIT an uncached range is EAGAIN, so 0 is a real EOF.
                        let done = match usize::try_from(res) {
                            Ok(n) => {
                                file.nowait.record(Outcome::Hit);
                                file.driver.inline_read_hit(n);
                                // SAFETY: preadv2 initialised the first `n <= len` bytes.
                                unsafe { buf.set_init(n) };
                                Some(Ok(n))
                            }
                            Err(_) => file.read_inline_failed(res),
                        };
                        if let Some(res) = done {
                            this.phase = Phase::Done;
                            if let Some(buf) = this.buf.take() {
                                return Poll::Ready((res, buf));
                            }
                        }
                    }
                } else if file.driver.inline_budget_spent() {
                    // Wait for the next tick (after the other tasks, timers and a
                    // non-blocking reap; it refills the budget) and try then, instead of
                    // going through the ring: for a task reading cached data in a loop
                    // that was one ring round trip per 65 reads.
                    this.phase = Phase::WaitBudget;
                    return this.poll_later(cx);
                }
            }
            // Otherwise it goes through the ring (where `read_op` answers a bad offset
            // with InvalidInput, as `check_offset` does).
            this.phase = Phase::Ring;
        }
        this.poll_later(cx)
    }
}

impl<B: IoBufMut> ReadAt<'_, B> {
    /// Every poll but a first one that finished: waiting for the budget, or the ring.
    #[cold]
    fn poll_later(&mut self, cx: &mut Context<'_>) -> Poll<BufResult<usize, B>> {
        let (file, pos) = (self.file, self.pos);
        if self.phase == Phase::WaitBudget {
            if file.driver.poll_inline_budget(cx).is_pending() {
                return Poll::Pending;
            }
            // After its one wait, a read that still finds no budget goes through the
            // ring, so no task waits twice.
            self.phase = Phase::Ring;
            if file.driver.try_inline()
                && let Some(buf) = &mut self.buf
                && let Some(res) = file.read_inline(buf, pos)
            {
                self.phase = Phase::Done;
                if let Some(buf) = self.buf.take() {
                    return Poll::Ready((res, buf));
                }
            }
        }
        if self.phase != Phase::Ring {
            panic!("ringcore: File::read_at polled after completion");
        }
        if let Some(buf) = self.buf.take() {
            // Assigning the `ManuallyDrop` drops nothing: the old value is `None`.
            self.op = ManuallyDrop::new(Some(file.read_op(buf, pos)));
        }
        let Some(op) = &mut *self.op else {
            unreachable!("ringcore: a ring read without its op");
        };
        let out = std::task::ready!(Pin::new(op).poll(cx));
        self.phase = Phase::Done;
        self.drop_op();
        Poll::Ready(out)
    }

    /// Drops the ring op (cancelling it if it is still in flight: `Op`'s drop).
    #[cold]
    fn drop_op(&mut self) {
        drop(self.op.take());
    }
}
