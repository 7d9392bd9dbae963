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
//! two pushes never count on the same sleeping thread), `shutdown`, and, in a pool with a
//! stall limit, `running` (when each running job started).
//!
//! **Stalled jobs** (the readiness driver's pool, [`BlockingPool::with_stall_limit`]): a
//! job that has run for the stall limit (a read from a dead NFS server, say) no longer
//! counts against the bound, so jobs queued behind it get a thread of their own: on a
//! push, and when the owner calls [`BlockingPool::rescue`], which it does at the time
//! `rescue` names while jobs are queued. Such extra threads are capped at
//! [`STALLED_THREADS_PER_THREAD`] times the bound, so that a device merely slower than the
//! limit does not multiply threads without end; past the cap, stalled jobs do hold up the
//! queue (docs/hazards.md, H28).

use std::collections::VecDeque;
use std::panic::Location;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// A job running this long stops counting against `max_threads` (module docs).
    stall_after: Option<Duration>,
}

/// A pool with a stall limit starts at most this many threads per thread of its bound
/// beyond the bound, for jobs queued behind stalled ones.
pub(crate) const STALLED_THREADS_PER_THREAD: usize = 16;

#[derive(Debug)]
struct State {
    queue: VecDeque<Runnable<TaskMeta>>,
    threads: usize,
    idle: usize,
    notified: usize,
    shutdown: bool,
    /// (job number, start) of each running job; kept only with a stall limit.
    running: Vec<(u64, Instant)>,
    next_job: u64,
}

impl State {
    /// Running jobs that started at least `limit` before `now`.
    fn stalled(&self, limit: Duration, now: Instant) -> usize {
        self.running
            .iter()
            .filter(|&&(_, t)| now.saturating_duration_since(t) >= limit)
            .count()
    }
}

impl BlockingPool {
    /// A pool of at most `max_threads` (at least 1) threads, each exiting after
    /// `idle_timeout` without a job.
    pub(crate) fn new(max_threads: usize, idle_timeout: Duration) -> Arc<Self> {
        Self::build(max_threads, idle_timeout, None)
    }

    /// As [`new`](Self::new), but a job that has run for `stall_after` no longer counts
    /// against `max_threads` (module docs, "Stalled jobs").
    pub(crate) fn with_stall_limit(
        max_threads: usize,
        idle_timeout: Duration,
        stall_after: Duration,
    ) -> Arc<Self> {
        Self::build(max_threads, idle_timeout, Some(stall_after))
    }

    fn build(
        max_threads: usize,
        idle_timeout: Duration,
        stall_after: Option<Duration>,
    ) -> Arc<Self> {
        Arc::new(Self {
            state: Lock::new(State {
                queue: VecDeque::new(),
                threads: 0,
                idle: 0,
                notified: 0,
                shutdown: false,
                running: Vec::new(),
                next_job: 0,
            }),
            cond: Condvar::new(),
            max_threads: max_threads.max(1),
            idle_timeout,
            stall_after,
        })
    }

    /// How many more threads may start now for queued jobs: below the bound, counting
    /// stalled jobs out of it, and below the cap on threads in all.
    fn room(&self, st: &State) -> usize {
        let Some(limit) = self.stall_after else {
            return self.max_threads.saturating_sub(st.threads);
        };
        let cap = self
            .max_threads
            .saturating_mul(STALLED_THREADS_PER_THREAD + 1);
        let active = st.threads - st.stalled(limit, Instant::now()).min(st.threads);
        self.max_threads
            .saturating_sub(active)
            .min(cap.saturating_sub(st.threads))
    }

    /// Starts `n` threads; `st.threads` already counts them.
    fn start_threads(self: &Arc<Self>, n: usize) {
        for _ in 0..n {
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

    /// In a pool with a stall limit, starts threads for queued jobs that wait behind
    /// stalled ones. Returns when to call again: `None` while nothing is queued (a push
    /// looks for itself), else the time until the next running job stalls.
    pub(crate) fn rescue(self: &Arc<Self>) -> Option<Duration> {
        let limit = self.stall_after?;
        let mut st = self.lock();
        if st.queue.is_empty() || st.shutdown {
            return None;
        }
        let waking = st.idle.saturating_sub(st.notified);
        let n = st.queue.len().saturating_sub(waking).min(self.room(&st));
        st.threads += n;
        let now = Instant::now();
        let next = st
            .running
            .iter()
            .map(|&(_, t)| (t + limit).saturating_duration_since(now))
            .filter(|d| !d.is_zero())
            .min()
            .unwrap_or(limit);
        drop(st);
        self.start_threads(n);
        Some(next.max(Duration::from_millis(1)))
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
        } else if self.room(&st) > 0 {
            st.threads += 1;
            drop(st);
            self.start_threads(1);
        }
    }

    fn worker(self: Arc<Self>) {
        let mut st = self.lock();
        loop {
            if let Some(runnable) = st.queue.pop_front() {
                let job = st.next_job;
                if self.stall_after.is_some() {
                    st.next_job += 1;
                    st.running.push((job, Instant::now()));
                }
                drop(st);
                runnable.run();
                st = self.lock();
                if let Some(i) = st.running.iter().position(|&(j, _)| j == job) {
                    st.running.swap_remove(i);
                }
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A job stalled on the only thread of a pool with a stall limit: the job queued
    /// behind it gets a thread once the owner's rescue finds it stalled, not before.
    #[test]
    fn a_stalled_job_does_not_hold_up_the_queue() {
        let limit = Duration::from_millis(20);
        let pool = BlockingPool::with_stall_limit(1, Duration::from_secs(5), limit);
        let (release, stalled) = mpsc::channel::<()>();
        drop(pool.spawn(move || stalled.recv()));
        std::thread::sleep(Duration::from_millis(5));
        let (done, finished) = mpsc::channel();
        drop(pool.spawn(move || done.send(()).unwrap()));
        // Not stalled yet: the job waits, and the rescue says when to look again.
        let next = pool.rescue().expect("a job is queued");
        assert!(next <= limit, "{next:?}");
        assert!(
            finished.try_recv().is_err(),
            "a second thread started early"
        );
        let start = Instant::now();
        while finished.try_recv().is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "the queued job never ran"
            );
            std::thread::sleep(pool.rescue().unwrap_or(Duration::from_millis(1)));
        }
        assert_eq!(pool.rescue(), None, "nothing is queued");
        release.send(()).unwrap();
        pool.shutdown();
    }

    /// Without a stall limit (`spawn_blocking`'s pool) the bound holds.
    #[test]
    fn without_a_stall_limit_the_bound_holds() {
        let pool = BlockingPool::new(1, Duration::from_secs(5));
        let (release, stalled) = mpsc::channel::<()>();
        drop(pool.spawn(move || stalled.recv()));
        let (done, finished) = mpsc::channel();
        drop(pool.spawn(move || done.send(()).unwrap()));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(pool.rescue(), None);
        assert!(finished.try_recv().is_err(), "a second thread started");
        release.send(()).unwrap();
        finished
            .recv_timeout(Duration::from_secs(5))
            .expect("the queued job ran after the first");
        pool.shutdown();
    }
}
