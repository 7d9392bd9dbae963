//! `JoinHandle` and `JoinError`: awaiting a task's output, aborting it, and why a task
//! produced no value.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use async_task::Task;

use super::{DONE, Outcome, TAKEN, TaskId, TaskMeta, panic_message};

/// Why a task produced no value.
#[derive(thiserror::Error)]
pub enum JoinError {
    /// The task was aborted ([`JoinHandle::abort`]) or its runtime shut down before it
    /// finished; its future was dropped.
    #[error("task {0} was cancelled")]
    Cancelled(TaskId),
    /// The task's future panicked; the payload is kept (see [`JoinError::into_panic`]).
    #[error("task {id} panicked: {}", panic_message(&**payload).unwrap_or("<non-string payload>"))]
    Panic {
        /// The task that panicked.
        id: TaskId,
        /// The value passed to `panic!`.
        payload: Box<dyn Any + Send + 'static>,
    },
}

impl JoinError {
    pub(crate) fn panic(id: TaskId, payload: Box<dyn Any + Send + 'static>) -> Self {
        JoinError::Panic { id, payload }
    }

    /// The id of the task that failed.
    pub fn id(&self) -> TaskId {
        match self {
            JoinError::Cancelled(id) | JoinError::Panic { id, .. } => *id,
        }
    }

    /// True if the task was aborted or shut down.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, JoinError::Cancelled(_))
    }

    /// True if the task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, JoinError::Panic { .. })
    }

    /// The panic message, if the task panicked with a string (`panic!("...")`).
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            JoinError::Panic { payload, .. } => panic_message(&**payload),
            JoinError::Cancelled(_) => None,
        }
    }

    /// The panic payload, to re-raise it with `std::panic::resume_unwind`.
    ///
    /// # Errors
    ///
    /// Returns `self` back if the task did not panic.
    pub fn into_panic(self) -> Result<Box<dyn Any + Send + 'static>, JoinError> {
        match self {
            JoinError::Panic { payload, .. } => Ok(payload),
            other => Err(other),
        }
    }
}

impl std::fmt::Debug for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Cancelled(id) => f.debug_tuple("Cancelled").field(id).finish(),
            JoinError::Panic { id, payload } => f
                .debug_struct("Panic")
                .field("id", id)
                .field("message", &panic_message(&**payload))
                .finish(),
        }
    }
}

/// An owned permission to await a task's output; from [`spawn`](crate::spawn).
///
/// Awaiting it gives `Ok(value)`, or [`JoinError::Panic`] if the task panicked, or
/// [`JoinError::Cancelled`] if it was aborted or its runtime shut down first.
///
/// Dropping the handle *detaches* the task: it keeps running and its output is dropped.
/// The handle is `!Send`: it belongs to the core the task runs on.
///
/// # Cancel safety
///
/// Dropping the `JoinHandle` future (or the handle) never cancels the task; use
/// [`abort`](JoinHandle::abort) for that.
pub struct JoinHandle<T> {
    /// One pointer: the id, the registry key and the flags are read from the task's
    /// metadata. Taken out only in `Drop`.
    ///
    /// A `Task` (not a `FallibleTask`, which has no `metadata()`) panics if polled once its
    /// runnable was dropped without completing; `poll` checks for that first (see there).
    task: ManuallyDrop<Task<Outcome<T>, TaskMeta>>,
    _not_send: PhantomData<Rc<()>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(task: Task<Outcome<T>, TaskMeta>) -> Self {
        Self {
            task: ManuallyDrop::new(task),
            _not_send: PhantomData,
        }
    }

    /// Cancels the task: its future is dropped the next time its core runs it (before it
    /// is polled again), and the handle resolves to [`JoinError::Cancelled`]. Does nothing
    /// if the task already finished. Blocking-pool jobs that already started run to
    /// completion.
    pub fn abort(&self) {
        super::abort(self.task.metadata());
    }

    /// True once the task's future has completed or been dropped.
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.task.metadata().id()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let meta = self.task.metadata();
        let id = meta.id();
        if meta.has(TAKEN) {
            panic!("ringcore: JoinHandle polled after completion");
        }
        // Finished without `DONE`: the runnable was dropped without completing (a task left
        // over when its core went away), so there is no output, and polling the `Task`
        // would panic. Every task future sets `DONE` before it returns `Ready`, so a
        // finished task with output always has it. Tasks closed this way are only
        // registered tasks at their core's teardown, on this thread, so the check cannot
        // race; blocking-pool jobs always complete (cancelled ones with
        // `Outcome::Cancelled`), so they never reach the `Task` poll closed.
        let out = if self.task.is_finished() && !meta.has(DONE) {
            None
        } else {
            match Pin::new(&mut *self.task).poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(out) => Some(out),
            }
        };
        self.task.metadata().set(TAKEN);
        Poll::Ready(match out {
            Some(Outcome::Value(v)) => Ok(v),
            Some(Outcome::Panicked(payload)) => Err(JoinError::panic(id, *payload)),
            Some(Outcome::Cancelled) | None => Err(JoinError::Cancelled(id)),
        })
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        // SAFETY: `drop` runs once, and `self.task` is not touched after this line; every
        // other method needs `&self`/`&mut self`, which cannot exist during or after drop.
        let task = unsafe { ManuallyDrop::take(&mut self.task) };
        task.detach();
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id())
            .field("finished", &self.is_finished())
            .finish()
    }
}
