//! Mutex and RwLock: exclusion, FIFO order, cancellation while waiting.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ringcore::sync::{Mutex, RwLock};
use ringcore::yield_now;

#[test]
fn counter_is_exact_under_contention() {
    ringcore::block_on(async {
        let m = Rc::new(Mutex::new(0u64));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let m = m.clone();
                ringcore::spawn(async move {
                    for _ in 0..20 {
                        let mut g = m.lock().await;
                        let v = *g;
                        yield_now().await; // hold across an await
                        *g = v + 1;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*m.lock().await, 1000);
    });
}

#[test]
fn lock_is_fifo() {
    ringcore::block_on(async {
        let m = Rc::new(Mutex::new(Vec::new()));
        let guard = m.lock().await;
        let mut tasks = Vec::new();
        for i in 0..4 {
            let m = m.clone();
            tasks.push(ringcore::spawn(async move { m.lock().await.push(i) }));
            support::settle().await;
        }
        drop(guard);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*m.lock().await, [0, 1, 2, 3]);
    });
}

#[test]
fn aborted_waiter_passes_the_lock_on() {
    ringcore::block_on(async {
        let m = Rc::new(Mutex::new(0));
        let guard = m.lock().await;
        let m1 = m.clone();
        let first = ringcore::spawn(async move { *m1.lock().await += 1 });
        let m2 = m.clone();
        let second = ringcore::spawn(async move { *m2.lock().await += 10 });
        support::settle().await;
        drop(guard); // handed to `first` ...
        first.abort(); // ... which never sees it
        assert!(first.await.is_err());
        second.await.unwrap();
        assert_eq!(*m.lock().await, 10);
        assert!(!m.is_locked());
    });
}

#[test]
fn timed_out_lock_leaves_the_mutex_usable() {
    ringcore::block_on(async {
        let m = Mutex::new(());
        let g = m.lock().await;
        let r = ringcore::time::timeout(Duration::from_millis(5), m.lock()).await;
        assert!(r.is_err());
        drop(g);
        assert!(m.try_lock().is_ok());
    });
}

#[test]
fn rwlock_readers_share_and_writer_is_not_starved() {
    ringcore::block_on(async {
        let l = Rc::new(RwLock::new(0));
        let log = Rc::new(RefCell::new(Vec::new()));
        let r1 = l.read().await;
        let (l2, log2) = (l.clone(), log.clone());
        let writer = ringcore::spawn(async move {
            *l2.write().await += 1;
            log2.borrow_mut().push("w");
        });
        support::settle().await;
        // A writer is queued: a new reader waits behind it.
        assert!(l.try_read().is_none());
        let (l3, log3) = (l.clone(), log.clone());
        let reader = ringcore::spawn(async move {
            let v = *l3.read().await;
            log3.borrow_mut().push("r");
            v
        });
        support::settle().await;
        drop(r1);
        writer.await.unwrap();
        assert_eq!(reader.await.unwrap(), 1);
        assert_eq!(*log.borrow(), ["w", "r"]);
    });
}
