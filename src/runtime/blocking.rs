//! The blocking thread pool.
//!
//! Threads start lazily, one per job that finds no idle (or already notified) thread, up to
//! the pool's bound ([`Builder::blocking_threads`](crate::Builder::blocking_threads));
//! beyond it jobs queue (FIFO). A thread idle for the idle timeout exits. Each job is an
//! `async_task` task whose future runs the closure once; awaiting its handle on a core
//! registers the core task's waker, and the pool thread wakes it through the core's remote
//! queue and eventfd.
//!
//! State, all under one mutex: `queue` (jobs not started), `threads` (live threads,
//! including ones being spawned), `idle` (threads waiting on the condvar), `notified`
//! (wake-ups sent and not yet consumed: a push only notifies while `idle > notified`, so
//! two pushes never count on the same sleeping thread), `shutdown`.

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use async_task::Runnable;

use super::context;
use crate::executor::next_task_id;
use crate::executor::task::{JoinHandle, TaskFuture, TaskMeta};
use crate::loom::{Condvar, Lock, MutexGuard};

/// Runs `f` on the runtime's blocking thread pool and returns a handle to its result.
///
/// Use it for calls that block (a synchronous library, `getaddrinfo`, a CPU burst of more
/// than a millisecond or so) so the core keeps serving other tasks. The pool has at most
/// [`Builder::blocking_threads`](crate::Builder::blocking_threads) threads (16 unless set);
/// further jobs wait in a FIFO queue. Threads start when jobs need them and exit after
/// [`Builder::blocking_idle_timeout`](crate::Builder::blocking_idle_timeout) without one.
///
/// The handle resolves to `Ok(value)`, to [`JoinError::Panic`](crate::JoinError::Panic) if `f` panicked (the
/// pool thread survives), or to [`JoinError::Cancelled`](crate::JoinError::Cancelled) if the runtime shut down before
/// `f` started.
///
/// # Panics
///
/// If called outside a ringcore runtime.
///
/// # Cancel safety
///
/// Dropping the handle detaches the job: once started, `f` runs to completion and its
/// result is dropped. [`JoinHandle::abort`] has no effect on blocking jobs.
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let sum = ringcore::offload::spawn_blocking(|| (1..=100u64).sum::<u64>()).await;
///     assert_eq!(sum.unwrap(), 5050);
/// });
/// ```
#[track_caller]
pub fn spawn_blocking<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let pool = context::with(|core| core.blocking.clone());
    pool.spawn(f)
}

/// A bounded pool of threads for blocking jobs; see the module docs.
///
/// The pool keeps `std::sync::Arc` (its methods take `self: &Arc<Self>`); its lock and
/// condvar come from `crate::loom`.
#[derive(Debug)]
pub(crate) struct BlockingPool {
    state: Lock<State>,
    cond: Condvar,
    max_threads: usize,
    idle_timeout: Duration,
}

#[derive(Debug)]
struct State {
    queue: VecDeque<Runnable<TaskMeta>>,
    threads: usize,
    idle: usize,
    notified: usize,
    shutdown: bool,
}

impl BlockingPool {
    /// A pool of at most `max_threads` (at least 1) threads, each exiting after
    /// `idle_timeout` without a job.
    pub(crate) fn new(max_threads: usize, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            state: Lock::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
            }),
            cond: Condvar::new(),
            max_threads: max_threads.max(1),
            idle_timeout,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock, so a poisoned lock still holds consistent state.
        self.state.lock()
    }

    #[track_caller]
    pub(crate) fn spawn<F, T>(self: &Arc<Self>, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let meta = TaskMeta::unregistered(next_task_id(), Location::caller());
        let pool = self.clone();
        let job = async move { f() };
        // SAFETY: `job` and its output are Send and the schedule function is
        // Send + Sync + 'static, so the runnable may be run and dropped on any thread. The
        // task future borrows nothing but the task's metadata, which async-task keeps in
        // the task's header until after it has dropped the future.
        let (runnable, task) = unsafe {
            async_task::Builder::new().metadata(meta).spawn_unchecked(
                move |meta| TaskFuture::new(job, meta),
                move |r| pool.push(r),
            )
        };
        runnable.schedule();
        JoinHandle::new(task)
    }

    /// Completes a job that will not run with `Outcome::Cancelled` (dropping `f` here), so
    /// its handle never sees a task closed without output.
    fn cancel(runnable: Runnable<TaskMeta>) {
        runnable.metadata().mark_aborted();
        runnable.run();
    }

    fn push(self: &Arc<Self>, runnable: Runnable<TaskMeta>) {
        let mut st = self.lock();
        if st.shutdown {
            // The job is cancelled; its handle sees Cancelled.
            drop(st);
            Self::cancel(runnable);
            return;
        }
        st.queue.push_back(runnable);
        if st.idle > st.notified {
            st.notified += 1;
            self.cond.notify_one();
        } else if st.threads < self.max_threads {
            st.threads += 1;
            drop(st);
            let pool = self.clone();
            let spawned = std::thread::Builder::new()
                .name("ringcore-blocking".into())
                .spawn(move || pool.worker());
            if spawned.is_err() {
                // No thread: the job waits for an existing one (if any) to pick it up.
                self.lock().threads -= 1;
            }
        }
    }

    fn worker(self: Arc<Self>) {
        let mut st = self.lock();
        loop {
            if let Some(runnable) = st.queue.pop_front() {
                drop(st);
                runnable.run();
                st = self.lock();
                continue;
            }
            if st.shutdown {
                break;
            }
            st.idle += 1;
            let (guard, timed_out) = self.state.wait_timeout(&self.cond, st, self.idle_timeout);
            st = guard;
            st.idle -= 1;
            // Count this wake-up as the consumption of one notification (a timed-out
            // thread may take one meant for another; the clamp keeps `notified <= idle`).
            st.notified = st.notified.saturating_sub(1).min(st.idle);
            if timed_out && st.queue.is_empty() {
                break;
            }
        }
        st.threads -= 1;
    }

    /// Stops accepting jobs, cancels queued ones and lets idle threads exit. Running jobs
    /// finish on their threads.
    pub(crate) fn shutdown(&self) {
        let queued = {
            let mut st = self.lock();
            st.shutdown = true;
            std::mem::take(&mut st.queue)
        };
        self.cond.notify_all();
        for runnable in queued {
            Self::cancel(runnable);
        }
    }
}
