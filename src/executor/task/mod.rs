//! Tasks: the cell that runs a future, its handle, its errors.
//!
//! A task is an `async_task` allocation holding a [`TaskFuture`] (the user's future wrapped
//! to catch panics) and a [`TaskMeta`] (id and registry key). Its `Runnable` lives on the
//! owning core only: local wakes push it on the local queue, foreign-thread wakes go
//! through the remote queue that only the owning core drains (see `queue`).
//!
//! Every live task has an entry in its core's [`TaskRegistry`]:
//!
//! | field    | written by                                   | meaning                          |
//! |----------|----------------------------------------------|----------------------------------|
//! | `waker`  | the executor, before the first run            | how abort/shutdown reschedule it |
//! | `aborted`| `JoinHandle::abort`                           | drop the future at its next run  |
//! | `name`, `location` | `spawn`                             | for debugging                    |
//!
//! The entry is removed when the future completes (by `TaskFuture`) or when the executor
//! drops the `Runnable` of an aborted task or during shutdown. Dropping the `Runnable`
//! drops the future on the owning thread and resolves the handle to
//! [`JoinError::Cancelled`].

mod join;

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use slab::Slab;

pub use join::{JoinError, JoinHandle};

/// A task's id: unique within the process for its lifetime, never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TaskId(pub(crate) u64);

impl TaskId {
    /// The id as an integer.
    pub fn as_u64(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for TaskId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Stored in the task allocation; readable from its `Runnable`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TaskMeta {
    pub(crate) id: TaskId,
    /// Key in the owning core's registry; `usize::MAX` for tasks with no registry entry
    /// (blocking-pool jobs).
    pub(crate) key: usize,
}

pub(crate) struct TaskEntry {
    pub(crate) id: TaskId,
    pub(crate) waker: Option<Waker>,
    pub(crate) aborted: bool,
    /// Boxed twice so an unnamed task's entry pays one pointer, not two.
    pub(crate) name: Option<Box<Box<str>>>,
    pub(crate) location: &'static Location<'static>,
}

/// The live tasks of one core.
#[derive(Default)]
pub(crate) struct TaskRegistry {
    pub(crate) entries: RefCell<Slab<TaskEntry>>,
    /// Debug mode only: when each task's last poll ended, indexed by registry key and
    /// tagged with the task id (a key is reused by later tasks). Kept apart from the
    /// entries so tasks pay nothing for it when debug mode is off.
    pub(crate) last_poll: RefCell<Vec<Option<(TaskId, Instant)>>>,
}

impl TaskRegistry {
    pub(crate) fn set_last_poll(&self, key: usize, id: TaskId, at: Instant) {
        let mut v = self.last_poll.borrow_mut();
        if v.len() <= key {
            v.resize(key + 1, None);
        }
        v[key] = Some((id, at));
    }

    pub(crate) fn last_poll(&self, key: usize, id: TaskId) -> Option<Instant> {
        match self.last_poll.borrow().get(key) {
            Some(Some((i, at))) if *i == id => Some(*at),
            _ => None,
        }
    }

    pub(crate) fn remove(&self, key: usize, id: TaskId) {
        let mut entries = self.entries.borrow_mut();
        if entries.get(key).is_some_and(|e| e.id == id) {
            entries.remove(key);
        }
    }

    /// Marks a task aborted and reschedules it so the executor drops its future.
    pub(crate) fn abort(&self, key: usize, id: TaskId) {
        let waker = {
            let mut entries = self.entries.borrow_mut();
            match entries.get_mut(key) {
                Some(e) if e.id == id && !e.aborted => {
                    e.aborted = true;
                    e.waker.clone()
                }
                _ => None,
            }
        };
        // No waker yet means the task has never run, so it is already in a run queue.
        if let Some(w) = waker {
            w.wake();
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.borrow().len()
    }
}

pin_project_lite::pin_project! {
    /// The future inside every task: the user's future, with panics caught and the
    /// registry entry removed on completion.
    pub(crate) struct TaskFuture<F> {
        #[pin]
        pub(crate) future: F,
        pub(crate) registry: Rc<TaskRegistry>,
        pub(crate) meta: TaskMeta,
    }
}

impl<F: Future> Future for TaskFuture<F> {
    type Output = Result<F::Output, JoinError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let future = this.future;
        let out = match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(v)) => Ok(v),
            Err(payload) => Err(JoinError::panic(this.meta.id, payload)),
        };
        this.registry.remove(this.meta.key, this.meta.id);
        Poll::Ready(out)
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}
