//! Thread-per-core: core ids, the table of a runtime's cores, worker threads, and the
//! cross-core job path that `submit_to` and `spawn_on` use.
//!
//! Core 0 is the thread that built the runtime: it runs whenever that thread is inside
//! [`Runtime::block_on`](crate::Runtime::block_on) or
//! [`Runtime::run_on_all`](crate::Runtime::run_on_all). Cores 1..n are worker threads; each
//! sets up its own ring on its own thread (the ring is SINGLE_ISSUER), reports back to the
//! builder, waits for the table of all cores ([`Peers`]), then runs its tick loop until the
//! runtime asks it to stop.
//!
//! A job for another core is a `Send` closure wrapped in a one-poll `async_task` task whose
//! schedule function pushes it onto the target core's remote queue (the same queue and
//! eventfd that carry foreign-thread wakes). The target runs it inside its tick with its
//! context set, so the closure can `spawn` a `!Send` future there. After a core has shut
//! down its remote queue is closed: a job sent to it is dropped, which its sender sees as
//! cancelled.
//!
//! Worker threads block SIGINT and SIGTERM when they start, so a process-directed signal
//! is never delivered to (and never kills the process through) a worker; the thread that
//! built the runtime keeps its mask until [`signal`](crate::signal) is used.

use std::future::poll_fn;
use std::panic::Location;
use std::rc::Rc;
use std::sync::{Arc, mpsc};
use std::task::{Poll, Waker};
use std::thread::JoinHandle as ThreadHandle;

use super::context;
use super::core::Core;
use super::{BuildError, Builder};
use crate::executor::next_task_id;
use crate::executor::remote::Remote;
use crate::executor::task::TaskMeta;
use crate::loom::{AtomicBool, Lock, Ordering};
use crate::metrics::{MetricsHandle, Shared};

/// The index of a core within its runtime: `0..cores`.
///
/// Core 0 is the thread that built the runtime; cores 1.. are worker threads, pinned to
/// CPUs in order when [`Builder::pin`] is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CoreId(usize);

impl CoreId {
    /// The core with index `index` (`0..cores`). Whether it exists is checked where it is
    /// used ([`SubmitError::NoSuchCore`](crate::SubmitError::NoSuchCore)).
    pub const fn new(index: usize) -> CoreId {
        CoreId(index)
    }

    /// The index, `0..cores`.
    pub const fn index(self) -> usize {
        self.0
    }
}

impl std::fmt::Display for CoreId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "core {}", self.0)
    }
}

/// One core as the other cores see it.
pub(crate) struct Peer {
    remote: Arc<Remote>,
    /// Its telemetry cells (src/metrics/).
    metrics: Arc<Shared>,
}

/// Every core of a runtime, in core order. Shared by all cores.
pub(crate) struct Peers {
    cores: Vec<Peer>,
}

impl Peers {
    pub(crate) fn len(&self) -> usize {
        self.cores.len()
    }

    /// A handle on every core's metrics cells.
    pub(crate) fn metrics(&self) -> MetricsHandle {
        MetricsHandle::new(self.cores.iter().map(|p| p.metrics.clone()).collect())
    }

    /// Runs `job` on core `core`, inside its tick, with its context set. Returns `false`
    /// (and drops `job`) if there is no such core. A job sent to a core that has shut down
    /// is dropped without running.
    pub(crate) fn send_job(&self, core: CoreId, job: impl FnOnce() + Send + 'static) -> bool {
        let Some(peer) = self.cores.get(core.0) else {
            return false;
        };
        let remote = peer.remote.clone();
        let meta = TaskMeta::unregistered(next_task_id(), Location::caller());
        // A `Send` future that completes on its first poll; the executor runs unregistered
        // runnables like any other, and a dropped one drops `job` (on any thread: it is Send).
        let (runnable, task) = async_task::Builder::new()
            .metadata(meta)
            .spawn(move |_| async move { job() }, move |r| remote.push(r));
        task.detach();
        runnable.schedule();
        true
    }
}

impl std::fmt::Debug for Peers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peers")
            .field("cores", &self.cores.len())
            .finish()
    }
}

