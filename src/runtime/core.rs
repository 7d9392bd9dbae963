//! One core: an executor, a driver and timers on one thread, and the tick that runs them.
//!
//! ```text
//! loop {
//!     poll the main future if it was woken (return its output once it is ready)
//!     run up to `event_interval` ready tasks (remote queue drained into the local queue,
//!         then the local queue in FIFO order; a task that wakes itself is deferred;
//!         each task poll starts with a full cooperative budget, src/coop.rs)
//!     fire expired timers (if any timer is set)
//!     ready = a task queued or deferred, the main future woken, a task waiting for the
//!         next tick's inline budget, or remote work arriving while the core spins for
//!         up to `spin_before_park` (which flushes first)
//!     if ready, or a remote wake raced the park (`Remote::prepare_park` says no):
//!         flush: submit queued SQEs and take ready CQEs without blocking
//!     else: park: submit and block for >= 1 CQE, a remote wake (the eventfd), the
//!         next timer deadline or the next missed cancel's re-send, whichever is first
//!     either way the driver then refills the tick's inline budget and coop budget
//!     dispatch: wake the tasks whose ops completed, release orphaned resources
//!     queue the deferred tasks behind them
//! }
//! ```

use std::cell::{Cell, OnceCell};
use std::future::Future;
use std::os::fd::{AsFd, OwnedFd};
use std::panic::Location;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use async_task::{Runnable, ScheduleInfo};

use super::blocking::BlockingPool;
use super::context;
use crate::driver::Driver;
use crate::executor::Executor;
use crate::executor::remote::{Remote, Unpark};
use crate::executor::task::{JoinHandle, TaskMeta};
use crate::loom::{AtomicBool, Ordering};
use crate::time::Timers;

static NEXT_CORE_ID: AtomicUsize = AtomicUsize::new(1);

pub(crate) struct Core {
    /// The core's tokio runtime and `LocalSet` (`Builder::tokio_context`); `None`: off.
    /// First, so a core dropped without `shutdown` drops it before the driver whose fd it
    /// has registered in tokio's reactor.
    #[cfg(feature = "tokio-context")]
    pub(crate) tokio: Option<super::tokio_context::TokioContext>,
    /// Process-unique id (never 0).
    pub(crate) id: usize,
    pub(crate) executor: Executor,
    pub(crate) driver: Rc<Driver>,
    /// Which driver `driver` runs on (IoUring or Epoll).
    pub(crate) kind: crate::DriverKind,
    pub(crate) timers: Rc<Timers>,
    pub(crate) blocking: Arc<BlockingPool>,
    pub(crate) event_interval: usize,
    /// Time spent parked in the kernel, and how many parks.
    parked: Cell<(Duration, u64)>,
    /// How long an idle core watches its remote queue before it parks (zero: never).
    pub(crate) spin_before_park: Cell<Duration>,
    /// This core's index and the table of its runtime's cores (thread-per-core).
    pub(crate) placement: OnceCell<super::cores::Placement>,
    /// The io_uring setup mode this core's ring got (`None` on the epoll driver).
    pub(crate) setup_mode: Option<crate::SetupMode>,
    /// Why `DriverKind::Auto` fell back to epoll on this core, in a few words
    /// ("io_uring_setup returned EPERM (seccomp)"); `None` where it did not.
    pub(crate) fallback: Option<String>,
}

/// Wakes a parked core by writing its eventfd.
struct EventFdUnpark(Arc<OwnedFd>);

impl Unpark for EventFdUnpark {
    fn unpark(&self) {
        crate::sys::fd::eventfd_write(self.0.as_fd());
    }
}

/// The waker of `block_on`'s main future: a flag the tick checks.
struct MainWaker {
    woken: AtomicBool,
    remote: Arc<Remote>,
    core_id: usize,
}

impl Wake for MainWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if context::current_id() == self.core_id {
            self.woken.store(true, Ordering::Release);
            #[cfg(feature = "tokio-context")]
            context::try_with(|core| core.wake_parked_in_tokio());
        } else {
            self.remote.wake_flag(&self.woken);
        }
    }
}

impl Core {
    pub(crate) fn new(
        driver: Driver,
        kind: crate::DriverKind,
        event_interval: usize,
        blocking: Arc<BlockingPool>,
    ) -> std::io::Result<Self> {
        let wake_fd = Arc::new(crate::sys::fd::eventfd()?);
        driver.arm_wake_fd(wake_fd.clone())?;
        Ok(Self::assemble(
            driver,
            kind,
            event_interval,
            blocking,
            Box::new(EventFdUnpark(wake_fd)),
        ))
    }

