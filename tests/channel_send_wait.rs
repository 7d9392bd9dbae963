//! A `send` blocked on a full channel must go as soon as the receiver frees a slot, and
//! must not be overtaken for ever (hazard H26).
//!
//! Before the fix, waiting senders were woken only once the queue had drained to half its
//! capacity: a blocked `send` on a channel of 64 went after 32 receives, a receiver that
//! took fewer than half and then waited for that sender deadlocked, and `try_send`s could
//! take every freed slot ahead of it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ringcore::CoreId;
use ringcore::channel::{TrySendError, channel};

/// Fills a channel of `cap`, blocks a `send`, and counts how many receives it took until
/// the send completed. One receive frees one slot: the send must go after it.
fn receives_until_a_blocked_send_goes(cap: usize, cross_core: bool) -> u64 {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let (tx, mut rx) = channel::<u64>(cap);
    for i in 0..cap as u64 {
        tx.try_send(i).unwrap();
    }
    let sent = Arc::new(AtomicBool::new(false));
    rt.block_on(async move {
        let s = sent.clone();
        let sender = async move {
            tx.send(999).await.unwrap();
            s.store(true, Ordering::SeqCst);
        };
        let done = if cross_core {
            let h = ringcore::spawn_on(CoreId::new(1), move || sender);
            futures::future::Either::Left(async move { h.await.unwrap() })
        } else {
            futures::future::Either::Right(ringcore::spawn(async move {
                sender.await;
            }))
        };
        // Let the sender find the channel full and wait.
        ringcore::time::sleep(Duration::from_millis(20)).await;
        assert!(!sent.load(Ordering::SeqCst), "the channel was full");
        let mut receives = 0;
        while !sent.load(Ordering::SeqCst) {
            assert!(receives < cap as u64 + 1, "the send never went");
            rx.recv().await.unwrap();
            receives += 1;
            // Give the woken sender time to run (another core, or this one's next tick).
            for _ in 0..200 {
                if sent.load(Ordering::SeqCst) {
                    break;
                }
                ringcore::time::sleep(Duration::from_micros(250)).await;
            }
        }
        drop(done);
        receives
    })
}

#[test]
fn a_blocked_send_goes_after_one_receive_on_the_same_core() {
    for cap in [1, 4, 16, 64] {
        assert_eq!(
            receives_until_a_blocked_send_goes(cap, false),
            1,
            "capacity {cap}"
        );
    }
}

#[test]
fn a_blocked_send_goes_after_one_receive_from_another_core() {
    for cap in [1, 4, 16, 64] {
        assert_eq!(
            receives_until_a_blocked_send_goes(cap, true),
            1,
            "capacity {cap}"
        );
    }
}

#[test]
fn a_receiver_that_takes_one_message_then_waits_for_the_sender_does_not_deadlock() {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let (tx, mut rx) = channel::<u64>(64);
    for i in 0..64 {
        tx.try_send(i).unwrap();
    }
    let out = rt.block_on(async move {
        let (done_tx, mut done_rx) = channel::<()>(1);
        let _sender = ringcore::spawn_on(CoreId::new(1), move || async move {
            tx.send(64).await.unwrap();
            done_tx.try_send(()).unwrap();
        });
        ringcore::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(rx.recv().await, Some(0));
        // The sender's message has room now; waiting for the sender must end.
        ringcore::time::timeout(Duration::from_secs(10), done_rx.recv())
            .await
            .expect("the blocked send never went after a receive freed a slot")
            .unwrap();
        let mut rest = Vec::new();
        while let Ok(v) = rx.try_recv() {
            rest.push(v);
        }
        rest
    });
    assert_eq!(out, (1..=64).collect::<Vec<_>>());
}

#[test]
fn try_sends_do_not_overtake_a_waiting_send() {
    let rt = ringcore::Runtime::builder().cores(2).build().unwrap();
    let (tx, mut rx) = channel::<u64>(8);
    for i in 0..8 {
        tx.try_send(i).unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    // A thread that hammers try_send for the whole test.
    let hammer = {
        let (tx, stop) = (tx.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match tx.try_send(1_000_000) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) => std::hint::spin_loop(),
                    Err(TrySendError::Closed(_)) => break,
                }
            }
        })
    };
    let stop_hammer = stop.clone();
    let got = rt.block_on(async move {
        let waiting = ringcore::spawn_on(CoreId::new(1), move || async move {
            tx.send(999).await.unwrap();
        });
        ringcore::time::sleep(Duration::from_millis(20)).await;
        // Receive slowly: each freed slot must go to the waiting send, not to a try_send.
        let mut got = Vec::new();
        for _ in 0..20 {
            got.push(rx.recv().await.unwrap());
            if got.contains(&999) {
                break;
            }
            ringcore::time::sleep(Duration::from_millis(5)).await;
        }
        stop_hammer.store(true, Ordering::SeqCst);
        while rx.try_recv().is_ok() {}
        ringcore::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the waiting send never went")
            .unwrap();
        got
    });
    hammer.join().unwrap();
    assert!(
        got.contains(&999),
        "the waiting send was overtaken for 20 receives: {got:?}"
    );
    // The hammer could get in only in the moment before the send joined the line: at most
    // once (its push was already under way), never once per freed slot.
    let over = got.iter().filter(|&&v| v == 1_000_000).count();
    assert!(
        over <= 1,
        "{over} try_sends got in ahead of the waiting send: {got:?}"
    );
}

#[test]
fn waiting_sends_are_served_in_arrival_order() {
    let rt = ringcore::Runtime::new().unwrap();
    let (tx, mut rx) = channel::<u64>(2);
    tx.try_send(0).unwrap();
    tx.try_send(1).unwrap();
    let got = rt.block_on(async move {
        let mut handles = Vec::new();
        for v in 10..15 {
            let tx = tx.clone();
            handles.push(ringcore::spawn(async move { tx.send(v).await.unwrap() }));
            // Each sender joins the line before the next is spawned.
            ringcore::yield_now().await;
        }
        drop(tx);
        let mut got = Vec::new();
        while let Some(v) = rx.recv().await {
            got.push(v);
        }
        for h in handles {
            h.await.unwrap();
        }
        got
    });
    assert_eq!(got, [0, 1, 10, 11, 12, 13, 14]);
}

#[test]
fn a_dropped_waiting_send_passes_its_turn_on() {
    // The head of the line is woken for a free slot and dropped before it pushes: the next
    // sender in line must get the slot.
    let rt = ringcore::Runtime::new().unwrap();
    let (tx, mut rx) = channel::<u64>(1);
    tx.try_send(0).unwrap();
    let got = rt.block_on(async move {
        let tx2 = tx.clone();
        let first = ringcore::spawn(async move { tx.send(1).await });
        ringcore::yield_now().await;
        let second = ringcore::spawn(async move { tx2.send(2).await });
        ringcore::yield_now().await;
        assert_eq!(rx.recv().await, Some(0));
        // The head was woken by the receive; drop it before it runs.
        first.abort();
        assert!(first.await.is_err());
        let v = ringcore::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the second sender never got the slot the dropped head left");
        second.await.unwrap().unwrap();
        v
    });
    assert_eq!(got, Some(2));
}
