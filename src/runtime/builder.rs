//! [`Builder`]: a runtime's settings, their validation, and the setup of one core from
//! them. The driver itself is built by src/driver/build.rs from a `DriverConfig`; the
//! builder never reaches into driver internals.

use std::rc::Rc;
use std::time::Duration;

use super::blocking::BlockingPool;
use super::core::Core;
use super::{BuildError, DriverKind, Runtime, SetupMode, cores};
use crate::driver::{self, build::DriverConfig};

/// Configures and builds a [`Runtime`].
///
/// # Examples
///
/// ```
/// let rt = ringcore::Runtime::builder().ring_entries(128).build()?;
/// assert_eq!(rt.block_on(async { 1 + 1 }), 2);
///
/// // Thread-per-core: one executor (and ring) per core.
/// let rt = ringcore::Runtime::builder().cores(2).build()?;
/// assert_eq!(rt.run_on_all(|core| async move { core.index() * 10 }), [0, 10]);
/// # Ok::<(), ringcore::BuildError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Builder {
    cores: usize,
    pin: bool,
    spin_before_park: Duration,
    ring_entries: u32,
    event_interval: usize,
    inline_per_tick: u32,
    blocking_threads: usize,
    blocking_idle_timeout: Duration,
    debug: Option<bool>,
    slow_poll_threshold: Duration,
    telemetry: Option<bool>,
    setup_mode: Option<SetupMode>,
    driver: DriverKind,
    /// The driver core 0 ended up with, which cores 1.. then use (set by `build`).
    resolved: Option<DriverKind>,
    recv_pool: (u16, u32),
    recv_pool_max: Option<u16>,
    send_zc_from: Option<usize>,
    registered_files: u32,
    sqpoll: Option<Duration>,
    tokio_context: Option<bool>,
}

/// asyncio's default `loop.slow_callback_duration`.
const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(100);
/// `Builder::registered_files`'s default.
const DEFAULT_REGISTERED_FILES: u32 = 1024;

impl Default for Builder {
    fn default() -> Self {
        Self {
            cores: 1,
            pin: false,
            spin_before_park: Duration::ZERO,
            ring_entries: 256,
            event_interval: 61,
            inline_per_tick: driver::DEFAULT_INLINE_PER_TICK,
            blocking_threads: 16,
            blocking_idle_timeout: Duration::from_secs(10),
            debug: None,
            slow_poll_threshold: DEFAULT_SLOW_POLL,
            telemetry: None,
            setup_mode: None,
            driver: DriverKind::Auto,
            resolved: None,
            recv_pool: driver::resources::DEFAULT_POOL,
            recv_pool_max: None,
            send_zc_from: driver::resources::DEFAULT_SEND_ZC_FROM,
            registered_files: DEFAULT_REGISTERED_FILES,
            sqpoll: None,
            tokio_context: None,
        }
    }
}

/// `Builder::new()`'s ring entries and registered-file slots (for the capability report).
pub(crate) fn defaults() -> (u32, u32) {
    let b = Builder::new();
    (b.ring_entries, b.registered_files)
}

impl Builder {
    /// A builder with the defaults: 256 SQEs (512 CQEs), 61 tasks per tick, at most 16
    /// blocking threads that retire after 10 s idle, 1024 registered-file slots.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many cores (executor threads, each with its own ring) to run (default 1, at most
    /// the number of CPUs this process may use). Core 0 is the thread that calls
    /// [`build`](Builder::build) (it runs inside [`Runtime::block_on`] and
    /// [`Runtime::run_on_all`]); cores 1.. are threads named `ringcore-core-<i>`.
    pub fn cores(mut self, cores: usize) -> Self {
        self.cores = cores;
        self
    }

    /// Pins core `i` to the `i`-th CPU of this process's affinity mask (default off).
    /// Core 0's thread is the caller's: it is pinned while the runtime lives and gets its
    /// previous mask back when the runtime is dropped.
    pub fn pin(mut self, pin: bool) -> Self {
        self.pin = pin;
        self
    }

