//! Semaphore: FIFO hand-off, cancellation never loses a permit, close, add_permits.

mod support;

use std::cell::RefCell;
use std::rc::Rc;

use ringcore::sync::{Semaphore, TryAcquireError};
use ringcore::yield_now;

#[test]
fn waiters_are_served_in_fifo_order() {
    ringcore::block_on(async {
        let sem = Rc::new(Semaphore::new(0));
        let order = Rc::new(RefCell::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (sem, order) = (sem.clone(), order.clone());
            tasks.push(ringcore::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                order.borrow_mut().push(i);
            }));
            support::settle().await; // queue them in spawn order
        }
        sem.add_permits(1);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.borrow(), [0, 1, 2, 3, 4]);
        assert_eq!(sem.available_permits(), 1);
    });
}

#[test]
fn aborted_waiter_does_not_lose_a_handed_permit() {
    ringcore::block_on(async {
        let sem = Rc::new(Semaphore::new(0));
        let s = sem.clone();
        let first = ringcore::spawn(async move { s.acquire().await.unwrap().forget() });
        let s = sem.clone();
        let second = ringcore::spawn(async move { s.acquire().await.map(|p| p.forget()) });
        support::settle().await;
        // The permit is handed to `first`, which is aborted before it can observe it.
        sem.add_permits(1);
        first.abort();
        assert!(first.await.unwrap_err().is_cancelled());
        second.await.unwrap().unwrap();
        assert_eq!(sem.available_permits(), 0);
    });
}

#[test]
fn aborted_queued_waiter_leaves_the_queue() {
    ringcore::block_on(async {
        let sem = Rc::new(Semaphore::new(1));
        let held = sem.try_acquire().unwrap();
        let s = sem.clone();
        let waiting = ringcore::spawn(async move { s.acquire().await.unwrap().forget() });
        support::settle().await;
        waiting.abort();
        let _ = waiting.await;
        drop(held);
        assert_eq!(sem.available_permits(), 1);
        assert!(sem.try_acquire().is_ok());
    });
}

#[test]
fn large_request_at_front_blocks_later_small_ones() {
    ringcore::block_on(async {
        let sem = Rc::new(Semaphore::new(1));
        let s = sem.clone();
        let big = ringcore::spawn(async move { s.acquire_many(3).await.unwrap().forget() });
        support::settle().await;
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
        sem.add_permits(2);
        big.await.unwrap();
        assert_eq!(sem.available_permits(), 0);
    });
}

#[test]
fn close_fails_waiters_and_later_acquires() {
    ringcore::block_on(async {
        let sem = Rc::new(Semaphore::new(0));
        let s = sem.clone();
        let waiting = ringcore::spawn(async move { s.acquire().await.is_err() });
        support::settle().await;
        sem.close();
        assert!(waiting.await.unwrap());
        assert!(sem.acquire().await.is_err());
        assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    });
}

#[test]
fn owned_permits_move_into_tasks() {
    ringcore::block_on(async {
        let sem = Rc::new(Semaphore::new(2));
        let active = Rc::new(RefCell::new((0usize, 0usize)));
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let permit = sem.clone().acquire_owned().await.unwrap();
            let active = active.clone();
            tasks.push(ringcore::spawn(async move {
                {
                    let mut a = active.borrow_mut();
                    a.0 += 1;
                    a.1 = a.1.max(a.0);
                }
                yield_now().await;
                active.borrow_mut().0 -= 1;
                drop(permit);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(active.borrow().1, 2);
        assert_eq!(sem.available_permits(), 2);
    });
}

/// Deterministic pseudo-random numbers (xorshift), so a failure reproduces.
fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut x = seed | 1;
    move |bound| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % bound
    }
}

#[test]
fn random_timeouts_and_aborts_never_leak_permits() {
    use std::time::Duration;
    ringcore::block_on(async {
        let sem = Rc::new(Semaphore::new(3));
        let held = Rc::new(std::cell::Cell::new(0usize));
        let mut tasks = Vec::new();
        for t in 0..100u64 {
            let (sem, held) = (sem.clone(), held.clone());
            tasks.push(ringcore::spawn(async move {
                let mut next = rng(t + 1);
                for _ in 0..20 {
                    let wait = Duration::from_micros(next(300));
                    if let Ok(Ok(_permit)) = ringcore::time::timeout(wait, sem.acquire()).await {
                        held.set(held.get() + 1);
                        assert!(held.get() <= 3, "more holders than permits");
                        for _ in 0..next(3) {
                            yield_now().await;
                        }
                        held.set(held.get() - 1);
                    }
                }
            }));
        }
        let mut next = rng(99);
        for (i, t) in tasks.iter().enumerate() {
            if i % 7 == 0 {
                for _ in 0..next(5) {
                    yield_now().await;
                }
                t.abort();
            }
        }
        for t in tasks {
            let _ = t.await;
        }
        assert_eq!(sem.available_permits(), 3);
    });
}
