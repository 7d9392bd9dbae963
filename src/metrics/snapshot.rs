//! The readers' side: snapshots of the cells in `recorder::Shared`, taken from any thread.

use std::time::Duration;

use super::histogram::Histogram;
use super::recorder::{OPCODES, PUBLISHED, RUNNING, SHUTTING_DOWN, Shared};
use std::sync::Arc;

use crate::loom::Ordering;
use crate::{CoreId, DriverKind, DriverStats};

/// Where a core is in its life, from [`CoreMetrics::state`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoreState {
    /// Running its tick loop (or built and waiting for `block_on`, core 0).
    Running,
    /// Shutting down: cancelling its tasks and draining its ops. Counters are as of the
    /// shutdown's start until it ends.
    ShuttingDown,
    /// Shut down; the counters are final.
    Stopped,
}

/// One opcode's counts and latency on one core, from [`CoreMetrics::ops`]. With telemetry
/// off ([`Builder::telemetry`](crate::Builder::telemetry)) nothing is counted here.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpMetrics {
    /// The io_uring opcode (`IORING_OP_*`; the epoll driver runs the same SQEs).
    pub opcode: u8,
    /// Its name in lower case without the prefix (`"read"`, `"send_zc"`), from
    /// [`opcode_name`].
    pub name: &'static str,
    /// SQEs pushed.
    pub submitted: u64,
    /// Ops of this opcode done on the core's thread without an SQE, not counted in the
    /// other fields and without a latency: page-cache hits of `File::read_at` (under
    /// `read`; their bytes are in [`CoreMetrics::bytes_in`]), and the socket transfers
    /// that need no op (under `recv` and `send`, whatever syscall made them: on the epoll
    /// driver every ownership-passing receive and send, on both drivers `PollIo`'s) that
    /// moved bytes or failed with an error other than `WouldBlock` or `Interrupted`. So
    /// `submitted + inline` of an opcode compares across drivers. Page-cache hits are
    /// counted once per tick (at the tick's reap), socket transfers at once.
    pub inline: u64,
    /// Final CQEs with a result of 0 or more.
    pub completed: u64,
    /// Final CQEs of ops whose future was dropped first, or answered `-ECANCELED`.
    pub cancelled: u64,
    /// Final CQEs with another negative result (an errno).
    pub failed: u64,
    /// Nanoseconds from submission to the reap of the final CQE, of single-shot ops only
    /// (a multishot op's lifetime is not a latency), **sampled**: the first 64 ops of the
    /// opcode on this core are all timed, then one in 16 (the 80th, 96th, ... submission).
    /// So while an opcode has had at most 64 ops, `latency.count()` is its `completed +
    /// cancelled + failed` less its multishot ops; beyond, it grows by about one in 16,
    /// while the counts above stay exact. The quantiles and the mean are those of the
    /// sample. See the `metrics` module docs for the clock's resolution.
    pub latency: Histogram,
}

