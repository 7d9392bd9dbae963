//! Dropping one side of a channel wakes the other with the right answer, across cores.

mod support;

use std::future::Future;
use std::time::Duration;

use ringcore::CoreId;
use ringcore::channel::{SendError, TryRecvError, TrySendError, channel};

#[test]
fn dropping_the_receiver_wakes_a_sender_blocked_on_a_full_channel_with_its_value() {
    let rt = support::two_cores();
    rt.block_on(async {
        let (tx, rx) = channel::<String>(2);
        let sender = ringcore::spawn_on(CoreId::new(1), move || async move {
            tx.send("a".into()).await.unwrap();
            tx.send("b".into()).await.unwrap();
            // Full: waits until the receiver is dropped on core 0.
            tx.send("c".into()).await
        });
        ringcore::time::sleep(Duration::from_millis(20)).await;
        assert_eq!(rx.len(), 2);
        drop(rx);
        let res = ringcore::time::timeout(Duration::from_secs(10), sender)
            .await
            .expect("blocked sender was not woken")
            .unwrap();
        assert_eq!(res, Err(SendError("c".to_string())));
    });
}

#[test]
fn dropping_every_sender_mid_stream_ends_recv_after_the_queued_messages() {
    let rt = support::two_cores();
    rt.block_on(async {
        let (tx, mut rx) = channel::<u32>(16);
        let tx2 = tx.clone();
        ringcore::spawn_on(CoreId::new(1), move || async move {
            for i in 0..5 {
                tx.send(i).await.unwrap();
            }
            // tx dropped here, tx2 later.
        })
        .await
        .unwrap();
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(rx.recv().await.unwrap());
        }
        assert_eq!(got, [0, 1, 2, 3, 4]);
        // The receiver now waits; the last sender is dropped on the other core.
        let waiter = ringcore::spawn(async move { (rx.recv().await, rx) });
        ringcore::yield_now().await;
        ringcore::submit_to(CoreId::new(1), move || async move {
            tx2.send(99).await.unwrap();
            drop(tx2);
        })
        .await
        .unwrap();
        let (first, mut rx) = ringcore::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("receiver was not woken")
            .unwrap();
        assert_eq!(first, Some(99));
        assert_eq!(rx.recv().await, None);
        assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
        assert!(rx.is_closed());
    });
}

#[test]
fn a_receiver_waiting_on_another_core_gets_none_when_the_last_sender_drops() {
    let rt = support::two_cores();
    rt.block_on(async {
        let (tx, mut rx) = channel::<u32>(4);
        let waiter = ringcore::spawn_on(CoreId::new(1), move || async move { rx.recv().await });
        ringcore::time::sleep(Duration::from_millis(20)).await;
        drop(tx);
        let got = ringcore::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("receiver was not woken")
            .unwrap();
        assert_eq!(got, None);
    });
}

#[test]
fn try_send_after_the_receiver_is_gone_returns_the_value() {
    let (tx, rx) = channel::<Vec<u8>>(4);
    tx.try_send(vec![1]).unwrap();
    drop(rx);
    assert!(tx.is_closed());
    match tx.try_send(vec![2]) {
        Err(TrySendError::Closed(v)) => assert_eq!(v, [2]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_dropped_recv_future_never_swallows_a_message() {
    ringcore::block_on(async {
        let (tx, mut rx) = channel::<u32>(4);
        for i in 0..3 {
            // A recv that waits (nothing queued), is woken by a send, and is dropped
            // before it is polled again.
            let mut fut = Box::pin(rx.recv());
            let first =
                std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx))).await;
            assert!(first.is_pending());
            tx.send(i).await.unwrap();
            drop(fut);
            assert_eq!(rx.try_recv(), Ok(i));
        }
    });
}

#[test]
fn a_dropped_send_future_sends_nothing_and_unblocks_nothing_else() {
    ringcore::block_on(async {
        let (tx, mut rx) = channel::<u32>(1);
        tx.send(1).await.unwrap();
        // Waits (full), then is dropped by the timeout.
        let r = ringcore::time::timeout(Duration::from_millis(5), tx.send(2)).await;
        assert!(r.is_err());
        assert_eq!(rx.recv().await, Some(1));
        assert_eq!(rx.try_recv(), Err(TryRecvError::Empty));
        tx.send(3).await.unwrap();
        assert_eq!(rx.recv().await, Some(3));
    });
}

#[test]
fn messages_left_in_a_dropped_channel_are_dropped_once() {
    use std::sync::Arc;
    let item = Arc::new(());
    let (tx, rx) = channel::<Arc<()>>(8);
    for _ in 0..5 {
        tx.try_send(item.clone()).unwrap();
    }
    assert_eq!(Arc::strong_count(&item), 6);
    drop(rx);
    assert_eq!(Arc::strong_count(&item), 1);
    drop(tx);
}
