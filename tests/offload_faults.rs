//! ProcessPool faults with real worker processes: crashes, `kill -9`, timeouts, rogue
//! frames, and no child left behind.

mod offload_jobs;

use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use offload_jobs::{ROGUE_ENV, is_our_child, pool_builder};
use ringcore::offload::{PoolError, ProcessPool};

/// Waits until the pool has a worker and returns its pid.
async fn first_worker(pool: &ProcessPool) -> u32 {
    loop {
        if let Some(pid) = pool.worker_pids().first() {
            return *pid;
        }
        ringcore::time::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
fn kill_9_mid_job_fails_that_job_and_a_replacement_serves_the_next() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let p = pool.clone();
        let job = ringcore::spawn(async move { p.call::<_, u64>("sleep_ms", &20_000u64).await });
        let pid = first_worker(&pool).await;
        // Give the worker time to start and pick the job up, then kill it.
        ringcore::time::sleep(Duration::from_millis(300)).await;
        // SAFETY: kill(2) takes no pointers; `pid` is our own unreaped child (the pool
        // reaps only after the socket closes, which happens after this signal).
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        let err = job.await.unwrap().unwrap_err();
        match err {
            PoolError::WorkerCrashed { pid: p, status, .. } => {
                assert_eq!(p, pid);
                assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!is_our_child(pid), "the killed worker was not reaped");
        let sum: u64 = pool.call("add", &(2u64, 3u64)).await.unwrap();
        assert_eq!(sum, 5);
        let new_pid = pool.worker_pids()[0];
        assert_ne!(new_pid, pid);
    });
}

#[test]
fn crashes_fail_only_their_own_jobs_among_queued_calls() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let calls: Vec<_> = (0..12u64)
            .map(|i| {
                let pool = pool.clone();
                ringcore::spawn(async move {
                    if i % 4 == 1 {
                        pool.call::<_, u64>("abort", &()).await
                    } else {
                        pool.call::<_, u64>("add", &(i, 100u64)).await
                    }
                })
            })
            .collect();
        for (i, c) in calls.into_iter().enumerate() {
            let i = i as u64;
            match c.await.unwrap() {
                Ok(v) => assert_eq!(v, i + 100),
                Err(PoolError::WorkerCrashed { .. }) => assert_eq!(i % 4, 1),
                Err(e) => panic!("call {i}: unexpected {e:?}"),
            }
        }
    });
}

#[test]
fn a_call_dropped_mid_job_frees_its_worker_slot() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let p = pool.clone();
        let job = ringcore::spawn(async move { p.call::<_, u64>("sleep_ms", &60_000u64).await });
        let pid = first_worker(&pool).await;
        ringcore::time::sleep(Duration::from_millis(100)).await;
        job.abort();
        assert!(job.await.unwrap_err().is_cancelled());
        // The abandoned worker was killed and reaped; the slot serves the next call.
        assert!(!is_our_child(pid));
        assert_eq!(pool.call::<_, u64>("add", &(1u64, 1u64)).await.unwrap(), 2);
    });
}

#[test]
fn an_aborting_job_reports_the_signal_and_the_worker_is_replaced() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let err = pool.call::<_, u64>("abort", &()).await.unwrap_err();
        match err {
            PoolError::WorkerCrashed { status, .. } => {
                assert_eq!(status.signal(), Some(libc::SIGABRT), "{status:?}")
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(pool.call::<_, u64>("fib", &15u64).await.unwrap(), 610);
    });
}

#[test]
fn a_worker_killed_while_idle_does_not_fail_the_next_job() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let pid: u32 = pool.call("pid", &()).await.unwrap();
        // SAFETY: kill(2) takes no pointers; `pid` is our idle, unreaped child.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGKILL) }, 0);
        ringcore::time::sleep(Duration::from_millis(50)).await;
        let other: u32 = pool.call("pid", &()).await.unwrap();
        assert_ne!(other, pid);
        assert!(!is_our_child(pid));
    });
}

#[test]
fn a_job_past_its_timeout_is_killed() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let err = pool
            .call_timeout::<_, u64>("sleep_ms", &60_000u64, Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(matches!(err, PoolError::Timeout { .. }), "{err:?}");
        assert!(pool.worker_pids().is_empty());
        // The pool-wide default applies too.
        let pool2 = pool_builder()
            .workers(1)
            .job_timeout(Duration::from_millis(100))
            .build()
            .unwrap();
        let err = pool2
            .call::<_, u64>("sleep_ms", &60_000u64)
            .await
            .unwrap_err();
        assert!(matches!(err, PoolError::Timeout { .. }), "{err:?}");
        // Jobs within the limit still run.
        assert_eq!(pool.call::<_, u64>("sleep_ms", &1u64).await.unwrap(), 1);
    });
}

