//! The state every simulated host shares on the simulation's thread: the virtual clock,
//! the seeded generator, the queue of SQEs waiting to be performed at a virtual time, the
//! hosts' disks and completion queues, the table of simulated fds, and the trace.
//!
//! Everything is ordered by what the seed decides: events by virtual time and the order
//! they were queued (src/sim/queue.rs), parked ops by the order they parked; the hash maps
//! (`FxHashMap`, whose hash has no random key) only look up, and are never iterated for
//! an order, nor is anything by fd number or address.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::os::fd::RawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;

use super::disk::Disk;
use super::net::{Net, Packet, link};
use super::queue::Timetable;
use super::trace::{Kind, Trace};
use crate::driver::ring::Cqe;
use crate::driver::shared_fd::ReleasedFds;
use crate::sys::sqe::RawSqe;

thread_local! {
    /// The world of the simulation running on this thread, while one runs.
    static CURRENT: RefCell<Option<Rc<RefCell<World>>>> = const { RefCell::new(None) };
    /// Its virtual clock as an `Instant` (read by `time::now` on every timer poll, so a
    /// plain `Cell`).
    static NOW: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The virtual clock, when a simulation runs on this thread.
#[inline]
pub(crate) fn virtual_now() -> Option<Instant> {
    NOW.try_with(Cell::get).ok().flatten()
}

/// Runs `f` with the current simulation's world, if one runs on this thread.
pub(crate) fn with_current<R>(f: impl FnOnce(&mut World) -> R) -> Option<R> {
    let world = CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()?;
    let mut world = world.try_borrow_mut().ok()?;
    Some(f(&mut world))
}

/// Makes `world` the thread's simulation until dropped (nests: restores the previous one).
pub(crate) struct Active {
    prev: Option<Rc<RefCell<World>>>,
    prev_now: Option<Instant>,
}

impl Active {
    pub(crate) fn enter(world: &Rc<RefCell<World>>) -> Self {
        let now = world.borrow().instant();
        let prev = CURRENT.with(|c| c.borrow_mut().replace(world.clone()));
        let prev_now = NOW.with(|n| n.replace(Some(now)));
        Self { prev, prev_now }
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CURRENT.try_with(|c| *c.borrow_mut() = prev);
        let _ = NOW.try_with(|n| n.set(self.prev_now));
    }
}

/// An SQE waiting for its virtual time.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) host: usize,
    pub(crate) incarnation: u32,
    pub(crate) sqe: RawSqe,
}

/// Something the world does at a virtual time.
#[derive(Debug)]
pub(crate) enum Event {
    /// Perform an SQE.
    Sqe(Pending),
    /// A message arrives (src/sim/net.rs).
    Net(Packet),
}

/// What a simulated fd is.
#[derive(Debug, Clone)]
pub(crate) struct OpenFile {
    pub(crate) host: usize,
    pub(crate) ino: u64,
    pub(crate) read: bool,
    pub(crate) write: bool,
    pub(crate) append: bool,
    /// The file position, for reads and writes at offset -1.
    pub(crate) pos: u64,
}

/// One host's share of the world.
#[derive(Debug, Default)]
pub(crate) struct HostState {
    /// The host's name (what `lookup_host` resolves).
    pub(crate) name: String,
    pub(crate) disk: Disk,
    /// CQEs waiting for the host's driver to reap them (shared with its `SimRing`).
    pub(crate) cq: Rc<RefCell<Vec<Cqe>>>,
    /// Which start of the host this is (crashes bump it; older SQEs are dropped).
    pub(crate) incarnation: u32,
    /// The `user_data` of the wake-up read the host's driver keeps armed (it completes
    /// only when cancelled: nothing wakes a simulated core from another thread).
    pub(crate) wake_read: Option<u64>,
    /// CQEs were queued since the host's drivers last looked.
    pub(crate) has_cqes: bool,
    /// How many cores the host has (each a driver on a `SimRing` of its own).
    pub(crate) cores: usize,
    /// With several cores: the host-wide `user_data` the world knows each in-flight SQE
    /// by, mapped to (core, the core's own `user_data`); see [`World::route`].
    pub(crate) routes: BTreeMap<u64, (usize, u64)>,
    /// The reverse of `routes`, for an ASYNC_CANCEL's target.
    pub(crate) route_of: BTreeMap<(usize, u64), u64>,
    /// The next host-wide `user_data` to hand out.
    pub(crate) next_route: u64,
}

