//! Deterministic simulation (feature `sim`): the unmodified program on simulated hosts,
//! one thread, a virtual clock, a seeded scheduler and a simulated disk; one seed replays
//! a run exactly.
//!
//! A [`Sim`] holds named hosts. Each host is one ringcore core ([`Sim::host`]) or several
//! ([`Sim::host_cores`]), each an executor, timers and the real driver over a simulation
//! ring of its own (src/driver/sim/mod.rs), running an *entry function* on core 0: an
//! `async` function that builds the host's program with ordinary ringcore APIs
//! ([`spawn`](crate::spawn), [`time`](crate::time), [`fs`](crate::fs), TCP and UDP in
//! [`net`](crate::net), [`channel`](crate::channel), [`sync`](crate::sync), and between
//! a host's cores [`submit_to`](crate::submit_to), [`spawn_on`](crate::spawn_on),
//! [`run_on_each_core`](crate::run_on_each_core) and the cross-core channel). A host's
//! cores share its disk, address and fds, as the threads of one process do; every core
//! of every host runs on the simulation's one thread. The test drives the simulation
//! ([`Sim::run_for`], [`Sim::run_until`]), crashes and restarts hosts ([`Sim::crash`],
//! [`Sim::restart`], or at random times: [`Sim::random_crashes`]), cuts and heals the
//! network ([`Sim::partition`], [`Sim::heal`]) and checks what it wants, on the hosts'
//! disks too ([`Sim::file`]). Hosts reach each other by name:
//! `TcpStream::connect("db:5432")` and `lookup_host("db:5432")` resolve the host named
//! `db` ([`Sim::addr`]), and `db` binds with its own name
//! (`TcpListener::bind("db:5432")`). Links have a latency ([`Sim::net_latency`]) and, if
//! set, a bandwidth ([`Sim::net_bandwidth`]) drawn from the seed;
//! `TcpListener::incoming()` and `TcpStream::recv_stream()` run their io_uring fast paths
//! (multishot accept and receive into each core's provided buffers) with the kernel's
//! semantics.
//!
//! **What the seed decides.** Which host and which of its cores runs next and which of
//! that core's ready tasks (any of them, not the oldest; a job or wake sent from a sibling
//! core is one of them once sent, though jobs sent to one core keep their order, as
//! [`spawn_on`](crate::spawn_on) promises), every op's and message's latency and so the
//! order completions and messages arrive in, every injected fault and stall
//! ([`DiskFaults`]), the cost of each `spawn_blocking` job, which unsynced pages a crash
//! keeps, and what [`rng`] gives the application. Nothing else is random: maps are ordered
//! (or only looked up, never iterated for an order), and the virtual clock
//! ([`time::now`](crate::time::now), the deadlines of [`sleep`](crate::time::sleep) and
//! [`timeout`](crate::time::timeout)) moves only when no task can run, straight to the next
//! timer or completion, so an hour of sleeps takes milliseconds. Every decision goes into a
//! trace whose hash ([`Sim::trace_hash`]) is the same for two runs with one seed.
//!
//! **What cannot be simulated yet is an error, never real I/O**: a `ProcessPool` call
//! fails with `Unsupported`, as does a socket of another family or type than TCP, UDP and
//! Unix stream or datagram (Unix sockets work between the tasks of one host, paths in the
//! host's own namespace); a name that is no simulated
//! host fails with `NotFound`, without a DNS query;
//! an SQE on an fd that is not simulated (a file adopted with `File::from_std`) fails with
//! `EBADF`. `Instant::now()` reads the real clock: use [`time::now`](crate::time::now).
//! What runs without an SQE on a real runtime is simulated too:
//! [`fs::read_dir`](crate::fs::read_dir) lists the host's disk and
//! [`fs::copy`](crate::fs::copy) copies through the ring (both with the disk's latencies,
//! faults and durability, src/sim/disk.rs), and
//! [`spawn_blocking`](crate::offload::spawn_blocking) runs its closure on the host's
//! current core as a task once a virtual cost drawn from the seed has passed
//! ([`Sim::blocking_cost`]).
//!
//! **Failures carry their seed.** A run that deadlocks (the awaited future can never
//! finish: no task ready, no timer, no op in flight) ends with [`SimError::Deadlock`] and a
//! report of every live task; one that passes its virtual-time budget
//! ([`Sim::time_limit`]) with [`SimError::TimeLimit`]. Their `Display` says how to replay:
//! [`seed_from_env`] reads `RINGCORE_SIM_SEED`. [`run_seeds`] runs a scenario per seed and
//! reports the failing ones; [`test_seeds`], which `#[ringcore::test(sim, seeds = N,
//! cores = C)]` expands to, runs a test body as a one-host simulation per seed and fails
//! with the first failing seed and the command that replays it.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use ringcore::sim::Sim;
//!
//! let mut sim = Sim::new(7);
//! sim.host("db", || async {
//!     let f = ringcore::fs::File::create("/wal").await.unwrap();
//!     f.write_all_at(b"hello".to_vec(), 0).await.0.unwrap();
//!     f.sync_all().await.unwrap();
//!     ringcore::time::sleep(Duration::from_secs(3600)).await;
//! })?;
//! let start = std::time::Instant::now();
//! sim.run_for(Duration::from_secs(7200))?; // two virtual hours
//! assert!(start.elapsed() < Duration::from_secs(1));
//! assert_eq!(sim.file("db", "/wal")?.as_deref(), Some(&b"hello"[..]));
//! # Ok::<(), ringcore::sim::SimError>(())
//! ```

