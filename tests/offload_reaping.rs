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
