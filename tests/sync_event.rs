//! Event, Notify, Barrier and oneshot.

mod support;

use std::cell::Cell;
use std::rc::Rc;

use ringcore::sync::{Barrier, Event, Notify, oneshot};

#[test]
fn event_wakes_all_waiters_even_if_cleared_at_once() {
    ringcore::block_on(async {
        let ev = Rc::new(Event::new());
        let woke = Rc::new(Cell::new(0));
        let tasks: Vec<_> = (0..3)
            .map(|_| {
                let (ev, woke) = (ev.clone(), woke.clone());
                ringcore::spawn(async move {
                    ev.wait().await;
                    woke.set(woke.get() + 1);
                })
            })
            .collect();
        support::settle().await;
        assert_eq!(woke.get(), 0);
        ev.set();
        ev.clear(); // as asyncio: waiters released by set() still return
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(woke.get(), 3);
        assert!(!ev.is_set());
        ev.set();
        ev.wait().await; // set: returns at once
    });
}

#[test]
fn notify_one_is_stored_and_passed_on_by_a_dropped_waiter() {
    ringcore::block_on(async {
        let n = Rc::new(Notify::new());
        n.notify_one();
        n.notified().await; // the stored permit
        let n1 = n.clone();
        let first = ringcore::spawn(async move { n1.notified().await });
        support::settle().await;
        let n2 = n.clone();
        let second = ringcore::spawn(async move { n2.notified().await });
        support::settle().await;
        n.notify_one(); // picks `first` ...
        first.abort(); // ... which is dropped before it sees it
        let _ = first.await;
        second.await.unwrap();
    });
}

#[test]
fn barrier_releases_all_with_one_leader_and_cancel_takes_arrival_back() {
    ringcore::block_on(async {
        let b = Rc::new(Barrier::new(2));
        let b1 = b.clone();
        let quitter = ringcore::spawn(async move { b1.wait().await });
        support::settle().await;
        assert_eq!(b.n_waiting(), 1);
        quitter.abort();
        let _ = quitter.await;
        assert_eq!(b.n_waiting(), 0);
        let b2 = b.clone();
        let other = ringcore::spawn(async move { b2.wait().await.is_leader() });
        let me = b.wait().await.is_leader();
        let them = other.await.unwrap();
        assert!(me ^ them);
    });
}

#[test]
fn oneshot_sends_and_reports_a_dropped_sender() {
    ringcore::block_on(async {
        let (tx, rx) = oneshot::channel();
        ringcore::spawn(async move { tx.send("v").unwrap() });
        assert_eq!(rx.await, Ok("v"));
        let (tx, rx) = oneshot::channel::<u8>();
        drop(tx);
        assert_eq!(rx.await, Err(oneshot::RecvError));
        let (tx, rx) = oneshot::channel();
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send(1), Err(1));
    });
}