    /// How long an idle core keeps watching for work from other cores before it parks in
    /// the kernel (default zero: park at once).
    ///
    /// A parked core is woken by an eventfd write and a cross-CPU wake-up, which costs tens
    /// of microseconds on some machines (VMs especially); a spinning core sees a
    /// [`submit_to`](crate::submit_to) job or a channel wake within a microsecond, at the
    /// price of burning its CPU for up to `spin` every time it runs out of work. Worth it for
    /// latency-critical servers with a CPU per core; wasteful on shared machines. I/O
    /// completions are not reaped during the spin (it ends at the next timer deadline).
    pub fn spin_before_park(mut self, spin: Duration) -> Self {
        self.spin_before_park = spin;
        self
    }

    /// Submission queue entries of each core's ring (a power of two from 2 to 32768;
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

    /// The most threads each core's [`spawn_blocking`](crate::offload::spawn_blocking)
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

    /// Sets the ring up in exactly this mode, with no fallback (default: the fastest the
    /// kernel accepts: [`SetupMode::DeferTaskrun`], then [`SetupMode::CoopTaskrun`], then
    /// [`SetupMode::Plain`]; with the [tokio context](Builder::tokio_context) on, the
    /// same without DEFER_TASKRUN). For tests and for comparing modes; `build` fails with
    /// the kernel's error (usually EINVAL, as [`BuildError::Io`]) if it refuses the mode,
    /// and with [`BuildError::InvalidConfig`] for [`SetupMode::DeferTaskrun`] while the
    /// tokio context is on.
    pub fn setup_mode(mut self, mode: SetupMode) -> Self {
        self.setup_mode = Some(mode);
        self
    }

    /// Which driver each core runs (default [`DriverKind::Auto`]: io_uring, or the epoll
    /// readiness driver where io_uring is refused). The environment variable
    /// `RINGCORE_DRIVER` (`auto`, `uring`, `epoll`) overrides this.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringcore::DriverKind;
    ///
    /// let rt = ringcore::Runtime::builder().driver(DriverKind::Epoll).build()?;
    /// # if std::env::var_os("RINGCORE_DRIVER").is_none() {
    /// assert_eq!(rt.driver_kind(), DriverKind::Epoll);
    /// # }
    /// assert_eq!(rt.block_on(async { 6 * 7 }), 42);
    /// # Ok::<(), ringcore::BuildError>(())
    /// ```
    pub fn driver(mut self, kind: DriverKind) -> Self {
        self.driver = kind;
        self
    }

    /// How many ops per tick may complete inline, without an SQE: file reads whose data is
    /// in the page cache (see [`File::read_at`](crate::fs::File::read_at)) and socket sends
    /// that would otherwise go out alone (send(2) with MSG_DONTWAIT). Default 64. 0 sends
    /// every op through the ring.
    pub fn inline_reads_per_tick(mut self, n: u32) -> Self {
        self.inline_per_tick = n;
        self
    }

    /// The shape of each core's pool of receive buffers for
    /// [`RecvStream`](crate::net::RecvStream)s: `buffers` buffers (a power of two, at most
    /// 32768) of `bytes` bytes each (default 32 of 16 KiB, 512 KiB per core). The pool is
    /// allocated and registered (IORING_REGISTER_PBUF_RING) on a core's first receive
    /// stream. When a receive finds the pool empty (`ENOBUFS`) the pool grows by another
    /// `buffers` buffers, up to [`recv_buffer_pool_max`](Builder::recv_buffer_pool_max)
    /// (default: as many as fit in 16 MiB, at least `buffers`; 1024 for the default pool);
    /// past that,
    /// receives fall back to plain buffers until buffers return. Larger buffers mean fewer
    /// CQEs for bulk transfers.
    ///
    /// `build` fails with [`BuildError::InvalidConfig`] if `buffers` is not a power of two
    /// up to 32768 or `bytes` is 0 or over 4 GiB.
    pub fn recv_buffer_pool(mut self, buffers: u16, bytes: usize) -> Self {
        self.recv_pool = (buffers, u32::try_from(bytes).unwrap_or(0));
        self
    }

    /// The most buffers each core's receive pool grows to (see
    /// [`recv_buffer_pool`](Builder::recv_buffer_pool)): a power of two, at least the
    /// pool's first count, at most 32768. Default: as many buffers as fit in 16 MiB (a
    /// power of two), at least the first count.
    /// Equal to the first count, the pool never grows. A grown pool keeps its buffers
    /// until the runtime is dropped: the most memory it holds is `max_buffers` times the
    /// buffer size, per core, and it reaches that only under bursts that empty it.
    ///
    /// `build` fails with [`BuildError::InvalidConfig`] if `max_buffers` is not a power of
    /// two, is smaller than the first count, or exceeds 32768.
    pub fn recv_buffer_pool_max(mut self, max_buffers: u16) -> Self {
        self.recv_pool_max = Some(max_buffers);
        self
    }

