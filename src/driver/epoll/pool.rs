//! The readiness ring's work on threads: an SQE handed to the ring's bounded pool (storage
//! work) or to its waits lane (calls that may wait for another party; docs/hazards.md,
//! H28), the job's state that a cancel looks at, and the queue its CQE comes back by.
//!
//! **A job's state** ([`JobState`]): `QUEUED` until a thread starts it (`RUNNING`), or
//! until a cancel marks it `CANCELLED`, in which case the thread posts ECANCELED without
//! running it. The ring compare-exchanges it in `cancel` (QUEUED → CANCELLED; the cancel
//! answers 0, else EALREADY); the thread compare-exchanges it once, at start (QUEUED →
//! RUNNING). Exactly one of the two wins, and the job posts exactly one CQE either way.
//!
//! **The completion queue** ([`Completions`]): threads push CQEs under its lock and count
//! them in `pending` inside the same critical section; the ring reads `pending` without
//! the lock (is there anything to take?) and takes the whole list under the lock. Both
//! handshakes take their `Arc`, lock and atomics from `crate::loom` and are model-checked
//! (src/loom/models.rs).

use super::EpollRing;
use crate::driver::opcodes::{self, Outcome, Route};
use crate::driver::ring::Cqe;
use crate::loom::{Arc, AtomicU8, AtomicUsize, Lock, Ordering};
use crate::pool::Pool;
use crate::sys::sqe::RawSqe;

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const CANCELLED: u8 = 2;

/// A pool job's state, shared by the ring and the thread that runs it; see the module
/// docs.
#[derive(Debug)]
pub(crate) struct JobState(AtomicU8);

impl JobState {
    /// A job not started yet.
    pub(crate) fn new() -> Self {
        Self(AtomicU8::new(QUEUED))
    }

    /// The thread marks the job started, unless a cancel came first (`false`).
    pub(crate) fn start(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The ring skips the job if no thread started it yet (`true`: the job will post
    /// ECANCELED without running).
    pub(crate) fn cancel(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// Finished jobs' CQEs on their way from pool threads to the ring; see the module docs.
#[derive(Debug, Default)]
pub(crate) struct Completions {
    done: Lock<Vec<Cqe>>,
    /// `done.len()`, readable without the lock (`needs_enter`).
    pending: AtomicUsize,
}

impl Completions {
    /// Queues `cqe` (a pool thread).
    pub(crate) fn post(&self, cqe: Cqe) {
        let mut done = self.done.lock();
        done.push(cqe);
        self.pending.fetch_add(1, Ordering::Release);
    }

    /// True when CQEs wait to be taken.
    pub(crate) fn pending(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }

    /// Moves every queued CQE to `out` (the ring).
    pub(crate) fn take(&self, out: &mut Vec<Cqe>) {
        if !self.pending() {
            return;
        }
        let mut done = self.done.lock();
        self.pending.fetch_sub(done.len(), Ordering::AcqRel);
        out.append(&mut done);
    }
}

/// What the pool threads share with the ring: finished jobs' CQEs and the poll's waker.
#[derive(Debug)]
pub(super) struct Shared {
    pub(super) completions: Completions,
    pub(super) waker: mio::Waker,
}

/// An SQE handed to a thread, with what it needs to post its CQE.
#[derive(Debug)]
pub(super) struct Job {
    sqe: PoolSqe,
    /// `Pool` or `WaitsLane`.
    route: Route,
    /// The job's thread has won the start (an open moving on to the waits lane).
    started: bool,
    state: Arc<JobState>,
    shared: Arc<Shared>,
    /// The lane for calls that may wait for another party (see `EpollRing::waits`).
    waits: std::sync::Arc<Pool<Job>>,
}

impl crate::pool::Job for Job {
    /// Runs the job along its route. An open that would wait for another party moves on
    /// to the waits lane, still started, so a cancel answers EALREADY as for any running
    /// job.
    fn run(mut self) {
        if !self.started {
            if !self.state.start() {
                return self.finish(-libc::ECANCELED);
            }
            self.started = true;
        }
        match opcodes::perform(&self.sqe.0, self.route) {
            Outcome::Done(res) => self.finish(res),
            Outcome::Moved(route) => {
                self.route = route;
                let waits = self.waits.clone();
                waits.push(self);
            }
            // Not an outcome of the routes jobs take.
            Outcome::NotReady | Outcome::RetryLater => self.finish(-libc::EAGAIN),
        }
    }

    /// The pool shut down (the ring is being dropped, every op drained): nobody waits for
    /// the CQE, and the job is dropped unrun.
    fn cancel(self) {}
}

impl Job {
    /// Posts the job's CQE and wakes the ring's poll.
    fn finish(self, result: i32) {
        self.shared.completions.post(Cqe {
            user_data: self.sqe.0.user_data,
            result,
            flags: 0,
            buf_offset: 0,
        });
        // A failed wake (the eventfd counter is full) still leaves one pending.
        let _ = self.shared.waker.wake();
    }
}

/// The SQE of a pool job, moved to the pool thread.
#[derive(Debug)]
struct PoolSqe(RawSqe);

// SAFETY: the raw pointers in the SQE point at memory the op's slot owns until the CQE is
// reaped (Ring::push's contract); the core thread does not touch it meanwhile (the op's
// future holds no access to it until completion), so the pool thread is its only user.
unsafe impl Send for PoolSqe {}

impl EpollRing {
    /// Hands `sqe` to a thread along `route`; its CQE comes back through `Completions`.
    /// Storage work (`Route::Pool`) goes to the bounded pool; a call that may wait for
    /// another party (`Route::WaitsLane`) to the waits lane, where it holds up nothing
    /// (docs/hazards.md, H28).
    pub(super) fn offload(&mut self, sqe: RawSqe, route: Route) {
        let state = Arc::new(JobState::new());
        self.offloaded.insert(sqe.user_data, state.clone());
        let job = Job {
            sqe: PoolSqe(sqe),
            route,
            started: false,
            state,
            shared: self.shared.clone(),
            waits: self.waits.clone(),
        };
        if route == Route::Pool {
            self.rescue_at
                .get_or_insert_with(|| std::time::Instant::now() + super::STALL_AFTER);
            self.pool.push(job);
        } else {
            self.waits.push(job);
        }
    }

    /// Moves the pool's finished jobs into the CQ.
    pub(super) fn take_done(&mut self) {
        if !self.shared.completions.pending() {
            return;
        }
        let mut done = Vec::new();
        self.shared.completions.take(&mut done);
        for cqe in done {
            self.offloaded.remove(&cqe.user_data);
            self.cq.push_back(cqe);
        }
    }

    /// Asks the pool, when due, to start threads for jobs queued behind stalled ones, and
    /// when to ask again.
    pub(super) fn rescue(&mut self) {
        let Some(at) = self.rescue_at else {
            return;
        };
        let now = std::time::Instant::now();
        if at <= now {
            self.rescue_at = self.pool.rescue().map(|d| now + d);
        }
    }
}