    /// A core of a simulated host (src/sim/): no eventfd and no wake-up read in its ring.
    /// Nothing parks it (the simulation steps it and never calls `prepare_park`), so a
    /// wake from a sibling core only queues the task on its remote queue; the unpark,
    /// never reached, does nothing rather than write a real eventfd.
    #[cfg(feature = "sim")]
    pub(crate) fn simulated(driver: Driver, blocking: Arc<BlockingPool>) -> Self {
        struct NoUnpark;
        impl Unpark for NoUnpark {
            fn unpark(&self) {
                debug_assert!(false, "ringcore::sim: a simulated core was unparked");
            }
        }
        Self::assemble(
            driver,
            crate::DriverKind::Auto,
            61,
            blocking,
            Box::new(NoUnpark),
        )
    }

    fn assemble(
        driver: Driver,
        kind: crate::DriverKind,
        event_interval: usize,
        blocking: Arc<BlockingPool>,
        unpark: Box<dyn Unpark>,
    ) -> Self {
        let id = NEXT_CORE_ID.fetch_add(1, Ordering::Relaxed);
        let remote =
            Arc::new(Remote::new(id, unpark).with_wake_clock(driver.metrics().wake_clock()));
        driver.metrics().set_kind(kind);
        Self {
            #[cfg(feature = "tokio-context")]
            tokio: None,
            id,
            executor: Executor::new(remote, driver.metrics().clone()),
            driver: Rc::new(driver),
            kind,
            timers: Rc::new(Timers::default()),
            blocking,
            event_interval,
            parked: Cell::new((Duration::ZERO, 0)),
            spin_before_park: Cell::new(Duration::ZERO),
            placement: OnceCell::new(),
            setup_mode: None,
            fallback: None,
        }
    }

    /// A ringcore task or the main future was woken on this thread from outside the tick:
    /// if the core waits in tokio, that wait ends (see `tokio_context`).
    #[cfg(feature = "tokio-context")]
    pub(crate) fn wake_parked_in_tokio(&self) {
        if let Some(t) = &self.tokio {
            t.wake_parked();
        }
    }

