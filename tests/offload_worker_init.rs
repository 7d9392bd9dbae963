//! A ProcessPool worker whose program forgot `init_worker` stops before it runs any of the
//! parent's program, and the parent's error says what to do.
//!
//! Before, the worker re-ran `main` up to the runtime (its side effects happened twice)
//! and the parent saw only "worker … died: exit status: 101".

use std::time::Duration;

use ringcore::offload::{PoolError, ProcessPool};

const MARKER_ENV: &str = "RINGCORE_TEST_FORGOT_INIT_MARKER";

/// The worker's role: a "main" that builds a runtime without calling `init_worker`, then
/// leaves a marker file (its side effect). In the parent (no env var) it does nothing.
#[test]
fn forgot_init_worker_entry() {
    let Some(marker) = std::env::var_os(MARKER_ENV) else {
        return;
    };
    ringcore::block_on(async move {
        std::fs::write(&marker, b"the parent's program ran in a worker").unwrap();
    });
}

#[test]
fn a_worker_without_init_worker_runs_none_of_main_and_the_error_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let pool = ProcessPool::builder()
        .workers(1)
        .worker_args(["--exact", "forgot_init_worker_entry", "--nocapture"])
        .inherit_stdout(false)
        .env(MARKER_ENV, &marker)
        .job_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let err = ringcore::block_on(async { pool.call::<_, u64>("fib", &10u64).await.unwrap_err() });
    assert!(
        matches!(err, PoolError::WorkerNotInitialized { ref job, .. } if job == "fib"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("call init_worker(&jobs) first in main"),
        "{msg}"
    );
    assert!(
        !marker.exists(),
        "the worker ran the program's body after building its runtime"
    );
}

fn jobs() -> ringcore::offload::Jobs {
    ringcore::offload::Jobs::new().register("double", |n: u64| n * 2)
}

/// A program's `main` written with the macro: in a worker it serves `jobs` and exits before
/// its body (which leaves a marker) runs.
#[ringcore::main(jobs = jobs)]
async fn main_with_jobs() {
    if let Some(marker) = std::env::var_os(MARKER_ENV) {
        std::fs::write(marker, b"the body ran").unwrap();
    }
}

/// The worker's role for the macro test; in the parent (no worker env var, no marker env
/// var) the body runs and does nothing.
#[test]
fn macro_jobs_entry() {
    main_with_jobs();
}

#[test]
fn the_jobs_argument_of_main_serves_jobs_in_a_worker_before_the_body() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let pool = ProcessPool::builder()
        .workers(1)
        .worker_args(["--exact", "macro_jobs_entry", "--nocapture"])
        .inherit_stdout(false)
        .env(MARKER_ENV, &marker)
        .job_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let n: u64 = ringcore::block_on(async { pool.call("double", &21u64).await.unwrap() });
    assert_eq!(n, 42);
    drop(pool);
    assert!(!marker.exists(), "the worker ran main's body");
}
