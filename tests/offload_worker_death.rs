//! ProcessPool when a worker dies or stops reading: the caller is never killed by SIGPIPE
//! (these run in a child process with SIGPIPE at its default action, as in a CLI that
//! restores it), a job the worker never took is retried once on another worker, a job it
//! took is never run twice, and a worker's death is reported at once even when a
//! grandchild it forked holds its socket.

mod offload_jobs;
mod support;

use std::time::{Duration, Instant};

use offload_jobs::{LOG_ENV, ROGUE_ENV, is_our_child, pool_builder};
use ringcore::offload::PoolError;
use support::seccomp;

const LIMIT: Duration = Duration::from_secs(60);

/// In the child: restores SIGPIPE's default action (libtest, like every Rust program,
/// starts with it ignored).
fn sigpipe_default() {
    // SAFETY: signal(2) with SIG_DFL installs no handler code.
    let old = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(old, libc::SIG_ERR);
}

/// Runs `test`'s body in a child with SIGPIPE at SIG_DFL (and `deny` syscalls failing with
/// ENOSYS); in the parent, asserts the child passed. Returns true in the child.
fn in_child(test: &str, deny: &[i64]) -> bool {
    let Some(run) = seccomp::run_in_child(test, deny, libc::ENOSYS, LIMIT) else {
        sigpipe_default();
        return true;
    };
    use std::os::unix::process::ExitStatusExt;
    assert_ne!(
        run.status.signal(),
        Some(libc::SIGPIPE),
        "SIGPIPE killed the caller: {run}"
    );
    assert!(run.status.success(), "{run}");
    print!("{}", run.stdout);
    false
}

#[test]
fn a_worker_that_shut_its_read_side_does_not_sigpipe_the_caller_and_the_job_is_retried() {
    if !in_child(
        "a_worker_that_shut_its_read_side_does_not_sigpipe_the_caller_and_the_job_is_retried",
        &[],
    ) {
        return;
    }
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        // The job shuts the read side of its worker's socket, then answers.
        let first: u32 = pool.call("shut_read", &()).await.unwrap();
        // The next request's send fails with EPIPE: the worker never took the job, so it
        // runs on a new worker.
        let second: u32 = pool.call("pid", &()).await.unwrap();
        assert_ne!(second, first);
        assert!(!is_our_child(first), "the broken worker was not reaped");
        println!("shut read side: job retried from worker {first} on worker {second}");
    });
}

#[test]
fn a_call_right_after_an_idle_worker_was_killed_is_retried_and_does_not_sigpipe_the_caller() {
    if !in_child(
        "a_call_right_after_an_idle_worker_was_killed_is_retried_and_does_not_sigpipe_the_caller",
        &[],
    ) {
        return;
    }
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        // The kill lands at every stage of the next call: before the send (EPIPE, or the
        // dead worker skipped at checkout), or between the send and the ACK.
        for round in 0..40 {
            let pid: u32 = pool.call("pid", &()).await.unwrap();
            // SAFETY: kill(2) takes no pointers; `pid` is our idle, unreaped child.
            assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
            match pool.call::<_, u32>("pid", &()).await {
                Ok(other) => assert_ne!(other, pid),
                Err(e) => {
                    panic!("round {round}: the call failed although its job never ran: {e:?}")
                }
            }
            assert!(!is_our_child(pid), "round {round}: worker {pid} not reaped");
        }
    });
}

#[test]
fn a_killed_idle_worker_whose_socket_a_grandchild_holds_is_noticed_and_the_job_retried() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        // A small request (the call then waits in a read that EOF would never end) and one
        // far larger than the socket buffer (it waits in a send the dead worker never
        // drains).
        let big: Vec<u8> = (0..4u32 << 20).map(|i| i as u8).collect();
        for size in ["small", "big"] {
            let pid: u32 = pool.call("pid", &()).await.unwrap();
            // An earlier job leaves a grandchild holding the worker's socket for 5 s.
            let grandchild: i32 = pool.call("fork_sleeper", &5u32).await.unwrap();
            assert!(grandchild > 0);
            // SAFETY: kill(2) takes no pointers; `pid` is our idle, unreaped child.
            assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
            let start = Instant::now();
            if size == "small" {
                let other: u32 = pool.call("pid", &()).await.unwrap();
                assert_ne!(other, pid);
            } else {
                let back: Vec<u8> = pool.call("echo", &big).await.unwrap();
                assert!(back == big, "the echo came back different");
            }
            let elapsed = start.elapsed();
            println!(
                "{size} request to a killed worker held open by a grandchild: retried, done after {elapsed:?}"
            );
            assert!(elapsed < Duration::from_secs(1), "{size}: took {elapsed:?}");
            assert!(!is_our_child(pid));
            // The grandchild exits by itself after its 5 s.
        }
    });
}

