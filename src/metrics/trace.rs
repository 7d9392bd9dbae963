//! `tracing` spans and events (feature `tracing`): an event `spawn` when a task is
//! spawned, a span `poll` around each task poll (and `block_on`'s future, with no task
//! id), and a `warn` event `slow poll` beside the debug mode's `log` warning. All under
//! target `ringcore::task` (the slow poll: `ringcore::debug`), at `trace` level except the
//! slow poll. Fields: `task_id`, `task_name`, `loc_file`, `loc_line`, `loc_col` (the spawn
//! site), and `elapsed_ms` for a slow poll. Without the feature every function here is
//! empty and inlined away.

use std::panic::Location;
use std::time::Duration;

use crate::executor::task::TaskMeta;

/// What `poll` returns: the entered span, exited when dropped (empty without the
/// feature).
pub(crate) struct PollGuard {
    #[cfg(feature = "tracing")]
    _span: tracing::span::EnteredSpan,
}

/// A task was spawned.
#[inline]
pub(crate) fn spawn(meta: &TaskMeta) {
    #[cfg(feature = "tracing")]
    tracing::trace!(
        target: "ringcore::task",
        task_id = meta.id().0,
        task_name = meta.name().unwrap_or(""),
        loc_file = meta.location().file(),
        loc_line = meta.location().line(),
        loc_col = meta.location().column(),
        "spawn"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = meta;
}

/// A task poll begins; the span ends when the guard drops. `None`: `block_on`'s future.
#[inline]
pub(crate) fn poll(meta: Option<&TaskMeta>) -> PollGuard {
    #[cfg(feature = "tracing")]
    {
        match meta {
            Some(meta) => PollGuard {
                _span: tracing::trace_span!(
                    target: "ringcore::task",
                    "poll",
                    task_id = meta.id().0,
                    task_name = meta.name().unwrap_or(""),
                )
                .entered(),
            },
            None => PollGuard {
                _span: tracing::trace_span!(
                    target: "ringcore::task",
                    "poll",
                    task_name = "block_on"
                )
                .entered(),
            },
        }
    }
    #[cfg(not(feature = "tracing"))]
    {
        let _ = meta;
        PollGuard {}
    }
}

/// A poll took `took`, over the debug threshold.
#[inline]
pub(crate) fn slow_poll(
    id: Option<u64>,
    name: Option<&str>,
    location: &'static Location<'static>,
    took: Duration,
) {
    #[cfg(feature = "tracing")]
    tracing::warn!(
        target: "ringcore::debug",
        task_id = id.unwrap_or(0),
        task_name = name.unwrap_or(""),
        loc_file = location.file(),
        loc_line = location.line(),
        elapsed_ms = took.as_secs_f64() * 1e3,
        "slow poll"
    );
    #[cfg(not(feature = "tracing"))]
    let _ = (id, name, location, took);
}
