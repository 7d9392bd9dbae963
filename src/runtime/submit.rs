//! `submit_to` and `spawn_on`: run a closure on another core and get its result back.
//!
//! The closure (`Send`) travels to the target core as a job on its remote queue (see
//! `runtime::cores`); there it builds its future (which need not be `Send`) and spawns it
//! as an ordinary task of that core. The output comes back through a one-shot slot:
//!
//! | field    | written by                              | meaning                          |
//! |----------|-----------------------------------------|----------------------------------|
//! | `result` | the target core, once                   | the output or why there is none  |
//! | `waker`  | the awaiting task, on every pending poll | whom to wake when `result` lands |
//! | `taken`  | the awaiting task                       | `result` was handed out          |
//!
//! All three sit under one mutex; the target wakes the waker after unlocking, which for a
//! task of another core goes through that core's remote queue and eventfd. A job or task
//! dropped before it produced a value (the runtime shut down) completes the slot with
//! [`SubmitError::Cancelled`] from the completer's `Drop`.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use super::CoreId;
use super::cores::peers;
use crate::executor::task::CatchPanic;
use crate::loom::{Arc, Lock};

/// Why [`submit_to`] or a [`CoreJoinHandle`] produced no value.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// The closure or its future panicked on `core`; that core keeps running.
    #[error("the job on {core} panicked: {}", crate::executor::task::panic_message(&**payload).unwrap_or("<non-string payload>"))]
    Panic {
        /// Where it panicked.
        core: CoreId,
        /// The value passed to `panic!` (see [`SubmitError::panic_message`]).
        payload: Box<dyn Any + Send + 'static>,
    },
    /// The job or its task was dropped before it produced a value: the runtime shut down.
    #[error("the job on {core} was cancelled (its runtime shut down)")]
    Cancelled {
        /// The core it was sent to.
        core: CoreId,
    },
    /// There is no such core in this runtime.
    #[error("there is no {core}: this runtime has {cores} cores")]
    NoSuchCore {
        /// The core asked for.
        core: CoreId,
        /// How many cores the runtime has.
        cores: usize,
    },
}

impl SubmitError {
    /// The panic message, if the job panicked with a string.
    pub fn panic_message(&self) -> Option<&str> {
        match self {
            SubmitError::Panic { payload, .. } => crate::executor::task::panic_message(&**payload),
            _ => None,
        }
    }

    /// True if the job panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self, SubmitError::Panic { .. })
    }
}

impl std::fmt::Debug for SubmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SubmitError::Panic { core, payload } => f
                .debug_struct("Panic")
                .field("core", core)
                .field("message", &crate::executor::task::panic_message(&**payload))
                .finish(),
            SubmitError::Cancelled { core } => {
                f.debug_struct("Cancelled").field("core", core).finish()
            }
            SubmitError::NoSuchCore { core, cores } => f
                .debug_struct("NoSuchCore")
                .field("core", core)
                .field("cores", cores)
                .finish(),
        }
    }
}

struct Slot<T> {
    result: Option<Result<T, SubmitError>>,
    waker: Option<Waker>,
    taken: bool,
}

type Shared<T> = Arc<Lock<Slot<T>>>;

/// The target core's end of the slot; completes it with `Cancelled` if dropped unused.
pub(crate) struct Completer<T> {
    slot: Option<Shared<T>>,
    core: CoreId,
}

/// A fresh reply slot for a job sent to `core`: the end that fills it and the end that
/// awaits it.
pub(crate) fn reply_slot<T>(core: CoreId) -> (Completer<T>, CoreJoinHandle<T>) {
    let slot: Shared<T> = Arc::new(Lock::new(Slot {
        result: None,
        waker: None,
        taken: false,
    }));
    let handle = CoreJoinHandle {
        slot: slot.clone(),
        core,
    };
    let completer = Completer {
        slot: Some(slot),
        core,
    };
    (completer, handle)
}

impl<T> Completer<T> {
    /// Fills the slot with `result` and wakes the awaiting task, if any.
    pub(crate) fn complete(mut self, result: Result<T, SubmitError>) {
        if let Some(slot) = self.slot.take() {
            fill(&slot, result);
        }
    }
}

