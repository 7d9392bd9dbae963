//! The runtime: builds a core (ring, executor, timers), runs futures on it, shuts it down.

pub(crate) mod context;
pub(crate) mod core;
mod error;

use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

use context::is_set;
pub use error::BuildError;

use crate::driver::{Driver, DriverStats, ring::Uring};
use crate::executor::task::JoinHandle;
use crate::offload::BlockingPool;
use crate::sys;
pub use crate::sys::uring::SetupMode;
use core::Core;

/// Counters of one core, from [`Runtime::metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoreMetrics {
    /// Tasks spawned on this core since it started.
    pub tasks_spawned: u64,
    /// Task polls since it started.
    pub tasks_polled: u64,
    /// Tasks spawned and not yet finished.
    pub live_tasks: usize,
    /// Ops whose final CQE has not arrived yet (including those of dropped futures).
    pub ops_in_flight: usize,
    /// The driver's counters (ops, io_uring_enter calls, stale CQEs).
    pub driver: DriverStats,
    /// Time the core spent blocked in the kernel waiting for completions, wakes or timers.
    pub time_parked: Duration,
    /// Times the core parked.
    pub parks: u64,
}

/// Configures and builds a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = ringcore::Runtime::builder().ring_entries(128).build()?;
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
/// # Ok::<(), ringcore::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    ring_entries: u32,
    event_interval: usize,
    inline_per_tick: u32,
    blocking_threads: usize,
    blocking_idle_timeout: Duration,
    debug: Option<bool>,
    slow_poll_threshold: Duration,
}

/// asyncio's default `loop.slow_callback_duration`.
const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);

impl Default for Builder {
    fn default() -> Self {
        Self {
            ring_entries: 256,
            event_interval: 61,
            inline_per_tick: crate::driver::DEFAULT_INLINE_PER_TICK,
            blocking_threads: 16,
            blocking_idle_timeout: Duration::from_secs(10),
            debug: None,
            slow_poll_threshold: DEFAULT_SLOW_POLL,
        }
    }
}

impl Builder {
    /// A builder with the defaults: 256 SQEs (512 CQEs), 61 tasks per tick, at most 16
    /// blocking threads that retire after 10 s idle.
    pub fn new() -> Self {
        Self::default()
    }

    /// Submission queue entries of the core's ring (a power of two from 2 to 32768;
    /// others are rounded up by the kernel). The completion queue gets twice as many.
    /// More entries let more SQEs go out per io_uring_enter(2); a full SQ is flushed, never
    /// an error.
    pub fn ring_entries(mut self, entries: u32) -> Self {
        self.ring_entries = entries;
        self
    }

    /// How many tasks a tick polls before it reaps completions and fires timers again
    /// (default 61, as tokio's). Lower is fairer to I/O, higher has less overhead.
    pub fn event_interval(mut self, tasks: usize) -> Self {
        self.event_interval = tasks;
        self
    }

    /// The most threads the runtime's [`spawn_blocking`](crate::offload::spawn_blocking)
    /// pool runs at once (default 16, at least 1). Threads start lazily, one per job that
    /// finds no idle thread; once `threads` run, further jobs wait in a FIFO queue.
    pub fn blocking_threads(mut self, threads: usize) -> Self {
        self.blocking_threads = threads;
        self
    }

    /// How long a blocking-pool thread waits for a job before it exits (default 10 s).
    pub fn blocking_idle_timeout(mut self, timeout: Duration) -> Self {
        self.blocking_idle_timeout = timeout;
        self
    }

    /// How many reads per tick may complete inline, without an SQE, when their data is in
    /// the page cache (default 64; see [`File::read_at`](crate::fs::File::read_at)). 0 sends
    /// every op through the ring.
    pub fn inline_reads_per_tick(mut self, n: u32) -> Self {
        self.inline_per_tick = n;
        self
    }

    /// Debug mode (asyncio's `loop.set_debug(True)`): every task poll is timed, and a poll
    /// that takes longer than the [slow-poll threshold](Builder::slow_poll_threshold)
    /// (default 100 ms, asyncio's `slow_callback_duration`) is reported at `warn` level
    /// through the [`log`](https://docs.rs/log) crate, target `ringcore::debug`, with the
    /// task's id, name and spawn location; [`debug::all_tasks`](crate::debug::all_tasks)
    /// also reports each task's time since its last poll.
    ///
    /// Unless set here, debug mode is on when the environment variable `RINGCORE_DEBUG`
    /// is `1` (as asyncio's `PYTHONASYNCIODEBUG`). Off, the executor's poll path only
    /// checks a flag.
    pub fn debug(mut self, on: bool) -> Self {
        self.debug = Some(on);
        self
    }

