//! Running one simulation per seed and reporting the failing ones ([`run_seeds`]).

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use super::Sim;

/// What [`run_seeds`] found. Its `Display` is one line:
/// `seeds N, failed F, first failing seed S, trace hash H` (`S` is `none` when nothing
/// failed; `H`, in hexadecimal, is the trace hash of the first failing seed, or of the last
/// seed run when none failed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedsReport {
    /// Seeds run.
    pub seeds: u64,
    /// Seeds whose run failed (returned an error or panicked).
    pub failed: u64,
    /// The first failing seed and why it failed (the error's or the panic's message).
    pub first_failure: Option<(u64, String)>,
    /// The trace hash of the first failing seed, or of the last seed run.
    pub trace_hash: u64,
}

impl fmt::Display for SeedsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "seeds {}, failed {}, first failing seed ",
            self.seeds, self.failed
        )?;
        match &self.first_failure {
            Some((seed, _)) => write!(f, "{seed}")?,
            None => f.write_str("none")?,
        }
        write!(f, ", trace hash {:016x}", self.trace_hash)
    }
}

/// Runs `scenario` once per seed, each on a fresh [`Sim::new`]`(seed)`: the scenario adds
/// hosts, runs the simulation and checks what it wants, returning `Err` (any error type
/// that displays) or panicking when a check fails. Every seed runs; the report counts the
/// failures and keeps the first.
///
/// With `RINGCORE_SIM_SEED` set ([`seed_from_env`](super::seed_from_env)), only that seed
/// runs: the replay a failure's message names.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let report = ringcore::sim::run_seeds(0..20, |sim| {
///     sim.host("h", || async {})?;
///     let n = sim.run_until("h", async { ringcore::sim::rng().u32(0..10) })?;
///     if n == 7 { Err(format!("drew {n}").into()) } else { Ok(()) }
/// });
/// assert_eq!(report.seeds, 20);
/// println!("{report}");
/// ```
pub fn run_seeds<I, F>(seeds: I, mut scenario: F) -> SeedsReport
where
    I: IntoIterator<Item = u64>,
    F: FnMut(&mut Sim) -> Result<(), Box<dyn std::error::Error>>,
{
    let mut report = SeedsReport {
        seeds: 0,
        failed: 0,
        first_failure: None,
        trace_hash: 0,
    };
    let seeds: Box<dyn Iterator<Item = u64>> = match super::seed_from_env() {
        Some(seed) => Box::new(std::iter::once(seed)),
        None => Box::new(seeds.into_iter()),
    };
    for seed in seeds {
        let mut sim = Sim::new(seed);
        let outcome = catch_unwind(AssertUnwindSafe(|| scenario(&mut sim)));
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(panic) => Some(
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panicked".into()),
            ),
        };
        report.seeds += 1;
        if let Some(why) = failure {
            report.failed += 1;
            if report.first_failure.is_none() {
                report.first_failure = Some((seed, why));
                report.trace_hash = sim.trace_hash();
            }
        } else if report.first_failure.is_none() {
            report.trace_hash = sim.trace_hash();
        }
    }
    report
}
