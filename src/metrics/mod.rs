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
//! | histograms, per-opcode cells, bytes, enter batches, CQ overflows | at the event, with telemetry on |
//! | `state`                                 | at shutdown's start and end                |
//!
//! So a reader sees an idle core's counters exactly, a busy core's as of at most 32 ticks
//! ago, and histograms as they are.
//!
//! # Clock
//!
//! With telemetry on ([`Builder::telemetry`](crate::Builder::telemetry), the default), the
//! core reads the clock once per task poll (at its end, which is the start of the next
//! poll in the batch) and once per reap (the driver's, once per tick, after any sleep);
//! every other timestamp is the last reading: a wake is stamped with it, an op's
//! submission too, and the batch's first poll starts at the reap's reading. So a
//! scheduling delay is measured from the end of the poll (or the reap) that woke the task
//! to the start of its own poll, and an op's latency from the poll that submitted it to the
//! reap that took its CQE; each errs by at most one poll (or the timers fired between the
//! reap and the batch). A task woken from another thread is stamped when the core takes it
//! from its remote queue. Measured costs are in docs/benchmarks.md ("Telemetry").
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
