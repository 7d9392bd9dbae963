//! The writer's side: [`Recorder`] (the core's hooks, `!Send`) and [`Shared`] (the cells
//! every reader loads). See the module docs of `crate::metrics` for who writes what.

use std::cell::{Cell, UnsafeCell};
use std::time::{Duration, Instant};

use super::clock::{Clock, nanos_since};

use super::histogram::{Cells, bump};
use crate::driver::DriverStats;
use crate::executor::task::TaskMeta;
use std::sync::Arc;

use crate::loom::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// Opcodes with cells of their own; higher opcodes share the last cell.
pub(crate) const OPCODES: usize = 64;

/// Publish every this many ticks while the core is busy (it always publishes before it
/// parks).
const PUBLISH_EVERY: u32 = 32;

/// Core states, in `Shared::state`.
pub(crate) const RUNNING: u8 = 0;
pub(crate) const SHUTTING_DOWN: u8 = 1;
pub(crate) const STOPPED: u8 = 2;

/// One opcode's cells.
#[derive(Default)]
pub(crate) struct OpCells {
    pub(crate) submitted: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) failed: AtomicU64,
    /// Ops of this opcode done on the core's thread without an SQE (page-cache reads,
    /// a readiness ring's socket transfers).
    pub(crate) inline: AtomicU64,
    pub(crate) latency: Cells,
}

/// What the core copies into [`Shared`] when it publishes (its own `Cell` counters).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Published {
    pub(crate) tasks_spawned: u64,
    pub(crate) tasks_polled: u64,
    pub(crate) live_tasks: usize,
    pub(crate) ops_in_flight: usize,
    pub(crate) time_parked: Duration,
    pub(crate) parks: u64,
    pub(crate) remote_unparks: u64,
    pub(crate) driver: DriverStats,
}

/// The cells of one core that any thread may read. Written only by the core's thread.
pub(crate) struct Shared {
    pub(crate) state: AtomicU8,
    pub(crate) enabled: AtomicBool,
    /// `DriverKind` as `Shared::kind_code` encodes it.
    pub(crate) kind: AtomicU8,
    /// The published counters, in `Published` order, with `DriverStats` flattened
    /// (`snapshot::driver_from`).
    pub(crate) published: [AtomicU64; PUBLISHED],
    pub(crate) schedule_delay: Cells,
    pub(crate) poll_duration: Cells,
    pub(crate) enter_submissions: Cells,
    pub(crate) sqes_submitted: AtomicU64,
    pub(crate) cq_overflows: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) ops: Box<[OpCells; OPCODES]>,
}

/// Counters in `Shared::published`: 7 of the core's own, 17 of `DriverStats`.
pub(crate) const PUBLISHED: usize = 7 + 17;

impl Default for Shared {
    fn default() -> Self {
        Self {
            state: AtomicU8::new(RUNNING),
            enabled: AtomicBool::new(false),
            kind: AtomicU8::new(0),
            published: std::array::from_fn(|_| AtomicU64::new(0)),
            schedule_delay: Cells::default(),
            poll_duration: Cells::default(),
            enter_submissions: Cells::default(),
            sqes_submitted: AtomicU64::new(0),
            cq_overflows: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            ops: Box::new(std::array::from_fn(|_| OpCells::default())),
        }
    }
}

impl Shared {
    fn publish(&self, p: &Published) {
        let d = &p.driver;
        let values: [u64; PUBLISHED] = [
            p.tasks_spawned,
            p.tasks_polled,
            p.live_tasks as u64,
            p.ops_in_flight as u64,
            u64::try_from(p.time_parked.as_nanos()).unwrap_or(u64::MAX),
            p.parks,
            p.remote_unparks,
            d.ops_submitted,
            d.ops_completed,
            d.enters,
            d.stale_cqes,
            d.ops_cancelled,
            d.sq_full_flushes,
            d.enter_errors,
            d.ops_inline,
            d.cancels_missed,
            d.cancels_resent,
            d.recv_bufs_out,
            d.recv_pool_exhausted,
            d.recv_pool_buffers,
            d.recv_pool_parks,
            d.zerocopy_sends,
            d.files_registered,
            d.files_table_full,
        ];
        for (cell, v) in self.published.iter().zip(values) {
            cell.store(v, Ordering::Relaxed);
        }
    }
}

/// Ops of an opcode whose latency is timed: every op up to this many submissions, then
/// one in [`TIME_EVERY`] (the opcode's counts stay exact). Documented on
/// `OpMetrics::latency`.
pub(crate) const TIME_FIRST: u64 = 64;
/// See [`TIME_FIRST`]; a power of two.
pub(crate) const TIME_EVERY: u64 = 16;

