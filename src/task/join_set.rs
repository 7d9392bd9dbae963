//! `JoinSet`: tasks spawned together and awaited together in completion order (asyncio's
//! `TaskGroup`).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::{JoinError, JoinHandle};

/// Keys of finished tasks, in completion order, and the waker of `join_next`.
#[derive(Default)]
struct Ready {
    keys: VecDeque<usize>,
    waker: Option<Waker>,
}

/// Pushes its task's key on the ready list when the task's future is dropped: on
/// completion, on panic, or on abort.
struct Done {
    ready: Rc<RefCell<Ready>>,
    key: usize,
}

impl Drop for Done {
    fn drop(&mut self) {
        let waker = {
            let mut r = self.ready.borrow_mut();
            r.keys.push_back(self.key);
            r.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// A set of tasks spawned together and awaited together: structured concurrency
/// (asyncio's `TaskGroup`, tokio's `JoinSet`).
///
/// Spawn tasks into it, then take their outcomes in completion order with
/// [`join_next`](JoinSet::join_next), all in spawn-independent order with
/// [`join_all`](JoinSet::join_all), or fail fast with
/// [`try_join_all`](JoinSet::try_join_all) (asyncio's `TaskGroup`: the first failure
/// cancels the rest). Dropping the set aborts every task still running, so no task
/// outlives the scope that owns the set.
///
/// # Examples
///
/// ```
/// use ringcore::task::JoinSet;
///
/// ringcore::block_on(async {
///     let mut set = JoinSet::new();
///     for n in 0..4u32 {
///         set.spawn(async move { n * n });
///     }
///     let mut sum = 0;
///     while let Some(res) = set.join_next().await {
///         sum += res.unwrap();
///     }
///     assert_eq!(sum, 14);
/// });
/// ```
pub struct JoinSet<T> {
    handles: Slab<JoinHandle<T>>,
    ready: Rc<RefCell<Ready>>,
}

/// asyncio's name for a [`JoinSet`].
pub type TaskGroup<T> = JoinSet<T>;

impl<T: 'static> JoinSet<T> {
    /// An empty set.
    pub fn new() -> Self {
        Self {
            handles: Slab::new(),
            ready: Rc::default(),
        }
    }

    /// Spawns `future` as a task of this set on the current core.
    ///
    /// # Panics
    ///
    /// If called outside a ringcore runtime.
    #[track_caller]
    pub fn spawn<F>(&mut self, future: F) -> crate::TaskId
    where
        F: Future<Output = T> + 'static,
    {
        self.spawn_inner(future, None, Location::caller())
    }

    /// Spawns a named task of this set (see [`spawn_named`](crate::task::spawn_named)).
    ///
    /// # Panics
    ///
    /// If called outside a ringcore runtime.
    #[track_caller]
    pub fn spawn_named<F>(&mut self, name: impl Into<String>, future: F) -> crate::TaskId
    where
        F: Future<Output = T> + 'static,
    {
        let name = Some(name.into().into_boxed_str());
        self.spawn_inner(future, name, Location::caller())
    }

    fn spawn_inner<F>(
        &mut self,
        future: F,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> crate::TaskId
    where
        F: Future<Output = T> + 'static,
    {
        let entry = self.handles.vacant_entry();
        let done = Done {
            ready: self.ready.clone(),
            key: entry.key(),
        };
        let handle = crate::runtime::spawn_with(
            async move {
                let _done = done;
                future.await
            },
            name,
            location,
        );
        let id = handle.id();
        entry.insert(handle);
        id
    }

    /// Tasks in the set (running, or finished and not yet joined).
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// True if the set holds no task.
    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Waits for the next task to finish and returns its outcome, in completion order;
    /// `None` once the set is empty.
    ///
    /// # Errors
    ///
    /// The outcome is `Err(`[`JoinError::Panic`]`)` if the task panicked and
    /// `Err(`[`JoinError::Cancelled`]`)` if it was aborted (or its runtime shut down)
    /// before it finished. The set itself never fails.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a task's outcome is removed from the set only when returned.
    pub async fn join_next(&mut self) -> Option<Result<T, JoinError>> {
        poll_fn(|cx| self.poll_join_next(cx)).await
    }

    fn poll_join_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<T, JoinError>>> {
        loop {
            let key = {
                let mut r = self.ready.borrow_mut();
                match r.keys.pop_front() {
                    Some(k) => k,
                    None => {
                        if self.handles.is_empty() {
                            return Poll::Ready(None);
                        }
                        r.waker = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                }
            };
            let Some(handle) = self.handles.get_mut(key) else {
                continue;
            };
            match Pin::new(handle).poll(cx) {
                Poll::Ready(out) => {
                    self.handles.remove(key);
                    return Poll::Ready(Some(out));
                }
                Poll::Pending => {
                    // Future dropped, output not stored yet: the handle wakes us.
                    self.ready.borrow_mut().keys.push_front(key);
                    return Poll::Pending;
                }
            }
        }
    }

    /// Waits for every task and returns every outcome, in completion order (asyncio's
    /// `gather(*tasks, return_exceptions=True)`); nothing is cancelled.
    ///
    /// # Errors
    ///
    /// None of its own: each task's failure is an `Err` element of the returned `Vec`
    /// ([`JoinError::Panic`] or [`JoinError::Cancelled`], as for
    /// [`join_next`](Self::join_next)).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future keeps the tasks not joined yet in the set.
    pub async fn join_all(&mut self) -> Vec<Result<T, JoinError>> {
        let mut out = Vec::with_capacity(self.len());
        while let Some(r) = self.join_next().await {
            out.push(r);
        }
        out
    }

    /// Aborts every task in the set; each resolves to [`JoinError::Cancelled`] (unless it
    /// finished first). They stay in the set until joined.
    pub fn abort_all(&mut self) {
        for (_, h) in &self.handles {
            h.abort();
        }
    }

    /// Aborts every task and waits until all are gone.
    ///
    /// # Cancel safety
    ///
    /// The tasks are aborted at once; dropping the future only stops the waiting.
    pub async fn shutdown(&mut self) {
        self.abort_all();
        while self.join_next().await.is_some() {}
    }
}

impl<T: 'static, E: 'static> JoinSet<Result<T, E>> {
    /// Waits for every task; on the first failure (a task returning `Err`, panicking or
    /// being cancelled) aborts all the others, waits for them to go, and returns that
    /// failure (asyncio's `async with TaskGroup()`).
    ///
    /// # Errors
    ///
    /// [`GroupError::Task`] with the first task error, or [`GroupError::Join`] if a task
    /// panicked or was cancelled first.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future keeps the unjoined tasks in the set (and dropping the set
    /// aborts them).
    pub async fn try_join_all(&mut self) -> Result<Vec<T>, GroupError<E>> {
        let mut out = Vec::with_capacity(self.len());
        while let Some(r) = self.join_next().await {
            let err = match r {
                Ok(Ok(v)) => {
                    out.push(v);
                    continue;
                }
                Ok(Err(e)) => GroupError::Task(e),
                Err(e) => GroupError::Join(e),
            };
            self.shutdown().await;
            return Err(err);
        }
        Ok(out)
    }
}

/// The first failure of a [`JoinSet::try_join_all`].
#[derive(Debug, thiserror::Error)]
pub enum GroupError<E> {
    /// A task returned this error.
    #[error("task failed: {0}")]
    Task(E),
    /// A task panicked or was cancelled.
    #[error(transparent)]
    Join(JoinError),
}

impl<T: 'static> Default for JoinSet<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Drop for JoinSet<T> {
    fn drop(&mut self) {
        for (_, h) in &self.handles {
            h.abort();
        }
    }
}

impl<T> std::fmt::Debug for JoinSet<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinSet")
            .field("len", &self.handles.len())
            .finish()
    }
}
