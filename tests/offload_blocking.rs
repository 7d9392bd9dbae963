//! spawn_blocking: the bound, panics, and results arriving past a busy core.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use ringcore::Runtime;
use ringcore::offload::spawn_blocking;

#[test]
fn never_runs_more_threads_than_its_bound() {
    let rt = Runtime::builder().blocking_threads(3).build().unwrap();
    let running = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let results = rt.block_on(async {
        let handles: Vec<_> = (0..24u64)
            .map(|i| {
                let (running, peak) = (running.clone(), peak.clone());
                spawn_blocking(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(10));
                    running.fetch_sub(1, Ordering::SeqCst);
                    i * 2
                })
            })
            .collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });
    assert_eq!(results, (0..24u64).map(|i| i * 2).collect::<Vec<_>>());
    let peak = peak.load(Ordering::SeqCst);
    assert!(peak <= 3, "{peak} jobs ran at once with a bound of 3");
    assert!(peak >= 1);
}

#[test]
fn a_panicking_job_returns_join_error_panic() {
    ringcore::block_on(async {
        let err = spawn_blocking(|| -> u32 { panic!("blocking boom") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("blocking boom"));
        // The pool still works.
        assert_eq!(spawn_blocking(|| 7).await.unwrap(), 7);
    });
}

#[test]
fn results_arrive_once_an_inline_cpu_loop_yields() {
    let rt = Runtime::builder().blocking_threads(2).build().unwrap();
    rt.block_on(async {
        let handles: Vec<_> = (0..4u64)
            .map(|i| spawn_blocking(move || (0..=1000 * i).sum::<u64>()))
            .collect();
        // A task that hogs the core without yielding for a while.
        let hog = ringcore::spawn(async {
            let start = Instant::now();
            let mut x = 0u64;
            while start.elapsed() < Duration::from_millis(200) {
                x = x.wrapping_mul(31).wrapping_add(1);
                std::hint::black_box(x);
            }
            ringcore::yield_now().await;
            x
        });
        for (i, h) in handles.into_iter().enumerate() {
            let i = i as u64;
            assert_eq!(h.await.unwrap(), (0..=1000 * i).sum::<u64>());
        }
        hog.await.unwrap();
    });
}

#[test]
fn excess_jobs_queue_and_all_complete_from_two_cores() {
    let threads: Vec<_> = (0..2u64)
        .map(|core| {
            std::thread::spawn(move || {
                let rt = Runtime::builder().blocking_threads(2).build().unwrap();
                rt.block_on(async move {
                    let handles: Vec<_> = (0..200u64)
                        .map(|i| spawn_blocking(move || i + core))
                        .collect();
                    for (i, h) in handles.into_iter().enumerate() {
                        assert_eq!(h.await.unwrap(), i as u64 + core);
                    }
                })
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn zero_blocking_threads_is_refused() {
    assert!(Runtime::builder().blocking_threads(0).build().is_err());
}

#[test]
fn a_queued_job_resolves_cancelled_when_the_runtime_shuts_down() {
    let rt = Runtime::builder().blocking_threads(1).build().unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let started = Arc::new(AtomicUsize::new(0));
    let (r, s) = (ran.clone(), started.clone());
    let (busy, queued) = rt.block_on(async move {
        let busy = spawn_blocking(move || {
            s.store(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
        });
        let queued = spawn_blocking(move || r.fetch_add(1, Ordering::SeqCst));
        (busy, queued)
    });
    while started.load(Ordering::SeqCst) == 0 {
        std::thread::yield_now();
    }
    drop(rt);
    // The handles outlive their runtime; any runtime on this thread can await them.
    let rt2 = Runtime::new().unwrap();
    assert!(rt2.block_on(queued).unwrap_err().is_cancelled());
    assert_eq!(ran.load(Ordering::SeqCst), 0);
    assert!(rt2.block_on(busy).is_ok());
}
