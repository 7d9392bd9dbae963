//! The per-core task executor. Knows nothing about io_uring: it runs tasks, and the
//! runtime decides when to enter the ring between batches.
//!
//! Runs are FIFO: a task woken (or yielding) goes to the back of the local queue. One call
//! to [`Executor::run_batch`] polls at most a bounded number of tasks, so the runtime reaps
//! completions and fires timers between batches (DESIGN invariant 5).

pub(crate) mod queue;
pub(crate) mod task;

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_task::{Builder, Runnable};

use queue::Remote;
use task::{JoinHandle, TaskEntry, TaskFuture, TaskId, TaskMeta, TaskRegistry};

static NEXT_TASK_ID: AtomicU64 = AtomicU64::new(1);

pub(crate) fn next_task_id() -> TaskId {
    TaskId(NEXT_TASK_ID.fetch_add(1, Ordering::Relaxed))
}

/// A single-threaded executor: a local run queue, the remote queue, the task registry.
pub(crate) struct Executor {
    local: RefCell<VecDeque<Runnable<TaskMeta>>>,
    remote: Arc<Remote>,
    registry: Rc<TaskRegistry>,
    /// Set by `shutdown`: every task run from now on is dropped instead.
    closing: Cell<bool>,
    polls: Cell<u64>,
    spawned: Cell<u64>,
    /// The task being polled now (for `debug::current_task`).
    current: Cell<Option<TaskMeta>>,
    /// Debug mode: report polls longer than this (`None`: off, the hot path skips it).
    slow_poll: Cell<Option<Duration>>,
}

/// Called with a task's details after a poll longer than the debug threshold.
pub(crate) struct SlowPoll<'a> {
    pub(crate) id: TaskId,
    pub(crate) name: Option<&'a str>,
    pub(crate) location: &'static Location<'static>,
    pub(crate) took: Duration,
}

impl Executor {
    pub(crate) fn new(remote: Arc<Remote>) -> Self {
        Self {
            local: RefCell::new(VecDeque::with_capacity(256)),
            remote,
            registry: Rc::new(TaskRegistry::default()),
            closing: Cell::new(false),
            polls: Cell::new(0),
            spawned: Cell::new(0),
            current: Cell::new(None),
            slow_poll: Cell::new(None),
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
        S: Fn(Runnable<TaskMeta>) + Send + Sync + 'static,
    {
        let id = next_task_id();
        let key = self.registry.entries.borrow_mut().insert(TaskEntry {
            id,
            waker: None,
            aborted: self.closing.get(),
            name: name.map(Box::new),
            location,
        });
        let meta = TaskMeta { id, key };
        let future = TaskFuture {
            future,
            registry: self.registry.clone(),
            meta,
        };
        // SAFETY: the future may be !Send, so its Runnable must be run and dropped on this
        // thread. `schedule` sends runnables woken elsewhere to the remote queue, which
        // only this executor drains (on this thread), and `shutdown` runs or drops every
        // runnable of a live task here before the executor goes away. The schedule
        // function is Send + Sync + 'static, and the future 'static.
        let (runnable, task) = unsafe {
            Builder::new()
                .metadata(meta)
                .spawn_unchecked(move |_| future, schedule)
        };
        self.spawned.set(self.spawned.get() + 1);
        runnable.schedule();
        JoinHandle::new(task.fallible(), id, Some((self.registry.clone(), key)))
    }

    /// Queues a runnable woken on this thread.
    pub(crate) fn push_local(&self, runnable: Runnable<TaskMeta>) {
        self.local.borrow_mut().push_back(runnable);
    }

    /// True if a task is ready to run (locally or from another thread).
    pub(crate) fn has_local(&self) -> bool {
        !self.local.borrow().is_empty()
    }

    /// Runs up to `max` ready tasks. Returns how many ran.
    pub(crate) fn run_batch(&self, max: usize) -> usize {
        self.remote.drain_into(&mut self.local.borrow_mut());
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
        let meta = *runnable.metadata();
        let cancel = {
            let mut entries = self.registry.entries.borrow_mut();
            match entries.get_mut(meta.key) {
                Some(e) if e.id == meta.id => {
                    if e.aborted || self.closing.get() {
                        entries.remove(meta.key);
                        true
                    } else {
                        if e.waker.is_none() {
                            e.waker = Some(runnable.waker());
                        }
                        false
                    }
                }
                // Not registered (cannot happen for tasks of this executor): run it.
                _ => false,
            }
        };
        if cancel {
            // Drops the future here, on its own thread; the handle sees Cancelled.
            drop(runnable);
            return;
        }
        self.polls.set(self.polls.get() + 1);
        let prev = self.current.replace(Some(meta));
        if let Some(threshold) = self.slow_poll.get() {
            self.run_timed(runnable, meta, threshold);
        } else {
            // TaskFuture catches panics of the user's future; a panic escaping here comes
            // from a Drop impl run by async-task, and must not take the core down.
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runnable.run()));
        }
        self.current.set(prev);
    }

    /// Debug mode's poll: timed, with the task's last-poll instant recorded and a slow
    /// poll reported through `log`.
    #[cold]
    fn run_timed(&self, runnable: Runnable<TaskMeta>, meta: TaskMeta, threshold: Duration) {
        let (name, location) = {
            let entries = self.registry.entries.borrow();
            match entries.get(meta.key) {
                Some(e) if e.id == meta.id => (e.name.as_deref().cloned(), Some(e.location)),
                _ => (None, None),
            }
        };
        let start = Instant::now();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runnable.run()));
        let took = start.elapsed();
        self.registry.set_last_poll(meta.key, meta.id, start + took);
        if took >= threshold
            && let Some(location) = location
        {
            crate::debug::report_slow_poll(&SlowPoll {
                id: meta.id,
                name: name.as_deref(),
                location,
                took,
            });
        }
    }

    /// The task being polled right now, if any.
    pub(crate) fn current(&self) -> Option<TaskMeta> {
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

    /// Cancels every task: each is rescheduled and its future dropped on this thread.
    /// Returns when no task is left, or after `max_rounds` rounds without progress.
    pub(crate) fn shutdown(&self) {
        self.closing.set(true);
        let mut idle_rounds = 0;
        while self.registry.len() > 0 && idle_rounds < 10_000 {
            let wakers: Vec<_> = self
                .registry
                .entries
                .borrow_mut()
                .iter_mut()
                .filter_map(|(_, e)| e.waker.take())
                .collect();
            for w in wakers {
                w.wake();
            }
            if self.run_batch(usize::MAX) == 0 {
                // A wake in flight from another thread: give it a moment to land.
                idle_rounds += 1;
                std::thread::yield_now();
            } else {
                idle_rounds = 0;
            }
        }
        // Wakes that arrive from now on find no live task: async-task drops them.
        self.local.borrow_mut().clear();
    }
}
