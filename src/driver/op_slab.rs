//! The op slab: one slot per op in flight, from the SQE's push to the final CQE.
//!
//! A slot's index and a generation make up the op's `user_data` (`lifecycle::encode`), so a
//! CQE for a freed and reused slot is recognised as stale (docs/hazards.md, H3). The slot
//! holds the op's state (src/driver/lifecycle.rs draws the machine): `Submitted`,
//! `Waiting(waker)`, `Completed(cqe)`, `Cancelled(data)` (the future was dropped; the
//! resources wait for the CQE), or `Streaming` (a multishot op). Written only by the core's
//! thread: [`Inner::start_op`] (both submit paths) inserts, [`Inner::complete`] moves a
//! CQE in, `poll_op` / `poll_multi` take it out and free the slot, and `drop_op` /
//! `drop_multi` hand the resources over to the slot.

use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use io_uring::squeue;

use super::lifecycle::{self, Lifecycle, MAX_OP_INDEX, Slot, WAKE_USER_DATA};
use super::op::{Continuation, Op, OpCode, Orphan};
use super::ring::Cqe;
use super::shared_fd::SharedFd;
use super::{Driver, Inner, multipoll, shut_down_error};

impl Driver {
    /// Queues `data`'s SQE and returns the future of its completion.
    pub(crate) fn submit<T: OpCode>(self: &Rc<Self>, mut data: T) -> Op<T> {
        let mut inner = self.inner.borrow_mut();
        // SAFETY: `data` owns everything the SQE points to (OpCode's contract) and moves
        // into the returned Op; if the Op is dropped early, `data` moves into the slot
        // (`drop_op`) and is released only when this user_data's CQE is reaped. On an
        // error the SQE never reached the ring.
        let started =
            unsafe { inner.start_op(Lifecycle::Submitted, || (data.sqe(), data.fixed_file())) };
        drop(inner);
        match started {
            Ok(slot) => Op::new(self.clone(), slot, data),
            Err(e) => Op::failed(self.clone(), data, e),
        }
    }

    /// Pushes `sqe` as a *detached* op: no future waits for it; its CQE frees the slot and
    /// runs `continuation` from [`Driver::dispatch`] (src/driver/lifecycle.rs). `fd`, when
    /// given, lets the SQE address the socket by its registered-file slot. Takes `&self`,
    /// so a continuation can start the next op from `on_cqe`.
    ///
    /// # Errors
    ///
    /// The driver is shut down, the slab is full, or the push failed: nothing reached the
    /// ring and `continuation` is dropped here.
    ///
    /// # Safety
    ///
    /// Everything `sqe` points to is owned by `continuation` (or outlives it) and stays in
    /// place until `on_cqe` runs; if the driver gives up on the CQE at shutdown, the
    /// continuation is leaked, never dropped.
    #[inline]
    pub(crate) unsafe fn submit_detached(
        &self,
        sqe: squeue::Entry,
        fd: Option<&SharedFd>,
        continuation: Rc<dyn Continuation>,
    ) -> io::Result<()> {
        let mut inner = self.inner.borrow_mut();
        // SAFETY: forwarded from the caller: the continuation, now in the slot, keeps what
        // the SQE points to until the CQE.
        unsafe { inner.start_op(Lifecycle::Detached(continuation), || (sqe, fd)) }.map(drop)
    }