pub(crate) mod disk;
mod engine;
mod error;
pub(crate) mod fs;
pub(crate) mod net;
mod queue;
mod seeds;
pub(crate) mod trace;
pub(crate) mod world;

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

pub use disk::DiskFaults;
use engine::stop;
pub use error::SimError;
pub use seeds::{SeedsReport, TestOutcome, run_seeds, test_seeds};
use trace::Kind;
pub(crate) use world::virtual_now;
use world::{Active, HostState, World};

use crate::runtime::context;
use crate::runtime::core::Core;

/// The environment variable [`seed_from_env`] reads: the seed of a run to replay.
pub const SEED_ENV: &str = "RINGCORE_SIM_SEED";

/// `RINGCORE_SIM_SEED`, if set to a number (decimal, or hexadecimal with `0x`).
pub fn seed_from_env() -> Option<u64> {
    let v = std::env::var(SEED_ENV).ok()?;
    let v = v.trim();
    match v.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    }
}

/// True while a simulation runs on this thread (inside a host's task, or inside a
/// [`Sim`] method).
pub fn is_simulated() -> bool {
    virtual_now().is_some()
}

/// The index of the simulated host named `name` in the simulation running on this
/// thread.
pub(crate) fn host_index(name: &str) -> Option<usize> {
    world::with_current(|w| w.hosts.iter().position(|h| h.name == name)).flatten()
}

/// `Err(Unsupported)` naming `what` while a simulation runs on this thread: the guard of
/// the real I/O a simulation has no model of yet (Unix sockets, process pools), so a
/// simulated program never does real I/O silently.
pub(crate) fn refuse_real_io(what: &str) -> std::io::Result<()> {
    if is_simulated() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::Unsupported,
            format!("ringcore::sim: {what} is not simulated (it would do real I/O)"),
        ));
    }
    Ok(())
}

/// A random number generator for the application, forked from the simulation's seeded
/// generator: inside a simulation, the same seed gives the same numbers. Outside one, it
/// is seeded from the operating system's entropy (so code can call it unconditionally).
///
/// Each call draws one number from the simulation's generator (a trace event) and returns
/// a new generator seeded by it; keep the generator and draw from it rather than calling
/// this per number.
pub fn rng() -> fastrand::Rng {
    world::with_current(|w| {
        let seed = w.rng.u64(..);
        let now = w.now;
        w.trace.record(now, usize::MAX - 1, Kind::Rng, 0, 0);
        fastrand::Rng::with_seed(seed)
    })
    .unwrap_or_default()
}

