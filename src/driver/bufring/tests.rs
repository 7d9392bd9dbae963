//! The pool's buffer states, its growth, and the wake rule: unit tests, and a randomized
//! model of receive streams parking on a small pool.

use super::*;

/// The flags of a receive CQE naming buffer `bid`, with IORING_CQE_F_BUF_MORE if `more`.
fn cqe_flags(bid: u16, more: bool) -> u32 {
    let more = if more {
        1 << 4 // IORING_CQE_F_BUF_MORE
    } else {
        0
    };
    1 | (u32::from(bid) << 16) | more // IORING_CQE_F_BUFFER: bit 0
}

#[test]
fn buffers_are_published_taken_and_republished() {
    let pool = BufRing::new(4, 4, 64, false).unwrap();
    assert_eq!((pool.out(), pool.available()), (0, 4));
    assert_eq!(pool.note_selected(1, 10, cqe_flags(1, false)), 0);
    assert_eq!(pool.note_selected(2, 64, cqe_flags(2, false)), 0);
    // SAFETY: test: no kernel; bids 1 and 2 are taken once each (as if two CQEs
    // named them; counted above).
    let (a, b) = unsafe { (pool.take(1, 0, 10), pool.take(2, 0, 64)) };
    assert_eq!((a.len(), b.len(), pool.out()), (10, 64, 2));
    assert_eq!(pool.available(), 2);
    drop(a);
    drop(b);
    assert_eq!(pool.out(), 0);
    assert_eq!(pool.tail.get(), 6);
    assert!(BufRing::new(3, 4, 64, false).is_err());
    assert!(BufRing::new(4, 2, 64, false).is_err());
    assert!(BufRing::new(4, 6, 64, false).is_err());
    assert!(BufRing::new(4, 4, 0, false).is_err());
}

#[test]
fn a_pool_doubles_up_to_its_ring_and_no_further() {
    let pool = BufRing::new(2, 8, 16, false).unwrap();
    assert_eq!(
        (pool.buffers(), pool.ring_entries(), pool.tail.get()),
        (2, 8, 2)
    );
    assert!(pool.grow());
    assert_eq!(pool.buffers(), 4);
    assert!(pool.grow());
    assert!(!pool.grow(), "grew past the ring");
    assert_eq!(
        (pool.buffers(), pool.available(), pool.tail.get()),
        (8, 8, 8)
    );
    // Each published entry names its own buffer: distinct ids and addresses, each
    // buffer `size` bytes inside its chunk.
    let mut seen = Vec::new();
    for index in 0..8usize {
        // SAFETY: test: the ring's first 8 entries were written by `publish`.
        let entry = unsafe { &*pool.ring.as_ptr().add(index) };
        assert_eq!(entry.len(), 16);
        assert_eq!(entry.addr(), pool.buf_ptr(entry.bid()) as u64);
        seen.push((entry.bid(), entry.addr()));
    }
    seen.sort();
    seen.dedup_by_key(|e| e.0);
    assert_eq!(
        seen.iter().map(|e| e.0).collect::<Vec<_>>(),
        (0..8).collect::<Vec<_>>()
    );
    let mut addrs: Vec<_> = seen.iter().map(|e| e.1).collect();
    addrs.sort();
    assert!(
        addrs.windows(2).all(|w| w[1] - w[0] >= 16),
        "buffers overlap"
    );
    // A buffer of a grown chunk is taken and republished like the first chunk's.
    pool.note_selected(7, 16, cqe_flags(7, false));
    // SAFETY: test: bid 7 is taken once (counted above).
    let c = unsafe { pool.take(7, 0, 16) };
    assert_eq!((c.capacity(), pool.out()), (16, 1));
    drop(c);
    assert_eq!(pool.out(), 0);
}

/// Counts its wakes.
struct Count(std::sync::atomic::AtomicUsize);