    /// TCP writes (`write`, `write_all` and their halves' forms) of at least `bytes` bytes
    /// go out with IORING_OP_SEND_ZC (io_uring_prep_send_zc(3), Linux 6.0): the kernel
    /// sends from the caller's buffer without copying it, and the write hands the buffer
    /// back only after the kernel's notification that it no longer reads it. One op takes
    /// at most 256 KiB (`write` returns a short count beyond that; `write_all` continues).
    ///
    /// `None` (the default) never does. Measured on loopback (docs/benchmarks.md, "io_uring
    /// fast paths"), zero-copy costs more sender CPU below 64 KiB, breaks even at 64 KiB and
    /// pays from 128 KiB (about 0.4x the CPU per byte and 2.5x the throughput at 256 KiB
    /// and up), so `Some(128 * 1024)` is the measured threshold. It is not on by default
    /// because it changes when a write completes: the notification comes only once the
    /// peer's kernel has let go of the pages, which for a peer on the same host means once
    /// the peer *application has read the bytes* (and on a network, once they are
    /// acknowledged). Two peers on one host that both write 256 KiB before reading then
    /// wait for each other forever, where plain writes complete into the socket buffers.
    /// Turn it on for servers that send large responses to peers that read them.
    ///
    /// Without SEND_ZC in the kernel (or on a backend without io_uring), and on sockets
    /// other than TCP, writes take the plain path whatever is set here.
    pub fn send_zerocopy_from(mut self, bytes: Option<usize>) -> Self {
        self.send_zc_from = bytes;
        self
    }

    /// Slots in each core's registered-file table (IORING_REGISTER_FILES2, sparse; see
    /// io_uring_register(2)); 0 disables it. Default 1024.
    ///
    /// A socket takes a free slot at its 64th op (send, receive, multishot receive,
    /// readiness poll), and its ops from then on name the slot (IOSQE_FIXED_FILE), which
    /// spares the kernel a lookup and two atomic reference-count updates of the file per
    /// op. Taking and giving back a slot is one io_uring_register(2) call each, so
    /// short-lived sockets never take one. The slot is given back before the socket's fd
    /// closes, so closing or dropping the socket still closes it at once. With every slot
    /// taken, further sockets keep their plain fds; `DriverStats::files_registered` and
    /// `files_table_full` count both.
    ///
    /// The kernel refuses a table larger than the soft RLIMIT_NOFILE, so the table is cut
    /// to that limit; if the kernel refuses it anyway (no sparse tables before Linux 5.19),
    /// the core runs without one. The epoll driver has none.
    pub fn registered_files(mut self, slots: u32) -> Self {
        self.registered_files = slots;
        self
    }

    /// Opt-in submission polling (IORING_SETUP_SQPOLL, io_uring_setup(2)): each core's ring
    /// gets a kernel thread that takes SQEs off the submission queue as they are written,
    /// so a core submits without io_uring_enter(2) while that thread is awake; it sleeps
    /// after `idle` (rounded to whole milliseconds, at least 1 ms) without work, and the
    /// next submission wakes it with one enter. Waiting for completions still enters.
    ///
    /// The thread spins on a CPU of its own while awake, and that CPU time is the
    /// process's: on the echo bench it cost more CPU per message than it saved (see
    /// docs/benchmarks.md, "io_uring fast paths"). The ring cannot use DEFER_TASKRUN with
    /// SQPOLL, so setup tries COOP_TASKRUN next and then the plain ring (Linux 6.18 refuses
    /// COOP_TASKRUN with SQPOLL as well: `cargo run --example doctor` shows which the
    /// kernel takes). If the kernel refuses SQPOLL (EINVAL, or EPERM under a policy), the
    /// ring is built without it.
    pub fn sqpoll(mut self, idle: Duration) -> Self {
        self.sqpoll = Some(idle);
        self
    }

