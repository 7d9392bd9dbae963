//! A million sequence-numbered messages between cores arrive exactly once, in per-sender
//! order (docs/hazards.md, "Stress tests": cross-core).

use ringcore::{CoreId, Runtime};

const PER_SENDER: u64 = 500_000;

#[test]
fn a_million_messages_from_two_cores_arrive_once_each_in_per_sender_order() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let (tx, mut rx) = ringcore::channel::channel::<(u8, u64)>(64);
    let counts = rt.block_on(async move {
        // One sender on each core; the receiver on core 0.
        let tx1 = tx.clone();
        let remote = ringcore::spawn_on(CoreId::new(1), move || async move {
            for seq in 0..PER_SENDER {
                tx1.send((1, seq)).await.unwrap();
            }
        });
        let local = ringcore::spawn(async move {
            for seq in 0..PER_SENDER {
                tx.send((0, seq)).await.unwrap();
            }
        });
        let mut next = [0u64; 2];
        while let Some((sender, seq)) = rx.recv().await {
            let s = usize::from(sender);
            assert_eq!(seq, next[s], "sender {sender}: out of order or duplicated");
            next[s] += 1;
            assert!(rx.len() <= 64);
        }
        remote.await.unwrap();
        local.await.unwrap();
        next
    });
    assert_eq!(counts, [PER_SENDER, PER_SENDER]);
}

#[test]
fn capacity_bounds_the_queue_and_zero_means_one() {
    let (tx, mut rx) = ringcore::channel::channel::<u32>(0);
    assert_eq!(tx.capacity(), 1);
    tx.try_send(1).unwrap();
    assert!(tx.try_send(2).unwrap_err().is_full());
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(ringcore::channel::TryRecvError::Empty));

    let (tx, _rx) = ringcore::channel::channel::<u32>(8);
    for i in 0..8 {
        tx.try_send(i).unwrap();
    }
    assert_eq!(tx.try_send(8).unwrap_err().into_inner(), 8);
    assert_eq!(tx.len(), 8);
}