/// Where a core sits in its runtime; set once, before the core runs anything.
#[derive(Clone)]
pub(crate) struct Placement {
    pub(crate) index: CoreId,
    pub(crate) peers: Arc<Peers>,
}

/// The core running on this thread.
///
/// # Panics
///
/// If called outside a ringcore runtime.
///
/// # Examples
///
/// ```
/// let rt = ringcore::Runtime::builder().cores(2).build()?;
/// let ids = rt.run_on_all(|core| async move {
///     assert_eq!(ringcore::current_core(), core);
///     core.index()
/// });
/// assert_eq!(ids, [0, 1]);
/// # Ok::<(), ringcore::BuildError>(())
/// ```
#[track_caller]
pub fn current_core() -> CoreId {
    context::with(|c| c.placement.get().map_or(CoreId(0), |p| p.index))
}

/// How many cores the runtime running on this thread has.
///
/// # Panics
///
/// If called outside a ringcore runtime.
#[track_caller]
pub fn num_cores() -> usize {
    context::with(|c| c.placement.get().map_or(1, |p| p.peers.len()))
}

/// The current core's table of peers.
#[track_caller]
pub(crate) fn peers() -> Arc<Peers> {
    context::with(|c| match c.placement.get() {
        Some(p) => p.peers.clone(),
        None => Arc::new(Peers {
            cores: vec![Peer::of(c)],
        }),
    })
}

/// A handle on the metrics of `core`'s runtime (just `core` if it is not placed yet).
pub(crate) fn metrics_handle(core: &Core) -> MetricsHandle {
    match core.placement.get() {
        Some(p) => p.peers.metrics(),
        None => MetricsHandle::new(vec![core.driver.metrics().shared().clone()]),
    }
}

impl Peer {
    fn of(core: &Core) -> Self {
        Peer {
            remote: core.executor.remote().clone(),
            metrics: core.driver.metrics().shared().clone(),
        }
    }
}

/// Asks a worker core to leave its tick loop: `request` sets `flag` and then takes the
/// waker under the lock; `wait` stores its waker under the lock and re-checks `flag`, so a
/// request is never missed (modelled in `loom/models.rs`).
#[derive(Default)]
pub(crate) struct Stop {
    flag: AtomicBool,
    waker: Lock<Option<Waker>>,
}

