//! The readiness ring's jobs on threads: an SQE handed to the ring's bounded pool (storage
//! work) or to its waits lane (calls that may wait for another party; docs/hazards.md,
//! H28), the job's state that a cancel looks at, and the queue its CQE comes back by.
//!
//! A job's state: `JOB_QUEUED` until a thread starts it (`JOB_RUNNING`), or until a cancel
//! marks it `JOB_CANCELLED`, in which case the thread posts ECANCELED without running it.
//! The ring reads it (compare-exchange) in `cancel`; the thread writes it once, at start.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use io_uring::opcode;

use super::exec::{self, FdKind};
use crate::driver::ring::Cqe;
use crate::driver::sqe::RawSqe;
use crate::runtime::blocking::BlockingPool;

/// A pool job's state, shared with the thread that runs it.
pub(super) const JOB_QUEUED: u8 = 0;
pub(super) const JOB_RUNNING: u8 = 1;
pub(super) const JOB_CANCELLED: u8 = 2;

/// What the pool threads share with the ring: finished jobs' CQEs and the poll's waker.
pub(super) struct Shared {
    pub(super) done: Mutex<Vec<Cqe>>,
    /// `done.len()`, readable without the lock (`needs_enter`).
    pub(super) pending: AtomicUsize,
    pub(super) waker: mio::Waker,
}

/// An SQE handed to a thread, with what it needs to post its CQE.
pub(super) struct Job {
    pub(super) sqe: PoolSqe,
    pub(super) kind: FdKind,
    /// JOB_QUEUED until a thread starts it (or a cancel skips it).
    pub(super) state: Arc<AtomicU8>,
    pub(super) shared: Arc<Shared>,
    /// The lane for calls that may wait for another party (see `EpollRing::waits`).
    pub(super) waits: Arc<BlockingPool>,
}

impl Job {
    /// Marks the job started, unless a cancel came first.
    fn start(&self) -> bool {
        self.state
            .compare_exchange(JOB_QUEUED, JOB_RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Runs the job on a thread of the bounded pool. An open that would wait for another
    /// party (exec::open_nowait) moves on to the waits lane, still started, so a cancel
    /// answers EALREADY as for any running job.
    pub(super) fn run_storage(self) {
        if !self.start() {
            return self.finish(-libc::ECANCELED);
        }
        if self.sqe.0.opcode != opcode::OpenAt::CODE {
            let r = exec::blocking(&self.sqe.0, self.kind);
            return self.finish(r);
        }
        match exec::open_nowait(&self.sqe.0) {
            Some(r) => self.finish(r),
            None => {
                let waits = self.waits.clone();
                drop(waits.spawn(move || {
                    let job = self;
                    let r = exec::blocking(&job.sqe.0, job.kind);
                    job.finish(r);
                }));
            }
        }
    }

    /// Runs the job on the waits lane, where a thread of its own waits for it.
    pub(super) fn wait_elsewhere(self) {
        let waits = self.waits.clone();
        drop(waits.spawn(move || {
            let job = self;
            if !job.start() {
                return job.finish(-libc::ECANCELED);
            }
            let r = exec::blocking(&job.sqe.0, job.kind);
            job.finish(r);
        }));
    }

    /// Posts the job's CQE and wakes the ring's poll.
    fn finish(self, result: i32) {
        let cqe = Cqe {
            user_data: self.sqe.0.user_data,
            result,
            flags: 0,
            buf_offset: 0,
        };
        let shared = &self.shared;
        shared
            .done
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(cqe);
        shared.pending.fetch_add(1, Ordering::Release);
        // A failed wake (the eventfd counter is full) still leaves one pending.
        let _ = shared.waker.wake();
    }
}

/// The SQE of a pool job, moved to the pool thread.
pub(super) struct PoolSqe(pub(super) RawSqe);

// SAFETY: the raw pointers in the SQE point at memory the op's slot owns until the CQE is
// reaped (Ring::push's contract); the core thread does not touch it meanwhile (the op's
// future holds no access to it until completion), so the pool thread is its only user.
unsafe impl Send for PoolSqe {}