/// An op slot's entry in `Recorder::slots`, one `u64` written at submission and read at
/// each of its CQEs: bits 0-5 the opcode's cell (`OPCODES`), bit 6 [`TIMED`], bits 7-63 the
/// submission stamp of a timed op (nanoseconds since the clock's epoch, modulo 2^57:
/// 4.5 years, and a latency is the stamps' difference modulo the same, so a wrap between
/// submission and completion costs nothing).
const CELL_MASK: u64 = 0x3f;
/// See [`CELL_MASK`]: this op's latency is recorded.
const TIMED: u64 = 1 << 6;
/// See [`CELL_MASK`].
const STAMP_SHIFT: u32 = 7;

/// A core's telemetry hooks. Shared (`Rc`) by the core's executor and driver; every
/// method is called on the core's thread only.
pub(crate) struct Recorder {
    shared: Arc<Shared>,
    on: Cell<bool>,
    /// Stamps are nanoseconds since its epoch: read per tick, extrapolated between
    /// (`super::clock`).
    clock: Clock,
    /// The last clock reading, in nanoseconds since the clock's epoch.
    now: Cell<u64>,
    /// Ops in flight by slot index, one packed entry each ([`CELL_MASK`]; telemetry on
    /// only). Touched only by this core's thread, by methods that call out to nothing
    /// while they hold the reference, so an `UnsafeCell` rather than a `RefCell`'s
    /// borrow flag on every op.
    slots: UnsafeCell<Vec<u64>>,
    ticks: Cell<u32>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            shared: Arc::new(Shared::default()),
            on: Cell::new(false),
            clock: Clock::new(),
            now: Cell::new(0),
            slots: UnsafeCell::new(Vec::new()),
            ticks: Cell::new(0),
        }
    }
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("on", &self.on.get())
            .finish_non_exhaustive()
    }
}

impl Recorder {
    /// The cells readers load.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Turns the histograms and per-opcode cells on or off.
    pub(crate) fn set_enabled(&self, on: bool) {
        self.on.set(on);
        self.shared.enabled.store(on, Ordering::Relaxed);
        if on {
            self.clock();
        }
    }

