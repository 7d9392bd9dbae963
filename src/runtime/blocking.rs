//! `spawn_blocking`: the core's blocking pool, a plain `crate::pool::Pool` of tasks.
//!
//! Each job is an `async_task` task whose future runs the closure once; the pool runs its
//! `Runnable` on a thread of at most
//! [`Builder::blocking_threads`](crate::Builder::blocking_threads) (queued FIFO beyond
//! them; threads retire after the idle timeout). Awaiting its handle on a core registers
//! the core task's waker, and the pool thread wakes it through the core's remote queue and
//! eventfd. A job the pool cancels (it shut down before a thread took the job) completes
//! with `Outcome::Cancelled`, so its handle never sees a task closed without output.

use std::panic::Location;
use std::sync::Arc;
use std::time::Duration;

use async_task::Runnable;

use super::context;
use crate::executor::next_task_id;
use crate::executor::task::{JoinHandle, TaskFuture, TaskMeta};
use crate::pool::{Job, Pool};

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
/// In a deterministic simulation (feature `sim`, [`ringcore::sim`](crate::sim)) no thread
/// starts: `f` runs on the simulated host's core as a task, once a virtual duration drawn
/// from the seed has passed ([`Sim::blocking_cost`](crate::sim::Sim::blocking_cost),
/// 10 us-1 ms unless set), so a run replays exactly and the virtual clock moves as it
/// would while a pool thread worked.
///
/// # Panics
///
/// If called outside a ringcore runtime.
///
/// # Cancel safety
///
/// Dropping the handle detaches the job: once started, `f` runs to completion and its
/// result is dropped. [`JoinHandle::abort`] has no effect on blocking jobs (in a
/// simulation, it cancels a job whose virtual duration has not yet passed).
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
    // In a deterministic simulation the closure runs on the core as a task, in the order
    // the seed picks, after a virtual cost drawn from the seed (src/sim/fs.rs).
    #[cfg(feature = "sim")]
    if crate::sim::is_simulated() {
        let cost = crate::sim::fs::blocking_cost().unwrap_or_default();
        return crate::spawn(async move {
            crate::time::sleep(cost).await;
            f()
        });
    }
    let pool = context::with(|core| core.blocking.clone());
    pool.spawn(f)
}

/// The core's pool for `spawn_blocking`: tasks run on a [`Pool`]; see the module docs.
#[derive(Debug)]
pub(crate) struct BlockingPool {
    pool: Arc<Pool<TaskJob>>,
}

/// A blocking task's `Runnable`, as a pool job.
struct TaskJob(Runnable<TaskMeta>);

impl Job for TaskJob {
    fn run(self) {
        self.0.run();
    }

    /// Completes the task with `Outcome::Cancelled` (dropping its closure here).
    fn cancel(self) {
        self.0.metadata().mark_aborted();
        self.0.run();
    }
}

impl std::fmt::Debug for TaskJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskJob")
    }
}

impl BlockingPool {
    /// A pool of at most `max_threads` (at least 1) threads, each exiting after
    /// `idle_timeout` without a job.
    pub(crate) fn new(max_threads: usize, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            pool: Pool::new("ringcore-blocking", max_threads, idle_timeout),
        })
    }

    #[track_caller]
    pub(crate) fn spawn<F, T>(&self, f: F) -> JoinHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let meta = TaskMeta::unregistered(next_task_id(), Location::caller());
        let pool = self.pool.clone();
        let job = async move { f() };
        // SAFETY: `job` and its output are Send and the schedule function is
        // Send + Sync + 'static, so the runnable may be run and dropped on any thread. The
        // task future borrows nothing but the task's metadata, which async-task keeps in
        // the task's header until after it has dropped the future.
        let (runnable, task) = unsafe {
            async_task::Builder::new().metadata(meta).spawn_unchecked(
                move |meta| TaskFuture::new(job, meta),
                move |r| pool.push(TaskJob(r)),
            )
        };
        runnable.schedule();
        JoinHandle::new(task)
    }

    /// Stops accepting jobs, cancels queued ones and lets idle threads exit. Running jobs
    /// finish on their threads.
    pub(crate) fn shutdown(&self) {
        self.pool.shutdown();
    }
}
