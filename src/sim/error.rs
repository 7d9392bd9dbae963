//! [`SimError`]: why a simulation stopped, or why the harness refused a request.

use std::fmt;
use std::time::Duration;

use super::SEED_ENV;

/// Why a simulation stopped, or why the harness refused a request.
#[derive(Debug)]
#[non_exhaustive]
pub enum SimError {
    /// No host has that name.
    UnknownHost(String),
    /// A host of that name exists already.
    DuplicateHost(String),
    /// A host was asked for with a number of cores outside
    /// `1..=`[`MAX_HOST_CORES`](super::MAX_HOST_CORES).
    InvalidCores {
        /// The host's name.
        host: String,
        /// The number asked for.
        cores: usize,
    },
    /// The host is crashed (not restarted yet): it runs nothing.
    HostDown(String),
    /// The awaited future can never finish: no task is ready, no timer is set and no op
    /// is in flight. `report` lists the live tasks of every core of every host.
    Deadlock {
        /// The simulation's seed.
        seed: u64,
        /// Virtual time of the deadlock.
        at: Duration,
        /// What every host still holds.
        report: String,
    },
    /// The virtual clock would pass [`Sim::time_limit`](super::Sim::time_limit).
    TimeLimit {
        /// The simulation's seed.
        seed: u64,
        /// The budget.
        limit: Duration,
    },
    /// More task polls than [`Sim::step_limit`](super::Sim::step_limit) without the awaited future finishing (a
    /// livelock: tasks that keep each other ready while the clock stands still).
    StepLimit {
        /// The simulation's seed.
        seed: u64,
        /// The budget.
        steps: u64,
    },
    /// The future passed to [`Sim::run_until`](super::Sim::run_until) panicked, or its host crashed under it.
    Task {
        /// The simulation's seed.
        seed: u64,
        /// The panic message, or "cancelled".
        message: String,
    },
    /// A simulation cannot run inside a ringcore runtime's thread.
    Nested,
    /// Setting a host up failed. (A simulated core opens no fd today, so nothing returns
    /// this yet.)
    Io(std::io::Error),
}

impl fmt::Display for SimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let replay = |f: &mut fmt::Formatter<'_>, seed: u64| {
            write!(f, " (seed {seed}; replay with {SEED_ENV}={seed})")
        };
        match self {
            SimError::UnknownHost(h) => write!(f, "no simulated host named {h:?}"),
            SimError::DuplicateHost(h) => write!(f, "a simulated host named {h:?} exists"),
            SimError::InvalidCores { host, cores } => write!(
                f,
                "simulated host {host:?} asked for {cores} cores (1..={} allowed)",
                super::MAX_HOST_CORES
            ),
            SimError::HostDown(h) => write!(f, "simulated host {h:?} is crashed"),
            SimError::Deadlock { seed, at, report } => {
                write!(f, "deadlock at virtual {at:?}")?;
                replay(f, *seed)?;
                write!(f, ":\n{report}")
            }
            SimError::TimeLimit { seed, limit } => {
                write!(f, "virtual time budget of {limit:?} exceeded")?;
                replay(f, *seed)
            }
            SimError::StepLimit { seed, steps } => {
                write!(f, "{steps} task polls without finishing (livelock?)")?;
                replay(f, *seed)
            }
            SimError::Task { seed, message } => {
                write!(f, "the awaited task failed: {message}")?;
                replay(f, *seed)
            }
            SimError::Nested => f.write_str("a simulation cannot run inside a ringcore runtime"),
            SimError::Io(e) => write!(f, "setting up a simulated host failed: {e}"),
        }
    }
}

impl std::error::Error for SimError {}
