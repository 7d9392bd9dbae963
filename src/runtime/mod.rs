//! The runtime: [`Runtime`] runs futures on one or more cores (each a driver, an executor
//! and timers on one thread) and shuts them down; `block_on`, `spawn`, `yield_now`.
//! [`Builder`] and its validation are in src/runtime/builder.rs; the driver a core runs is
//! built by src/driver/build.rs (backend choice, ring setup, registered-file table).

pub(crate) mod blocking;
mod builder;
pub(crate) mod context;
pub(crate) mod core;
pub(crate) mod cores;
pub(crate) mod report;
pub(crate) mod submit;
#[cfg(feature = "tokio-context")]
pub(crate) mod tokio_context;

use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;

pub use crate::driver::build::{BuildError, DRIVER_ENV, DriverKind};
pub use builder::Builder;
use context::is_set;
pub use cores::{CoreId, current_core, num_cores};

use crate::executor::task::{CatchPanic, JoinHandle};
pub use crate::metrics::CoreMetrics;
use crate::metrics::{MetricsHandle, RuntimeMetrics};
pub use crate::sys::uring::SetupMode;
use core::Core;
use submit::SubmitError;

/// A ringcore runtime: one or more cores, each an io_uring, an executor and timers on one
/// thread. Core 0 is the thread that built it; cores 1.. (see [`Builder::cores`]) are
/// threads of their own that run all the time.
///
/// Tasks spawned inside [`block_on`](Runtime::block_on) run whenever core 0 runs;
/// they survive between `block_on` calls. Dropping the runtime asks every worker core to
/// stop, shuts down core 0, then joins the workers; each core cancels every task
/// (dropping its future on its own thread), cancels every in-flight op and waits for the
/// kernel to release its buffers, then closes its ring.
///
/// The runtime is `!Send`: it belongs to the thread that built it.
pub struct Runtime {
    core: Rc<Core>,
    mode: Option<SetupMode>,
    peers: Arc<cores::Peers>,
    workers: Vec<cores::Worker>,
    saved_mask: Option<crate::sys::affinity::SavedMask>,
}

impl Runtime {
    /// Builds a runtime with the default settings; see [`Builder::build`].
    ///
    /// # Errors
    ///
    /// As [`Builder::build`].
    pub fn new() -> Result<Runtime, BuildError> {
        Builder::new().build()
    }

