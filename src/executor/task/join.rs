use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use async_task::FallibleTask;

use super::{TaskId, TaskMeta, TaskRegistry, panic_message};

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
    task: Option<FallibleTask<Result<T, JoinError>, TaskMeta>>,
    id: TaskId,
    /// Where `abort` finds the task; `None` for tasks that cannot be aborted (blocking-pool
    /// jobs, which run to completion once started).
    registry: Option<(Rc<TaskRegistry>, usize)>,
    _not_send: PhantomData<Rc<()>>,
}

impl<T> JoinHandle<T> {
    pub(crate) fn new(
        task: FallibleTask<Result<T, JoinError>, TaskMeta>,
        id: TaskId,
        registry: Option<(Rc<TaskRegistry>, usize)>,
    ) -> Self {
        Self {
            task: Some(task),
            id,
            registry,
            _not_send: PhantomData,
        }
    }

    /// Cancels the task: its future is dropped the next time its core runs it (before it
    /// is polled again), and the handle resolves to [`JoinError::Cancelled`]. Does nothing
    /// if the task already finished. Blocking-pool jobs that already started run to
    /// completion.
    pub fn abort(&self) {
        if let Some((registry, key)) = &self.registry {
            registry.abort(*key, self.id);
        }
    }

    /// True once the task's future has completed or been dropped.
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }

    /// The task's id.
    pub fn id(&self) -> TaskId {
        self.id
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let id = self.id;
        let Some(task) = self.task.as_mut() else {
            panic!("ringcore: JoinHandle polled after completion");
        };
        match Pin::new(task).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(out) => {
                self.task = None;
                Poll::Ready(out.unwrap_or(Err(JoinError::Cancelled(id))))
            }
        }
    }
}

impl<T> Drop for JoinHandle<T> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.detach();
        }
    }
}

impl<T> std::fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinHandle")
            .field("id", &self.id)
            .field("finished", &self.is_finished())
            .finish()
    }
}