#[test]
fn a_job_whose_worker_dies_before_the_ack_is_retried_once_only() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("pids");
    let pool = pool_builder()
        .workers(1)
        .env(ROGUE_ENV, "exit_before_ack")
        .env(LOG_ENV, &log)
        .build()
        .unwrap();
    ringcore::block_on(async {
        let err = pool.call::<_, u64>("fib", &10u64).await.unwrap_err();
        assert!(matches!(err, PoolError::WorkerCrashed { .. }), "{err:?}");
    });
    let pids = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        pids.lines().count(),
        2,
        "workers that took the request: {pids}"
    );
}

#[test]
fn a_job_that_crashed_after_the_ack_is_not_run_again() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs");
    let pool = pool_builder()
        .workers(1)
        .env(LOG_ENV, &log)
        .build()
        .unwrap();
    ringcore::block_on(async {
        let err = pool.call::<_, u64>("log_and_abort", &()).await.unwrap_err();
        assert!(matches!(err, PoolError::WorkerCrashed { .. }), "{err:?}");
    });
    let runs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        runs.lines().count(),
        1,
        "the job ran {} times",
        runs.lines().count()
    );
}

/// Calls `fork_and_exit` (the grandchild keeps the socket 5 s) on a warm worker; returns
/// how long the crash took to report.
fn fork_and_exit_latency() -> Duration {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let pid: u32 = pool.call("pid", &()).await.unwrap();
        let start = Instant::now();
        let err = pool
            .call::<_, u64>("fork_and_exit", &5u32)
            .await
            .unwrap_err();
        let elapsed = start.elapsed();
        match err {
            PoolError::WorkerCrashed { pid: p, status, .. } => {
                assert_eq!(p, pid);
                assert_eq!(status.code(), Some(3), "{status:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!is_our_child(pid));
        elapsed
    })
}

#[test]
fn a_job_that_forks_a_grandchild_and_exits_is_reported_crashed_at_once() {
    let elapsed = fork_and_exit_latency();
    println!("worker forked and exited: crash reported after {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(1),
        "reported after {elapsed:?}"
    );
}

#[test]
fn without_pidfd_a_job_that_forks_a_grandchild_and_exits_is_reported_crashed_at_once() {
    // pidfd_open fails with ENOSYS, as on kernels before 5.3: the status checks take over.
    if !in_child(
        "without_pidfd_a_job_that_forks_a_grandchild_and_exits_is_reported_crashed_at_once",
        &[libc::SYS_pidfd_open],
    ) {
        return;
    }
    let elapsed = fork_and_exit_latency();
    println!("no pidfd: worker forked and exited: crash reported after {elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(1),
        "reported after {elapsed:?}"
    );
}

#[test]
fn watching_the_worker_leaks_no_fd() {
    // In a child, so no other test's pools or files move the process-wide fd count.
    if !in_child("watching_the_worker_leaks_no_fd", &[]) {
        return;
    }
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let _: u32 = pool.call("pid", &()).await.unwrap();
        support::settle().await;
        let base = support::open_fds();
        for i in 0..100u64 {
            let sum: u64 = pool.call("add", &(i, 1u64)).await.unwrap();
            assert_eq!(sum, i + 1);
        }
        // Jobs long enough for the pid watch to start (its pidfd is closed after each).
        for _ in 0..8 {
            let ms: u64 = pool.call("sleep_ms", &30u64).await.unwrap();
            assert_eq!(ms, 30);
        }
        // A timeout and a crash drop the watch mid-flight.
        let _ = pool
            .call_timeout::<_, u64>("sleep_ms", &60_000u64, Duration::from_millis(50))
            .await
            .unwrap_err();
        let _ = pool.call::<_, u64>("abort", &()).await.unwrap_err();
        let _: u32 = pool.call("pid", &()).await.unwrap();
        support::settle().await;
        assert_eq!(support::open_fds(), base, "fds leaked");
        println!("fds stayed at {base}");
    });
}
