//! `Op<T>`: the future of one in-flight operation.
//!
//! An op is described by a value of a type implementing [`OpCode`]: it owns every resource
//! the kernel will read or write (buffers, paths, statx structs, the fd), builds the SQE
//! pointing at them, and turns the CQE into a result that hands the resources back.
//!
//! The same op runs on every backend: the readiness (epoll) backend takes the very SQE
//! `sqe` builds, performs it in user space (src/driver/opcodes.rs routes it,
//! `sys::emulate` makes the syscalls) and posts the CQE io_uring would have posted, with
//! the same `res`, behind the `Ring` seam (src/driver/ring.rs). So `complete` and
//! `late_cqe` see one kind of CQE, and public types never learn which backend ran the op.
//!
//! Dropping an `Op` before its CQE moves the description into the slot
//! (`Lifecycle::Cancelled`) and queues IORING_OP_ASYNC_CANCEL; the resources are freed and
//! `late_cqe` runs when the CQE arrives (see `lifecycle`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use io_uring::squeue;

use super::Driver;
use super::ring::Cqe;
use super::shared_fd::SharedFd;

/// One io_uring operation: its resources, its SQE, and what its CQE means.
///
/// # Safety
///
/// Every pointer in the entry returned by `sqe` must point into memory owned by `self`
/// that stays valid and at the same address while `self` is alive, even if `self` is
/// moved (heap allocations: `Vec`, `Box`, `CString`; never an inline field). The driver
/// keeps `self` alive until the op's final CQE.
pub(crate) unsafe trait OpCode: 'static {
    /// What the op's future resolves to.
    type Output;

    /// Builds the SQE (without `user_data`, which the driver sets).
    fn sqe(&mut self) -> squeue::Entry;

    /// The socket the SQE names by fd, if it may name it by fixed-file slot instead
    /// (see `driver::fixed`). The default: none.
    fn fixed_file(&self) -> Option<&SharedFd> {
        None
    }

    /// Turns the CQE into the output, handing owned resources back to the caller.
    fn complete(self, cqe: Completion) -> Self::Output;

    /// Runs when the future is dropped while the op is in flight, before the driver
    /// queues its cancel. Receives and accepts count themselves as orphans of their socket
    /// here (see `driver::orphans`); the default does nothing.
    fn orphaned(&mut self) {}

    /// Runs when the CQE arrives after the future was dropped. The default drops the
    /// resources; ops that produce an fd close it here, receives and accepts stash what
    /// they produced for the next op on their socket.
    fn late_cqe(self, cqe: Completion)
    where
        Self: Sized,
    {
        let _ = cqe;
    }
}

/// The outcome of one op as its `complete` sees it.
#[derive(Debug)]
pub(crate) struct Completion {
    /// `res` of the CQE: a count or fd, or the error.
    pub(crate) result: io::Result<u32>,
}

impl Completion {
    pub(crate) fn from_cqe(cqe: Cqe) -> Self {
        Self {
            result: crate::sys::cvt(cqe.result),
        }
    }
}

/// The resources of a dropped op, waiting in its slot for the CQE.
pub(crate) trait Orphan {
    /// The (final) CQE arrived: release the resources as the op prescribes.
    fn late_cqe(self: Box<Self>, cqe: Cqe);

    /// A CQE with IORING_CQE_F_MORE arrived for a dropped multishot op (single-shot ops
    /// never get one). Runs while the driver is borrowed: it must not call into the driver
    /// or wake a task.
    fn late_more(&mut self, cqe: Cqe) {
        let _ = cqe;
    }
}

/// What a *detached* op (`Driver::submit_detached`) runs when its CQE arrives, instead of
/// waking a task: no future waits for it, the continuation owns what the SQE points to and
/// decides what comes next (a send queue frees the sent buffer and starts the next send).
pub(crate) trait Continuation {
    /// The op's CQE arrived. Runs from `Driver::dispatch`, with no borrow of the driver
    /// held: it may submit the next op (through `driver`) and wake tasks.
    fn on_cqe(self: Rc<Self>, driver: &Driver, cqe: Cqe);
}

impl<T: OpCode> Orphan for T {
    fn late_cqe(self: Box<Self>, cqe: Cqe) {
        OpCode::late_cqe(*self, Completion::from_cqe(cqe))
    }
}

/// The future of one in-flight op. Resolves to `T::Output`.
pub(crate) struct Op<T: OpCode> {
    driver: Rc<Driver>,
    /// Slab index and generation; `None` once completed, or if the op never reached the
    /// kernel (then `early` holds its outcome).
    slot: Option<(usize, u32)>,
    data: Option<T>,
    early: Option<io::Error>,
}

impl<T: OpCode> Op<T> {
    pub(crate) fn new(driver: Rc<Driver>, slot: (usize, u32), data: T) -> Self {
        Self {
            driver,
            slot: Some(slot),
            data: Some(data),
            early: None,
        }
    }

    /// An op that failed before its SQE was pushed (the driver is shut down or the ring
    /// refused the push); it resolves to `err` on first poll.
    pub(crate) fn failed(driver: Rc<Driver>, data: T, err: io::Error) -> Self {
        Self {
            driver,
            slot: None,
            data: Some(data),
            early: Some(err),
        }
    }
}

impl<T: OpCode> Unpin for Op<T> {}

impl<T: OpCode> Future for Op<T> {
    type Output = T::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
        let this = self.get_mut();
        let completion = match (this.slot, this.early.take()) {
            (_, Some(err)) => Completion { result: Err(err) },
            (Some((index, generation)), None) => match this.driver.poll_op(index, generation, cx) {
                Poll::Ready(cqe) => {
                    this.slot = None;
                    Completion::from_cqe(cqe)
                }
                Poll::Pending => return Poll::Pending,
            },
            (None, None) => panic!("ringcore: Op polled after completion"),
        };
        let data = this
            .data
            .take()
            .expect("ringcore: Op polled after completion");
        Poll::Ready(data.complete(completion))
    }
}

impl<T: OpCode> Drop for Op<T> {
    fn drop(&mut self) {
        if let (Some((index, generation)), Some(mut data)) = (self.slot.take(), self.data.take()) {
            data.orphaned();
            self.driver.drop_op(index, generation, Box::new(data));
        }
    }
}

impl<T: OpCode> std::fmt::Debug for Op<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Op")
            .field("slot", &self.slot)
            .field("op", &std::any::type_name::<T>())
            .finish()
    }
}