/// The host-wide `user_data` of a cancel whose target the world no longer knows: no SQE
/// is ever given it, so the cancel finds nothing (`ENOENT`).
const NO_ROUTE: u64 = u64::MAX;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct World {
    pub(crate) seed: u64,
    pub(crate) rng: fastrand::Rng,
    /// Virtual time since the simulation began.
    pub(crate) now: Duration,
    /// The real instant the virtual clock counts from (only differences of it are used).
    base: Instant,
    /// SQEs to perform and messages to deliver, by (virtual time, sequence)
    /// (src/sim/queue.rs).
    queue: Timetable,
    pub(crate) hosts: Vec<HostState>,
    /// Simulated fds, by the number of the placeholder that stands for each (see
    /// src/driver/sim/mod.rs).
    pub(crate) fds: FxHashMap<RawFd, OpenFile>,
    released: ReleasedFds,
    pub(crate) trace: Trace,
    /// Ops waiting for a socket (a receive with nothing to read, an accept, a connect),
    /// by (host, user_data). Never iterated for an order: `parked_by_fd` has it.
    parked: FxHashMap<(usize, u64), RawSqe>,
    /// The `user_data` of the ops parked on each (host, fd), in the order they parked (a
    /// socket's change wakes these without a scan). An emptied list stays, for the next
    /// op on the fd (fd numbers are reused, so this is as large as the fd table).
    parked_by_fd: FxHashMap<(usize, RawFd), Vec<u64>>,
    pub(crate) net: Net,
    /// The host whose core is current (set by the `Sim` as it enters one).
    pub(crate) current_host: usize,
    /// The range a `spawn_blocking` job's virtual cost is drawn from (src/sim/fs.rs).
    pub(crate) blocking_cost: (Duration, Duration),
    /// Which of that host's cores is current.
    pub(crate) current_core: usize,
}

