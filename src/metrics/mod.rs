//! Per-core telemetry, readable from any thread: [`RuntimeMetrics`] (every core of a
//! runtime), [`CoreMetrics`] (one core), their [`Histogram`]s, and the Prometheus text
//! rendering ([`prometheus`]).
//!
//! # Who writes what
//!
//! Each core owns one `Recorder` (`Rc`, shared by its executor and driver) and one
//! `Shared` block (`Arc`, shared with every reader). Only the core's thread writes the
//! block, with relaxed loads and stores (one writer, so no locked read-modify-write); a
//! reader on any thread loads it without stopping the core.
//!
//! | cells                                   | written                                    |
//! |-----------------------------------------|--------------------------------------------|
//! | task and driver counters (`published`)  | copied from the core's own `Cell`s by `publish`: before every park, every 32nd tick, at shutdown, and when the core itself is asked |
//! | histograms, per-opcode cells, bytes, enter batches, CQ overflows | at the event, with telemetry on (page-cache hits: added up in a `Cell` and folded in once per tick) |
//! | `state`                                 | at shutdown's start and end                |
//!
//! So a reader sees an idle core's counters exactly, a busy core's as of at most 32 ticks
//! ago, and histograms as they are.
//!
//! # Sampling
//!
//! Every count is exact, and every task poll is timed. Op latency is sampled: the first
//! 64 single-shot ops of each opcode on a core are timed, then one in 16 (by the opcode's
//! own submission count, so a rare opcode is never starved by a busy one). The recorder
//! keeps one `u64` per op slot (the opcode's cell, and the submission stamp of a timed
//! op), written at submission and read at the op's CQEs; a CQE that carries a provided
//! buffer is counted as bytes in without reading it. Measured costs, and what timing
//! every op cost, are in docs/benchmarks.md ("Telemetry, third pass").
//!
//! # Clock
//!
//! With telemetry on ([`Builder::telemetry`](crate::Builder::telemetry), the default), the
//! core reads the clock (`Instant::now()`, clock_gettime(2) through the vDSO) once per
//! reap (the driver's, once per tick, after any sleep). Every other timestamp on the
//! core is either that reading or one extrapolated from it with the CPU's time-stamp
//! counter (one RDTSC instruction, about a third of a vDSO reading; where the kernel's
//! clock source is not the TSC, or before the core has measured the counter's rate, a
//! clock reading instead; `clock` has the details):
//!
//! - each task poll's end (its duration, and the start of the next poll in the batch; the
//!   batch's first poll starts at the reap's reading);
//! - a wake on the core is stamped with the last reading (the end of the poll that woke
//!   it, or the reap), an op's submission too;
//! - an op's completion is the reap that took its CQE.
//!
//! So a scheduling delay is measured from the end of the poll (or the reap) that woke the
//! task to the start of its own poll, and an op's latency from the poll that submitted it
//! to the reap that took its CQE: the granularity of one poll and one driver pass, which
//! is what the ring can resolve anyway (a CQE is seen only when the core reaps). A task
//! woken from another thread (a cross-core channel, a `spawn_blocking` job's end, a tokio
//! waker) is stamped by its waker as it is queued on the core's remote queue
//! (`WakeClock`: one `Instant::now()` on the waking thread), and the core reads the
//! clock again when it takes such tasks, so their delay runs from the wake to their poll
//! whatever the core was doing in between. Page-cache hits and socket transfers done
//! inline have no latency (they are counted, not timed). Measured costs are in
//! docs/benchmarks.md ("Telemetry").
//!
//! With telemetry off nothing reads the clock and nothing but the counters is kept; each
//! hook is one well-predicted branch on a `Cell<bool>`.

mod clock;
mod histogram;
pub mod prometheus;
mod recorder;
mod snapshot;
pub(crate) mod trace;

pub use histogram::{BUCKETS, Histogram};
pub(crate) use recorder::{
    INLINE_READ, Published, Recorder, SHUTTING_DOWN, STOPPED, Shared, WakeClock,
};
pub use snapshot::{
    CoreMetrics, CoreState, MetricsError, MetricsHandle, OpMetrics, RuntimeMetrics, opcode_name,
};

/// The runtime of the calling core: every core's metrics, read from inside a task (for a
/// `/metrics` route). `None` outside a runtime. The calling core publishes its own
/// counters first, so they are exact; other cores' are as of their last publish (see the
/// module docs).
///
/// # Examples
///
/// ```
/// let rt = ringcore::Runtime::builder().cores(2).build()?;
/// let cores = rt.block_on(async { ringcore::metrics::current().unwrap().cores.len() });
/// assert_eq!(cores, 2);
/// # Ok::<(), ringcore::BuildError>(())
/// ```
pub fn current() -> Option<RuntimeMetrics> {
    crate::runtime::context::try_with(|core| {
        core.publish_metrics();
        crate::runtime::cores::metrics_handle(core).snapshot_now()
    })
}
