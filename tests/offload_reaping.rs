//! After every pool of this test binary is dropped, the process has no child left (not
//! even a zombie). A binary of its own, so no other test's workers are alive meanwhile.

mod offload_jobs;

use offload_jobs::{children, pool_builder};

#[test]
fn no_child_process_remains_after_the_pools_are_dropped() {
    for round in 0..3u64 {
        let pool = pool_builder().workers(2).build().unwrap();
        ringcore::block_on(async {
            let calls: Vec<_> = (0..20u64)
                .map(|i| {
                    let pool = pool.clone();
                    ringcore::spawn(async move {
                        let r: u64 = pool.call("add", &(i, round)).await.unwrap();
                        assert_eq!(r, i + round);
                    })
                })
                .collect();
            for c in calls {
                c.await.unwrap();
            }
            // A crash and a timeout along the way.
            let _ = pool.call::<_, u64>("abort", &()).await.unwrap_err();
            let _ = pool
                .call_timeout::<_, u64>(
                    "sleep_ms",
                    &60_000u64,
                    std::time::Duration::from_millis(50),
                )
                .await
                .unwrap_err();
        });
        drop(pool);
        assert_eq!(
            children(),
            Vec::<u32>::new(),
            "children left after round {round}"
        );
    }
}

/// Threads of this process named like the blocking pool's (comm is cut to 15 bytes).
fn blocking_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter(|t| {
                    std::fs::read_to_string(t.path().join("comm"))
                        .is_ok_and(|c| c.trim_end().starts_with("ringcore-blocki"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn idle_blocking_threads_retire() {
    let rt = ringcore::Runtime::builder()
        .blocking_threads(4)
        .blocking_idle_timeout(std::time::Duration::from_millis(20))
        .build()
        .unwrap();
    let started = std::sync::Arc::new(std::sync::Barrier::new(4));
    rt.block_on(async {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let started = started.clone();
                ringcore::offload::spawn_blocking(move || {
                    // All four run at once, so the pool has started four threads.
                    started.wait();
                    blocking_threads()
                })
            })
            .collect();
        for h in hs {
            let n = h.await.unwrap();
            assert_eq!(n, 4, "blocking threads while 4 jobs run");
        }
    });
    // Poll (generously) until every idle thread has retired.
    let mut left = blocking_threads();
    for _ in 0..1000 {
        if left == 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
        left = blocking_threads();
    }
    assert_eq!(left, 0, "idle blocking threads did not retire");
}