    pub(crate) fn spawn<F>(
        &self,
        future: F,
        name: Option<Box<str>>,
        location: &'static Location<'static>,
    ) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        // Captures nothing, so async-task wakes a waker by value with one atomic operation
        // (a capturing closure costs a second one per wake). The owning core's remote queue
        // is in the task's metadata, which `Executor::spawn` fills in.
        //
        // A task woken while it runs (a self-wake: `yield_now`, a cooperative budget) is
        // deferred until timers and completions have had their turn (hazard H24).
        let schedule = async_task::WithInfo(|runnable: Runnable<TaskMeta>, info: ScheduleInfo| {
            let Some(remote) = runnable.metadata().remote() else {
                unreachable!("ringcore: a core's task has no remote queue");
            };
            let local = context::on_core(remote.owner(), runnable, |core, runnable| {
                if info.woken_while_running {
                    core.executor.push_deferred(runnable);
                } else {
                    core.executor.push_local(runnable);
                    #[cfg(feature = "tokio-context")]
                    core.wake_parked_in_tokio();
                }
            });
            if let Err(runnable) = local {
                // Another thread (or this one with the core no longer current). The
                // queue is cloned first: once pushed, the task may run and be freed.
                let Some(remote) = runnable.metadata().remote().cloned() else {
                    unreachable!("ringcore: a core's task has no remote queue");
                };
                remote.push_woken(runnable);
            }
        });
        zero_sized(&schedule);
        self.executor.spawn(future, schedule, name, location)
    }

    /// Runs the tick loop until `future` completes. The core must be current.
    #[track_caller]
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let location = Location::caller();
        #[cfg(feature = "tokio-context")]
        if let Some(tokio) = self.tokio.as_ref().filter(|t| t.runs_here()) {
            return tokio.block_on(self.tick_in_tokio(tokio, future, location));
        }
        let main = self.main_waker();
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        loop {
            match self.tick_run(&main, future.as_mut(), &mut cx, location) {
                Tick::Done(v) => return v,
                Tick::Busy => {
                    self.metrics_tick(false);
                    self.driver.flush();
                }
                Tick::Idle => {
                    self.metrics_tick(true);
                    let timeout = self
                        .timers
                        .next_deadline()
                        .map(|d| d.saturating_duration_since(Instant::now()));
                    let start = Instant::now();
                    self.driver.park(timeout);
                    self.executor.remote().unparked();
                    self.count_park(start);
                }
            }
            self.tick_end();
        }
    }

    /// `block_on`'s tick loop, run as a future inside the core's tokio runtime and
    /// `LocalSet` (src/runtime/tokio_context.rs): the same steps (`tick_run`, `tick_end`),
    /// except that an idle core waits in tokio's reactor for the ring's park fd, its next
    /// timer, or a wake from tokio's side, and a busy core lets tokio run (its tasks, and
    /// its reactor and timers with a zero timeout) once `event_interval` task polls or
    /// ticks (61 by default, the interval at which tokio's own scheduler looks at its
    /// reactor) have passed since tokio last ran. Yielding after every tick cost 1-2 us per
    /// tick (an epoll_wait(2) and tokio's scheduler), ten to twenty times a one-task tick
    /// (measured with examples/tokio_context_cost.rs).
    #[cfg(feature = "tokio-context")]
    async fn tick_in_tokio<F: Future>(
        &self,
        tokio: &super::tokio_context::TokioContext,
        future: F,
        location: &'static Location<'static>,
    ) -> F::Output {
        let main = self.main_waker();
        let waker = Waker::from(main.clone());
        let mut cx = Context::from_waker(&waker);
        let mut future = pin!(future);
        let mut sleep = None;
        // The task poll count when tokio last ran, and ticks since.
        let mut yielded_at = (self.executor.counters().1, 0usize);
        loop {
            match self.tick_run(&main, future.as_mut(), &mut cx, location) {
                Tick::Done(v) => return v,
                Tick::Busy => {
                    self.metrics_tick(false);
                    self.driver.flush();
                    self.tick_end();
                    yielded_at.1 += 1;
                    let polls = self.executor.counters().1 - yielded_at.0;
                    if polls >= self.event_interval as u64 || yielded_at.1 >= self.event_interval {
                        tokio.yield_now().await;
                        yielded_at = (self.executor.counters().1, 0);
                    }
                    continue;
                }
                Tick::Idle => {}
            }
            let (busy, recancel) = self.driver.look();
            if !busy {
                self.metrics_tick(true);
                let deadline = match (self.timers.next_deadline(), recancel) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                let start = Instant::now();
                // The remote queue is checked as well: a remote wake between
                // `prepare_park` and here wrote the eventfd, and `look` may have reaped
                // that doorbell's CQE already (the ring fd then polls empty, and tokio
                // would sleep on it), so the queue itself says whether one came.
                tokio
                    .park(deadline, &mut sleep, || {
                        self.executor.has_local()
                            || main.woken.load(Ordering::Acquire)
                            || self.executor.remote().maybe_has_items()
                    })
                    .await;
                self.count_park(start);
                self.driver.look();
            }
            self.executor.remote().unparked();
            self.tick_end();
            yielded_at = (self.executor.counters().1, 0);
        }
    }

    /// The waker of a `block_on` main future on this core (starts woken: the first tick
    /// polls it).
    fn main_waker(&self) -> Arc<MainWaker> {
        Arc::new(MainWaker {
            woken: AtomicBool::new(true),
            remote: self.executor.remote().clone(),
            core_id: self.id,
        })
    }

    /// The first half of a tick, shared by both park strategies: polls the main future if
    /// it was woken (through the executor, which times it and reports a slow poll as
    /// `location`'s), runs up to `event_interval` ready tasks, fires expired timers, and
    /// says whether the core may park (`Idle`: nothing ready and `prepare_park` agreed, so
    /// a remote wake from now on writes the eventfd).
    fn tick_run<F: Future>(
        &self,
        main: &MainWaker,
        future: std::pin::Pin<&mut F>,
        cx: &mut Context<'_>,
        location: &'static Location<'static>,
    ) -> Tick<F::Output> {
        // A load first: the swap (a locked read-modify-write) only when the flag is set,
        // not on every tick.
        if main.woken.load(Ordering::Acquire)
            && main.woken.swap(false, Ordering::AcqRel)
            && let Poll::Ready(v) = self.executor.poll_main(location, || future.poll(cx))
        {
            return Tick::Done(v);
        }
        self.executor.run_batch(self.event_interval);
        if !self.timers.is_empty() {
            self.timers.fire(Instant::now());
        }
        let ready = self.executor.has_local()
            || main.woken.load(Ordering::Acquire)
            || self.driver.budget_waiting()
            || self.spin_for_remote_work(&main.woken);
        if ready || !self.executor.remote().prepare_park(&main.woken) {
            Tick::Busy
        } else {
            Tick::Idle
        }
    }

    /// The last half of a tick: wakes the tasks whose ops completed, releases orphaned
    /// resources, and queues the deferred (self-woken) tasks behind them.
    fn tick_end(&self) {
        self.driver.dispatch();
        self.executor.release_deferred();
    }

    /// Counts one park that began at `start`.
    fn count_park(&self, start: Instant) {
        let (total, n) = self.parked.get();
        self.parked.set((total + start.elapsed(), n + 1));
    }

    /// Publishes the core's counters for readers on other threads (src/metrics/): before
    /// a park, and every 32nd tick.
    #[inline]
    fn metrics_tick(&self, parking: bool) {
        if self.driver.metrics().tick(parking) {
            self.publish_metrics();
        }
    }

    /// Copies the core's counters into its shared metrics cells.
    pub(crate) fn publish_metrics(&self) {
        self.driver.settle_metrics();
        let (tasks_spawned, tasks_polled) = self.executor.counters();
        let (time_parked, parks) = self.parked.get();
        self.driver.metrics().publish(&crate::metrics::Published {
            tasks_spawned,
            tasks_polled,
            live_tasks: self.executor.live_tasks(),
            ops_in_flight: self.driver.in_flight(),
            driver: self.driver.stats(),
            time_parked,
            parks,
            remote_unparks: self.executor.remote().unparks(),
        });
    }

    /// This core's metrics, published first so they are exact.
    pub(crate) fn metrics(&self) -> crate::CoreMetrics {
        self.publish_metrics();
        let index = self.placement.get().map_or(0, |p| p.index.index());
        crate::CoreMetrics::read(super::CoreId::new(index), self.driver.metrics().shared())
    }

    /// With `spin_before_park` set: submits queued SQEs, then watches the remote queue and
    /// `flag` for up to that long (never past the next timer deadline), so a wake from
    /// another core is seen without an eventfd write and a sleep. True if work arrived.
    /// Completions are not reaped while spinning; they are taken when the tick goes on.
    fn spin_for_remote_work(&self, flag: &AtomicBool) -> bool {
        let spin = self.spin_before_park.get();
        if spin.is_zero() {
            return false;
        }
        self.driver.flush();
        let start = Instant::now();
        let until = match self.timers.next_deadline() {
            Some(deadline) => deadline.min(start + spin),
            None => start + spin,
        };
        loop {
            if self.executor.remote().maybe_has_items() || flag.load(Ordering::Acquire) {
                return true;
            }
            for _ in 0..64 {
                std::hint::spin_loop();
            }
            if Instant::now() >= until {
                return false;
            }
        }
    }

    /// Cancels every task, drops timers, cancels and drains every op. The core must be
    /// current.
    pub(crate) fn shutdown(&self) {
        self.publish_metrics();
        self.driver
            .metrics()
            .set_state(crate::metrics::SHUTTING_DOWN);
        self.blocking.shutdown();
        self.executor.shutdown();
        // tokio's tasks go after ringcore's (which may hold tokio sockets and timers, still
        // registered with tokio's reactor) and before the driver drains (tokio tasks may
        // hold ringcore ops).
        #[cfg(feature = "tokio-context")]
        if let Some(t) = &self.tokio {
            t.shutdown();
        }
        self.timers.clear();
        self.driver.dispatch();
        self.driver.shutdown();
        // Dropping cancelled ops' resources may have woken or spawned nothing we could
        // run: every task is gone. Anything woken now is discarded.
        self.executor.shutdown();
        self.publish_metrics();
        self.driver.metrics().set_state(crate::metrics::STOPPED);
    }
}

/// What the first half of a tick found (`Core::tick_run`).
enum Tick<T> {
    /// The main future is ready with its output.
    Done(T),
    /// Something is ready to run: flush without blocking.
    Busy,
    /// Nothing is ready and a remote wake will write the eventfd: the core may sleep.
    Idle,
}

/// Fails the build if `T` (a schedule function) has a size: see `Core::spawn`.
fn zero_sized<T>(_: &T) {
    const { assert!(std::mem::size_of::<T>() == 0) }
}