    /// True with telemetry on.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.on.get()
    }

    pub(crate) fn set_kind(&self, kind: crate::DriverKind) {
        self.shared
            .kind
            .store(super::snapshot::kind_code(kind), Ordering::Relaxed);
    }

    pub(crate) fn set_state(&self, state: u8) {
        self.shared.state.store(state, Ordering::Release);
    }

    /// Reads the clock (the tick's full reading) and remembers the reading.
    #[inline]
    fn clock(&self) -> u64 {
        let now = self.clock.tick();
        self.now.set(now);
        now
    }

    /// Reads the clock between ticks (extrapolated with the CPU's counter where it can
    /// be, `super::clock`) and remembers the reading.
    #[inline]
    fn fast_clock(&self) -> u64 {
        let now = self.clock.fast();
        self.now.set(now);
        now
    }

    /// What a waker on another thread needs to stamp a task it queues on this core.
    pub(crate) fn wake_clock(&self) -> WakeClock {
        WakeClock {
            shared: self.shared.clone(),
            epoch: self.clock.epoch(),
        }
    }

    /// With telemetry on, tasks woken from other threads were just taken from the remote
    /// queue: reads the clock, so their polls in this batch do not start before their
    /// wakers' stamps.
    #[inline]
    pub(crate) fn remote_taken(&self) {
        if self.on.get() {
            self.fast_clock();
        }
    }

    /// The last clock reading.
    #[inline]
    pub(crate) fn last_reading(&self) -> u64 {
        self.now.get()
    }

    /// With telemetry on, reads the clock (the driver is about to reap: once per tick).
    #[inline]
    pub(crate) fn tick_clock(&self) {
        if self.on.get() {
            self.clock();
        }
    }

    /// Copies the core's counters into the shared cells.
    pub(crate) fn publish(&self, p: &Published) {
        self.shared.publish(p);
    }

    /// Counts a tick; true when the core should publish now (`parking`: always).
    #[inline]
    pub(crate) fn tick(&self, parking: bool) -> bool {
        let n = self.ticks.get().wrapping_add(1);
        self.ticks.set(n);
        parking || n.is_multiple_of(PUBLISH_EVERY)
    }

    /// A task is queued to run: stamps it with the last clock reading.
    #[inline]
    pub(crate) fn task_queued(&self, meta: &TaskMeta) {
        if self.on.get() {
            meta.set_queued_at(self.now.get());
        }
    }

    /// A task poll starts: records its scheduling delay; returns the poll's start.
    #[inline]
    pub(crate) fn poll_starts(&self, meta: &TaskMeta) -> u64 {
        let now = self.now.get();
        let queued = meta.queued_at();
        if queued != 0 {
            self.shared
                .schedule_delay
                .record(now.saturating_sub(queued));
        }
        now
    }

    /// A poll that started at `start` ended: records its duration.
    #[inline]
    pub(crate) fn poll_ends(&self, start: u64) {
        let end = self.fast_clock();
        self.shared.poll_duration.record(end.saturating_sub(start));
    }

    /// An op took slot `index` (telemetry on: per-opcode count, submit stamp).
    #[inline]
    pub(crate) fn op_started(&self, index: usize, opcode: u8, multishot: bool) {
        if self.on.get() {
            self.note_started(index, opcode, multishot);
        }
    }

    /// `op_started`'s work, out of line so the hook stays a test and a branch at the
    /// call site (the whole hook, not inlined, cost about 17 instructions per op with
    /// telemetry off).
    #[inline]
    fn note_started(&self, index: usize, opcode: u8, multishot: bool) {
        let cell = usize::from(opcode).min(OPCODES - 1);
        let submitted = &self.shared.ops[cell].submitted;
        let n = submitted.load(Ordering::Relaxed);
        submitted.store(n.wrapping_add(1), Ordering::Relaxed);
        // The first TIME_FIRST ops of an opcode, then one in TIME_EVERY; never a
        // multishot op (its lifetime is no latency).
        let timed = !multishot & ((n < TIME_FIRST) | (n & (TIME_EVERY - 1) == 0));
        let entry = if timed {
            cell as u64 | TIMED | self.now.get() << STAMP_SHIFT
        } else {
            cell as u64
        };
        // SAFETY: `slots` is only touched on the core's thread (`Recorder` is `!Sync`), and
        // no other reference to it is live: every method that takes one drops it before it
        // returns and calls nothing that could come back here.
        let slots = unsafe { &mut *self.slots.get() };
        match slots.get_mut(index) {
            Some(slot) => *slot = entry,
            None => grow(slots, index, entry),
        }
    }

    /// The packed entry of the op in slot `index` (0, opcode 0 untimed, for a slot never
    /// noted, such as one taken before telemetry was on).
    #[inline]
    fn slot(&self, index: usize) -> u64 {
        // SAFETY: as in `note_started`; a shared reference that ends here.
        let slots = unsafe { &*self.slots.get() };
        slots.get(index).copied().unwrap_or(0)
    }

    /// A CQE with IORING_CQE_F_MORE (`flags`) for the multishot op in slot `index`: its
    /// bytes. One that carries a provided buffer (IORING_CQE_F_BUFFER) is a receive (a
    /// multishot recv, recvmsg or read; no op ringcore runs multishot sends from provided
    /// buffers), so its bytes are in without a look at the slot; the others (a zero-copy
    /// send's first CQE, an accept's) go by the slot's opcode.
    #[inline]
    pub(crate) fn op_more(&self, index: usize, result: i32, flags: u32) {
        if self.on.get() && result > 0 {
            if io_uring::cqueue::buffer_select(flags).is_some() {
                bump(&self.shared.bytes_in, result as u64);
            } else {
                self.count_bytes(self.slot(index), result);
            }
        }
    }

    /// The final CQE of the op in slot `index` (`cancelled`: its future was dropped).
    #[inline]
    pub(crate) fn op_finished(&self, index: usize, result: i32, cancelled: bool) {
        if !self.on.get() {
            return;
        }
        let entry = self.slot(index);
        let cells = &self.shared.ops[(entry & CELL_MASK) as usize];
        let count = if cancelled || result == -libc::ECANCELED {
            &cells.cancelled
        } else if result < 0 {
            &cells.failed
        } else {
            &cells.completed
        };
        bump(count, 1);
        if entry & TIMED != 0 {
            // Both stamps modulo 2^57 (`CELL_MASK`): shifted up, subtracted, shifted back.
            let now = self.now.get() << STAMP_SHIFT;
            let at = entry & !((1 << STAMP_SHIFT) - 1);
            cells.latency.record(now.wrapping_sub(at) >> STAMP_SHIFT);
        }
        if result > 0 {
            self.count_bytes(entry, result);
        }
    }

    /// Bytes moved by a CQE with a positive `result` of the op whose slot entry is
    /// `entry`.
    #[inline]
    fn count_bytes(&self, entry: u64, result: i32) {
        let cell = entry & CELL_MASK;
        if (super::snapshot::BYTES_IN >> cell) & 1 != 0 {
            bump(&self.shared.bytes_in, result as u64);
        } else if (super::snapshot::BYTES_OUT >> cell) & 1 != 0 {
            bump(&self.shared.bytes_out, result as u64);
        }
    }

    /// Bytes a socket syscall made on the core's thread moved (readiness I/O, without an
    /// op): `inbound` for a receive.
    #[inline]
    fn inline_bytes(&self, inbound: bool, n: usize) {
        if !self.on.get() || n == 0 {
            return;
        }
        let cell = if inbound {
            &self.shared.bytes_in
        } else {
            &self.shared.bytes_out
        };
        bump(cell, n as u64);
    }

    /// A socket transfer in direction `inbound` (a receive) that the core's thread made
    /// without an op (readiness I/O) finished with `res` (not `WouldBlock` or
    /// `Interrupted`): counted under the opcode an op would have used (`IORING_OP_RECV`
    /// or `IORING_OP_SEND`) as inline, and its bytes.
    #[inline]
    pub(crate) fn inline_io(&self, inbound: bool, res: &std::io::Result<usize>) {
        if !self.on.get() {
            return;
        }
        let op = if inbound {
            io_uring::opcode::Recv::CODE
        } else {
            io_uring::opcode::Send::CODE
        };
        bump(&self.shared.ops[usize::from(op)].inline, 1);
        if let Ok(n) = *res {
            self.inline_bytes(inbound, n);
        }
    }

    /// Page-cache reads done inline since the last call: `packed` is their count times
    /// [`INLINE_READ`] plus their bytes (`driver::inline`); counted as inline
    /// `IORING_OP_READ`s and in `bytes_in`. Once per tick, with telemetry on.
    #[inline]
    pub(crate) fn inline_reads(&self, packed: u64) {
        if packed == 0 || !self.on.get() {
            return;
        }
        let cells = &self.shared.ops[usize::from(io_uring::opcode::Read::CODE)];
        bump(&cells.inline, packed >> INLINE_READ_SHIFT);
        bump(&self.shared.bytes_in, packed & (INLINE_READ - 1));
    }

    /// An io_uring_enter(2) (or a readiness ring's turn) submitted `n` SQEs.
    #[inline]
    pub(crate) fn entered(&self, n: usize) {
        if self.on.get() {
            self.shared.enter_submissions.record(n as u64);
            bump(&self.shared.sqes_submitted, n as u64);
        }
    }

    /// A reap found the kernel's CQ-overflow flag set (CQEs waited in its backlog).
    #[inline]
    pub(crate) fn cq_overflowed(&self) {
        bump(&self.shared.cq_overflows, 1);
    }
}

