//! Wakers of a worker core's tasks woken and dropped on other threads after the runtime
//! is gone: no panic, no leak (docs/hazards.md, H10).

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use ringcore::{CoreId, Runtime};

#[test]
fn wakers_of_a_dead_core_can_be_woken_and_dropped_anywhere() {
    let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
    // Dropped along with the task's future when the runtime shuts down.
    let alive = Arc::new(());
    {
        let rt = Runtime::builder().cores(2).build().unwrap();
        let w = wakers.clone();
        let a = alive.clone();
        rt.block_on(async move {
            ringcore::submit_to(CoreId::new(1), move || async move {
                for _ in 0..100 {
                    let w = w.clone();
                    let a = a.clone();
                    ringcore::spawn(async move {
                        let _a = a;
                        poll_fn(|cx| {
                            w.lock().unwrap().push(cx.waker().clone());
                            Poll::<()>::Pending
                        })
                        .await
                    });
                }
                ringcore::yield_now().await;
            })
            .await
            .unwrap();
        });
        assert!(!wakers.lock().unwrap().is_empty());
    }
    // Every task future was dropped on its own core at shutdown.
    assert_eq!(Arc::strong_count(&alive), 1);
    let taken: Vec<Waker> = std::mem::take(&mut *wakers.lock().unwrap());
    let (wake, keep) = taken.split_at(taken.len() / 2);
    std::thread::scope(|s| {
        s.spawn(|| {
            for w in wake {
                w.wake_by_ref();
            }
        });
    });
    for w in keep.iter().cloned() {
        w.wake();
    }
    drop(taken);
}