impl<T> Drop for Completer<T> {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            fill(&slot, Err(SubmitError::Cancelled { core: self.core }));
        }
    }
}

fn fill<T>(slot: &Lock<Slot<T>>, result: Result<T, SubmitError>) {
    let waker = {
        let mut s = slot.lock();
        s.result = Some(result);
        s.waker.take()
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// A handle to a task started on another core with [`spawn_on`]; awaiting it (on any core,
/// or any thread) gives the task's output.
///
/// Output: `Ok(value)`; [`SubmitError::Panic`] if the closure or its future panicked;
/// [`SubmitError::Cancelled`] if the runtime shut down first; [`SubmitError::NoSuchCore`].
///
/// Dropping the handle detaches the task: it runs to completion and its output is dropped
/// on the target core.
///
/// # Cancel safety
///
/// Dropping the future (the handle) never cancels the task.
#[must_use = "dropping a CoreJoinHandle detaches the task; await it for the output"]
pub struct CoreJoinHandle<T> {
    slot: Shared<T>,
    core: CoreId,
}

impl<T> CoreJoinHandle<T> {
    /// The core the task runs on.
    pub fn core(&self) -> CoreId {
        self.core
    }

    /// True once the output (or the error) is ready.
    pub fn is_finished(&self) -> bool {
        let s = self.slot.lock();
        s.result.is_some() || s.taken
    }
}

impl<T> Future for CoreJoinHandle<T> {
    type Output = Result<T, SubmitError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.lock();
        if let Some(result) = s.result.take() {
            s.taken = true;
            return Poll::Ready(result);
        }
        if s.taken {
            // Polled after completion: answer rather than panic.
            return Poll::Ready(Err(SubmitError::Cancelled { core: self.core }));
        }
        match &mut s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            w => *w = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> std::fmt::Debug for CoreJoinHandle<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CoreJoinHandle")
            .field("core", &self.core)
            .field("finished", &self.is_finished())
            .finish()
    }
}

/// Starts `f()` as a task on `core` and returns a handle to its output, which any core (or
/// thread) may await.
///
/// `f` is sent to `core` (it must be `Send`) and called there; the future it returns is
/// built and polled on `core` only, so it need not be `Send`. Jobs sent from one core to
/// another start in the order they were sent. A job sent to core 0 runs when the thread
/// that built the runtime is inside [`Runtime::block_on`](crate::Runtime::block_on) or
/// [`Runtime::run_on_all`](crate::Runtime::run_on_all).
///
/// # Panics
///
/// If called outside a ringcore runtime. Panics of `f` or its future are caught and
/// returned as [`SubmitError::Panic`].
///
/// # Examples
///
/// ```
/// use ringcore::CoreId;
///
/// let rt = ringcore::Runtime::builder().cores(2).build()?;
/// rt.block_on(async {
///     let handle = ringcore::spawn_on(CoreId::new(1), || async { ringcore::current_core() });
///     assert_eq!(handle.await.unwrap(), CoreId::new(1));
/// });
/// # Ok::<(), ringcore::BuildError>(())
/// ```
#[track_caller]
pub fn spawn_on<F, Fut>(core: CoreId, f: F) -> CoreJoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let (completer, handle) = reply_slot(core);
    let peers = peers();
    let job = move || match catch_unwind(AssertUnwindSafe(f)) {
        Ok(future) => {
            // Detached: the completer reports the output, a panic, or (if the task is
            // dropped at shutdown) Cancelled.
            drop(crate::spawn(async move {
                let result = CatchPanic::new(future).await;
                completer.complete(result.map_err(|p| SubmitError::Panic { core, payload: p.0 }));
            }));
        }
        Err(payload) => completer.complete(Err(SubmitError::Panic { core, payload })),
    };
    if !peers.send_job(core, job) {
        // `job` (and its completer) was dropped: say why instead of "cancelled".
        fill(
            &handle.slot,
            Err(SubmitError::NoSuchCore {
                core,
                cores: peers.len(),
            }),
        );
    }
    handle
}