/// Makes room in `slots` for `index` and stores `entry` there (the slab grew).
#[cold]
#[inline(never)]
fn grow(slots: &mut Vec<u64>, index: usize, entry: u64) {
    slots.resize(index + 1, 0);
    slots[index] = entry;
}

/// One inline page-cache read in a packed count-and-bytes cell (`Recorder::inline_reads`,
/// `Driver::inline_read_hit`): the count sits from bit 44 up, the bytes below. The cell is
/// emptied every tick, whose reads are at most `Builder::inline_reads_per_tick` (64 by
/// default): exact up to 2^20 reads and 2^44 bytes (16 TiB) per tick; beyond that the
/// figures wrap (wrong, never a panic).
pub(crate) const INLINE_READ_SHIFT: u32 = 44;
/// See [`INLINE_READ_SHIFT`].
pub(crate) const INLINE_READ: u64 = 1 << INLINE_READ_SHIFT;

/// Lets a thread other than the core's stamp a task it queues on the core's remote queue
/// (`Remote::push`) with the core's telemetry clock, so the task's scheduling delay counts
/// from its wake. Reads `Instant::now()` on the waking thread, with telemetry on only.
#[derive(Clone)]
pub(crate) struct WakeClock {
    shared: Arc<Shared>,
    epoch: Instant,
}

impl std::fmt::Debug for WakeClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WakeClock").finish_non_exhaustive()
    }
}

impl WakeClock {
    /// Stamps `meta` as queued now if the core's telemetry is on.
    #[inline]
    pub(crate) fn stamp(&self, meta: &TaskMeta) {
        if self.shared.enabled.load(Ordering::Relaxed) {
            meta.set_queued_at(nanos_since(self.epoch));
        }
    }
}

#[cfg(test)]
mod tests {
    use io_uring::opcode;

    use super::*;