    /// A [`Builder`].
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// Runs `future` to completion on this thread, running spawned tasks and I/O
    /// alongside it, and returns its output.
    ///
    /// # Panics
    ///
    /// If called while a ringcore runtime is already running on this thread (from inside
    /// a task). Panics of `future` itself propagate.
    #[track_caller]
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert!(
            !is_set(),
            "ringcore: block_on called from inside a running ringcore runtime"
        );
        let _guard = context::enter(&self.core);
        self.core.block_on(future)
    }

    /// Runs `f(core)` on every core at once, each future built and polled on its own core
    /// (so it need not be `Send`), and returns their outputs in core order. Core 0's future
    /// runs on this thread, as with [`block_on`](Runtime::block_on).
    ///
    /// # Panics
    ///
    /// If called from inside a running ringcore runtime; if any core's closure or future
    /// panics (the first panic, in core order, is resumed here once every other core is
    /// done).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = ringcore::Runtime::builder().cores(2).build()?;
    /// let cores = rt.run_on_all(|core| async move {
    ///     ringcore::yield_now().await;
    ///     (core, ringcore::current_core())
    /// });
    /// assert!(cores.iter().all(|(a, b)| a == b));
    /// # Ok::<(), ringcore::BuildError>(())
    /// ```
    pub fn run_on_all<F, Fut>(&self, f: F) -> Vec<Fut::Output>
    where
        F: Fn(CoreId) -> Fut + Send + Sync + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        let f = Arc::new(f);
        let results = self.block_on(async {
            let others: Vec<_> = (1..self.peers.len())
                .map(|i| {
                    let f = f.clone();
                    let core = CoreId::new(i);
                    submit::spawn_on(core, move || f(core))
                })
                .collect();
            let first = CatchPanic::new(f(CoreId::new(0))).await;
            let mut results = vec![first.map_err(|panicked| SubmitError::Panic {
                core: CoreId::new(0),
                payload: panicked.0,
            })];
            for handle in others {
                results.push(handle.await);
            }
            results
        });
        results
            .into_iter()
            .map(|r| match r {
                Ok(v) => v,
                Err(SubmitError::Panic { payload, .. }) => std::panic::resume_unwind(payload),
                Err(e) => panic!("ringcore: run_on_all: {e}"),
            })
            .collect()
    }

    /// Runs one job on every core, each with state of its own, and returns their outputs
    /// in core order: [`run_on_each_core`](crate::run_on_each_core) from outside the
    /// runtime (core 0's job runs on this thread, inside [`block_on`](Runtime::block_on)).
    /// Unlike [`run_on_all`](Runtime::run_on_all), `make` is `FnMut` and each job
    /// `FnOnce + Send`, so per-core state (a receiver, a socket) can be moved into one core's
    /// job.
    ///
    /// # Panics
    ///
    /// If called from inside a running ringcore runtime (use
    /// [`run_on_each_core`](crate::run_on_each_core) there); if a job or its future panics
    /// (the first panic in core order is resumed here once every core is done).
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = ringcore::Runtime::builder().cores(2).build()?;
    /// let names = vec![String::from("zero"), String::from("one")];
    /// let mut names = names.into_iter();
    /// let out = rt.run_on_each_core(|core| {
    ///     let name = names.next().unwrap();
    ///     move || async move { format!("{name} on {}", core.index()) }
    /// });
    /// assert_eq!(out, ["zero on 0", "one on 1"]);
    /// # Ok::<(), ringcore::BuildError>(())
    /// ```
    pub fn run_on_each_core<M, G, Fut>(&self, make: M) -> Vec<Fut::Output>
    where
        M: FnMut(CoreId) -> G,
        G: FnOnce() -> Fut + Send + 'static,
        Fut: Future + 'static,
        Fut::Output: Send + 'static,
    {
        self.block_on(async move { submit::run_on_each_core(make).await })
    }

    /// How many cores this runtime runs.
    pub fn cores(&self) -> usize {
        self.peers.len()
    }

    /// Spawns a task on this runtime from outside it; it starts running at the next
    /// `block_on`.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let _guard = context::enter(&self.core);
        self.core.spawn(future, None, Location::caller())
    }

    /// Which io_uring setup flags the kernel accepted; `None` on the epoll driver.
    pub fn setup_mode(&self) -> Option<SetupMode> {
        self.mode
    }

    /// The driver the cores run: [`DriverKind::IoUring`], or [`DriverKind::Epoll`] when it
    /// was asked for or io_uring was refused (see [`DriverKind::Auto`]).
    pub fn driver_kind(&self) -> DriverKind {
        self.core.kind
    }

    /// Every core's counters and histograms, core 0 first (see [`CoreMetrics`] and the
    /// [`metrics`](crate::metrics) module). Core 0's are exact (it publishes them first, on
    /// this thread); the other cores' are as of their last publish, at most 32 ticks ago
    /// and exact for a parked core. Reading stops no core.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = ringcore::Runtime::builder().cores(2).build()?;
    /// rt.block_on(async { ringcore::spawn(async {}).await.unwrap() });
    /// let m = rt.metrics();
    /// assert_eq!(m.num_workers(), 2);
    /// assert_eq!(m.cores[0].tasks_spawned, 1);
    /// assert!(m.cores[0].schedule_delay.count() >= 1);
    /// # Ok::<(), ringcore::BuildError>(())
    /// ```
    pub fn metrics(&self) -> RuntimeMetrics {
        self.core.publish_metrics();
        self.peers.metrics().snapshot_now()
    }

    /// A `Send + Sync` handle that reads every core's metrics from any thread, during the
    /// runtime's life, its shutdown and after it (then
    /// [`MetricsError::Stopped`](crate::metrics::MetricsError::Stopped) with the final
    /// counters).
    pub fn metrics_handle(&self) -> MetricsHandle {
        self.peers.metrics()
    }

    /// Ops whose final CQE has not arrived yet (including those of dropped futures).
    pub fn ops_in_flight(&self) -> usize {
        self.core.driver.in_flight()
    }

    /// Tasks spawned and not yet finished.
    pub fn live_tasks(&self) -> usize {
        self.core.executor.live_tasks()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Every core shuts down in parallel: workers on their threads, core 0 here.
        for w in &self.workers {
            w.request_stop();
        }
        {
            let _guard = context::enter(&self.core);
            self.core.shutdown();
        }
        self.core.executor.remote().close();
        for w in &mut self.workers {
            w.join();
        }
        if let Some(mask) = &self.saved_mask {
            crate::sys::affinity::restore(mask);
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("cores", &self.peers.len())
            .field("driver", &self.core.kind)
            .field("setup_mode", &self.mode)
            .field("live_tasks", &self.live_tasks())
            .field("ops_in_flight", &self.ops_in_flight())
            .finish()
    }
}

