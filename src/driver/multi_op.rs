//! Multishot ops (`MultiOp`): one SQE, a stream of CQEs (IORING_CQE_F_MORE on all but the last), for
//! multishot receive (IORING_RECV_MULTISHOT with a provided-buffer ring, Linux 6.0) and
//! multishot accept (IORING_ACCEPT_MULTISHOT, 5.19).
//!
//! A multishot op lives in an ordinary op slot, in the `Streaming` state of
//! src/driver/lifecycle.rs (the second diagram there), so it shares the slab's generation
//! check, its cancels (re-sent on a miss) and shutdown's drain with single-shot ops. Its
//! handle is [`MultiOp`]: `poll_next` takes the queued CQEs one by one; the CQE without
//! F_MORE is the last. Dropping a `MultiOp` whose op the kernel still holds hands its
//! queued CQEs to the op's [`MultishotCode::late_cqe`], moves the op into the slot
//! (`Cancelled`) and queues an ASYNC_CANCEL; the op's resources are freed at the final CQE.
//!
//! The receive buffer pool these ops select from, and which of them the kernel refused,
//! are in src/driver/resources.rs.

use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use io_uring::squeue;

use super::Driver;
use super::lifecycle::{Lifecycle, Stream};
use super::op::Orphan;
use super::ring::Cqe;
use super::shared_fd::SharedFd;

/// A multishot op's resources, SQE and late-CQE rule.
///
/// # Safety
///
/// As [`OpCode`](super::OpCode): every pointer in the SQE points into memory owned by
/// `self` (or by a pool `self` keeps alive) that stays valid and in place while `self` is
/// alive; the driver keeps `self` until the op's final CQE.
pub(crate) unsafe trait MultishotCode: 'static {
    /// Builds the SQE (without `user_data`).
    fn sqe(&mut self) -> squeue::Entry;

    /// The socket the SQE names by fd, if it may name it by fixed-file slot instead
    /// (see `driver::fixed`). The default: none.
    fn fixed_file(&self) -> Option<&SharedFd> {
        None
    }

    /// The stream was dropped while the kernel held the op (before its cancel is queued).
    fn orphaned(&mut self) {}

    /// A CQE that nobody will take (its stream was dropped), final or not. Runs while the
    /// driver is borrowed: it must not call into the driver or wake a task (copy bytes into
    /// the stash, republish pool buffers, keep accepted fds).
    fn late_cqe(&mut self, cqe: Cqe);

    /// After the final CQE's `late_cqe`, outside the driver's borrow: settle the socket's
    /// stash (wakes the next read).
    fn ended(self)
    where
        Self: Sized,
    {
    }
}

/// The orphan form of a multishot op.
struct Multi<T>(T);

impl<T: MultishotCode> Orphan for Multi<T> {
    fn late_cqe(mut self: Box<Self>, cqe: Cqe) {
        self.0.late_cqe(cqe);
        self.0.ended();
    }

    fn late_more(&mut self, cqe: Cqe) {
        self.0.late_cqe(cqe);
    }
}

impl Driver {
    /// Queues a multishot op's SQE and returns its stream of CQEs.
    pub(crate) fn submit_multishot<T: MultishotCode>(self: &Rc<Self>, mut data: T) -> MultiOp<T> {
        let mut inner = self.inner.borrow_mut();
        let state = Lifecycle::Streaming(Box::default());
        // SAFETY: `data` owns what the SQE points to (MultishotCode's contract) and moves
        // into the returned MultiOp; if that is dropped while the kernel holds the op,
        // `data` moves into the slot and is freed only at the final CQE. On an error the
        // SQE never reached the ring.
        let started = unsafe { inner.start_op(state, || (data.sqe(), data.fixed_file())) };
        drop(inner);
        let (slot, early) = match started {
            Ok(slot) => (Some(slot), None),
            Err(e) => (None, Some(e)),
        };
        MultiOp {
            driver: self.clone(),
            slot,
            data: Some(data),
            early,
        }
    }

    /// The next queued CQE of a live multishot op, or `Pending` (waker kept).
    #[inline]
    fn poll_multi(&self, index: usize, generation: u32, cx: &mut Context<'_>) -> Poll<Cqe> {
        // The hot path, kept small: a running op's next CQE, or none yet. Its last CQE (the
        // slot is freed with it) and the cases that cannot happen are `poll_multi_slow`'s.
        {
            let mut inner = self.inner.borrow_mut();
            if let Some(slot) = inner.live_slot(index, generation)
                && let Lifecycle::Streaming(stream) = &mut slot.state
                && !stream.ended
            {
                return match stream.cqes.pop_front() {
                    Some(cqe) => Poll::Ready(cqe),
                    None => {
                        match &stream.waker {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            _ => stream.waker = Some(cx.waker().clone()),
                        }
                        Poll::Pending
                    }
                };
            }
        }
        self.poll_multi_slow(index, generation, cx)
    }

