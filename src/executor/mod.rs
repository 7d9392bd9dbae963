//! The per-core task executor. Knows nothing about io_uring: it runs tasks, and the
//! runtime decides when to enter the ring between batches.
//!
//! Runs are FIFO: a task woken goes to the back of the local queue. One call to
//! [`Executor::run_batch`] polls at most a bounded number of tasks, so the runtime reaps
//! completions and fires timers between batches (docs/architecture.md, invariant 5).
//!
//! A task woken while it runs (it woke its own waker, as `yield_now`, a cooperative
//! budget or hyper's yield do, and returned `Pending`) goes to the *deferred* list instead,
//! which the tick moves to the back of the local queue only after it has fired timers and
//! taken completions ([`Executor::release_deferred`]). So a task that yields in a loop runs
//! once per tick, never again inside the same batch, and a timer or completion waits for
//! at most one poll of each ready task plus the tick (hazard H24).

pub(crate) mod remote;
#[cfg(feature = "sim")]
mod sim;
pub(crate) mod task;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_task::{Builder, Runnable};

use crate::metrics::Recorder;
use remote::Remote;
use task::{JoinHandle, NO_KEY, TaskFuture, TaskId, TaskMeta, TaskRegistry};

static NEXT_TASK_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_task_id() -> TaskId {
    TaskId(NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed))
}

/// A single-threaded executor: a local run queue, the remote queue, the task registry.
pub(crate) struct Executor {
    local: RefCell<VecDeque<Runnable<TaskMeta>>>,
    /// Tasks that woke themselves while running: they run after the next driver poll.
    deferred: RefCell<Vec<Runnable<TaskMeta>>>,
    remote: Arc<Remote>,
    registry: Rc<TaskRegistry>,
    /// Set by `shutdown`: tasks spawned from now on start aborted.
    closing: Cell<bool>,
    polls: Cell<u64>,
    spawned: Cell<u64>,
    /// The registered task being polled now, as its registry key and metadata (for
    /// `debug::current_task`).
    current: Cell<Option<(usize, NonNull<TaskMeta>)>>,
    /// Debug mode: report polls longer than this (`None`: off, the hot path skips it).
    slow_poll: Cell<Option<Duration>>,
    /// The core's telemetry hooks (shared with its driver; `crate::metrics`).
    metrics: Rc<Recorder>,
}

/// Reports a poll longer than the debug threshold as a `log` warning with target
/// `ringcore::debug` (see `crate::debug` for the format).
fn report_slow_poll(
    id: Option<TaskId>,
    name: Option<&str>,
    location: &'static Location<'static>,
    took: Duration,
) {
    match id {
        Some(id) => log::warn!(
            target: "ringcore::debug",
            "slow poll: task {} {:?} ({}) blocked the core for {:.1} ms",
            id,
            name.unwrap_or("<unnamed>"),
            location,
            took.as_secs_f64() * 1e3,
        ),
        None => log::warn!(
            target: "ringcore::debug",
            "slow poll: block_on's future ({}) blocked the core for {:.1} ms",
            location,
            took.as_secs_f64() * 1e3,
        ),
    }
    crate::metrics::trace::slow_poll(id.map(|i| i.0), name, location, took);
}