type Entry = Rc<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

struct Host {
    name: String,
    entry: Entry,
    /// How many cores the host runs.
    cores: usize,
    /// Its running cores, core 0 first; empty while it is crashed.
    running: Vec<Rc<Core>>,
}

/// The most cores a simulated host may have ([`Sim::host_cores`]).
pub const MAX_HOST_CORES: usize = 1024;

/// A deterministic simulation; see the [module docs](self).
pub struct Sim {
    world: Rc<RefCell<World>>,
    hosts: Vec<Host>,
    time_limit: Duration,
    step_limit: u64,
    /// Hosts crashed and restarted at random times ([`Sim::random_crashes`]).
    chaos: Vec<Chaos>,
}

/// A host the simulation crashes at times drawn from the seed.
struct Chaos {
    host: usize,
    /// Up time before a crash, drawn uniformly in this range.
    every: (Duration, Duration),
    /// Down time before the restart, drawn uniformly in this range.
    down: (Duration, Duration),
    /// Virtual time of the next crash (or restart, while down).
    next: Duration,
    down_now: bool,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = self.world.borrow();
        f.debug_struct("Sim")
            .field("seed", &w.seed)
            .field("now", &w.now)
            .field(
                "hosts",
                &self.hosts.iter().map(|h| &h.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// What one step of the simulation did.
enum Step {
    /// A task ran.
    Ran,
    /// The clock moved to the next timer or completion.
    Advanced,
    /// Nothing can happen any more (before `until`, if given).
    Idle,
}

impl Sim {
    /// A simulation with no hosts, whose every decision derives from `seed`. The clock
    /// starts at virtual zero; the time budget is one virtual day, the step budget 50
    /// million task polls per run call.
    pub fn new(seed: u64) -> Sim {
        Sim {
            world: Rc::new(RefCell::new(World::new(seed))),
            hosts: Vec::new(),
            time_limit: Duration::from_secs(86_400),
            step_limit: 50_000_000,
            chaos: Vec::new(),
        }
    }

    /// The seed.
    pub fn seed(&self) -> u64 {
        self.world.borrow().seed
    }

    /// Virtual time since the simulation began.
    pub fn elapsed(&self) -> Duration {
        self.world.borrow().now
    }

    /// Fails a run with [`SimError::TimeLimit`] when the virtual clock would pass `limit`
    /// (since the simulation began).
    pub fn time_limit(&mut self, limit: Duration) -> &mut Self {
        self.time_limit = limit;
        self
    }

    /// Fails a run call with [`SimError::StepLimit`] after `steps` task polls.
    pub fn step_limit(&mut self, steps: u64) -> &mut Self {
        self.step_limit = steps;
        self
    }

    /// Adds a host named `name` with one core and an empty disk and starts `entry` on it:
    /// the future it returns is the host's first task (it runs once the simulation runs).
    /// After a [`restart`](Sim::restart), `entry` is called again. The same as
    /// [`host_cores`](Sim::host_cores)`(name, 1, entry)`.
    ///
    /// # Errors
    ///
    /// [`SimError::DuplicateHost`] if the name is taken; [`SimError::Nested`] inside a
    /// ringcore runtime.
    #[track_caller]
    pub fn host<F, Fut>(&mut self, name: &str, entry: F) -> Result<&mut Self, SimError>
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        self.host_cores(name, 1, entry)
    }

    /// Adds a host named `name` with `cores` cores (as [`Builder::cores`](crate::Builder::cores)
    /// gives a runtime) and an empty disk, and starts `entry` on its core 0.
    ///
    /// The host's cores share its disk, its network address and its fds, as the threads
    /// of one process do. Inside it, [`submit_to`](crate::submit_to),
    /// [`spawn_on`](crate::spawn_on), [`run_on_each_core`](crate::run_on_each_core),
    /// [`current_core`](crate::current_core), [`num_cores`](crate::num_cores) and the
    /// cross-core [`channel`](crate::channel) work between them as between the cores of a
    /// runtime, all on the simulation's one thread: a job or a wake for a sibling core is
    /// queued on that core, and which core runs next, and which of its ready tasks, is
    /// drawn from the seed at every step (jobs sent to one core still start in the order
    /// they were sent, as [`spawn_on`](crate::spawn_on) promises). A crash stops every
    /// core of the host; a restart starts them all and calls `entry` again on core 0.
    ///
    /// # Errors
    ///
    /// [`SimError::InvalidCores`] unless `cores` is in `1..=`[`MAX_HOST_CORES`];
    /// [`SimError::DuplicateHost`] if the name is taken; [`SimError::Nested`] inside a
    /// ringcore runtime.
    ///
    /// # Examples
    ///
    /// ```
    /// use ringcore::CoreId;
    /// use ringcore::sim::Sim;
    ///
    /// let mut sim = Sim::new(3);
    /// sim.host_cores("db", 4, || async {})?;
    /// let cores = sim.run_until("db", async {
    ///     let on_2 = ringcore::submit_to(CoreId::new(2), || async {
    ///         ringcore::current_core().index()
    ///     });
    ///     (ringcore::num_cores(), on_2.await.unwrap())
    /// })?;
    /// assert_eq!(cores, (4, 2));
    /// # Ok::<(), ringcore::sim::SimError>(())
    /// ```
    #[track_caller]
    pub fn host_cores<F, Fut>(
        &mut self,
        name: &str,
        cores: usize,
        entry: F,
    ) -> Result<&mut Self, SimError>
    where
        F: Fn() -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        if cores == 0 || cores > MAX_HOST_CORES {
            return Err(SimError::InvalidCores {
                host: name.into(),
                cores,
            });
        }
        if self.hosts.iter().any(|h| h.name == name) {
            return Err(SimError::DuplicateHost(name.into()));
        }
        self.world.borrow_mut().hosts.push(HostState {
            name: name.into(),
            cores,
            ..HostState::default()
        });
        let entry: Entry = Rc::new(move || Box::pin(entry()));
        self.hosts.push(Host {
            name: name.into(),
            entry,
            cores,
            running: Vec::new(),
        });
        let index = self.hosts.len() - 1;
        if let Err(e) = self.start(index) {
            self.hosts.pop();
            self.world.borrow_mut().hosts.pop();
            return Err(e);
        }
        Ok(self)
    }

    /// Sets the faults and latencies of `host`'s disk from now on.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`].
    pub fn disk_faults(&mut self, host: &str, faults: DiskFaults) -> Result<&mut Self, SimError> {
        let i = self.index(host)?;
        self.world.borrow_mut().hosts[i].disk.faults = faults;
        Ok(self)
    }

    /// The bytes of the file at `path` on `host`'s disk as reads see them now (its page
    /// cache state); `None` if there is no file there (or it is a directory).
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`].
    pub fn file(&self, host: &str, path: &str) -> Result<Option<Vec<u8>>, SimError> {
        let i = self.index(host)?;
        let w = self.world.borrow();
        let disk = &w.hosts[i].disk;
        let Ok(path) = disk::normalise(path.as_bytes()) else {
            return Ok(None);
        };
        Ok(disk
            .lookup(&path)
            .and_then(|ino| disk.inode(ino))
            .filter(|i| !i.dir)
            .map(|i| i.data().to_vec()))
    }

    /// True if `host` runs (it was not crashed, or was restarted since).
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`].
    pub fn is_up(&self, host: &str) -> Result<bool, SimError> {
        Ok(!self.hosts[self.index(host)?].running.is_empty())
    }