impl Stop {
    /// Asks the waiting core to stop (any thread).
    pub(crate) fn request(&self) {
        self.flag.store(true, Ordering::Release);
        let waker = self.waker.lock().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Resolves once `request` has been called.
    pub(crate) async fn wait(&self) {
        poll_fn(|cx| {
            if self.flag.load(Ordering::Acquire) {
                return Poll::Ready(());
            }
            *self.waker.lock() = Some(cx.waker().clone());
            // `request` sets the flag before it takes the waker under the same lock.
            if self.flag.load(Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// A worker core's thread, seen from the runtime.
pub(crate) struct Worker {
    stop: Arc<Stop>,
    thread: Option<ThreadHandle<()>>,
}

impl Worker {
    /// Asks the core to stop: it cancels its tasks, drains its ring and exits.
    pub(crate) fn request_stop(&self) {
        self.stop.request();
    }

    /// Waits for the thread to exit.
    pub(crate) fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

/// Ties the cores of one simulated host together (src/sim/): core `k` of `cores` gets
/// `CoreId(k)` and the table of all of them, so `submit_to`, `spawn_on`,
/// `run_on_each_core`, `current_core` and `num_cores` work between them as between the
/// threads of a runtime. They all run on the simulation's one thread; a job or wake for a
/// sibling goes onto its remote queue, which the simulation drains when it steps that core.
#[cfg(feature = "sim")]
pub(crate) fn place_simulated(cores: &[Rc<Core>]) {
    let peers = Arc::new(Peers {
        cores: cores.iter().map(|c| Peer::of(c)).collect(),
    });
    for (index, core) in cores.iter().enumerate() {
        let _ = core.placement.set(Placement {
            index: CoreId(index),
            peers: peers.clone(),
        });
    }
}

/// Started worker threads that have not yet been handed the peer table.
pub(crate) struct Launch {
    workers: Vec<Worker>,
    peer_txs: Vec<mpsc::Sender<Arc<Peers>>>,
    peers: Vec<Peer>,
}

/// Starts worker cores 1..`cores` (pinned to `cpus[i]` if given) and waits until each has
/// set up its ring. On error the workers already started are stopped and joined.
pub(crate) fn launch(
    builder: &Builder,
    cores: usize,
    cpus: Option<&[usize]>,
) -> Result<Launch, BuildError> {
    let mut launch = Launch {
        workers: Vec::new(),
        peer_txs: Vec::new(),
        peers: Vec::new(),
    };
    for index in 1..cores {
        let (ready_tx, ready_rx) = mpsc::channel();
        let (peers_tx, peers_rx) = mpsc::channel();
        let stop = Arc::new(Stop::default());
        let cpu = cpus.map(|c| c[index]);
        let b = builder.clone();
        let s = stop.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("ringcore-core-{index}"))
            .spawn(move || worker_main(b, index, cpu, ready_tx, peers_rx, s));
        let thread = match spawned {
            Ok(t) => t,
            Err(e) => {
                launch.abort();
                return Err(BuildError::Io(e));
            }
        };
        launch.workers.push(Worker {
            stop,
            thread: Some(thread),
        });
        launch.peer_txs.push(peers_tx);
        match ready_rx.recv() {
            Ok(Ok((remote, metrics))) => launch.peers.push(Peer { remote, metrics }),
            Ok(Err(e)) => {
                launch.abort();
                return Err(e);
            }
            Err(_) => {
                launch.abort();
                return Err(BuildError::Io(std::io::Error::other(format!(
                    "ringcore core {index} exited during start-up"
                ))));
            }
        }
    }
    Ok(launch)
}

impl Launch {
    /// Hands every worker the table (core 0 first) and returns the table and the workers.
    pub(crate) fn finish(self, core0: &Rc<Core>) -> (Arc<Peers>, Vec<Worker>) {
        let mut cores = vec![Peer::of(core0)];
        cores.extend(self.peers);
        let peers = Arc::new(Peers { cores });
        let _ = core0.placement.set(Placement {
            index: CoreId(0),
            peers: peers.clone(),
        });
        for tx in &self.peer_txs {
            let _ = tx.send(peers.clone());
        }
        (peers, self.workers)
    }

    /// Stops and joins the workers started so far (their peer channel closes unanswered).
    fn abort(&mut self) {
        self.peer_txs.clear();
        for w in &mut self.workers {
            w.request_stop();
            w.join();
        }
    }
}

/// What a worker reports once its core is built: its remote queue and metrics cells.
type Ready = Result<(Arc<Remote>, Arc<Shared>), BuildError>;

fn worker_main(
    builder: Builder,
    index: usize,
    cpu: Option<usize>,
    ready: mpsc::Sender<Ready>,
    peers: mpsc::Receiver<Arc<Peers>>,
    stop: Arc<Stop>,
) {
    // Best effort: if it fails, signals may still reach this thread, as before.
    let _ = crate::sys::signal::block(&[libc::SIGINT, libc::SIGTERM]);
    if let Some(cpu) = cpu
        && let Err(source) = crate::sys::affinity::pin_current(cpu)
    {
        let _ = ready.send(Err(BuildError::Pin {
            core: index,
            cpu,
            source,
        }));
        return;
    }
    let core = match builder.build_core() {
        Ok((core, _mode)) => Rc::new(core),
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    let remote = core.executor.remote().clone();
    let metrics = core.driver.metrics().shared().clone();
    let _ = ready.send(Ok((remote.clone(), metrics)));
    // No table means the build was abandoned: shut down without running anything.
    let placed = peers.recv().ok().map(|peers| {
        core.placement.set(Placement {
            index: CoreId(index),
            peers,
        })
    });
    {
        let _guard = context::enter(&core);
        if placed.is_some() {
            core.block_on(stop.wait());
        }
        core.shutdown();
    }
    remote.close();
}
