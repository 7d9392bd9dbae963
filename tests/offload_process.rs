//! ProcessPool results and typed job errors, with real worker processes.

mod offload_jobs;

use offload_jobs::{fib, pool_builder};
use ringcore::offload::{PoolError, ProcessPool};

#[test]
fn results_are_correct_for_many_concurrent_calls_from_two_cores() {
    let pool = pool_builder().workers(2).build().unwrap();
    let threads: Vec<_> = (0..2u64)
        .map(|core| {
            let pool = pool.clone();
            std::thread::spawn(move || {
                ringcore::block_on(async move {
                    let calls: Vec<_> = (0..100u64)
                        .map(|i| {
                            let pool = pool.clone();
                            ringcore::spawn(async move {
                                let n = (core * 1000 + i) % 25;
                                let f: u64 = pool.call("fib", &n).await.unwrap();
                                assert_eq!(f, fib(n));
                                let s: u64 = pool.call("add", &(i, core)).await.unwrap();
                                assert_eq!(s, i + core);
                            })
                        })
                        .collect();
                    for c in calls {
                        c.await.unwrap();
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(pool.worker_pids().len() <= 2);
}

#[test]
fn large_arguments_and_results_round_trip() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let back: Vec<u8> = pool.call("echo", &data).await.unwrap();
        assert_eq!(back, data);
        let big: Vec<u8> = pool.call("big", &1_000_000usize).await.unwrap();
        assert_eq!(big.len(), 1_000_000);
    });
}

#[test]
fn unknown_job_is_a_typed_error() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let err = pool.call::<_, u64>("no_such_job", &1u64).await.unwrap_err();
        assert!(matches!(err, PoolError::UnknownJob { ref job } if job == "no_such_job"));
        // The worker survives.
        assert_eq!(pool.call::<_, u64>("add", &(1u64, 2u64)).await.unwrap(), 3);
    });
}

#[test]
fn bad_arguments_are_a_typed_error() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        // `add` takes two integers; an empty argument does not decode.
        let err = pool.call::<_, u64>("add", &()).await.unwrap_err();
        assert!(matches!(err, PoolError::BadArguments { .. }), "{err:?}");
        // A result type that does not match the job's.
        let err = pool
            .call::<_, String>("add", &(300u64, 1u64))
            .await
            .unwrap_err();
        assert!(matches!(err, PoolError::BadResult { .. }), "{err:?}");
        assert_eq!(pool.call::<_, u64>("fib", &10u64).await.unwrap(), 55);
    });
}

#[test]
fn a_panicking_job_returns_its_message() {
    let pool = pool_builder().workers(1).build().unwrap();
    ringcore::block_on(async {
        let err = pool
            .call::<_, u64>("panic", &"boom 42".to_string())
            .await
            .unwrap_err();
        match err {
            PoolError::JobPanicked { job, message } => {
                assert_eq!(job, "panic");
                assert_eq!(message, "boom 42");
            }
            other => panic!("unexpected {other:?}"),
        }
        let pids = pool.worker_pids();
        assert_eq!(pool.call::<_, u64>("fib", &20u64).await.unwrap(), 6765);
        // Same worker: a caught panic does not cost a process.
        assert_eq!(pool.worker_pids(), pids);
    });
}

#[test]
fn frame_limits_give_typed_errors() {
    let pool = pool_builder().workers(1).max_frame(1024).build().unwrap();
    ringcore::block_on(async {
        let err = pool
            .call::<_, Vec<u8>>("echo", &vec![0u8; 4096])
            .await
            .unwrap_err();
        assert!(
            matches!(err, PoolError::FrameTooLarge { limit: 1024, .. }),
            "{err:?}"
        );
        let err = pool
            .call::<_, Vec<u8>>("big", &4096usize)
            .await
            .unwrap_err();
        assert!(matches!(err, PoolError::BadResult { .. }), "{err:?}");
        let ok: Vec<u8> = pool.call("big", &100usize).await.unwrap();
        assert_eq!(ok, vec![7u8; 100]);
    });
}

#[test]
fn calls_queue_when_all_workers_are_busy() {
    let pool = pool_builder().workers(2).build().unwrap();
    ringcore::block_on(async {
        let calls: Vec<_> = (0..8u64)
            .map(|_| {
                let pool = pool.clone();
                ringcore::spawn(async move { pool.call::<_, u32>("pid", &()).await.unwrap() })
            })
            .collect();
        let mut pids = Vec::new();
        for c in calls {
            pids.push(c.await.unwrap());
        }
        pids.sort_unstable();
        pids.dedup();
        assert!(pids.len() <= 2, "{pids:?}");
    });
}

#[test]
fn the_pool_handle_is_send_sync_and_clone() {
    fn assert_shareable<T: Send + Sync + Clone + 'static>() {}
    assert_shareable::<ProcessPool>();
}

#[test]
fn invalid_configuration_is_refused() {
    assert!(matches!(
        ProcessPool::builder().workers(0).build(),
        Err(PoolError::InvalidConfig(_))
    ));
    assert!(matches!(
        ProcessPool::builder().max_frame(8).build(),
        Err(PoolError::InvalidConfig(_))
    ));
}

#[test]
fn a_missing_worker_program_is_a_spawn_error() {
    let pool = pool_builder()
        .program("/nonexistent/ringcore-worker")
        .workers(1)
        .build()
        .unwrap();
    ringcore::block_on(async {
        let err = pool.call::<_, u64>("fib", &1u64).await.unwrap_err();
        assert!(matches!(err, PoolError::Spawn(_)), "{err:?}");
        // The failed spawn gave its slot back: the next call tries again.
        let err = pool.call::<_, u64>("fib", &1u64).await.unwrap_err();
        assert!(matches!(err, PoolError::Spawn(_)), "{err:?}");
        assert!(pool.worker_pids().is_empty());
    });
}