impl std::task::Wake for Count {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// A stream at the empty pool that must wait.
fn waiting(pool: &Rc<BufRing>) -> PoolWait {
    match pool.after_enobufs() {
        Err(wait) => wait,
        Ok(_) => panic!("the pool could serve"),
    }
}

#[test]
fn fallback_slots_are_bounded_and_parked_streams_wake_for_slots_and_buffers() {
    // 8 buffers of 4 KiB at their cap: 32 KiB, so 2 plain receives of 16 KiB.
    let pool = BufRing::new(8, 8, 4096, false).unwrap();
    assert_eq!(pool.max_fallbacks(), 2);
    // Every buffer out, held here.
    let mut held: Vec<PoolBuf> = (0..8)
        .map(|bid| {
            pool.note_selected(bid, 1, cqe_flags(bid, false));
            // SAFETY: test: each bid is taken once (counted above).
            unsafe { pool.take(bid, 0, 1) }
        })
        .collect();
    let (a, b) = (pool.try_fallback().unwrap(), pool.try_fallback().unwrap());
    assert!(pool.try_fallback().is_none(), "a third fallback slot");
    assert_eq!(pool.units(), 0);
    // Two streams park, in order; re-parking keeps a place.
    let count = std::sync::Arc::new(Count(0.into()));
    let waker = std::task::Waker::from(count.clone());
    let wakes = || count.0.load(Ordering::Relaxed);
    let (mut first, mut second) = (waiting(&pool), waiting(&pool));
    assert!(first.poll(&waker).is_pending());
    assert!(second.poll(&waker).is_pending());
    assert!(first.poll(&waker).is_pending());
    assert_eq!((pool.parked(), pool.parks()), (2, 2));
    // A freed slot wakes the longest-waiting stream only; taking the slot settles it.
    drop(a);
    assert_eq!((wakes(), pool.parked(), pool.woken()), (1, 1, 1));
    let Poll::Ready(Resume::Fallback(slot)) = first.poll(&waker) else {
        panic!("a stream woken for a slot did not take it");
    };
    assert_eq!((wakes(), pool.woken()), (1, 0));
    // Buffers: at its cap the pool is worth arming once an eighth of it (1 buffer
    // here) is back; the returned buffer wakes the next stream, which re-arms holding
    // its wake.
    assert!(!pool.may_arm());
    drop(held.pop());
    assert!(pool.may_arm());
    assert_eq!((wakes(), pool.parked(), pool.woken()), (2, 0, 1));
    let Poll::Ready(Resume::Arm(Some(wake))) = second.poll(&waker) else {
        panic!("a woken stream did not re-arm with its wake");
    };
    // Its receive takes the buffer (counted at the reap), then its wake is settled.
    pool.note_selected(7, 1, cqe_flags(7, false));
    drop(wake);
    assert_eq!(pool.woken(), 0);
    // SAFETY: test: bid 7 is taken once (counted above).
    held.push(unsafe { pool.take(7, 0, 1) });
    // Issue 26, fault 2: a woken stream whose receive takes no buffer (end of stream)
    // passes its wake on, so the next stream is woken for the buffer still in the ring.
    let (mut third, mut fourth) = (waiting(&pool), waiting(&pool));
    assert!(third.poll(&waker).is_pending());
    assert!(fourth.poll(&waker).is_pending());
    drop(held.pop());
    assert_eq!((wakes(), pool.parked()), (3, 1));
    let Poll::Ready(Resume::Arm(Some(wake))) = third.poll(&waker) else {
        panic!("a woken stream did not re-arm with its wake");
    };
    drop(wake);
    assert_eq!((wakes(), pool.parked(), pool.woken()), (4, 0, 1));
    // A woken stream dropped before it ran passes its wake on too: with the fourth
    // stream's wake unsettled, the buffer it was woken for is taken and comes back,
    // and a fifth stream parks behind it; the fourth goes away, and the fifth is woken.
    pool.note_selected(7, 1, cqe_flags(7, false));
    // SAFETY: test: bid 7 is taken once (counted above).
    let seven = unsafe { pool.take(7, 0, 1) };
    let mut fifth = waiting(&pool);
    assert!(fifth.poll(&waker).is_pending());
    drop(seven);
    assert_eq!((wakes(), pool.parked(), pool.woken()), (4, 1, 1));
    drop(fourth);
    assert_eq!((wakes(), pool.parked(), pool.woken()), (5, 0, 1));
    let Poll::Ready(Resume::Arm(Some(wake))) = fifth.poll(&waker) else {
        panic!("a woken stream did not re-arm with its wake");
    };
    drop(wake);
    // A stream that leaves the line unwoken is not woken, and wakes no one.
    pool.note_selected(7, 1, cqe_flags(7, false));
    // SAFETY: test: bid 7 is taken once (counted above).
    held.push(unsafe { pool.take(7, 0, 1) });
    let mut sixth = waiting(&pool);
    assert!(sixth.poll(&waker).is_pending());
    drop(sixth);
    assert_eq!((pool.parked(), pool.woken(), wakes()), (0, 0, 5));
    drop((b, slot, held));
    assert_eq!((pool.out(), pool.fallbacks()), (0, 0));
}

#[test]
fn an_incremental_buffer_serves_several_receives_and_returns_after_the_last_handle() {
    let pool = BufRing::new(4, 4, 256, true).unwrap();
    // Three receives into buffer 2: the kernel keeps it after the first two.
    let offsets = [
        pool.note_selected(2, 100, cqe_flags(2, true)),
        pool.note_selected(2, 50, cqe_flags(2, true)),
        pool.note_selected(2, 20, cqe_flags(2, false)),
    ];
    assert_eq!(offsets, [0, 100, 150]);
    assert_eq!(pool.out(), 1, "the kernel is done with buffer 2");
    // SAFETY: test: each of the three CQEs is taken once, with its own offset.
    let parts = unsafe {
        [
            pool.take(2, 0, 100),
            pool.take(2, 100, 50),
            pool.take(2, 150, 20),
        ]
    };
    let base = pool.buf_ptr(2) as usize;
    let starts: Vec<usize> = parts.iter().map(|p| p.as_ptr() as usize - base).collect();
    assert_eq!(starts, [0, 100, 150]);
    let tail = pool.tail.get();
    let [a, b, c] = parts;
    drop(b);
    drop(c);
    assert_eq!(
        (pool.out(), pool.tail.get()),
        (1, tail),
        "republished too early"
    );
    drop(a);
    assert_eq!((pool.out(), pool.tail.get()), (0, tail + 1));
    // Republished whole: the next receive into it starts at 0 again.
    assert_eq!(pool.note_selected(2, 10, cqe_flags(2, true)), 0);
    // A buffer the kernel still holds does not return when its handles go.
    // SAFETY: test: taken once.
    drop(unsafe { pool.take(2, 0, 10) });
    assert_eq!(
        pool.tail.get(),
        tail + 1,
        "a buffer the kernel holds was republished"
    );
}