/// Runs `f()` on `core` and returns the output of the future it builds there
/// (seastar's `smp::submit_to`).
///
/// `f` must be `Send`; its future need not be, since it is built and polled on `core`.
/// Submitting to the current core works too (the job goes through the same queue).
///
/// # Errors
///
/// [`SubmitError::Panic`] if `f` or its future panicked on `core` (both cores keep
/// running); [`SubmitError::Cancelled`] if the runtime shut down before the output was
/// produced; [`SubmitError::NoSuchCore`] for a core index the runtime does not have.
///
/// # Panics
///
/// If called outside a ringcore runtime.
///
/// # Cancel safety
///
/// Nothing is sent until the first poll. Dropping the future after that does not cancel
/// the work on `core`: it runs to completion and its output is dropped there.
///
/// # Examples
///
/// ```
/// use ringcore::CoreId;
///
/// let rt = ringcore::Runtime::builder().cores(2).build()?;
/// let n = rt.block_on(async {
///     ringcore::submit_to(CoreId::new(1), || async { 6 * 7 }).await
/// });
/// assert_eq!(n.unwrap(), 42);
/// # Ok::<(), ringcore::BuildError>(())
/// ```
pub async fn submit_to<F, Fut>(core: CoreId, f: F) -> Result<Fut::Output, SubmitError>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    spawn_on(core, f).await
}

/// Starts one job on every core of the current runtime, each with state of its own, and
/// returns a future of their outputs in core order (the thread-per-core "run this on every
/// shard" step: a listener per core, a per-core cache, a receiver per core).
///
/// `make(core)` is called here, on the calling task, once per core from 0 up; each `G` it
/// returns is sent to its core and called there, and the future that builds runs there (so
/// it need not be `Send`). `make` is `FnMut` and each `G` is `FnOnce`, so per-core state
/// can be moved in: a channel `Receiver`, a `std` socket, an iterator's next item. Jobs
/// start at once (before the returned future is first polled); the current core's job runs
/// as a task of this core. Works from inside any task on any core, including under
/// `#[ringcore::main(cores = N)]`; [`Runtime::run_on_each_core`](crate::Runtime::run_on_each_core)
/// is the same from outside.
///
/// # Panics
///
/// If called outside a ringcore runtime. Awaiting the returned future panics if a job or
/// its future panicked on its core (the first such panic in core order is resumed once
/// every core's job has finished; the other cores keep running), or if the runtime shut
/// down before a job finished.
///
/// # Cancel safety
///
/// Dropping the returned future does not stop the jobs: each runs to completion on its
/// core and its output is dropped there. Stop them with a
/// [`CancellationToken`](crate::sync::CancellationToken) they watch.
///
/// # Examples
///
/// ```
/// let rt = ringcore::Runtime::builder().cores(2).build()?;
/// let (tx, rx) = ringcore::channel::channel::<u64>(16);
/// let mut receivers = Some(rx);
/// let sums = rt.block_on(async move {
///     // Core 0 gets the receiver; core 1 a sender. Neither closure is `Sync`.
///     let jobs = ringcore::run_on_each_core(|core| {
///         let rx = receivers.take();
///         let tx = tx.clone();
///         move || async move {
///             match rx {
///                 Some(mut rx) => {
///                     drop(tx);
///                     let mut sum = 0;
///                     while let Some(v) = rx.recv().await {
///                         sum += v;
///                     }
///                     (core.index(), sum)
///                 }
///                 None => {
///                     for v in 1..=10 {
///                         tx.send(v).await.unwrap();
///                     }
///                     (core.index(), 0)
///                 }
///             }
///         }
///     });
///     drop(tx);
///     jobs.await
/// });
/// assert_eq!(sums, [(0, 55), (1, 0)]);
/// # Ok::<(), ringcore::BuildError>(())
/// ```
#[track_caller]
pub fn run_on_each_core<M, G, Fut>(mut make: M) -> EachCore<Fut::Output>
where
    M: FnMut(CoreId) -> G,
    G: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    let cores = peers().len();
    let handles = (0..cores)
        .map(|i| {
            let core = CoreId::new(i);
            spawn_on(core, make(core))
        })
        .collect();
    EachCore {
        handles,
        outputs: Vec::with_capacity(cores),
        first_panic: None,
    }
}

