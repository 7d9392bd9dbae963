//! The Prometheus text exposition format (version 0.0.4) of [`RuntimeMetrics`]: [`render`].
//!
//! Every name begins with `ringcore_`; every series carries a `core` label (the core's
//! index), per-opcode series an `op` label too ([`opcode_name`](super::opcode_name)).
//! Counters end in `_total`; durations are in seconds, sizes in bytes; histograms have
//! the usual `_bucket{le=...}`, `_sum` and `_count` series, with the log2 buckets'
//! bounds as `le` (in seconds for durations: 2^i ns, from 1 ns to 2^38 ns, then `+Inf`).
//! These names are stable, so dashboards can rely on them:
//!
//! | name | type | what |
//! |------|------|------|
//! | `ringcore_task_schedule_delay_seconds` | histogram | wake to poll |
//! | `ringcore_task_poll_duration_seconds` | histogram | one poll |
//! | `ringcore_tasks_spawned_total`, `ringcore_task_polls_total` | counter | |
//! | `ringcore_tasks_live` | gauge | |
//! | `ringcore_op_submitted_total`, `_inline_total`, `_completed_total`, `_cancelled_total`, `_failed_total` | counter | per `op` |
//! | `ringcore_op_latency_seconds` | histogram | per `op`; sampled (`OpMetrics::latency`): its `_count` is the ops timed |
//! | `ringcore_ops_in_flight` | gauge | |
//! | `ringcore_ops_inline_total` | counter | ops done without the ring |
//! | `ringcore_ring_enters_total`, `ringcore_ring_sqes_submitted_total` | counter | |
//! | `ringcore_ring_enter_submissions` | histogram | SQEs per enter |
//! | `ringcore_ring_sq_full_flushes_total`, `ringcore_ring_cq_overflows_total` | counter | |
//! | `ringcore_bytes_in_total`, `ringcore_bytes_out_total` | counter | |
//! | `ringcore_recv_pool_buffers`, `ringcore_recv_pool_buffers_out` | gauge | |
//! | `ringcore_recv_pool_exhausted_total` | counter | |
//! | `ringcore_registered_files` | gauge | |
//! | `ringcore_parks_total`, `ringcore_parked_seconds_total`, `ringcore_remote_unparks_total` | counter | |
//! | `ringcore_telemetry_enabled` | gauge | 1 with histograms on |
//!
//! Written by hand rather than with prometheus-client: that crate keeps its own atomic
//! metric types, so ringcore's cells would be copied into them on every scrape (or
//! wrapped in a custom collector of the same length as this file), for a format this small.

use std::fmt::Write;

use super::histogram::{BUCKETS, Histogram};
use super::snapshot::{CoreMetrics, RuntimeMetrics};

/// The `Content-Type` of [`render`]'s output.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A family of one value per core (or per core and opcode): name, help, the value.
type Family<T, V> = (&'static str, &'static str, fn(&T) -> V);

/// How a histogram's values are scaled to the exported unit.
#[derive(Clone, Copy)]
enum Unit {
    Seconds,
    Count,
}