    fn on() -> Recorder {
        let r = Recorder::default();
        r.set_enabled(true);
        r
    }

    #[test]
    fn op_latency_is_timed_for_the_first_ops_then_one_in_sixteen_and_counts_stay_exact() {
        let r = on();
        let read = usize::from(opcode::Read::CODE);
        for i in 0..1000u64 {
            r.now.set(1_000 + i * 10);
            r.op_started(3, opcode::Read::CODE, false);
            r.now.set(1_000 + i * 10 + 5);
            r.op_finished(3, 4096, false);
        }
        let cells = &r.shared.ops[read];
        assert_eq!(cells.submitted.load(Ordering::Relaxed), 1000);
        assert_eq!(cells.completed.load(Ordering::Relaxed), 1000);
        assert_eq!(r.shared.bytes_in.load(Ordering::Relaxed), 4096 * 1000);
        let latency = cells.latency.snapshot();
        // Ops 0-63, then 64, 80, ... 992.
        let timed = TIME_FIRST + (1000 - TIME_FIRST).div_ceil(TIME_EVERY);
        assert_eq!(latency.count(), timed);
        assert_eq!(latency.sum(), 5 * timed);
        assert_eq!(latency.counts()[3], timed); // 5 ns: 4 < 5 <= 8
    }

    #[test]
    fn outcomes_bytes_and_multishot_cqes_are_counted_by_the_slot_opcode() {
        let r = on();
        r.op_started(0, opcode::Send::CODE, false);
        r.op_started(1, opcode::Write::CODE, false);
        r.op_started(2, opcode::Accept::CODE, false);
        r.op_started(3, opcode::RecvMulti::CODE, true);
        r.op_started(4, opcode::SendZc::CODE, true);
        r.op_started(5, opcode::AcceptMulti::CODE, true);
        r.op_finished(0, 100, false);
        r.op_finished(1, -libc::EBADF, false);
        r.op_finished(2, 7, true);
        // A multishot receive's CQEs with a provided buffer (bit 0), then its last one.
        r.op_more(3, 300, 1 | (5 << 16));
        r.op_more(3, 0, 0);
        r.op_finished(3, -libc::ENOBUFS, false);
        // A zero-copy send's first CQE (F_MORE, no buffer); an accepted fd is no byte.
        r.op_more(4, 50, 0);
        r.op_finished(4, 0, false);
        r.op_more(5, 9, 0);
        r.op_finished(5, -libc::ECANCELED, false);
        let op = |code: u8| &r.shared.ops[usize::from(code)];
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        assert_eq!(get(&op(opcode::Send::CODE).completed), 1);
        assert_eq!(get(&op(opcode::Write::CODE).failed), 1);
        // Accept and its multishot form share one opcode, as recv and its.
        assert_eq!(get(&op(opcode::Accept::CODE).cancelled), 2);
        assert_eq!(get(&op(opcode::RecvMulti::CODE).failed), 1);
        assert_eq!(get(&r.shared.bytes_in), 300);
        assert_eq!(get(&r.shared.bytes_out), 150);
        // Single-shot ops are timed (the first ones of their opcode), multishot ones never.
        assert_eq!(op(opcode::Send::CODE).latency.snapshot().count(), 1);
        assert_eq!(op(opcode::Accept::CODE).latency.snapshot().count(), 1);
        assert_eq!(op(opcode::RecvMulti::CODE).latency.snapshot().count(), 0);
        assert_eq!(op(opcode::SendZc::CODE).latency.snapshot().count(), 0);
    }

    #[test]
    fn a_latency_across_the_stamps_wrap_is_still_its_difference() {
        let r = on();
        let wrap = 1u64 << (64 - STAMP_SHIFT);
        r.now.set(wrap - 10);
        r.op_started(0, opcode::Read::CODE, false);
        r.now.set(wrap + 90);
        r.op_finished(0, 1, false);
        let latency = r.shared.ops[usize::from(opcode::Read::CODE)]
            .latency
            .snapshot();
        assert_eq!((latency.count(), latency.sum()), (1, 100));
    }

    #[test]
    fn telemetry_off_counts_no_op() {
        let r = Recorder::default();
        r.op_started(0, opcode::Read::CODE, false);
        r.op_finished(0, 10, false);
        let cells = &r.shared.ops[usize::from(opcode::Read::CODE)];
        assert_eq!(cells.submitted.load(Ordering::Relaxed), 0);
        assert_eq!(cells.completed.load(Ordering::Relaxed), 0);
        assert_eq!(r.shared.bytes_in.load(Ordering::Relaxed), 0);
    }
}