/// Runs `future` on a new single-core runtime on this thread and returns its output; the
/// runtime (and every task spawned on it) is shut down before this returns.
///
/// # Panics
///
/// If the runtime cannot be built (the message is the [`BuildError`]; use
/// [`Runtime::new`] to handle it as a value), or if called from inside a running runtime.
///
/// # Examples
///
/// ```
/// let n = ringcore::block_on(async {
///     let task = ringcore::spawn(async { 40 });
///     task.await.unwrap() + 2
/// });
/// assert_eq!(n, 42);
/// ```
#[track_caller]
pub fn block_on<F: Future>(future: F) -> F::Output {
    let rt = Runtime::new().unwrap_or_else(|e| panic!("ringcore: cannot start the runtime: {e}"));
    rt.block_on(future)
}

/// Spawns a task on the current core. The future need not be `Send`: it never leaves
/// this core.
///
/// The task starts at the next tick; its [`JoinHandle`] resolves to its output, or to a
/// [`JoinError`](crate::JoinError) if it panicked or was aborted. Dropping the handle
/// detaches the task.
///
/// # Panics
///
/// If called outside a ringcore runtime.
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let handle = ringcore::spawn(async { panic!("boom") });
///     let err = handle.await.unwrap_err();
///     assert_eq!(err.panic_message(), Some("boom"));
/// });
/// ```
#[track_caller]
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let location = Location::caller();
    spawn_with(future, None, location)
}

/// Spawns a task with a name, shown by [`debug::current_task`](crate::debug::current_task),
/// [`debug::all_tasks`](crate::debug::all_tasks) and slow-poll reports (asyncio's
/// `create_task(coro, name=...)`); see [`spawn`].
///
/// # Panics
///
/// If called outside a ringcore runtime.
#[track_caller]
pub fn spawn_named<F>(name: impl Into<String>, future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    spawn_with(
        future,
        Some(name.into().into_boxed_str()),
        Location::caller(),
    )
}

/// As [`spawn_named`], with an optional name and an explicit spawn location.
pub(crate) fn spawn_with<F>(
    future: F,
    name: Option<Box<str>>,
    location: &'static Location<'static>,
) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    context::with(|core| core.spawn(future, name, location))
}

/// Yields to the executor, so other ready tasks, I/O completions and timers get a turn
/// (asyncio's `await asyncio.sleep(0)`).
///
/// The task runs again only after the core has fired its expired timers and taken the
/// completions that are ready, behind every task those woke: a task that yields in a loop
/// runs once per tick, so a timer on its core is late by at most one poll of each ready
/// task plus the tick. The same holds for any task that wakes its own waker while it is
/// polled and returns `Pending` (docs/hazards.md, H24).
///
/// # Cancel safety
///
/// Cancel-safe: there is nothing to lose.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            std::task::Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    })
    .await
}