/// The future of [`run_on_each_core`]: the jobs' outputs in core order. It holds only the
/// jobs' handles (not `make`), so what `make` borrowed is free once the jobs have started.
#[must_use = "the jobs run anyway; await this to get their outputs"]
pub struct EachCore<T> {
    /// Handles not yet finished, in core order.
    handles: std::collections::VecDeque<CoreJoinHandle<T>>,
    outputs: Vec<T>,
    /// The first panic in core order, resumed once every job has finished.
    first_panic: Option<Box<dyn Any + Send>>,
}

// Nothing in it is ever pinned: the handles are polled through `Pin::new` (they are Unpin)
// and the outputs are only moved out.
impl<T> Unpin for EachCore<T> {}

impl<T> Future for EachCore<T> {
    type Output = Vec<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        let this = &mut *self;
        while let Some(front) = this.handles.front_mut() {
            let result = match Pin::new(front).poll(cx) {
                Poll::Ready(result) => result,
                Poll::Pending => return Poll::Pending,
            };
            this.handles.pop_front();
            match result {
                Ok(v) => this.outputs.push(v),
                Err(SubmitError::Panic { payload, .. }) => {
                    this.first_panic.get_or_insert(payload);
                }
                Err(e) => panic!("ringcore: run_on_each_core: {e}"),
            }
        }
        if let Some(payload) = this.first_panic.take() {
            std::panic::resume_unwind(payload);
        }
        Poll::Ready(std::mem::take(&mut this.outputs))
    }
}

impl<T> std::fmt::Debug for EachCore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EachCore")
            .field("pending", &self.handles.len())
            .field("done", &self.outputs.len())
            .finish()
    }
}

/// Runs core-local work from a `Send` context and gives a `Send` handle to its result:
/// `f` is called on the current core and the `!Send` future it builds is spawned there as
/// a ringcore task (tokio-util's `LocalPoolHandle::spawn_pinned`, pinned to this core).
/// It is [`spawn_on`] with [`current_core`](crate::current_core).
///
/// The use: a framework that demands `Send` futures (an axum handler, a `tokio::spawn`ed
/// task under the `tokio-context` feature) runs on a ringcore core, but ringcore's I/O
/// futures are `!Send`. The closure is `Send` and builds the future on the core, and the
/// returned [`CoreJoinHandle`] is `Send` whenever the output is, so the handler can await
/// a file read through the ring.
///
/// The task starts at the core's next tick (the job goes through the core's remote queue
/// like one from another core, which costs a lock and no wake-up: the core is running).
/// Its output is `Ok(value)`, or [`SubmitError::Panic`] if `f` or its future panicked
/// (the core keeps running), or [`SubmitError::Cancelled`] if the runtime shut down first.
///
/// # Panics
///
/// If called outside a ringcore core (for instance on tokio's blocking pool).
///
/// # Cancel safety
///
/// Dropping the handle detaches the task: it runs to completion and its output is dropped
/// on the core.
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir().unwrap();
///     let path = dir.path().join("a.txt");
///     std::fs::write(&path, b"through the ring").unwrap();
///     // A `Send` future, as axum or `tokio::spawn` want it, that reads through the ring.
///     let handle = ringcore::task::spawn_pinned(move || async move {
///         ringcore::fs::read(&path).await
///     });
///     fn assert_send<T: Send>(t: T) -> T {
///         t
///     }
///     let bytes = assert_send(handle).await.unwrap().unwrap();
///     assert_eq!(bytes, b"through the ring");
/// });
/// ```
#[track_caller]
pub fn spawn_pinned<F, Fut>(f: F) -> CoreJoinHandle<Fut::Output>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future + 'static,
    Fut::Output: Send + 'static,
{
    spawn_on(super::current_core(), f)
}