impl Executor {
    pub(crate) fn new(remote: Arc<Remote>, metrics: Rc<Recorder>) -> Self {
        let registry = Rc::new(TaskRegistry::default());
        task::register(&registry);
        Self {
            local: RefCell::new(VecDeque::with_capacity(256)),
            deferred: RefCell::new(Vec::new()),
            remote,
            registry,
            closing: Cell::new(false),
            polls: Cell::new(0),
            spawned: Cell::new(0),
            current: Cell::new(None),
            slow_poll: Cell::new(None),
            metrics,
        }
    }

    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    /// Creates a task and queues it to run. `schedule` is called with the task's
    /// `Runnable` on every wake, on whatever thread wakes it; it must route runnables
    /// woken off this thread to `self.remote()`.
    pub(crate) fn spawn<F, S>(
        &self,
        future: F,
        schedule: S,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
        S: async_task::Schedule<TaskMeta> + Send + Sync + 'static,
    {
        let mut entries = self.registry.entries.borrow_mut();
        let slot = entries.vacant_entry();
        let key = match u32::try_from(slot.key()) {
            Ok(key) if key != NO_KEY => key,
            _ => panic!("ringcore: more than 4 billion live tasks on one core"),
        };
        let meta = TaskMeta::new(
            next_task_id(),
            name,
            location,
            Some(self.remote.clone()),
            key,
            self.closing.get(),
        );
        // SAFETY: the future may be !Send, so its Runnable must be run and dropped on this
        // thread. `schedule` sends runnables woken elsewhere to the remote queue, which
        // only this executor drains (on this thread), and `shutdown` runs every runnable of
        // a live task here before the executor goes away. The schedule function is
        // Send + Sync + 'static. The future borrows nothing but the task's metadata, which
        // async-task keeps in the task's header until after it has dropped the future.
        let (runnable, task) = unsafe {
            Builder::new()
                .metadata(meta)
                .spawn_unchecked(move |meta| TaskFuture::new(future, meta), schedule)
        };
        slot.insert(TaskRegistry::entry(runnable.waker(), runnable.metadata()));
        drop(entries);
        self.spawned.set(self.spawned.get() + 1);
        crate::metrics::trace::spawn(runnable.metadata());
        runnable.schedule();
        JoinHandle::new(task)
    }

    /// Queues a runnable woken on this thread.
    #[inline]
    pub(crate) fn push_local(&self, runnable: Runnable<TaskMeta>) {
        self.metrics.task_queued(runnable.metadata());
        self.local.borrow_mut().push_back(runnable);
    }

    /// Defers a runnable woken on this thread while it was running (a self-wake): it is
    /// queued by the next [`release_deferred`](Executor::release_deferred).
    pub(crate) fn push_deferred(&self, runnable: Runnable<TaskMeta>) {
        self.metrics.task_queued(runnable.metadata());
        self.deferred.borrow_mut().push(runnable);
    }

    /// Moves the deferred runnables to the back of the local queue, in the order they
    /// yielded. The tick calls it after timers and completions had their turn.
    pub(crate) fn release_deferred(&self) {
        let mut deferred = self.deferred.borrow_mut();
        if !deferred.is_empty() {
            self.local.borrow_mut().extend(deferred.drain(..));
        }
    }

    /// True if a task is ready to run locally, now or after the next driver poll.
    pub(crate) fn has_local(&self) -> bool {
        !self.local.borrow().is_empty() || !self.deferred.borrow().is_empty()
    }

    /// Runs up to `max` ready tasks. Returns how many ran.
    pub(crate) fn run_batch(&self, max: usize) -> usize {
        if self.metrics.is_on() {
            // Tasks woken from other threads were stamped by their wakers
            // (`Remote::push_woken`); the clock is read once if any came, so their polls
            // do not start before those stamps.
            let mut local = self.local.borrow_mut();
            let before = local.len();
            self.remote.drain_into(&mut local);
            if local.len() > before {
                self.metrics.remote_taken();
            }
        } else {
            self.remote.drain_into(&mut self.local.borrow_mut());
        }
        let mut ran = 0;
        while ran < max {
            let Some(runnable) = self.local.borrow_mut().pop_front() else {
                break;
            };
            ran += 1;
            self.run(runnable);
        }
        ran
    }

    fn run(&self, runnable: Runnable<TaskMeta>) {
        let meta = runnable.metadata();
        let current = meta.key().map(|key| (key, NonNull::from(meta)));
        self.polls.set(self.polls.get() + 1);
        crate::coop::task_poll_begins();
        let prev = self.current.replace(current);
        let started = self.metrics.is_on().then(|| self.metrics.poll_starts(meta));
        // TaskFuture catches panics of the user's future (and of its `Drop`); a panic
        // escaping here comes from async-task itself and must not take the core down.
        let escaped = {
            let _span = crate::metrics::trace::poll(Some(meta));
            if let Some(threshold) = self.slow_poll.get() {
                self.run_timed(runnable, threshold)
            } else {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runnable.run())).is_err()
            }
        };
        if let Some(start) = started {
            self.metrics.poll_ends(start);
        }
        self.current.set(prev);
        if let Some((key, meta)) = current {
            // SAFETY: the task has a registry entry (its key is set, and the entry goes only
            // in `finish_run` after the task's last run), and the entry's waker keeps the
            // task allocation and so its header's metadata alive; the metadata is only
            // ever shared. Reading the flag here spares a registry lookup after the runs
            // in which the task did not complete, nearly all of them.
            if escaped || unsafe { meta.as_ref() }.is_done() {
                self.registry.finish_run(key, meta, escaped);
            }
        }
    }

    /// Debug mode's poll: timed, with the task's last-poll instant recorded and a slow
    /// poll reported through `log`. True if a panic escaped the run.
    #[cold]
    fn run_timed(&self, runnable: Runnable<TaskMeta>, threshold: Duration) -> bool {
        let meta = runnable.metadata();
        let (id, key, location) = (meta.id(), meta.key(), meta.location());
        let name: Option<Box<str>> = meta.name().map(Into::into);
        let start = Instant::now();
        let escaped =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runnable.run())).is_err();
        let took = start.elapsed();
        let Some(key) = key else {
            return escaped;
        };
        self.registry.set_last_poll(key, id, start + took);
        if took >= threshold {
            report_slow_poll(Some(id), name.as_deref(), location, took);
        }
        escaped
    }

    /// Polls `block_on`'s own future through `poll`: timed into the poll-duration
    /// histogram with telemetry on, reported as a slow poll in debug mode (`location` is
    /// where `block_on` was called), inside a `poll` span with feature `tracing`.
    #[inline]
    pub(crate) fn poll_main<T>(
        &self,
        location: &'static Location<'static>,
        poll: impl FnOnce() -> T,
    ) -> T {
        let threshold = self.slow_poll.get();
        if threshold.is_none() && !self.metrics.is_on() && !cfg!(feature = "tracing") {
            return poll();
        }
        let _span = crate::metrics::trace::poll(None);
        let started = self.metrics.is_on().then(|| self.metrics.last_reading());
        let timer = threshold.map(|t| (t, Instant::now()));
        let out = poll();
        if let Some(start) = started {
            self.metrics.poll_ends(start);
        }
        if let Some((threshold, start)) = timer {
            let took = start.elapsed();
            if took >= threshold {
                report_slow_poll(None, None, location, took);
            }
        }
        out
    }

    /// The registered task being polled right now, if any: its registry key and metadata.
    pub(crate) fn current(&self) -> Option<(usize, NonNull<TaskMeta>)> {
        self.current.get()
    }

    pub(crate) fn registry(&self) -> &TaskRegistry {
        &self.registry
    }

    /// Turns slow-poll reporting on (with its threshold) or off.
    pub(crate) fn set_slow_poll(&self, threshold: Option<Duration>) {
        self.slow_poll.set(threshold);
    }

    pub(crate) fn slow_poll(&self) -> Option<Duration> {
        self.slow_poll.get()
    }

    /// Live tasks (spawned and not yet finished or dropped).
    pub(crate) fn live_tasks(&self) -> usize {
        self.registry.len()
    }

    pub(crate) fn counters(&self) -> (u64, u64) {
        (self.spawned.get(), self.polls.get())
    }

    /// Cancels every task: each is marked aborted and rescheduled, and its future dropped
    /// on this thread when it runs. Returns when no task is left, or after 10,000 rounds
    /// without progress.
    pub(crate) fn shutdown(&self) {
        self.closing.set(true);
        let mut idle_rounds = 0;
        let mut first = true;
        while self.registry.len() > 0 && idle_rounds < 10_000 {
            // The first round wakes every task (waking a queued one does nothing); later
            // rounds only the tasks not aborted yet (tasks spawned during shutdown start
            // aborted and queued).
            for w in self.registry.abort_all(first) {
                w.wake();
            }
            first = false;
            self.release_deferred();
            if self.run_batch(usize::MAX) == 0 && self.deferred.borrow().is_empty() {
                // A wake in flight from another thread: give it a moment to land.
                idle_rounds += 1;
                std::thread::yield_now();
            } else {
                idle_rounds = 0;
            }
        }
        // Wakes that arrive from now on find no live task: async-task drops them.
        self.local.borrow_mut().clear();
        self.deferred.borrow_mut().clear();
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        task::unregister(&self.registry);
    }
}