/// Counters and histograms of one core, from [`Runtime::metrics`](crate::Runtime::metrics),
/// [`MetricsHandle::snapshot`], [`metrics::current`](crate::metrics::current) or
/// [`debug::metrics`](crate::debug::metrics).
///
/// Counters count since the core started. The task and driver counters are as of the
/// core's last publish (before each park, every 32nd tick, at shutdown, and at once for
/// the core that asks); the histograms, `ops`, `bytes_*`, `sqes_submitted` and
/// `cq_overflows` are live, and kept only with telemetry on
/// ([`Builder::telemetry`](crate::Builder::telemetry), the default), except `cq_overflows`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CoreMetrics {
    /// Which core.
    pub core: CoreId,
    /// Running, shutting down or stopped.
    pub state: CoreState,
    /// Whether histograms and per-opcode counts are kept.
    pub telemetry: bool,
    /// Tasks spawned on this core since it started.
    pub tasks_spawned: u64,
    /// Task polls since it started (`block_on`'s own future not included).
    pub tasks_polled: u64,
    /// Tasks spawned and not yet finished.
    pub live_tasks: usize,
    /// Ops whose final CQE has not arrived yet (including those of dropped futures).
    pub ops_in_flight: usize,
    /// The driver's counters (ops, io_uring_enter calls, SQ-full flushes, inline ops,
    /// receive-pool use, registered-file slots).
    pub driver: DriverStats,
    /// Time the core spent blocked in the kernel waiting for completions, wakes or timers.
    pub time_parked: Duration,
    /// Times the core parked.
    pub parks: u64,
    /// Foreign-thread wakes that had to unpark this core (eventfd writes). A burst of wakes
    /// while the core is parked costs one.
    pub remote_unparks: u64,
    /// The driver this core runs: [`DriverKind::IoUring`] or [`DriverKind::Epoll`].
    pub driver_kind: DriverKind,
    /// Scheduling delay, nanoseconds: from a task's wake to the start of its poll.
    pub schedule_delay: Histogram,
    /// Poll duration, nanoseconds: each task poll, and each poll of `block_on`'s future.
    pub poll_duration: Histogram,
    /// SQEs submitted per io_uring_enter(2) (per turn of the epoll driver's ring).
    pub enter_submissions: Histogram,
    /// SQEs the kernel (or the epoll driver) took, summed over enters.
    pub sqes_submitted: u64,
    /// Reaps that found the kernel's CQ-overflow flag set (completions waited in the
    /// kernel's backlog because the CQ was full). 0 on the epoll driver.
    pub cq_overflows: u64,
    /// Bytes received or read: positive results of read, recv and recvmsg ops (each CQE
    /// of a multishot receive), and of socket receives made without an op (the epoll
    /// driver's readiness I/O, and `PollIo`'s on both drivers), and of page-cache reads
    /// completed inline (`File::read_at`'s hits; these are added once per tick, at its
    /// reap, so they lag by at most one tick).
    pub bytes_in: u64,
    /// Bytes sent or written, as `bytes_in` for write, send, sendmsg and splice ops.
    pub bytes_out: u64,
    /// Per-opcode counts and latency, for every opcode this core has submitted, in opcode
    /// order.
    pub ops: Vec<OpMetrics>,
}

impl CoreMetrics {
    /// Reads `shared`, the cells of core `core`.
    pub(crate) fn read(core: CoreId, shared: &Shared) -> CoreMetrics {
        let state = match shared.state.load(Ordering::Acquire) {
            RUNNING => CoreState::Running,
            SHUTTING_DOWN => CoreState::ShuttingDown,
            _ => CoreState::Stopped,
        };
        let p: [u64; PUBLISHED] =
            std::array::from_fn(|i| shared.published[i].load(Ordering::Relaxed));
        let driver = DriverStats {
            ops_submitted: p[7],
            ops_completed: p[8],
            enters: p[9],
            stale_cqes: p[10],
            ops_cancelled: p[11],
            sq_full_flushes: p[12],
            enter_errors: p[13],
            ops_inline: p[14],
            cancels_missed: p[15],
            cancels_resent: p[16],
            recv_bufs_out: p[17],
            recv_pool_exhausted: p[18],
            recv_pool_buffers: p[19],
            recv_pool_parks: p[20],
            zerocopy_sends: p[21],
            files_registered: p[22],
            files_table_full: p[23],
        };
        let ops = shared
            .ops
            .iter()
            .enumerate()
            .filter(|(_, c)| {
                c.submitted.load(Ordering::Relaxed) > 0 || c.inline.load(Ordering::Relaxed) > 0
            })
            .map(|(i, c)| OpMetrics {
                opcode: i as u8,
                name: opcode_name(i as u8),
                submitted: c.submitted.load(Ordering::Relaxed),
                inline: c.inline.load(Ordering::Relaxed),
                completed: c.completed.load(Ordering::Relaxed),
                cancelled: c.cancelled.load(Ordering::Relaxed),
                failed: c.failed.load(Ordering::Relaxed),
                latency: c.latency.snapshot(),
            })
            .collect();
        CoreMetrics {
            core,
            state,
            telemetry: shared.enabled.load(Ordering::Relaxed),
            tasks_spawned: p[0],
            tasks_polled: p[1],
            live_tasks: p[2] as usize,
            ops_in_flight: p[3] as usize,
            time_parked: Duration::from_nanos(p[4]),
            parks: p[5],
            remote_unparks: p[6],
            driver,
            driver_kind: kind_from(shared.kind.load(Ordering::Relaxed)),
            schedule_delay: shared.schedule_delay.snapshot(),
            poll_duration: shared.poll_duration.snapshot(),
            enter_submissions: shared.enter_submissions.snapshot(),
            sqes_submitted: shared.sqes_submitted.load(Ordering::Relaxed),
            cq_overflows: shared.cq_overflows.load(Ordering::Relaxed),
            bytes_in: shared.bytes_in.load(Ordering::Relaxed),
            bytes_out: shared.bytes_out.load(Ordering::Relaxed),
            ops,
        }
    }
}