    /// Polls the slot of a live op.
    pub(crate) fn poll_op(&self, index: usize, generation: u32, cx: &mut Context<'_>) -> Poll<Cqe> {
        let mut inner = self.inner.borrow_mut();
        let Some(slot) = inner.live_slot(index, generation) else {
            // Cannot happen: a live Op's slot is freed only through this function or drop_op.
            return Poll::Ready(Cqe {
                user_data: 0,
                result: -libc::ECANCELED,
                flags: 0,
                buf_offset: 0,
            });
        };
        match &mut slot.state {
            Lifecycle::Completed(cqe) => {
                let cqe = *cqe;
                inner.slots.remove(index);
                Poll::Ready(cqe)
            }
            Lifecycle::Waiting(w) if w.will_wake(cx.waker()) => Poll::Pending,
            state => {
                *state = Lifecycle::Waiting(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    /// The future of a live op was dropped: keep its resources until the CQE.
    pub(crate) fn drop_op(&self, index: usize, generation: u32, data: Box<dyn Orphan>) {
        let mut inner = self.inner.borrow_mut();
        inner.stats.ops_cancelled += 1;
        let Some(slot) = inner.live_slot(index, generation) else {
            return;
        };
        match std::mem::replace(&mut slot.state, Lifecycle::Submitted) {
            Lifecycle::Completed(cqe) => {
                inner.slots.remove(index);
                drop(inner);
                data.late_cqe(cqe);
            }
            _ => {
                slot.state = Lifecycle::Cancelled(data);
                if !inner.shut_down {
                    inner.send_cancel(index, generation);
                }
            }
        }
    }
}

impl Inner {
    /// Starts an op, for both submit paths (`Driver::submit`, `Driver::submit_multishot`):
    /// takes a slot in `state` under a new generation, builds the SQE with `build` (which
    /// also names the fd the SQE may address by its registered-file slot), stamps the
    /// slot's `user_data` on it and pushes it. Returns the slot's `(index, generation)`.
    /// On an error (the driver is shut down, the slab is full, the push failed) no slot is
    /// held and nothing reached the ring; `build` is not called on the first two.
    ///
    /// # Safety
    ///
    /// As `Ring::push`: what the SQE points to stays valid and in place until the op's
    /// final CQE is reaped (the caller moves the op's data into its handle, and into the
    /// slot if the handle is dropped first).
    #[inline]
    pub(super) unsafe fn start_op<'a>(
        &mut self,
        state: Lifecycle,
        build: impl FnOnce() -> (squeue::Entry, Option<&'a SharedFd>),
    ) -> io::Result<(usize, u32)> {
        if self.shut_down {
            return Err(shut_down_error());
        }
        self.generation = self.generation.wrapping_add(1);
        let generation = self.generation;
        let entry = self.slots.vacant_entry();
        let index = entry.key();
        if index >= MAX_OP_INDEX as usize {
            return Err(io::Error::other(
                "ringcore: too many ops in flight on one core",
            ));
        }
        let multishot = matches!(state, Lifecycle::Streaming(_));
        entry.insert(Slot {
            generation,
            state,
            cancels: 0,
        });
        let (mut sqe, fixed) = build();
        if let (Some(table), Some(fd)) = (&self.resources.fixed, fixed) {
            fd.fixed_sqe(table, &mut sqe);
        }
        let sqe = sqe.user_data(lifecycle::encode(index, generation));
        // SAFETY: forwarded from the caller.
        match unsafe { self.push(&sqe) } {
            Ok(()) => {
                self.stats.ops_submitted += 1;
                self.metrics
                    .op_started(index, sqe.get_opcode() as u8, multishot);
                Ok((index, generation))
            }
            Err(e) => {
                // The SQE never reached the ring: nothing in the kernel points at the data.
                self.slots.remove(index);
                Err(e)
            }
        }
    }

    /// The slot of the op `(index, generation)`, if it is still that op's (H3).
    pub(super) fn live_slot(&mut self, index: usize, generation: u32) -> Option<&mut Slot> {
        self.slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
    }

    pub(super) fn complete(&mut self, cqe: Cqe) {
        // One comparison sends an op's CQE (the common case) past the driver's own
        // `user_data` values: every tagged or reserved index is at or above MAX_OP_INDEX.
        if cqe.user_data as u32 >= MAX_OP_INDEX {
            self.complete_special(cqe);
            return;
        }
        self.complete_op(cqe);
    }

    /// A CQE of the driver's own SQEs: the wake-up read, the multishot poll, a cancel.
    #[cold]
    fn complete_special(&mut self, cqe: Cqe) {
        match cqe.user_data {
            WAKE_USER_DATA => {
                if let Some(w) = &mut self.wake {
                    w.armed = false;
                }
                if !self.shut_down {
                    let _ = self.rearm_wake();
                }
                return;
            }
            user_data if multipoll::owns(user_data) => {
                self.complete_multipoll(cqe);
                return;
            }
            user_data => {
                if let Some(target) = lifecycle::decode_cancel(user_data) {
                    // 0: found and cut short (its own CQE follows). ENOENT: not found,
                    // either done (its CQE is here or in this batch) or between a wake-up
                    // and its retry; EALREADY: running, maybe unstoppable. Decided once the
                    // batch is in (`schedule_recancels`).
                    if matches!(-cqe.result, libc::ENOENT | libc::EALREADY) {
                        self.missed.push(target);
                    }
                    return;
                }
            }
        }
        // No op has an index this high (`MAX_OP_INDEX`): a CQE of nothing in flight.
        self.stats.stale_cqes += 1;
    }

    /// The CQE of an op in the slab (lifecycle.rs).
    #[inline(always)]
    fn complete_op(&mut self, cqe: Cqe) {
        let (index, generation) = lifecycle::decode(cqe.user_data);
        // Field-level borrow: `self.stats` is updated while `slot` is held.
        let Some(slot) = self
            .slots
            .get_mut(index)
            .filter(|s| s.generation == generation)
        else {
            self.stats.stale_cqes += 1;
            return;
        };
        if matches!(slot.state, Lifecycle::Completed(_)) {
            // Single-shot ops: a second CQE for the same user_data is stale.
            self.stats.stale_cqes += 1;
            return;
        }
        let more = io_uring::cqueue::more(cqe.flags);
        match &mut slot.state {
            Lifecycle::Streaming(stream) => {
                // A multishot op (lifecycle.rs, second diagram).
                if stream.ended {
                    self.stats.stale_cqes += 1;
                    return;
                }
                stream.ended = !more;
                stream.cqes.push_back(cqe);
                if let Some(w) = stream.waker.take() {
                    self.to_wake.push(w);
                }
                if !more {
                    self.stats.ops_completed += 1;
                    self.metrics.op_finished(index, cqe.result, false);
                } else {
                    self.metrics.op_more(index, cqe.result, cqe.flags);
                }
                return;
            }
            Lifecycle::Cancelled(data) if more => {
                data.late_more(cqe);
                self.metrics.op_more(index, cqe.result, cqe.flags);
                return;
            }
            _ => {}
        }
        self.stats.ops_completed += 1;
        let cancelled = matches!(slot.state, Lifecycle::Cancelled(_));
        self.metrics.op_finished(index, cqe.result, cancelled);
        match &mut slot.state {
            Lifecycle::Waiting(_) | Lifecycle::Submitted => {
                if let Lifecycle::Waiting(w) =
                    std::mem::replace(&mut slot.state, Lifecycle::Completed(cqe))
                {
                    self.to_wake.push(w);
                }
            }
            // No future waits for these: the slot is freed now (`remove` hands back the
            // state without writing a `Completed` first).
            Lifecycle::Detached(_) => {
                if let Lifecycle::Detached(continuation) = self.slots.remove(index).state {
                    self.continued.push((continuation, cqe));
                }
            }
            Lifecycle::Cancelled(_) => {
                if let Lifecycle::Cancelled(data) = self.slots.remove(index).state {
                    self.orphans.push((data, cqe));
                }
            }
            Lifecycle::Completed(_) | Lifecycle::Streaming(_) => {}
        }
    }
}
