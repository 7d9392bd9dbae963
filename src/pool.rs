//! A plain pool of threads for jobs that block: the readiness driver's storage pool and
//! waits lane, and (wrapped by `runtime::blocking`) `spawn_blocking`'s pool.
//!
//! It knows nothing of tasks or of the driver: a job is any [`Job`], run once on a pool
//! thread, or cancelled (`Job::cancel`) if the pool shuts down before a thread takes it.
//!
//! Threads start lazily, one per job that finds no idle (or already notified) thread, up
//! to the pool's bound; beyond it jobs queue (FIFO). A thread idle for the idle timeout
//! exits.
//!
//! State, all under one `crate::loom::Lock`: `queue` (jobs not started), `threads` (live
//! threads, including ones being spawned), `idle` (threads waiting on the condvar),
//! `notified` (wake-ups sent and not yet consumed: a push only notifies while
//! `idle > notified`, so two pushes never count on the same sleeping thread), `shutdown`,
//! and, in a pool with a stall limit, `running` (when each running job started). Pushers
//! and the owner write them under the lock; threads write them under the lock; jobs run
//! outside it.
//!
//! **Stalled jobs** ([`Pool::with_stall_limit`], the readiness driver's storage pool): a
//! job that has run for the stall limit (a read from a dead NFS server, say) no longer
//! counts against the bound, so jobs queued behind it get a thread of their own: on a
//! push, and when the owner calls [`Pool::rescue`], which it does at the time `rescue`
//! names while jobs are queued. Such extra threads are capped at
//! [`STALLED_THREADS_PER_THREAD`] times the bound, so that a device merely slower than the
//! limit does not multiply threads without end; past the cap, stalled jobs do hold up the
//! queue (docs/hazards.md, H28).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::loom::{Condvar, Lock, MutexGuard};

/// A job for the pool.
pub(crate) trait Job: Send + 'static {
    /// Runs the job on a pool thread.
    fn run(self);
    /// The pool shut down before a thread took the job (or refused it at the push).
    fn cancel(self);
}

/// A bounded pool of threads running [`Job`]s; see the module docs.
///
/// The pool keeps `std::sync::Arc` (its methods take `self: &Arc<Self>`); its lock and
/// condvar come from `crate::loom`.
#[derive(Debug)]
pub(crate) struct Pool<J> {
    state: Lock<State<J>>,
    cond: Condvar,
    max_threads: usize,
    idle_timeout: Duration,
    /// A job running this long stops counting against `max_threads` (module docs).
    stall_after: Option<Duration>,
    /// The pool's threads are called this.
    name: &'static str,
}

/// A pool with a stall limit starts at most this many threads per thread of its bound
/// beyond the bound, for jobs queued behind stalled ones.
pub(crate) const STALLED_THREADS_PER_THREAD: usize = 16;

#[derive(Debug)]
struct State<J> {
    queue: VecDeque<J>,
    threads: usize,
    idle: usize,
    notified: usize,
    shutdown: bool,
    /// (job number, start) of each running job; kept only with a stall limit.
    running: Vec<(u64, Instant)>,
    next_job: u64,
}

impl<J> State<J> {
    /// Running jobs that started at least `limit` before `now`.
    fn stalled(&self, limit: Duration, now: Instant) -> usize {
        self.running
            .iter()
            .filter(|&&(_, t)| now.saturating_duration_since(t) >= limit)
            .count()
    }
}

impl<J: Job> Pool<J> {
    /// A pool of at most `max_threads` (at least 1) threads named `name`, each exiting
    /// after `idle_timeout` without a job.
    pub(crate) fn new(name: &'static str, max_threads: usize, idle_timeout: Duration) -> Arc<Self> {
        Self::build(name, max_threads, idle_timeout, None)
    }

    /// As [`new`](Self::new), but a job that has run for `stall_after` no longer counts
    /// against `max_threads` (module docs, "Stalled jobs").
    pub(crate) fn with_stall_limit(
        name: &'static str,
        max_threads: usize,
        idle_timeout: Duration,
        stall_after: Duration,
    ) -> Arc<Self> {
        Self::build(name, max_threads, idle_timeout, Some(stall_after))
    }

    fn build(
        name: &'static str,
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
            name,
        })
    }

    /// How many more threads may start now for queued jobs: below the bound, counting
    /// stalled jobs out of it, and below the cap on threads in all.
    fn room(&self, st: &State<J>) -> usize {
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
                .name(self.name.into())
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

    fn lock(&self) -> MutexGuard<'_, State<J>> {
        // Jobs run outside the lock, so a poisoned lock still holds consistent state.
        self.state.lock()
    }

    /// Queues `job` for a thread; after [`shutdown`](Self::shutdown), cancels it at once.
    pub(crate) fn push(self: &Arc<Self>, job: J) {
        let mut st = self.lock();
        if st.shutdown {
            drop(st);
            job.cancel();
            return;
        }
        st.queue.push_back(job);
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
            if let Some(job) = st.queue.pop_front() {
                let number = st.next_job;
                if self.stall_after.is_some() {
                    st.next_job += 1;
                    st.running.push((number, Instant::now()));
                }
                drop(st);
                job.run();
                st = self.lock();
                if let Some(i) = st.running.iter().position(|&(j, _)| j == number) {
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
        for job in queued {
            job.cancel();
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A closure as a job; a cancelled one is dropped.
    struct Closure(Box<dyn FnOnce() + Send>);

    impl Job for Closure {
        fn run(self) {
            (self.0)()
        }
        fn cancel(self) {}
    }

    fn job(f: impl FnOnce() + Send + 'static) -> Closure {
        Closure(Box::new(f))
    }

    /// A job stalled on the only thread of a pool with a stall limit: the job queued
    /// behind it gets a thread once the owner's rescue finds it stalled, not before.
    #[test]
    fn a_stalled_job_does_not_hold_up_the_queue() {
        let limit = Duration::from_millis(20);
        let pool = Pool::with_stall_limit("test-pool", 1, Duration::from_secs(5), limit);
        let (release, stalled) = mpsc::channel::<()>();
        pool.push(job(move || {
            let _ = stalled.recv();
        }));
        std::thread::sleep(Duration::from_millis(5));
        let (done, finished) = mpsc::channel();
        pool.push(job(move || done.send(()).unwrap()));
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
        let pool = Pool::new("test-pool", 1, Duration::from_secs(5));
        let (release, stalled) = mpsc::channel::<()>();
        pool.push(job(move || {
            let _ = stalled.recv();
        }));
        let (done, finished) = mpsc::channel();
        pool.push(job(move || done.send(()).unwrap()));
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