impl World {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            rng: fastrand::Rng::with_seed(seed),
            now: Duration::ZERO,
            base: Instant::now(),
            queue: Timetable::default(),
            hosts: Vec::new(),
            fds: FxHashMap::default(),
            released: ReleasedFds::subscribe(),
            trace: Trace::default(),
            parked: FxHashMap::default(),
            parked_by_fd: FxHashMap::default(),
            net: Net::default(),
            current_host: 0,
            blocking_cost: (Duration::from_micros(10), Duration::from_millis(1)),
            current_core: 0,
        }
    }

    /// The virtual clock as an `Instant`.
    pub(crate) fn instant(&self) -> Instant {
        self.base + self.now
    }

    /// Virtual time of `at` (an instant on the virtual clock).
    pub(crate) fn since_start(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.base)
    }

    /// Moves the clock to `to` (never back) and publishes it to `time::now`.
    pub(crate) fn advance(&mut self, to: Duration) {
        if to > self.now {
            self.now = to;
            self.trace.record(to, usize::MAX, Kind::Advance, 0, 0);
        }
        let now = self.instant();
        let _ = NOW.try_with(|n| n.set(Some(now)));
    }

    /// A duration uniform in `range` (inclusive), from the seed.
    pub(crate) fn draw(&mut self, (lo, hi): (Duration, Duration)) -> Duration {
        if hi <= lo {
            return lo;
        }
        let span = (hi - lo).as_nanos().min(u128::from(u64::MAX)) as u64;
        lo + Duration::from_nanos(self.rng.u64(0..=span))
    }

    /// True with probability `p`, from the seed (no draw when `p` is 0 or less).
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.f64() < p
    }

    /// Queues `sqe` of `host` to be performed after `delay`.
    pub(crate) fn schedule(&mut self, host: usize, sqe: RawSqe, delay: Duration) {
        let incarnation = self.hosts[host].incarnation;
        self.queue.insert(
            self.now + delay,
            Event::Sqe(Pending {
                host,
                incarnation,
                sqe,
            }),
        );
    }

    /// Sends `packet` from host `from` to host `to`: it arrives after the link's latency,
    /// never before the previous message to the same end, or is held while the link is
    /// cut.
    pub(crate) fn send(&mut self, from: usize, to: usize, packet: Packet) {
        if from != to && self.net.cut.contains(&link(from, to)) {
            self.net.held.push((from, to, packet));
            return;
        }
        let range = self.net.latency;
        let base = match self.net.base.get(&link(from, to)) {
            Some(b) => *b,
            None => {
                let b = self.draw(range);
                self.net.base.insert(link(from, to), b);
                b
            }
        };
        let jitter = self.draw((Duration::ZERO, base / 4));
        let wait = self
            .net
            .transmit(&mut self.rng, (from, to), packet.bytes.len(), self.now);
        let mut at = self.now + wait + base + jitter;
        if let Some(end) = self
            .net
            .conns
            .get_mut(&packet.conn)
            .map(|c| &mut c.ends[packet.to])
        {
            at = at.max(end.last_arrival);
            end.last_arrival = at;
        }
        self.at(at, Event::Net(packet));
    }

    /// Queues `event` at virtual time `at`.
    pub(crate) fn at(&mut self, at: Duration, event: Event) {
        self.queue.insert(at.max(self.now), event);
    }

    /// Parks `sqe` of `host` until its socket changes (or, for a connect, its answer).
    pub(crate) fn park(&mut self, host: usize, sqe: RawSqe) {
        self.parked_by_fd
            .entry((host, sqe.fd))
            .or_default()
            .push(sqe.user_data);
        self.parked.insert((host, sqe.user_data), sqe);
    }

    /// Takes `host`'s parked op whose `user_data` is `target`.
    pub(crate) fn unpark(&mut self, host: usize, target: u64) -> Option<RawSqe> {
        let sqe = self.parked.remove(&(host, target))?;
        if let Some(ops) = self.parked_by_fd.get_mut(&(host, sqe.fd)) {
            ops.retain(|u| *u != target);
        }
        Some(sqe)
    }

    /// `host`'s ops parked on `fd`, in the order they parked.
    pub(crate) fn parked_on(&self, host: usize, fd: RawFd) -> Vec<RawSqe> {
        self.parked_by_fd
            .get(&(host, fd))
            .map(|ops| {
                ops.iter()
                    .filter_map(|u| self.parked.get(&(host, *u)).copied())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Takes `host`'s queued or parked SQE whose `user_data` is `target`, if it has not
    /// been performed.
    pub(crate) fn unschedule(&mut self, host: usize, target: u64) -> Option<RawSqe> {
        if let Some(sqe) = self.unpark(host, target) {
            return Some(sqe);
        }
        self.queue.remove_sqe(host, target)
    }

    /// The virtual time of the first queued SQE or message.
    pub(crate) fn next_due(&self) -> Option<Duration> {
        self.queue.next_time()
    }

    /// Takes the first queued event if it is due now.
    pub(crate) fn pop_due(&mut self) -> Option<Event> {
        self.queue.pop_due(self.now)
    }

    /// Queues a CQE for `host`'s driver.
    pub(crate) fn complete(&mut self, host: usize, user_data: u64, result: i32) {
        let h = &mut self.hosts[host];
        h.cq.borrow_mut().push(Cqe {
            user_data,
            result,
            flags: 0,
            buf_offset: 0,
        });
        h.has_cqes = true;
    }

    /// Names an SQE that `core` of `host` submits by a `user_data` unique in the host.
    ///
    /// Every core's driver numbers its ops by itself (slot and generation), so two cores of
    /// one host may use one `user_data` at once. The world keys in-flight SQEs, parked ops
    /// and CQEs by (host, `user_data`), so on a host of several cores each SQE gets a
    /// host-wide number here (and an ASYNC_CANCEL's target, in `addr`, the number its
    /// target got); [`reap`](World::reap) hands each CQE to the core that submitted it
    /// under its own number. On a host of one core nothing is renamed.
    pub(crate) fn route(&mut self, host: usize, core: usize, sqe: &mut RawSqe) {
        let h = &mut self.hosts[host];
        if h.cores <= 1 {
            return;
        }
        if sqe.opcode == io_uring::opcode::AsyncCancel::CODE {
            sqe.addr = h
                .route_of
                .get(&(core, sqe.addr))
                .copied()
                .unwrap_or(NO_ROUTE);
        }
        let id = h.next_route;
        h.next_route += 1;
        h.routes.insert(id, (core, sqe.user_data));
        h.route_of.insert((core, sqe.user_data), id);
        sqe.user_data = id;
    }

    /// The core of `host` that submitted the SQE now named `user_data` (0 on a host of one
    /// core, whose SQEs are not renamed).
    pub(crate) fn core_of(&self, host: usize, user_data: u64) -> usize {
        self.hosts[host].routes.get(&user_data).map_or(0, |r| r.0)
    }

    /// Moves the CQEs of `core` of `host` (a host of several cores) into `out`, each under
    /// the `user_data` its core gave the SQE; a final CQE (no `IORING_CQE_F_MORE`) ends
    /// the SQE's route.
    pub(crate) fn reap(&mut self, host: usize, core: usize, out: &mut Vec<Cqe>) {
        let h = &mut self.hosts[host];
        let mut cq = h.cq.borrow_mut();
        let mut kept = Vec::new();
        for mut cqe in cq.drain(..) {
            match h.routes.get(&cqe.user_data) {
                Some(&(c, own)) if c == core => {
                    if !io_uring::cqueue::more(cqe.flags) {
                        h.routes.remove(&cqe.user_data);
                        if h.route_of.get(&(c, own)) == Some(&cqe.user_data) {
                            h.route_of.remove(&(c, own));
                        }
                    }
                    cqe.user_data = own;
                    out.push(cqe);
                }
                Some(_) => kept.push(cqe),
                // A CQE of an SQE from before a crash: no core asked for it.
                None => {}
            }
        }
        *cq = kept;
    }

    /// Takes the fds ringcore closed (or handed out) since the last look: their
    /// placeholders are closed or about to be, and the number may come back for a new
    /// one. Files are forgotten here; sockets are returned for the network to close.
    pub(crate) fn take_released(&mut self) -> Vec<RawFd> {
        if self.released.is_empty() {
            return Vec::new();
        }
        let mut sockets = Vec::new();
        for fd in self.released.take() {
            self.fds.remove(&fd);
            if self.net.socks.contains_key(&fd) {
                sockets.push(fd);
            }
        }
        sockets
    }

    /// Forgets every file fd, queued SQE and parked op of `host` (a crash).
    pub(crate) fn forget_host(&mut self, host: usize) {
        self.fds.retain(|_, f| f.host != host);
        self.parked.retain(|(h, _), _| *h != host);
        self.parked_by_fd.retain(|(h, _), _| *h != host);
        self.queue.forget_host(host);
    }
}