#[test]
fn a_rogue_workers_oversized_frame_is_a_typed_error_and_the_worker_is_recycled() {
    let pool = pool_builder()
        .workers(1)
        .env(ROGUE_ENV, "oversized")
        .build()
        .unwrap();
    ringcore::block_on(async {
        let err = pool.call::<_, u64>("fib", &10u64).await.unwrap_err();
        assert!(
            matches!(err, PoolError::FrameTooLarge { len, .. } if len == u64::from(u32::MAX)),
            "{err:?}"
        );
        assert!(pool.worker_pids().is_empty());
    });
}

#[test]
fn a_rogue_workers_truncated_frame_is_a_typed_error() {
    let pool = pool_builder()
        .workers(1)
        .env(ROGUE_ENV, "truncated")
        .build()
        .unwrap();
    ringcore::block_on(async {
        let err = pool.call::<_, u64>("fib", &10u64).await.unwrap_err();
        assert!(matches!(err, PoolError::BadFrame { .. }), "{err:?}");
        assert!(pool.worker_pids().is_empty());
    });
}

#[test]
fn a_rogue_workers_trailing_bytes_are_a_typed_error() {
    let pool = pool_builder()
        .workers(1)
        .env(ROGUE_ENV, "trailing")
        .build()
        .unwrap();
    ringcore::block_on(async {
        let err = pool.call::<_, u8>("fib", &10u64).await.unwrap_err();
        assert!(matches!(err, PoolError::BadFrame { .. }), "{err:?}");
    });
}

#[test]
fn a_rogue_workers_reply_with_the_wrong_id_is_a_typed_error() {
    let pool = pool_builder()
        .workers(1)
        .env(ROGUE_ENV, "wrong_id")
        .build()
        .unwrap();
    ringcore::block_on(async {
        let err = pool.call::<_, u8>("fib", &10u64).await.unwrap_err();
        match err {
            PoolError::BadFrame { reason, .. } => assert!(reason.contains("reply to request 0")),
            other => panic!("unexpected {other:?}"),
        }
        assert!(pool.worker_pids().is_empty());
    });
}

#[test]
fn dropping_the_pool_reaps_every_worker() {
    let pool = pool_builder().workers(2).build().unwrap();
    let pids = ringcore::block_on(async {
        let a = pool.clone();
        let b = pool.clone();
        let (x, y) = (
            ringcore::spawn(async move { a.call::<_, u64>("sleep_ms", &100u64).await }),
            ringcore::spawn(async move { b.call::<_, u64>("sleep_ms", &100u64).await }),
        );
        x.await.unwrap().unwrap();
        y.await.unwrap().unwrap();
        pool.worker_pids()
    });
    assert_eq!(pids.len(), 2);
    assert!(pids.iter().all(|p| is_our_child(*p)));
    drop(pool);
    for pid in pids {
        assert!(!is_our_child(pid), "worker {pid} outlived its pool");
    }
}

#[test]
fn dropping_the_runtime_mid_job_reaps_the_busy_worker() {
    let pool = pool_builder().workers(1).build().unwrap();
    let rt = ringcore::Runtime::new().unwrap();
    let p = pool.clone();
    let _job = rt.spawn(async move { p.call::<_, u64>("sleep_ms", &60_000u64).await });
    let pid = rt.block_on(async {
        let pid = first_worker(&pool).await;
        ringcore::time::sleep(Duration::from_millis(100)).await;
        pid
    });
    assert!(is_our_child(pid));
    drop(rt);
    assert!(!is_our_child(pid), "busy worker {pid} outlived the runtime");
    assert!(pool.worker_pids().is_empty());
    drop(pool);
}

#[test]
fn shutdown_refuses_new_calls() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let pid: u32 = pool.call("pid", &()).await.unwrap();
        pool.shutdown();
        assert!(!is_our_child(pid));
        let err = pool.call::<_, u32>("pid", &()).await.unwrap_err();
        assert!(matches!(err, PoolError::Closed), "{err:?}");
    });
}