/// Renders every core's metrics in the Prometheus text exposition format: one `# HELP`
/// and `# TYPE` per metric family, then each core's series. Opcodes a core never submitted
/// have no series on that core.
///
/// # Examples
///
/// ```
/// let rt = ringcore::Runtime::new()?;
/// let text = ringcore::metrics::prometheus::render(&rt.metrics());
/// assert!(text.contains("ringcore_task_schedule_delay_seconds_count{core=\"0\"}"));
/// # Ok::<(), ringcore::BuildError>(())
/// ```
pub fn render(m: &RuntimeMetrics) -> String {
    let mut out = String::with_capacity(16 * 1024);
    let counters: [Family<CoreMetrics, f64>; 12] = [
        ("ringcore_tasks_spawned_total", "Tasks spawned.", |c| {
            c.tasks_spawned as f64
        }),
        ("ringcore_task_polls_total", "Task polls.", |c| {
            c.tasks_polled as f64
        }),
        (
            "ringcore_ops_inline_total",
            "Ops completed without the ring (page-cache reads, readiness I/O).",
            |c| c.driver.ops_inline as f64,
        ),
        (
            "ringcore_ring_enters_total",
            "io_uring_enter(2) calls (turns of the epoll driver's ring).",
            |c| c.driver.enters as f64,
        ),
        (
            "ringcore_ring_sqes_submitted_total",
            "SQEs taken by the kernel or the epoll driver.",
            |c| c.sqes_submitted as f64,
        ),
        (
            "ringcore_ring_sq_full_flushes_total",
            "Times a full SQ was flushed to make room.",
            |c| c.driver.sq_full_flushes as f64,
        ),
        (
            "ringcore_ring_cq_overflows_total",
            "Reaps that found the CQ overflowed into the kernel's backlog.",
            |c| c.cq_overflows as f64,
        ),
        ("ringcore_bytes_in_total", "Bytes received or read.", |c| {
            c.bytes_in as f64
        }),
        ("ringcore_bytes_out_total", "Bytes sent or written.", |c| {
            c.bytes_out as f64
        }),
        (
            "ringcore_recv_pool_exhausted_total",
            "Multishot receives ended by an empty receive pool.",
            |c| c.driver.recv_pool_exhausted as f64,
        ),
        ("ringcore_parks_total", "Times the core parked.", |c| {
            c.parks as f64
        }),
        (
            "ringcore_parked_seconds_total",
            "Time the core spent parked.",
            |c| c.time_parked.as_secs_f64(),
        ),
    ];
    for (name, help, get) in counters {
        family(&mut out, name, help, "counter");
        for c in &m.cores {
            sample(&mut out, name, c, None, get(c));
        }
    }
    family(
        &mut out,
        "ringcore_remote_unparks_total",
        "Wakes from other threads that unparked the core.",
        "counter",
    );
    for c in &m.cores {
        sample(
            &mut out,
            "ringcore_remote_unparks_total",
            c,
            None,
            c.remote_unparks as f64,
        );
    }
    let gauges: [Family<CoreMetrics, f64>; 6] = [
        (
            "ringcore_tasks_live",
            "Tasks spawned and not finished.",
            |c| c.live_tasks as f64,
        ),
        (
            "ringcore_ops_in_flight",
            "Ops whose final CQE has not arrived.",
            |c| c.ops_in_flight as f64,
        ),
        (
            "ringcore_recv_pool_buffers",
            "Buffers in the receive pool.",
            |c| c.driver.recv_pool_buffers as f64,
        ),
        (
            "ringcore_recv_pool_buffers_out",
            "Receive-pool buffers held by the application.",
            |c| c.driver.recv_bufs_out as f64,
        ),
        (
            "ringcore_registered_files",
            "Sockets in the registered-file table.",
            |c| c.driver.files_registered as f64,
        ),
        (
            "ringcore_telemetry_enabled",
            "1 if histograms and per-opcode counts are kept.",
            |c| f64::from(u8::from(c.telemetry)),
        ),
    ];
    for (name, help, get) in gauges {
        family(&mut out, name, help, "gauge");
        for c in &m.cores {
            sample(&mut out, name, c, None, get(c));
        }
    }
    let hist = "ringcore_task_schedule_delay_seconds";
    family(
        &mut out,
        hist,
        "Time from a task's wake to its poll.",
        "histogram",
    );
    for c in &m.cores {
        histogram(&mut out, hist, c, None, &c.schedule_delay, Unit::Seconds);
    }
    let hist = "ringcore_task_poll_duration_seconds";
    family(&mut out, hist, "Duration of one poll.", "histogram");
    for c in &m.cores {
        histogram(&mut out, hist, c, None, &c.poll_duration, Unit::Seconds);
    }
    let hist = "ringcore_ring_enter_submissions";
    family(&mut out, hist, "SQEs submitted per enter.", "histogram");
    for c in &m.cores {
        histogram(&mut out, hist, c, None, &c.enter_submissions, Unit::Count);
    }
    let per_op: [Family<super::OpMetrics, u64>; 5] = [
        ("ringcore_op_submitted_total", "SQEs pushed.", |o| {
            o.submitted
        }),
        (
            "ringcore_op_inline_total",
            "Ops done on the core's thread without an SQE.",
            |o| o.inline,
        ),
        (
            "ringcore_op_completed_total",
            "Final CQEs with a result of 0 or more.",
            |o| o.completed,
        ),
        (
            "ringcore_op_cancelled_total",
            "Ops cancelled (future dropped, or -ECANCELED).",
            |o| o.cancelled,
        ),
        (
            "ringcore_op_failed_total",
            "Final CQEs with an errno.",
            |o| o.failed,
        ),
    ];
    for (name, help, get) in per_op {
        family(&mut out, name, help, "counter");
        for c in &m.cores {
            for o in &c.ops {
                sample(&mut out, name, c, Some(o.name), get(o) as f64);
            }
        }
    }
    let hist = "ringcore_op_latency_seconds";
    family(
        &mut out,
        hist,
        "Time from an op's submission to its completion (first 64 ops of an opcode, then 1 in 16).",
        "histogram",
    );
    for c in &m.cores {
        for o in &c.ops {
            histogram(&mut out, hist, c, Some(o.name), &o.latency, Unit::Seconds);
        }
    }
    out
}

fn family(out: &mut String, name: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

fn labels(out: &mut String, c: &CoreMetrics, op: Option<&str>, le: Option<&str>) {
    let _ = write!(out, "{{core=\"{}\"", c.core.index());
    if let Some(op) = op {
        let _ = write!(out, ",op=\"{op}\"");
    }
    if let Some(le) = le {
        let _ = write!(out, ",le=\"{le}\"");
    }
    out.push('}');
}

fn sample(out: &mut String, name: &str, c: &CoreMetrics, op: Option<&str>, v: f64) {
    out.push_str(name);
    labels(out, c, op, None);
    let _ = writeln!(out, " {v}");
}

fn histogram(
    out: &mut String,
    name: &str,
    c: &CoreMetrics,
    op: Option<&str>,
    h: &Histogram,
    unit: Unit,
) {
    let scale = |v: u64| match unit {
        Unit::Seconds => v as f64 / 1e9,
        Unit::Count => v as f64,
    };
    let mut cumulative = 0;
    let bucket = format!("{name}_bucket");
    for (i, n) in h.counts().iter().enumerate().take(BUCKETS - 1) {
        cumulative += n;
        let le = format!("{:e}", scale(Histogram::upper_bound(i)));
        out.push_str(&bucket);
        labels(out, c, op, Some(&le));
        let _ = writeln!(out, " {cumulative}");
    }
    out.push_str(&bucket);
    labels(out, c, op, Some("+Inf"));
    let _ = writeln!(out, " {}", h.count());
    let _ = write!(out, "{name}_sum");
    labels(out, c, op, None);
    let _ = writeln!(out, " {}", scale(h.sum()));
    let _ = write!(out, "{name}_count");
    labels(out, c, op, None);
    let _ = writeln!(out, " {}", h.count());
}
