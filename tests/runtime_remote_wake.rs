//! Wakers woken on other threads reach a parked core (docs/architecture.md, invariant 4).

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ringcore::time;

/// A value another thread fills in and a waker it wakes.
#[derive(Default)]
struct Slot {
    value: Option<u32>,
    waker: Option<Waker>,
}

#[test]
fn a_waker_woken_from_another_thread_wakes_a_parked_core() {
    ringcore::block_on(async {
        for round in 0..50u32 {
            let slot = Arc::new(Mutex::new(Slot::default()));
            let s = slot.clone();
            let started = Instant::now();
            let t = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                let mut g = s.lock().unwrap();
                g.value = Some(round);
                if let Some(w) = g.waker.take() {
                    w.wake();
                }
            });
            // Awaited from a spawned task, so the wake goes through the remote queue.
            let waiter = ringcore::spawn(async move {
                poll_fn(|cx| {
                    let mut g = slot.lock().unwrap();
                    match g.value.take() {
                        Some(v) => Poll::Ready(v),
                        None => {
                            g.waker = Some(cx.waker().clone());
                            Poll::Pending
                        }
                    }
                })
                .await
            });
            // The core parks (no timers, no ready tasks) until the thread wakes it. A lost
            // wake-up would hang here, so bound the wait generously.
            let v = time::timeout(Duration::from_secs(10), waiter)
                .await
                .expect("wake-up lost");
            assert_eq!(v.unwrap(), round);
            assert!(started.elapsed() < Duration::from_secs(10));
            t.join().unwrap();
        }
    });
}

#[test]
fn the_main_future_can_be_woken_from_another_thread() {
    ringcore::block_on(async {
        let slot = Arc::new(Mutex::new(Slot::default()));
        let s = slot.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            let mut g = s.lock().unwrap();
            g.value = Some(1);
            if let Some(w) = g.waker.take() {
                w.wake();
            }
        });
        let v = poll_fn(|cx| {
            let mut g = slot.lock().unwrap();
            match g.value.take() {
                Some(v) => Poll::Ready(v),
                None => {
                    g.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await;
        assert_eq!(v, 1);
        t.join().unwrap();
    });
}

#[test]
fn spawn_blocking_results_arrive_and_panics_are_errors() {
    ringcore::block_on(async {
        let handles: Vec<_> = (0..64u64)
            .map(|i| {
                ringcore::offload::spawn_blocking(move || {
                    std::thread::sleep(Duration::from_millis(1));
                    i * 2
                })
            })
            .collect();
        for (i, h) in handles.into_iter().enumerate() {
            assert_eq!(h.await.unwrap(), i as u64 * 2);
        }
        let err = ringcore::offload::spawn_blocking(|| panic!("blocking boom"))
            .await
            .unwrap_err();
        assert_eq!(err.panic_message(), Some("blocking boom"));
    });
}
