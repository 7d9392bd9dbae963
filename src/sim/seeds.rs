//! Running one simulation per seed and reporting the failing ones ([`run_seeds`]), and
//! the one-host test that `#[ringcore::test(sim)]` expands to ([`test_seeds`]).

use std::fmt;
use std::future::Future;
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

/// What a simulated test's body returns: `()`, or a `Result` whose `Err` fails the seed
/// (as `#[test]` functions may return a `Result`).
pub trait TestOutcome {
    /// `Err` with the failure's text if the seed failed.
    fn into_failure(self) -> Result<(), String>;
}

impl TestOutcome for () {
    fn into_failure(self) -> Result<(), String> {
        Ok(())
    }
}

impl<T, E: fmt::Debug> TestOutcome for Result<T, E> {
    fn into_failure(self) -> Result<(), String> {
        self.map(drop)
            .map_err(|e| format!("the body returned Err({e:?})"))
    }
}

/// Runs `body` as a one-host simulation once per seed in `0..seeds`, stopping at the first
/// failing seed: each seed gets a fresh [`Sim::new`]`(seed)` with one host named `"test"`
/// of `cores` cores ([`Sim::host_cores`]), and `body()` runs on its core 0 until it
/// completes ([`Sim::run_until`]). `#[ringcore::test(sim, seeds = N, cores = C)]`
/// expands to this; `name` is the test's name, for the replay hint.
///
/// With `RINGCORE_SIM_SEED` set ([`seed_from_env`](super::seed_from_env)), only that seed
/// runs.
///
/// # Panics
///
/// When a seed fails: the body panicked, returned `Err`, deadlocked, or passed the
/// simulation's time or step budget (one virtual day, 50 million polls). The message
/// names the seed, the trace hash and the command that replays it:
/// `RINGCORE_SIM_SEED=S cargo test NAME`. Also if `cores` is not in
/// `1..=`[`MAX_HOST_CORES`](super::MAX_HOST_CORES) or `seeds` is 0.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// // What `#[ringcore::test(sim, seeds = 20, cores = 2)]` on `async fn doubles()` runs.
/// async fn doubles() {
///     let n = ringcore::submit_to(ringcore::CoreId::new(1), || async {
///         ringcore::time::sleep(Duration::from_secs(60)).await;
///         21 * 2
///     });
///     assert_eq!(n.await.unwrap(), 42);
/// }
/// ringcore::sim::test_seeds("doubles", 20, 2, doubles);
/// ```
#[track_caller]
pub fn test_seeds<F, Fut>(name: &str, seeds: u64, cores: usize, body: F)
where
    F: Fn() -> Fut,
    Fut: Future + 'static,
    Fut::Output: TestOutcome + 'static,
{
    assert!(
        seeds > 0,
        "ringcore::sim::test_seeds: `seeds` must be at least 1"
    );
    let seeds: Box<dyn Iterator<Item = u64>> = match super::seed_from_env() {
        Some(seed) => Box::new(std::iter::once(seed)),
        None => Box::new(0..seeds),
    };
    let mut ran = 0u64;
    for seed in seeds {
        ran += 1;
        let mut sim = Sim::new(seed);
        if let Err(e) = sim.host_cores("test", cores, || async {}) {
            panic!("ringcore::sim::test_seeds: {e}");
        }
        let outcome = catch_unwind(AssertUnwindSafe(|| sim.run_until("test", body())));
        let failure = match outcome {
            Ok(Ok(out)) => out.into_failure().err(),
            Ok(Err(e)) => Some(e.to_string()),
            Err(panic) => Some(
                panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panicked".into()),
            ),
        };
        if let Some(why) = failure {
            panic!(
                "simulated test {name} failed on seed {seed} ({ran} seeds run; trace hash \
                 {:016x}): {why}\nreplay this seed alone: {}={seed} cargo test {name}",
                sim.trace_hash(),
                super::SEED_ENV,
            );
        }
    }
}
