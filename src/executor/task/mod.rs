//! Tasks: the cell that runs a future, its handle, its errors.
//!
//! A task is one `async_task` allocation: a header holding its [`TaskMeta`], the schedule
//! function, and the [`TaskFuture`] (the user's future wrapped to catch panics and to
//! honour aborts), which is replaced by its [`Outcome`] when it finishes. Its `Runnable`
//! lives on the owning core only: local wakes push it on the local queue, foreign-thread
//! wakes go through the remote queue that only the owning core drains (see `queue`).
//!
//! # The metadata
//!
//! Everything the runtime knows about a task lives in its header, readable from its
//! `Runnable`, its `JoinHandle` and its registry entry:
//!
//! | field      | written by                          | meaning                                |
//! |------------|-------------------------------------|----------------------------------------|
//! | `id`       | spawn                               | process-unique, never reused           |
//! | `name`, `location` | spawn                       | for `debug::all_tasks` and slow polls  |
//! | `key`      | spawn                               | slot in the core's registry ([`NO_KEY`]: none) |
//! | `remote`   | spawn                               | the owning core's remote queue (none for tasks outside an executor) |
//! | `flags`    | see below                           |                                        |
//!
//! The flags are atomics only because the `Runnable` (and so the header) must be `Sync` to
//! travel through the remote queue; every write happens on the owning core's thread:
//!
//! - `ABORTED`: set by `JoinHandle::abort`, by the executor's shutdown, or at spawn while
//!   the executor shuts down. The next poll of the `TaskFuture` drops the user's future
//!   without polling it and completes with [`Outcome::Cancelled`].
//! - `POLLED`: set by the `TaskFuture` on its first poll (`debug`'s `NotStarted`).
//! - `DONE`: set by the `TaskFuture` when it completes (the user's future is dropped by
//!   then); the executor removes the registry entry after that run.
//! - `TAKEN`: set by the `JoinHandle` when it returns the output.
//!
//! # The registry
//!
//! Every live task of a core has an entry in the core's [`TaskRegistry`]: a `Waker` of the
//! task and a pointer to its metadata. The waker is how shutdown and `abort` reschedule a
//! task that nobody else would wake (an idle task whose other wakers sit in some I/O
//! resource or nowhere at all), and the reference it holds keeps the task allocation (and
//! so the metadata the pointer reaches) alive for as long as the entry exists. The entry is
//! added at spawn and removed by the executor right after the run in which the task
//! completed (`DONE`), or in which a panic escaped `async_task` (the task is closed then).
//!
//! A `JoinHandle` is `!Send`, so it is used on the thread of the task's core; `abort`
//! finds the entry through this thread's list of registries ([`abort`]).

mod catch_panic;
mod join;

use std::any::Any;
use std::cell::RefCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use slab::Slab;

use super::remote::Remote;
use crate::loom::{AtomicU8, AtomicU64, Ordering};

pub use catch_panic::{CatchPanic, Panicked};
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

/// The registry key of tasks that have no registry entry (blocking-pool jobs and the
/// jobs other cores send).
pub(crate) const NO_KEY: u32 = u32::MAX;

const ABORTED: u8 = 1;
const POLLED: u8 = 2;
const DONE: u8 = 4;
const TAKEN: u8 = 8;

/// Stored in the task's header (see the module docs). 40 bytes.
#[derive(Debug)]
pub(crate) struct TaskMeta {
    id: TaskId,
    /// Boxed twice so an unnamed task pays one pointer, not two.
    name: Option<Box<Box<str>>>,
    location: &'static Location<'static>,
    /// Here rather than in the schedule closure: async-task wakes a waker by value with
    /// one atomic operation only when the schedule function is zero-sized; a capturing
    /// closure makes every wake a wake by reference plus a reference drop.
    remote: Option<Arc<Remote>>,
    key: u32,
    flags: AtomicU8,
    /// When the task was last queued to run, in telemetry nanoseconds (0: not stamped;
    /// `crate::metrics`). Written and read by the owning core only.
    queued_at: AtomicU64,
}

impl TaskMeta {
    pub(crate) fn new(
        id: TaskId,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
        remote: Option<Arc<Remote>>,
        key: u32,
        aborted: bool,
    ) -> Self {
        Self {
            id,
            name: name.map(Box::new),
            location,
            remote,
            key,
            flags: AtomicU8::new(if aborted { ABORTED } else { 0 }),
            queued_at: AtomicU64::new(0),
        }
    }

    /// Stamps the time the task was queued (telemetry on; the owning core only).
    #[inline]
    pub(crate) fn set_queued_at(&self, nanos: u64) {
        self.queued_at.store(nanos, Ordering::Relaxed);
    }

    /// The last [`set_queued_at`](TaskMeta::set_queued_at) stamp; 0 if none.
    #[inline]
    pub(crate) fn queued_at(&self) -> u64 {
        self.queued_at.load(Ordering::Relaxed)
    }