    /// Telemetry: the scheduling-delay and poll-duration histograms, per-opcode counts
    /// and latency histograms, bytes in and out, SQEs per enter (see
    /// [`metrics`](crate::metrics) and [`CoreMetrics`](crate::CoreMetrics)). On by default;
    /// unless set here, the environment variable `RINGCORE_TELEMETRY=0` turns it off.
    /// Off, the core reads no clock for it and each hook is one branch; the counters
    /// (tasks, ops, enters, parks, pool, registered files) are kept either way. Its cost
    /// is measured in docs/benchmarks.md ("Telemetry").
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = ringcore::Runtime::builder().telemetry(false).build()?;
    /// rt.block_on(async { ringcore::spawn(async {}).await.unwrap() });
    /// let m = rt.metrics();
    /// assert!(!m.cores[0].telemetry);
    /// assert_eq!(m.cores[0].schedule_delay.count(), 0);
    /// assert_eq!(m.cores[0].tasks_polled, 1);
    /// # Ok::<(), ringcore::BuildError>(())
    /// ```
    pub fn telemetry(mut self, on: bool) -> Self {
        self.telemetry = Some(on);
        self
    }

    fn telemetry_enabled(&self) -> bool {
        self.telemetry
            .unwrap_or_else(|| std::env::var_os("RINGCORE_TELEMETRY").is_none_or(|v| v != "0"))
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

    /// With the `tokio-context` feature: whether each core runs a tokio context (default
    /// on). Without the feature there is no context and this switch does nothing.
    ///
    /// With the context, each core's tick runs inside a current-thread tokio runtime and a
    /// `tokio::task::LocalSet` of its own, so inside any ringcore task (and the future given
    /// to [`Runtime::block_on`]) `tokio::spawn`, `tokio::task::spawn_local`,
    /// `tokio::time`, `tokio::net`, `tokio::fs`, `tokio::task::spawn_blocking` and
    /// `tokio::runtime::Handle::current()` work, and what they start runs on the same core
    /// (only tokio's blocking pool runs work on other threads). Crates built on them
    /// (hyper-util's tokio client, `axum::serve`, database and RPC clients) run unmodified.
    /// An idle core sleeps once, in tokio's reactor, which waits for the ring as well (see
    /// docs/architecture.md, "The tokio context"). The costs: an idle core's park is an
    /// epoll_wait(2) plus an io_uring_enter(2) when SQEs are queued, where it was one
    /// io_uring_enter(2); a tick with work ready ends with one zero-timeout epoll_wait(2);
    /// an idle core's timers have tokio's millisecond resolution (never early); and the
    /// ring is set up without DEFER_TASKRUN (SINGLE_ISSUER | DEFER_TASKRUN, whose deferred
    /// completions do not wake a sleeper in epoll), so [`Builder::setup_mode`] with
    /// [`SetupMode::DeferTaskrun`] is [`BuildError::InvalidConfig`] while the context is
    /// on.
    ///
    /// Unless set here, the context is on, or off where the environment variable
    /// `RINGCORE_TOKIO_CONTEXT` is `0` (so a benchmark or a deployment can compare or
    /// switch without a rebuild; any other value means on).
    ///
    /// Off (or without the feature), tokio's own types panic inside ringcore tasks with
    /// tokio's "there is no reactor running" message, as outside any runtime. A core whose
    /// `block_on` runs inside another tokio runtime (a `#[tokio::test]`, or under a
    /// `Handle::enter` guard) runs without its own context, and tokio calls there reach
    /// that outer runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = ringcore::Runtime::builder().tokio_context(false).build()?;
    /// rt.block_on(async {
    ///     assert!(tokio::runtime::Handle::try_current().is_err());
    /// });
    /// # Ok::<(), ringcore::BuildError>(())
    /// ```
    pub fn tokio_context(mut self, on: bool) -> Self {
        self.tokio_context = Some(on);
        self
    }

    /// Whether cores get a tokio context: the feature is on and the switch too.
    fn with_tokio(&self) -> bool {
        cfg!(feature = "tokio-context")
            && self.tokio_context.unwrap_or_else(|| {
                std::env::var_os("RINGCORE_TOKIO_CONTEXT").is_none_or(|v| v != "0")
            })
    }

    fn debug_enabled(&self) -> bool {
        self.debug
            .unwrap_or_else(|| std::env::var_os("RINGCORE_DEBUG").is_some_and(|v| v == "1"))
    }

    /// Sets up core 0's ring on the calling thread, starts cores 1.. (each sets up its own
    /// ring on its own thread) and returns the runtime once every core is ready.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidConfig`] for 0 cores or more cores than CPUs this process may
    /// use, a ring size of 0 or over 32768, an event interval of 0 or 0 blocking threads;
    /// [`BuildError::Pin`] if pinning is on and a thread cannot be pinned; otherwise the
    /// kernel's refusal, interpreted: [`BuildError::Disabled`] (sysctl),
    /// [`BuildError::Denied`] (seccomp), [`BuildError::EnterDenied`] (seccomp allowing
    /// setup only), [`BuildError::Unsupported`] (no io_uring),
    /// [`BuildError::Memlock`] (RLIMIT_MEMLOCK), [`BuildError::MissingFeature`] (kernel
    /// older than 5.11), [`BuildError::Io`]. Cores already started are stopped and joined
    /// before the error is returned.
    pub fn build(&self) -> Result<Runtime, BuildError> {
        // A ProcessPool worker whose main forgot init_worker stops here, before it runs
        // the parent's program (src/offload/process/worker.rs).
        crate::offload::process::refuse_uninitialized_worker();
        let cpus = crate::sys::affinity::allowed_cpus();
        if self.cores == 0 || self.cores > cpus.len() {
            return Err(BuildError::InvalidConfig(format!(
                "cores must be in 1..={} (the CPUs this process may use), got {}",
                cpus.len(),
                self.cores
            )));
        }
        self.validate()?;
        let saved_mask = if self.pin {
            let saved = crate::sys::affinity::save().map_err(BuildError::Io)?;
            crate::sys::affinity::pin_current(cpus[0]).map_err(|source| BuildError::Pin {
                core: 0,
                cpu: cpus[0],
                source,
            })?;
            Some(saved)
        } else {
            None
        };
        let restore = |e| {
            if let Some(m) = &saved_mask {
                crate::sys::affinity::restore(m);
            }
            e
        };
        let (core, mode) = self.build_core().map_err(restore)?;
        let core = Rc::new(core);
        // Every core runs the driver core 0 got, so a fallback is decided (and logged) once.
        let mut rest = self.clone();
        rest.resolved = Some(core.kind);
        let launch =
            cores::launch(&rest, self.cores, self.pin.then_some(&cpus[..])).map_err(restore)?;
        let (peers, workers) = launch.finish(&core);
        Ok(Runtime {
            core,
            mode,
            peers,
            workers,
            saved_mask,
        })
    }

    fn validate(&self) -> Result<(), BuildError> {
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
        Ok(())
    }

    /// Sets up one core (driver, eventfd, executor, timers) on the calling thread, with the
    /// driver `RINGCORE_DRIVER` or [`Builder::driver`] asks for (or, on cores 1.., the one
    /// core 0 got). Returns the io_uring setup mode (`None` on the epoll driver).
    pub(crate) fn build_core(&self) -> Result<(Core, Option<SetupMode>), BuildError> {
        let kind = match self.resolved {
            Some(kind) => kind,
            None => DriverKind::from_env()?.unwrap_or(self.driver),
        };
        let built = driver::build::build(&DriverConfig {
            kind,
            ring_entries: self.ring_entries,
            setup_mode: self.setup_mode,
            sqpoll: self.sqpoll,
            registered_files: self.registered_files,
            blocking_threads: self.blocking_threads,
            blocking_idle_timeout: self.blocking_idle_timeout,
            inline_per_tick: self.inline_per_tick,
            recv_pool: self.recv_pool,
            recv_pool_max: self.recv_pool_max,
            send_zc_from: self.send_zc_from,
            no_defer: self.with_tokio(),
        })?;
        let blocking = BlockingPool::new(self.blocking_threads, self.blocking_idle_timeout);
        let (mode, kind) = (built.mode, built.kind);
        let mut core =
            Core::new(built.driver, kind, self.event_interval, blocking).map_err(BuildError::Io)?;
        core.setup_mode = mode;
        core.fallback = built.fallback.as_ref().map(|e| super::report::cause(e).1);
        if self.debug_enabled() {
            core.executor.set_slow_poll(Some(self.slow_poll_threshold));
        }
        core.driver.metrics().set_enabled(self.telemetry_enabled());
        core.spin_before_park.set(self.spin_before_park);
        #[cfg(feature = "tokio-context")]
        if self.with_tokio() {
            core.tokio = Some(
                super::tokio_context::TokioContext::new(&core.driver).map_err(BuildError::Io)?,
            );
        }
        Ok((core, mode))
    }
}