    /// `poll_multi` for an op whose last CQE came, or a slot that is gone.
    #[inline(never)]
    fn poll_multi_slow(&self, index: usize, generation: u32, cx: &mut Context<'_>) -> Poll<Cqe> {
        let mut inner = self.inner.borrow_mut();
        let Some(slot) = inner.live_slot(index, generation) else {
            // Cannot happen: the slot is freed only here (final CQE) or by `drop_multi`.
            return Poll::Ready(Cqe {
                user_data: 0,
                result: -libc::ECANCELED,
                flags: 0,
                buf_offset: 0,
            });
        };
        let Lifecycle::Streaming(stream) = &mut slot.state else {
            return Poll::Ready(Cqe {
                user_data: 0,
                result: -libc::ECANCELED,
                flags: 0,
                buf_offset: 0,
            });
        };
        match stream.cqes.pop_front() {
            Some(cqe) => {
                if stream.ended && stream.cqes.is_empty() {
                    inner.slots.remove(index);
                }
                Poll::Ready(cqe)
            }
            None => {
                match &stream.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => stream.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// A live multishot op's stream was dropped: its queued CQEs go to the orphan; if the
    /// kernel still holds the op, the orphan waits in the slot for the final CQE.
    fn drop_multi(&self, index: usize, generation: u32, mut data: Box<dyn Orphan>) {
        let mut inner = self.inner.borrow_mut();
        inner.stats.ops_cancelled += 1;
        let Some(slot) = inner.live_slot(index, generation) else {
            return;
        };
        let Lifecycle::Streaming(stream) = std::mem::replace(&mut slot.state, Lifecycle::Submitted)
        else {
            return;
        };
        let Stream {
            mut cqes, ended, ..
        } = *stream;
        if ended {
            inner.slots.remove(index);
            drop(inner);
            let last = cqes.pop_back();
            for cqe in cqes {
                data.late_more(cqe);
            }
            if let Some(last) = last {
                data.late_cqe(last);
            }
            return;
        }
        for cqe in cqes {
            // Inside the borrow, as in `complete`: late_more never re-enters the driver.
            data.late_more(cqe);
        }
        slot.state = Lifecycle::Cancelled(data);
        if !inner.shut_down {
            inner.send_cancel(index, generation);
        }
    }
}

/// The stream of CQEs of one multishot op; see the module docs.
pub(crate) struct MultiOp<T: MultishotCode> {
    driver: Rc<Driver>,
    /// `None` once the final CQE was taken, or if the SQE never reached the ring.
    slot: Option<(usize, u32)>,
    data: Option<T>,
    /// Why the op never reached the ring (returned once as a final CQE).
    early: Option<io::Error>,
}

impl<T: MultishotCode> MultiOp<T> {
    /// The next CQE: `Ready(Some(cqe))` (the last one lacks IORING_CQE_F_MORE), then
    /// `Ready(None)`.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Cqe>> {
        if let Some(err) = self.early.take() {
            return Poll::Ready(Some(Cqe {
                user_data: 0,
                result: -err.raw_os_error().unwrap_or(libc::EIO),
                flags: 0,
                buf_offset: 0,
            }));
        }
        let Some((index, generation)) = self.slot else {
            return Poll::Ready(None);
        };
        match self.driver.poll_multi(index, generation, cx) {
            Poll::Ready(cqe) => {
                if !io_uring::cqueue::more(cqe.flags) {
                    self.slot = None;
                }
                Poll::Ready(Some(cqe))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The op's resources.
    pub(crate) fn data(&self) -> Option<&T> {
        self.data.as_ref()
    }

    /// The op's resources back, once its final CQE was taken (or it never reached the
    /// ring); `None` while the kernel may still hold the op.
    pub(crate) fn into_data(mut self) -> Option<T> {
        if self.slot.is_some() {
            return None;
        }
        self.data.take()
    }
}

impl<T: MultishotCode> Drop for MultiOp<T> {
    fn drop(&mut self) {
        if let (Some((index, generation)), Some(mut data)) = (self.slot.take(), self.data.take()) {
            data.orphaned();
            self.driver
                .drop_multi(index, generation, Box::new(Multi(data)));
        }
    }
}

impl<T: MultishotCode> std::fmt::Debug for MultiOp<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiOp")
            .field("slot", &self.slot)
            .field("op", &std::any::type_name::<T>())
            .finish()
    }
}