    /// The hash of the trace so far (FNV-1a over every scheduling decision, clock jump,
    /// completion, crash and restart): equal for two runs with one seed and one program.
    pub fn trace_hash(&self) -> u64 {
        self.world.borrow().trace.hash()
    }

    /// Records in the trace so far.
    pub fn trace_events(&self) -> u64 {
        self.world.borrow().trace.events()
    }

    /// Keeps the text of every trace record from now on (for [`trace_log`](Sim::trace_log);
    /// costs a `String` per record).
    pub fn keep_trace_log(&mut self) -> &mut Self {
        self.world.borrow_mut().trace.keep_log();
        self
    }

    /// The trace records kept since [`keep_trace_log`](Sim::keep_trace_log), one line
    /// each: virtual time, host index, what happened and two numbers.
    pub fn trace_log(&self) -> Vec<String> {
        self.world.borrow().trace.log().to_vec()
    }

    /// Runs the simulation until `duration` of virtual time has passed (or nothing can
    /// happen any more, when the clock jumps to the end). Idle hosts (a server waiting for
    /// connections) are not a deadlock here.
    ///
    /// # Errors
    ///
    /// [`SimError::TimeLimit`], [`SimError::StepLimit`], [`SimError::Nested`].
    pub fn run_for(&mut self, duration: Duration) -> Result<(), SimError> {
        let _active = self.activate()?;
        let end = self.elapsed().saturating_add(duration);
        let mut steps = 0;
        loop {
            match self.step(Some(end))? {
                Step::Ran => {
                    steps += 1;
                    if steps > self.step_limit {
                        return Err(self.step_error());
                    }
                }
                Step::Advanced => {}
                Step::Idle => {
                    if end > self.time_limit {
                        return Err(self.time_error());
                    }
                    self.world.borrow_mut().advance(end);
                    return Ok(());
                }
            }
        }
    }

