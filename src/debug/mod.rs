//! Introspection and debug mode (asyncio's `current_task`, `all_tasks`, debug mode and
//! `slow_callback_duration`).
//!
//! - [`current_task`] and [`all_tasks`] describe the tasks of the current core;
//! - debug mode ([`Builder::debug`](crate::Builder::debug) or `RINGCORE_DEBUG=1`) times
//!   every poll and reports polls longer than the threshold (100 ms by default) as a
//!   `log` warning with target `ringcore::debug`:
//!   `slow poll: task 7 "fetch" (src/main.rs:12:5) blocked the core for 201.3 ms`;
//! - [`metrics`] reads the current core's counters from inside it.

use std::panic::Location;
use std::time::{Duration, Instant};

use crate::CoreMetrics;
use crate::executor::task::{TaskId, TaskMeta};
use crate::runtime::context;

/// What a task is doing, as far as the executor knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskState {
    /// Spawned, not polled yet.
    NotStarted,
    /// Being polled right now (the task asking).
    Running,
    /// Polled before; waiting to be woken or queued to run.
    Idle,
    /// Aborted; its future is dropped at its next turn.
    Cancelling,
}

/// A snapshot of one task, from [`current_task`] or [`all_tasks`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct TaskInfo {
    /// The task's id.
    pub id: TaskId,
    /// The name given at spawn ([`task::Builder::name`](crate::task::Builder::name) or
    /// [`spawn_named`](crate::task::spawn_named)).
    pub name: Option<String>,
    /// Where `spawn` was called.
    pub location: &'static Location<'static>,
    /// What it is doing.
    pub state: TaskState,
    /// Time since its last poll ended; recorded in debug mode only (`None` otherwise or
    /// before the first poll).
    pub since_last_poll: Option<Duration>,
}

/// The task running this code (asyncio's `current_task()`), or `None` outside a task
/// (in `block_on`'s own future, or outside a runtime).
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let name = ringcore::task::spawn_named("worker", async {
///         ringcore::debug::current_task().and_then(|t| t.name)
///     });
///     assert_eq!(name.await.unwrap().as_deref(), Some("worker"));
/// });
/// ```
pub fn current_task() -> Option<TaskInfo> {
    context::try_with(|core| {
        let (key, meta) = core.executor.current()?;
        let registry = core.executor.registry();
        registry.with_entry(key, meta, |e| {
            let last_poll = registry.last_poll(key, e.meta().id());
            info(e.meta(), last_poll, true, Instant::now())
        })
    })
    .flatten()
}

/// Every live task of the current core (spawned and not finished), oldest slot first
/// (asyncio's `all_tasks()`). Empty outside a runtime.
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let t = ringcore::task::spawn_named("sleeper", async {
///         ringcore::time::sleep(std::time::Duration::from_secs(60)).await
///     });
///     ringcore::yield_now().await;
///     let names: Vec<_> = ringcore::debug::all_tasks().into_iter().filter_map(|t| t.name).collect();
///     assert_eq!(names, ["sleeper"]);
///     t.abort();
/// });
/// ```
pub fn all_tasks() -> Vec<TaskInfo> {
    context::try_with(|core| {
        let current = core.executor.current().map(|(key, _)| key);
        let now = Instant::now();
        let registry = core.executor.registry();
        registry.map_tasks(|key, meta| {
            let last_poll = registry.last_poll(key, meta.id());
            info(meta, last_poll, current == Some(key), now)
        })
    })
    .unwrap_or_default()
}

fn info(meta: &TaskMeta, last_poll: Option<Instant>, running: bool, now: Instant) -> TaskInfo {
    let state = if meta.is_aborted() {
        TaskState::Cancelling
    } else if running {
        TaskState::Running
    } else if !meta.was_polled() {
        TaskState::NotStarted
    } else {
        TaskState::Idle
    };
    TaskInfo {
        id: meta.id(),
        name: meta.name().map(str::to_string),
        location: meta.location(),
        state,
        since_last_poll: last_poll.map(|t| now.saturating_duration_since(t)),
    }
}

/// The current core's counters and histograms (tasks spawned and polled, ops submitted
/// and completed, ring enters, time parked, scheduling delay); `None` outside a runtime.
/// One core of [`Runtime::metrics`](crate::Runtime::metrics), exact, reachable from inside
/// a task; [`metrics::current`](crate::metrics::current) reads every core.
pub fn metrics() -> Option<CoreMetrics> {
    context::try_with(|core| core.metrics())
}

/// True if debug mode is on for the current core.
pub fn is_enabled() -> bool {
    context::try_with(|core| core.executor.slow_poll().is_some()).unwrap_or(false)
}