/// Every core's metrics, core 0 first, from [`Runtime::metrics`](crate::Runtime::metrics)
/// or [`MetricsHandle::snapshot`]. The `worker_*` and runtime-wide methods mean what
/// tokio's `RuntimeMetrics` methods of the same name mean, with a ringcore core as the
/// worker.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RuntimeMetrics {
    /// One entry per core, in core order.
    pub cores: Vec<CoreMetrics>,
}

impl RuntimeMetrics {
    /// How many cores (tokio: worker threads).
    pub fn num_workers(&self) -> usize {
        self.cores.len()
    }

    /// Live tasks on all cores.
    pub fn num_alive_tasks(&self) -> usize {
        self.cores.iter().map(|c| c.live_tasks).sum()
    }

    /// Tasks spawned on all cores.
    pub fn spawned_tasks_count(&self) -> u64 {
        self.cores.iter().map(|c| c.tasks_spawned).sum()
    }

    /// Times core `worker` parked.
    ///
    /// # Panics
    ///
    /// If `worker >= num_workers()` (as tokio's).
    pub fn worker_park_count(&self, worker: usize) -> u64 {
        self.cores[worker].parks
    }

    /// Task polls on core `worker`.
    ///
    /// # Panics
    ///
    /// If `worker >= num_workers()`.
    pub fn worker_poll_count(&self, worker: usize) -> u64 {
        self.cores[worker].tasks_polled
    }

    /// Time core `worker` spent parked (tokio has the complement, busy time; ringcore
    /// knows the parked time exactly).
    ///
    /// # Panics
    ///
    /// If `worker >= num_workers()`.
    pub fn worker_park_duration(&self, worker: usize) -> Duration {
        self.cores[worker].time_parked
    }

    /// The scheduling delays of all cores in one histogram (nanoseconds).
    pub fn schedule_delay(&self) -> Histogram {
        let mut h = Histogram::default();
        for c in &self.cores {
            h.merge(&c.schedule_delay);
        }
        h
    }
}

/// Why [`MetricsHandle::snapshot`] has no live runtime to read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetricsError {
    /// Every core of the runtime has shut down; the final counters are here.
    #[error("ringcore: the runtime has shut down")]
    Stopped(Box<RuntimeMetrics>),
}

/// A `Send + Sync` handle on a runtime's metrics, from
/// [`Runtime::metrics_handle`](crate::Runtime::metrics_handle): read every core from any
/// thread, while the runtime runs, shuts down, and after.
#[derive(Clone)]
pub struct MetricsHandle {
    cores: Arc<[Arc<Shared>]>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle")
            .field("cores", &self.cores.len())
            .finish()
    }
}

impl MetricsHandle {
    pub(crate) fn new(cores: Vec<Arc<Shared>>) -> Self {
        Self {
            cores: cores.into(),
        }
    }

    /// Every core's metrics now, without stopping any core.
    ///
    /// # Errors
    ///
    /// [`MetricsError::Stopped`], carrying the final counters, once every core has shut
    /// down (the runtime was dropped). While it shuts down the snapshot is `Ok`, and each
    /// core's [`state`](CoreMetrics::state) says how far it got.
    pub fn snapshot(&self) -> Result<RuntimeMetrics, MetricsError> {
        let m = self.snapshot_now();
        if m.cores.iter().all(|c| c.state == CoreState::Stopped) {
            return Err(MetricsError::Stopped(Box::new(m)));
        }
        Ok(m)
    }

    /// Every core's metrics, whatever their state.
    pub(crate) fn snapshot_now(&self) -> RuntimeMetrics {
        RuntimeMetrics {
            cores: self
                .cores
                .iter()
                .enumerate()
                .map(|(i, s)| CoreMetrics::read(CoreId::new(i), s))
                .collect(),
        }
    }
}