    /// Spawns `future` on `host` (on its core 0) and runs the simulation until it
    /// completes; its output.
    ///
    /// # Errors
    ///
    /// [`SimError::Deadlock`] if it can never complete; [`SimError::TimeLimit`],
    /// [`SimError::StepLimit`]; [`SimError::Task`] if it panicked or its host crashed;
    /// [`SimError::UnknownHost`], [`SimError::HostDown`], [`SimError::Nested`].
    #[track_caller]
    pub fn run_until<F>(&mut self, host: &str, future: F) -> Result<F::Output, SimError>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let location = Location::caller();
        let i = self.index(host)?;
        let _active = self.activate()?;
        let core = self.hosts[i]
            .running
            .first()
            .cloned()
            .ok_or_else(|| SimError::HostDown(host.into()))?;
        let mut handle = {
            {
                let mut w = self.world.borrow_mut();
                w.current_host = i;
                w.current_core = 0;
            }
            let _enter = context::enter(&core);
            core.spawn(future, Some("sim::run_until".into()), location)
        };
        drop(core);
        let mut steps = 0;
        loop {
            if handle.is_finished() {
                let mut cx = Context::from_waker(Waker::noop());
                if let Poll::Ready(out) = Pin::new(&mut handle).poll(&mut cx) {
                    return out.map_err(|e| SimError::Task {
                        seed: self.seed(),
                        message: e
                            .panic_message()
                            .map_or_else(|| "cancelled".to_string(), str::to_string),
                    });
                }
            }
            match self.step(None)? {
                Step::Ran => {
                    steps += 1;
                    if steps > self.step_limit {
                        return Err(self.step_error());
                    }
                }
                Step::Advanced => {}
                Step::Idle => {
                    if handle.is_finished() {
                        continue;
                    }
                    let w = self.world.borrow();
                    return Err(SimError::Deadlock {
                        seed: w.seed,
                        at: w.now,
                        report: self.report(),
                    });
                }
            }
        }
    }

    /// Crashes `host`: the tasks of all its cores are dropped (their ops cancelled), its
    /// timers cleared,
    /// and its disk goes back to what was durable, with unsynced pages torn by the seed
    /// (see [`DiskFaults`] and the disk model in `src/sim/disk.rs`). It runs nothing until
    /// [`restart`](Sim::restart).
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`], [`SimError::HostDown`] (already crashed),
    /// [`SimError::Nested`].
    pub fn crash(&mut self, host: &str) -> Result<(), SimError> {
        let i = self.index(host)?;
        let _active = self.activate()?;
        let cores = std::mem::take(&mut self.hosts[i].running);
        if cores.is_empty() {
            return Err(SimError::HostDown(host.into()));
        }
        {
            let mut w = self.world.borrow_mut();
            w.current_host = i;
            w.current_core = 0;
        }
        stop(&cores);
        drop(cores);
        let mut w = self.world.borrow_mut();
        let w = &mut *w;
        crate::driver::sim::net::crash(w, i);
        for fd in w.take_released() {
            crate::driver::sim::net::close(w, fd);
        }
        w.forget_host(i);
        let h = &mut w.hosts[i];
        h.incarnation += 1;
        h.wake_read = None;
        h.cq.borrow_mut().clear();
        h.has_cqes = false;
        h.routes.clear();
        h.route_of.clear();
        let rng = &mut w.rng;
        let kept = h.disk.crash(|| rng.bool());
        let now = w.now;
        w.trace.record(now, i, Kind::Crash, kept as i64, 0);
        Ok(())
    }

    /// From now on, crashes `host` (as [`crash`](Sim::crash)) after an up time drawn from
    /// the seed uniformly in `every`, and restarts it (as [`restart`](Sim::restart)) after
    /// a down time drawn in `down`, again and again, while the simulation runs. The crashes
    /// land between task polls, wherever the host's program is: with ops in flight, between
    /// a write and its sync.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`].
    pub fn random_crashes(
        &mut self,
        host: &str,
        every: (Duration, Duration),
        down: (Duration, Duration),
    ) -> Result<&mut Self, SimError> {
        let host = self.index(host)?;
        let mut w = self.world.borrow_mut();
        let next = w.now + w.draw(every);
        drop(w);
        self.chaos.retain(|c| c.host != host);
        self.chaos.push(Chaos {
            host,
            every,
            down,
            next,
            down_now: false,
        });
        Ok(self)
    }

    /// Crashes or restarts the hosts whose random crash or restart is due.
    fn chaos_due(&mut self) -> Result<(), SimError> {
        let now = self.elapsed();
        for k in 0..self.chaos.len() {
            if self.chaos[k].next > now {
                continue;
            }
            let c = &self.chaos[k];
            let name = self.hosts[c.host].name.clone();
            let (range, down_now) = if c.down_now {
                (c.every, false)
            } else {
                (c.down, true)
            };
            if down_now {
                if !self.hosts[c.host].running.is_empty() {
                    self.crash(&name)?;
                }
            } else {
                self.restart(&name)?;
            }
            let next = now + self.world.borrow_mut().draw(range);
            let c = &mut self.chaos[k];
            c.down_now = down_now;
            c.next = next;
        }
        Ok(())
    }

    /// Starts a crashed `host` again, all its cores: its entry function runs anew on core 0
    /// on what its disk kept.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`]; [`SimError::Nested`] inside a ringcore runtime; a host
    /// that runs is left alone (`Ok`).
    pub fn restart(&mut self, host: &str) -> Result<(), SimError> {
        let i = self.index(host)?;
        if !self.hosts[i].running.is_empty() {
            return Ok(());
        }
        self.start(i)
    }

    /// The IPv4 address of `host` in the simulated network (`10.0.x.y`, by the order
    /// hosts were added); `lookup_host("name:port")` inside the simulation resolves to it.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`].
    pub fn addr(&self, host: &str) -> Result<std::net::IpAddr, SimError> {
        Ok(net::host_ip(self.index(host)?).into())
    }

    /// Cuts every link between a host of `a` and a host of `b`: messages between them
    /// (connection requests, data, FINs, resets) are held until [`heal`](Sim::heal);
    /// a connect across the cut fails with `ETIMEDOUT` after 10 virtual seconds.
    ///
    /// # Errors
    ///
    /// [`SimError::UnknownHost`] for a name in either set.
    pub fn partition(&mut self, a: &[&str], b: &[&str]) -> Result<&mut Self, SimError> {
        let (a, b) = (self.indexes(a)?, self.indexes(b)?);
        let mut w = self.world.borrow_mut();
        for &x in &a {
            for &y in &b {
                if x != y {
                    w.net.cut.insert(net::link(x, y));
                }
            }
        }
        drop(w);
        Ok(self)
    }

    /// Heals every partition: the held messages leave now, in the order they were sent,
    /// each with its link's latency.
    pub fn heal(&mut self) -> &mut Self {
        let mut w = self.world.borrow_mut();
        w.net.cut.clear();
        for (from, to, packet) in std::mem::take(&mut w.net.held) {
            w.send(from, to, packet);
        }
        drop(w);
        self
    }

    /// Sets the range a [`spawn_blocking`](crate::offload::spawn_blocking) job's virtual
    /// duration is drawn from (uniform, inclusive; per job, from the seed): the job's
    /// closure runs on its host's core once that much virtual time has passed. Default
    /// 10 us-1 ms.
    pub fn blocking_cost(&mut self, min: Duration, max: Duration) -> &mut Self {
        self.world.borrow_mut().blocking_cost = (min, max.max(min));
        self
    }

    /// Sets the range links' base latencies are drawn from (each pair of hosts draws once,
    /// at its first message; each message adds up to a quarter of the base). Default
    /// 50 us-2 ms.
    pub fn net_latency(&mut self, min: Duration, max: Duration) -> &mut Self {
        let mut w = self.world.borrow_mut();
        w.net.latency = (min, max.max(min));
        w.net.base.clear();
        drop(w);
        self
    }

    /// Sets the range, in bytes per virtual second, links' bandwidths are drawn from (each
    /// pair of hosts draws once, at its first message from now; `None`: unlimited, the
    /// default). Each direction of a link sends one message at a time: a message of `n`
    /// bytes leaves once those sent before it in that direction have, takes
    /// `n / bandwidth` virtual seconds to leave, then the link's latency to arrive. A
    /// host's messages to itself are not limited. A bound of 0 counts as 1 byte per second.
    pub fn net_bandwidth(&mut self, range: Option<(u64, u64)>) -> &mut Self {
        let mut w = self.world.borrow_mut();
        w.net.bandwidth = range.map(|(lo, hi)| (lo.max(1), hi.max(lo).max(1)));
        w.net.link_bandwidth.clear();
        drop(w);
        self
    }

    /// Sets the probability (`0.0..=1.0`, drawn from the seed per datagram) that a UDP
    /// datagram is lost, and that one is delivered twice. Datagrams are reordered by their
    /// latencies on their own (each takes its link's base plus up to a quarter more).
    /// Default: no loss, no duplicates.
    pub fn udp_faults(&mut self, loss: f64, duplicate: f64) -> &mut Self {
        let mut w = self.world.borrow_mut();
        w.net.udp_loss = loss;
        w.net.udp_duplicate = duplicate;
        drop(w);
        self
    }

    fn indexes(&self, names: &[&str]) -> Result<Vec<usize>, SimError> {
        names.iter().map(|n| self.index(n)).collect()
    }

    fn index(&self, host: &str) -> Result<usize, SimError> {
        self.hosts
            .iter()
            .position(|h| h.name == host)
            .ok_or_else(|| SimError::UnknownHost(host.into()))
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _active = Active::enter(&self.world);
        for host in &mut self.hosts {
            stop(&std::mem::take(&mut host.running));
        }
    }
}
