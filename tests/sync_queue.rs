//! Queue: orders, bounded waiting, task_done/join, shutdown, cancellation.

mod support;

use std::rc::Rc;

use ringcore::sync::{LifoQueue, PriorityQueue, Queue, TryGetError, TryPutError};
use ringcore::yield_now;

#[test]
fn fifo_lifo_priority_orders() {
    ringcore::block_on(async {
        let f = Queue::<i32>::unbounded();
        let l = LifoQueue::<i32>::unbounded();
        let p = PriorityQueue::<i32>::unbounded();
        for n in [3, 1, 2] {
            f.try_put(n).unwrap();
            l.try_put(n).unwrap();
            p.try_put(n).unwrap();
        }
        let mut out = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..3 {
            out.0.push(f.get().await.unwrap());
            out.1.push(l.get().await.unwrap());
            out.2.push(p.get().await.unwrap());
        }
        assert_eq!(out, (vec![3, 1, 2], vec![2, 1, 3], vec![1, 2, 3]));
        assert_eq!(f.try_get(), Err(TryGetError::Empty));
    });
}

#[test]
fn bounded_put_waits_for_room() {
    ringcore::block_on(async {
        let q = Rc::new(Queue::<u32>::bounded(1));
        q.put(1).await.unwrap();
        assert!(matches!(q.try_put(2), Err(TryPutError::Full(2))));
        let q2 = q.clone();
        let putter = ringcore::spawn(async move { q2.put(2).await.unwrap() });
        support::settle().await;
        assert!(!putter.is_finished());
        assert_eq!(q.get().await.unwrap(), 1);
        putter.await.unwrap();
        assert_eq!(q.get().await.unwrap(), 2);
    });
}

#[test]
fn getters_are_fifo_and_an_aborted_getter_loses_no_item() {
    ringcore::block_on(async {
        let q = Rc::new(Queue::<&str>::unbounded());
        let q1 = q.clone();
        let first = ringcore::spawn(async move { q1.get().await.unwrap() });
        support::settle().await;
        let q2 = q.clone();
        let second = ringcore::spawn(async move { q2.get().await.unwrap() });
        support::settle().await;
        q.try_put("item").unwrap(); // reserved for `first` ...
        first.abort(); // ... which is cancelled before it takes it
        assert!(first.await.is_err());
        assert_eq!(second.await.unwrap(), "item");
        assert!(q.is_empty());
    });
}

#[test]
fn join_waits_for_task_done() {
    ringcore::block_on(async {
        let q = Rc::new(Queue::<u32>::bounded(4));
        let done = Rc::new(std::cell::Cell::new(0));
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let (q, done) = (q.clone(), done.clone());
                ringcore::spawn(async move {
                    while let Ok(_n) = q.get().await {
                        yield_now().await;
                        done.set(done.get() + 1);
                        q.task_done().unwrap();
                    }
                })
            })
            .collect();
        for n in 0..20 {
            q.put(n).await.unwrap();
        }
        q.join().await;
        assert_eq!(done.get(), 20);
        assert!(q.task_done().is_err());
        q.shutdown();
        for w in workers {
            w.await.unwrap();
        }
    });
}

#[test]
fn shutdown_lets_getters_drain_then_fails() {
    ringcore::block_on(async {
        let q = Queue::<u32>::unbounded();
        q.try_put(1).unwrap();
        q.shutdown();
        assert!(q.put(2).await.is_err());
        assert_eq!(q.get().await.unwrap(), 1);
        assert!(q.get().await.is_err());
        assert_eq!(q.try_get(), Err(TryGetError::ShutDown));
    });
}

#[test]
fn getters_timing_out_at_random_lose_no_item() {
    use std::time::Duration;
    ringcore::block_on(async {
        let q = Rc::new(Queue::<u64>::bounded(8));
        let got = Rc::new(std::cell::RefCell::new(Vec::new()));
        let consumers: Vec<_> = (0..6u64)
            .map(|c| {
                let (q, got) = (q.clone(), got.clone());
                ringcore::spawn(async move {
                    let mut n = c * 7 + 1;
                    loop {
                        n = n
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let wait = Duration::from_micros((n >> 33) % 200);
                        match ringcore::time::timeout(wait, q.get()).await {
                            Ok(Ok(v)) => got.borrow_mut().push(v),
                            Ok(Err(_)) => break, // shut down and drained
                            Err(_) => {}         // timed out: try again
                        }
                    }
                })
            })
            .collect();
        for v in 0..2_000 {
            q.put(v).await.unwrap();
            if v % 97 == 0 {
                ringcore::time::sleep(Duration::from_micros(150)).await;
            }
        }
        q.shutdown();
        for c in consumers {
            c.await.unwrap();
        }
        let mut got = got.take();
        got.sort_unstable();
        assert_eq!(got, (0..2_000).collect::<Vec<_>>());
    });
}
