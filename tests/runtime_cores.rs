//! Thread-per-core: one executor per core, `run_on_all`, `current_core`, builder checks.

mod support;

use std::rc::Rc;
use std::time::Duration;

use ringcore::{BuildError, CoreId, Runtime};

#[test]
fn run_on_all_returns_each_core_id_in_order() {
    let rt = support::two_cores();
    assert_eq!(rt.cores(), 2);
    let ids = rt.run_on_all(|core| async move {
        // Not Send: built and polled on its own core.
        let here = Rc::new(ringcore::current_core());
        ringcore::yield_now().await;
        (core, *here, ringcore::num_cores())
    });
    assert_eq!(
        ids,
        vec![
            (CoreId::new(0), CoreId::new(0), 2),
            (CoreId::new(1), CoreId::new(1), 2)
        ]
    );
    // The runtime can run again.
    let again = rt.run_on_all(|core| async move { core.index() });
    assert_eq!(again, vec![0, 1]);
}

#[test]
fn cores_run_on_different_threads() {
    let rt = support::two_cores();
    let threads = rt.run_on_all(|_| async { std::thread::current().id() });
    assert_ne!(threads[0], threads[1]);
    assert_eq!(
        threads[0],
        std::thread::current().id(),
        "core 0 is the calling thread"
    );
}

#[test]
fn tasks_stay_on_their_core() {
    let rt = support::two_cores();
    let moved = rt.run_on_all(|core| async move {
        let mut tasks = Vec::new();
        for i in 0..50u64 {
            tasks.push(ringcore::spawn(async move {
                let mut seen = 0;
                for round in 0..20 {
                    if ringcore::current_core() != core {
                        seen += 1;
                    }
                    if (i + round) % 3 == 0 {
                        ringcore::time::sleep(Duration::from_micros(100)).await;
                    } else {
                        ringcore::yield_now().await;
                    }
                }
                seen
            }));
        }
        let mut moved = 0;
        for t in tasks {
            moved += t.await.unwrap();
        }
        moved
    });
    assert_eq!(moved, vec![0, 0]);
}

#[test]
fn single_core_default_is_core_zero() {
    let rt = Runtime::new().unwrap();
    assert_eq!(rt.cores(), 1);
    rt.block_on(async {
        assert_eq!(ringcore::current_core(), CoreId::new(0));
        assert_eq!(ringcore::num_cores(), 1);
    });
    assert_eq!(rt.run_on_all(|c| async move { c.index() }), vec![0]);
    ringcore::block_on(async { assert_eq!(ringcore::current_core().index(), 0) });
}

#[test]
fn more_cores_than_cpus_is_invalid_config() {
    let cpus = std::thread::available_parallelism().unwrap().get();
    let err = Runtime::builder().cores(cpus + 1).build().unwrap_err();
    assert!(matches!(err, BuildError::InvalidConfig(_)), "{err}");
    let err = Runtime::builder().cores(0).build().unwrap_err();
    assert!(matches!(err, BuildError::InvalidConfig(_)), "{err}");
    // A bad ring size on a multi-core builder fails before any thread starts.
    let err = Runtime::builder()
        .cores(2)
        .ring_entries(0)
        .build()
        .unwrap_err();
    assert!(matches!(err, BuildError::InvalidConfig(_)), "{err}");
}

fn affinity() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills the set we own.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; pointer and size describe `set`.
    let res = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    assert_eq!(res, 0);
    // SAFETY: CPU_ISSET reads the initialised set.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

#[test]
fn pinned_cores_run_on_one_cpu_each_and_the_caller_gets_its_mask_back() {
    let before = affinity();
    let rt = Runtime::builder()
        .cores(2)
        .pin(true)
        .ring_entries(64)
        .build()
        .expect("pinning 2 cores");
    let masks = rt.run_on_all(|_| async { affinity() });
    assert_eq!(masks[0].len(), 1, "{masks:?}");
    assert_eq!(masks[1].len(), 1, "{masks:?}");
    assert_ne!(masks[0], masks[1]);
    drop(rt);
    assert_eq!(affinity(), before);
}

#[test]
fn a_panic_on_one_core_propagates_from_run_on_all() {
    let rt = support::two_cores();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.run_on_all(|core| async move {
            if core.index() == 1 {
                panic!("core 1 fails");
            }
            core.index()
        })
    }));
    let payload = res.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"core 1 fails"));
    // Both cores still work.
    assert_eq!(rt.run_on_all(|c| async move { c.index() }), vec![0, 1]);
}

#[test]
fn spinning_cores_still_run_timers_and_jobs() {
    let rt = Runtime::builder()
        .cores(2)
        .spin_before_park(Duration::from_micros(200))
        .build()
        .unwrap();
    let out = rt.block_on(async {
        let mut sum = 0;
        for i in 0..100u64 {
            sum += ringcore::submit_to(CoreId::new(1), move || async move {
                ringcore::time::sleep(Duration::from_micros(50)).await;
                i
            })
            .await
            .unwrap();
        }
        // A timer shorter than the spin fires on time-ish (it bounds the spin).
        ringcore::time::timeout(
            Duration::from_secs(10),
            ringcore::time::sleep(Duration::from_micros(10)),
        )
        .await
        .unwrap();
        sum
    });
    assert_eq!(out, 4950);
}