    /// Metadata of a task with no registry entry (it cannot be aborted or listed).
    pub(crate) fn unregistered(id: TaskId, location: &'static Location<'static>) -> Self {
        Self::new(id, None, location, None, NO_KEY, false)
    }

    /// The remote queue of the core that owns the task; `None` for a task spawned
    /// outside an executor (see [`TaskMeta::unregistered`]).
    pub(crate) fn remote(&self) -> Option<&Arc<Remote>> {
        self.remote.as_ref()
    }

    pub(crate) fn id(&self) -> TaskId {
        self.id
    }

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref().map(|n| &**n)
    }

    pub(crate) fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The registry key, if the task has an entry.
    pub(crate) fn key(&self) -> Option<usize> {
        (self.key != NO_KEY).then_some(self.key as usize)
    }

    fn has(&self, flag: u8) -> bool {
        self.flags.load(Ordering::Relaxed) & flag != 0
    }

    /// Sets `flag`; true if it was not set before.
    fn set(&self, flag: u8) -> bool {
        self.flags.fetch_or(flag, Ordering::Relaxed) & flag == 0
    }

    /// Marks the task aborted: its next run completes it with [`Outcome::Cancelled`].
    pub(crate) fn mark_aborted(&self) {
        self.set(ABORTED);
    }

    pub(crate) fn is_aborted(&self) -> bool {
        self.has(ABORTED)
    }

    pub(crate) fn was_polled(&self) -> bool {
        self.has(POLLED)
    }

    /// True once the task's future has completed (or was dropped by an abort).
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.has(DONE)
    }
}

/// What a finished task leaves in its cell for the `JoinHandle` (16 bytes for `T = ()`;
/// the `JoinError` it becomes is built by the handle, which knows the id).
pub(crate) enum Outcome<T> {
    Value(T),
    Cancelled,
    /// Boxed twice to keep the cell small: only a panicking task pays the extra box.
    Panicked(Box<Box<dyn Any + Send + 'static>>),
}

impl<T> Outcome<T> {
    pub(crate) fn panicked(payload: Box<dyn Any + Send + 'static>) -> Self {
        Outcome::Panicked(Box::new(payload))
    }
}

/// A live task's registry entry (see the module docs).
pub(crate) struct TaskEntry {
    waker: Waker,
    meta: NonNull<TaskMeta>,
}

impl TaskEntry {
    /// The task's metadata.
    pub(crate) fn meta(&self) -> &TaskMeta {
        // SAFETY: `meta` points into the header of the task allocation that `waker` belongs
        // to (both are taken from the same `Runnable` in `Executor::spawn`). The waker holds
        // one of the task's references, so async-task keeps the allocation, header and
        // metadata included, alive and in place until the waker is dropped, which happens
        // only when this entry is dropped; the returned borrow cannot outlive `&self`.
        // The metadata is only ever accessed through shared references (its mutable part
        // is atomics), so this one aliases nothing mutably.
        unsafe { self.meta.as_ref() }
    }

    fn is(&self, meta: NonNull<TaskMeta>) -> bool {
        self.meta == meta
    }
}

/// The live tasks of one core.
#[derive(Default)]
pub(crate) struct TaskRegistry {
    pub(in crate::executor) entries: RefCell<Slab<TaskEntry>>,
    /// Debug mode only: when each task's last poll ended, indexed by registry key and
    /// tagged with the task id (a key is reused by later tasks). Kept apart from the
    /// entries so tasks pay nothing for it when debug mode is off.
    last_poll: RefCell<Vec<Option<(TaskId, Instant)>>>,
}

impl TaskRegistry {
    /// Adds the entry of a task just spawned with metadata `meta` (whose `key` came from
    /// `entries.vacant_key()`), holding one of its wakers.
    pub(crate) fn entry(waker: Waker, meta: &TaskMeta) -> TaskEntry {
        TaskEntry {
            waker,
            meta: NonNull::from(meta),
        }
    }

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

    /// After a run of the task at `key` with metadata `meta`: removes its entry if the task
    /// completed, or if a panic escaped the run (`async_task` closed the task then).
    pub(crate) fn finish_run(&self, key: usize, meta: NonNull<TaskMeta>, escaped_panic: bool) {
        let removed = {
            let mut entries = self.entries.borrow_mut();
            match entries.get(key) {
                Some(e) if e.is(meta) && (escaped_panic || e.meta().has(DONE)) => {
                    Some(entries.remove(key))
                }
                _ => None,
            }
        };
        // Dropped outside the borrow: the waker may hold the task's last reference.
        drop(removed);
    }

    /// Runs `f` with the entry of the task at `key` whose metadata is `meta`, if it is live.
    pub(crate) fn with_entry<R>(
        &self,
        key: usize,
        meta: NonNull<TaskMeta>,
        f: impl FnOnce(&TaskEntry) -> R,
    ) -> Option<R> {
        self.entries.borrow().get(key).filter(|e| e.is(meta)).map(f)
    }