    /// The poll duration debug mode reports as slow (default 100 ms).
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> Self {
        self.slow_poll_threshold = threshold;
        self
    }

    fn debug_enabled(&self) -> bool {
        self.debug
            .unwrap_or_else(|| std::env::var_os("RINGCORE_DEBUG").is_some_and(|v| v == "1"))
    }

    /// Sets up the ring on the calling thread and returns the runtime.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidConfig`] for a ring size of 0 or over 32768, an event interval
    /// of 0 or 0 blocking threads; otherwise the kernel's refusal, interpreted: [`BuildError::Disabled`] (sysctl),
    /// [`BuildError::Denied`] (seccomp), [`BuildError::Unsupported`] (no io_uring),
    /// [`BuildError::Memlock`] (RLIMIT_MEMLOCK), [`BuildError::MissingFeature`] (kernel
    /// older than 5.11), [`BuildError::Io`].
    pub fn build(&self) -> Result<Runtime, BuildError> {
        if self.ring_entries == 0 || self.ring_entries > 32768 {
            return Err(BuildError::InvalidConfig(format!(
                "ring_entries must be in 1..=32768, got {}",
                self.ring_entries
            )));
        }
        if self.event_interval == 0 {
            return Err(BuildError::InvalidConfig(
                "event_interval must be at least 1".into(),
            ));
        }
        if self.blocking_threads == 0 {
            return Err(BuildError::InvalidConfig(
                "blocking_threads must be at least 1".into(),
            ));
        }
        let setup = sys::uring::setup(self.ring_entries).map_err(|e| {
            BuildError::from_setup_error(
                e,
                sys::fd::read_sysctl("/proc/sys/kernel/io_uring_disabled"),
                sys::fd::memlock_limit(),
                self.ring_entries,
            )
        })?;
        let params = setup.ring.params();
        if !params.is_feature_nodrop() {
            return Err(BuildError::MissingFeature {
                feature: "IORING_FEAT_NODROP",
            });
        }
        if !params.is_feature_ext_arg() {
            return Err(BuildError::MissingFeature {
                feature: "IORING_FEAT_EXT_ARG",
            });
        }
        let mode = setup.mode;
        let driver = Driver::new(Box::new(Uring::new(setup.ring)), setup.features);
        driver.set_inline_per_tick(self.inline_per_tick);
        let blocking = BlockingPool::new(self.blocking_threads, self.blocking_idle_timeout);
        let core = Core::new(driver, self.event_interval, blocking).map_err(BuildError::Io)?;
        if self.debug_enabled() {
            core.executor.set_slow_poll(Some(self.slow_poll_threshold));
        }
        Ok(Runtime {
            core: Rc::new(core),
            mode,
        })
    }
}

/// A ringcore runtime: one core (an io_uring, an executor, timers) on the thread that
/// built it.
///
/// Tasks spawned inside [`block_on`](Runtime::block_on) run whenever the runtime runs;
/// they survive between `block_on` calls. Dropping the runtime cancels every task
/// (dropping its future), cancels every in-flight op and waits for the kernel to release
/// its buffers, then closes the ring.
///
/// The runtime is `!Send`: it belongs to the thread that built it.
pub struct Runtime {
    core: Rc<Core>,
    mode: SetupMode,
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
    pub fn block_on<F: Future>(&self, future: F) -> F::Output {
        assert!(
            !is_set(),
            "ringcore: block_on called from inside a running ringcore runtime"
        );
        let _guard = context::enter(&self.core);
        self.core.block_on(future)
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

    /// Which io_uring setup flags the kernel accepted.
    pub fn setup_mode(&self) -> SetupMode {
        self.mode
    }

    /// Counters of this core: tasks, ops, ring enters.
    pub fn metrics(&self) -> CoreMetrics {
        self.core.metrics()
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
        let _guard = context::enter(&self.core);
        self.core.shutdown();
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
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
    context::with(|core| core.spawn(future, None, location))
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
    let location = Location::caller();
    let name = Some(name.into().into_boxed_str());
    context::with(|core| core.spawn(future, name, location))
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

/// Yields to the executor: the current task goes to the back of the run queue, so other
/// ready tasks, I/O completions and timers get a turn (asyncio's `await asyncio.sleep(0)`).
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