/// `IORING_OP_*` names by opcode, lower case, as in liburing's `io_uring_get_opcode`.
const NAMES: [&str; 63] = [
    "nop",
    "readv",
    "writev",
    "fsync",
    "read_fixed",
    "write_fixed",
    "poll_add",
    "poll_remove",
    "sync_file_range",
    "sendmsg",
    "recvmsg",
    "timeout",
    "timeout_remove",
    "accept",
    "async_cancel",
    "link_timeout",
    "connect",
    "fallocate",
    "openat",
    "close",
    "files_update",
    "statx",
    "read",
    "write",
    "fadvise",
    "madvise",
    "send",
    "recv",
    "openat2",
    "epoll_ctl",
    "splice",
    "provide_buffers",
    "remove_buffers",
    "tee",
    "shutdown",
    "renameat",
    "unlinkat",
    "mkdirat",
    "symlinkat",
    "linkat",
    "msg_ring",
    "fsetxattr",
    "setxattr",
    "fgetxattr",
    "getxattr",
    "socket",
    "uring_cmd",
    "send_zc",
    "sendmsg_zc",
    "read_multishot",
    "waitid",
    "futex_wait",
    "futex_wake",
    "futex_waitv",
    "fixed_fd_install",
    "ftruncate",
    "bind",
    "listen",
    "recv_zc",
    "epoll_wait",
    "readv_fixed",
    "writev_fixed",
    "pipe",
];

/// The name of io_uring opcode `op` (`IORING_OP_READ` is `"read"`); `"other"` for
/// opcodes newer than this table (they share one cell, the last of [`CoreMetrics::ops`]).
pub fn opcode_name(op: u8) -> &'static str {
    if usize::from(op) >= OPCODES - 1 {
        return "other";
    }
    NAMES.get(usize::from(op)).copied().unwrap_or("other")
}

/// Opcodes whose positive result is bytes in, one bit per opcode (`1 << op`): readv,
/// read_fixed, recvmsg, read, recv, read_multishot, readv_fixed.
pub(crate) const BYTES_IN: u64 = bits(&[1, 4, 10, 22, 27, 49, 60]);
/// Opcodes whose positive result is bytes out, as [`BYTES_IN`]: writev, write_fixed,
/// sendmsg, write, send, splice, send_zc, sendmsg_zc, writev_fixed.
pub(crate) const BYTES_OUT: u64 = bits(&[2, 5, 9, 23, 26, 30, 47, 48, 61]);

const fn bits(ops: &[u8]) -> u64 {
    let mut mask = 0;
    let mut i = 0;
    while i < ops.len() {
        mask |= 1 << ops[i];
        i += 1;
    }
    mask
}

/// Which way an opcode's positive result moves bytes: `Some(true)` in, `Some(false)` out.
#[cfg(test)]
pub(crate) fn direction(op: u8) -> Option<bool> {
    if op >= 64 {
        None
    } else if (BYTES_IN >> op) & 1 != 0 {
        Some(true)
    } else if (BYTES_OUT >> op) & 1 != 0 {
        Some(false)
    } else {
        None
    }
}

pub(crate) fn kind_code(kind: DriverKind) -> u8 {
    match kind {
        DriverKind::Auto => 0,
        DriverKind::IoUring => 1,
        DriverKind::Epoll => 2,
    }
}

fn kind_from(code: u8) -> DriverKind {
    match code {
        1 => DriverKind::IoUring,
        2 => DriverKind::Epoll,
        _ => DriverKind::Auto,
    }
}

#[cfg(test)]
mod tests {
    use io_uring::opcode;

    use super::*;

    #[test]
    fn names_and_directions_match_the_kernel_numbers() {
        let cases = [
            (opcode::Read::CODE, "read", Some(true)),
            (opcode::Write::CODE, "write", Some(false)),
            (opcode::Recv::CODE, "recv", Some(true)),
            (opcode::Send::CODE, "send", Some(false)),
            (opcode::SendZc::CODE, "send_zc", Some(false)),
            (opcode::RecvMsg::CODE, "recvmsg", Some(true)),
            (opcode::SendMsg::CODE, "sendmsg", Some(false)),
            (opcode::Accept::CODE, "accept", None),
            (opcode::Splice::CODE, "splice", Some(false)),
            (opcode::Readv::CODE, "readv", Some(true)),
            (opcode::ReadFixed::CODE, "read_fixed", Some(true)),
            (opcode::ReadMulti::CODE, "read_multishot", Some(true)),
            (opcode::Listen::CODE, "listen", None),
            (opcode::FutexWaitV::CODE, "futex_waitv", None),
            (opcode::Pipe::CODE, "pipe", None),
        ];
        for (code, name, dir) in cases {
            assert_eq!(opcode_name(code), name, "opcode {code}");
            assert_eq!(direction(code), dir, "opcode {code}");
        }
        assert_eq!(opcode_name(200), "other");
    }
}