    /// Marks every live task aborted; returns the wakers of those not aborted before (or of
    /// all of them with `all`), for the caller to wake outside the borrow.
    pub(crate) fn abort_all(&self, all: bool) -> Vec<Waker> {
        self.entries
            .borrow()
            .iter()
            .filter(|(_, e)| e.meta().set(ABORTED) || all)
            .map(|(_, e)| e.waker.clone())
            .collect()
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.borrow().len()
    }

    /// Calls `f` with the registry key and metadata of every live task, oldest slot first,
    /// and collects what it returns.
    pub(crate) fn map_tasks<R>(&self, mut f: impl FnMut(usize, &TaskMeta) -> R) -> Vec<R> {
        self.entries
            .borrow()
            .iter()
            .map(|(key, e)| f(key, e.meta()))
            .collect()
    }
}

thread_local! {
    /// The registries of the executors created on this thread (usually one). Executors
    /// never leave their thread (they are `!Send`), nor do `JoinHandle`s, so a handle's
    /// task is registered in one of these.
    static REGISTRIES: RefCell<Vec<Weak<TaskRegistry>>> = const { RefCell::new(Vec::new()) };
}

/// Lists `registry` as one of this thread's (called by `Executor::new`).
pub(crate) fn register(registry: &Rc<TaskRegistry>) {
    let _ = REGISTRIES.try_with(|r| r.borrow_mut().push(Rc::downgrade(registry)));
}

/// Unlists `registry` (called by `Executor`'s `Drop`; never panics).
pub(crate) fn unregister(registry: &Rc<TaskRegistry>) {
    let _ = REGISTRIES.try_with(|r| {
        if let Ok(mut r) = r.try_borrow_mut() {
            r.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), Rc::as_ptr(registry)));
        }
    });
}

/// Marks the task aborted and reschedules it so its next run drops its future. Called on
/// the task's own thread (by its `!Send` `JoinHandle`), with the task allocation alive.
pub(crate) fn abort(meta: &TaskMeta) {
    let Some(key) = meta.key() else {
        return; // blocking-pool job: runs to completion once started
    };
    if !meta.set(ABORTED) {
        return; // already aborted (and rescheduled then)
    }
    let ptr = NonNull::from(meta);
    // The entry is found by address: the caller keeps this task alive, so no other live
    // task (and every entry's task is live) has metadata at this address.
    let waker = REGISTRIES
        .try_with(|regs| {
            regs.borrow()
                .iter()
                .find_map(|r| r.upgrade()?.with_entry(key, ptr, |e| e.waker.clone()))
        })
        .ok()
        .flatten();
    // No entry: the task has completed already (or its core is gone).
    if let Some(w) = waker {
        w.wake();
    }
}

pin_project_lite::pin_project! {
    /// The future inside every task: the user's future, with panics caught, aborts
    /// honoured, and the future dropped (on this thread, its panics caught) as soon as
    /// the task completes.
    pub(crate) struct TaskFuture<'a, F> {
        #[pin]
        future: Option<F>,
        meta: &'a TaskMeta,
    }
}

impl<'a, F> TaskFuture<'a, F> {
    pub(crate) fn new(future: F, meta: &'a TaskMeta) -> Self {
        Self {
            future: Some(future),
            meta,
        }
    }
}

impl<F: Future> Future for TaskFuture<'_, F> {
    type Output = Outcome<F::Output>;

    // Inlined into async-task's `RawTask::run`, its only caller: one call and one stack
    // frame less per task poll.
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let flags = this.meta.flags.load(Ordering::Relaxed);
        let out = match this.future.as_mut().as_pin_mut() {
            Some(_) if flags & ABORTED != 0 => Outcome::Cancelled,
            Some(future) => {
                if flags & POLLED == 0 {
                    this.meta.set(POLLED);
                }
                match std::panic::catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
                    Ok(Poll::Pending) => return Poll::Pending,
                    Ok(Poll::Ready(v)) => Outcome::Value(v),
                    Err(payload) => Outcome::panicked(payload),
                }
            }
            // Not reached: async-task does not poll a completed future.
            None => return Poll::Ready(Outcome::Cancelled),
        };
        // A panic in the future's `Drop` is not the task's result; it must not unwind
        // through async-task either.
        let mut future = this.future;
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| future.set(None)));
        this.meta.set(DONE);
        Poll::Ready(out)
    }
}

pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> Option<&str> {
    payload
        .downcast_ref::<&'static str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn sizes() {
        // The bytes every idle task pays (docs/benchmarks.md, issue 6); 48 since the
        // telemetry's queued-at stamp (docs/benchmarks.md, "Telemetry").
        assert_eq!(std::mem::size_of::<TaskMeta>(), 48);
        assert_eq!(std::mem::size_of::<TaskEntry>(), 24);
        assert_eq!(std::mem::size_of::<Outcome<()>>(), 16);
        assert_eq!(std::mem::size_of::<JoinHandle<()>>(), 8);
    }
}
