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

/// Sets its flag when woken.
struct Flag(std::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// One modelled receive stream: its state as in `RecvStream`, the chunks still in its
/// socket (each fills one buffer), the completions of its armed receive not taken yet
/// (`Some(bid)`, or `None` for `ENOBUFS` or end of stream), the item it holds, its waker.
struct Model {
    state: Phase,
    left: u32,
    queued: std::collections::VecDeque<Option<u16>>,
    /// The armed receive has ended (ENOBUFS or end of stream queued).
    ended: bool,
    held: Option<PoolBuf>,
    flag: std::sync::Arc<Flag>,
}

enum Phase {
    Armed(Option<PoolWake>),
    Parked(PoolWait),
    // Held for its drop, which frees the slot.
    Plain(#[allow(dead_code)] FallbackSlot),
    Done,
}

/// xorshift64*, so a failing seed reproduces.
fn next(x: &mut u64) -> u64 {
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    x.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

/// Runs the stream's state machine as `RecvStream::poll_next` does.
fn poll(pool: &Rc<BufRing>, m: &mut Model) {
    let waker = std::task::Waker::from(m.flag.clone());
    m.flag.0.store(false, Ordering::Relaxed);
    loop {
        match &mut m.state {
            Phase::Armed(wake) => {
                let Some(cqe) = m.queued.pop_front() else {
                    return;
                };
                *wake = None;
                match cqe {
                    Some(bid) => {
                        // SAFETY: test: each bid the fake kernel picked is taken once.
                        m.held = Some(unsafe { pool.take(bid, 0, 1) });
                    }
                    None if m.left == 0 => {
                        m.held = None;
                        m.state = Phase::Done;
                    }
                    None => {
                        m.ended = false;
                        m.state = match pool.after_enobufs() {
                            Ok(Resume::Arm(w)) => Phase::Armed(w),
                            Ok(Resume::Fallback(slot)) => Phase::Plain(slot),
                            Err(wait) => Phase::Parked(wait),
                        };
                    }
                }
            }
            Phase::Parked(wait) => match wait.poll(&waker) {
                Poll::Ready(Resume::Arm(w)) => m.state = Phase::Armed(w),
                Poll::Ready(Resume::Fallback(slot)) => m.state = Phase::Plain(slot),
                Poll::Pending => return,
            },
            Phase::Plain(_) | Phase::Done => return,
        }
    }
}

/// Randomized model of the park and wake protocol on a tiny pool (4 buffers growing to
/// 8, 2 fallback slots) with the real `BufRing`, a fake kernel that picks buffers from
/// the ring at its head, and streams run as `RecvStream` runs: buffers taken and returned,
/// slots taken and freed, streams parking, woken streams re-arming to a buffer, to end of
/// stream or to `ENOBUFS`, readers holding or dropping items, streams dropped and made
/// again. After every step: while streams are parked, at least as many wakes are out as
/// the pool can serve. At the end every stream has finished (nothing can run while a
/// stream is unfinished: a stall), every buffer and slot is back and no wake is out.
/// Issue 26, fault 2 was this stall: a woken stream that met end of stream kept its wake.
#[test]
fn parked_streams_are_never_left_while_the_pool_can_serve_them() {
    for seed in 1..=300u64 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let pool = BufRing::new(4, 8, 4096, false).unwrap();
        let mut head: u16 = 0;
        let streams = 3 + (next(&mut x) % 30) as usize;
        let mut ms: Vec<Model> = (0..streams)
            .map(|_| Model {
                state: Phase::Armed(None),
                left: (next(&mut x) % 6) as u32,
                queued: Default::default(),
                ended: false,
                held: None,
                flag: std::sync::Arc::new(Flag(false.into())),
            })
            .collect();
        let mut step = 0;
        loop {
            step += 1;
            assert!(step < 100_000, "seed {seed}: no end");
            // What can happen now: the kernel serves an armed receive, a woken stream or
            // one with completions runs, a plain receive completes, a reader drops its
            // item, a stream is dropped and made again.
            let mut moves = Vec::new();
            for (i, m) in ms.iter().enumerate() {
                match &m.state {
                    Phase::Armed(_) if !m.ended => moves.push((0, i)),
                    Phase::Plain(_) => moves.push((2, i)),
                    Phase::Done => continue,
                    _ => {}
                }
                if m.flag.0.load(Ordering::Relaxed) || !m.queued.is_empty() {
                    moves.push((1, i));
                }
                if m.held.is_some() {
                    moves.push((3, i));
                }
                // Streams are dropped and made again early on only, so a stall at the end
                // is not hidden by a stream made again.
                if step < 500 && next(&mut x).is_multiple_of(50) {
                    moves.push((4, i));
                }
            }
            if moves.is_empty() {
                break;
            }
            let (kind, i) = moves[(next(&mut x) % moves.len() as u64) as usize];
            let m = &mut ms[i];
            match kind {
                0 if m.left == 0 => {
                    // End of stream takes no buffer.
                    m.queued.push_back(None);
                    m.ended = true;
                }
                0 if head == pool.tail.get() => {
                    m.queued.push_back(None);
                    m.ended = true;
                }
                0 => {
                    // SAFETY: test: entries below the tail were written by `publish`.
                    let entry = unsafe {
                        &*pool
                            .ring
                            .as_ptr()
                            .add(usize::from(head & (pool.ring_entries - 1)))
                    };
                    head = head.wrapping_add(1);
                    pool.note_selected(entry.bid(), 1, cqe_flags(entry.bid(), false));
                    m.queued.push_back(Some(entry.bid()));
                    m.left -= 1;
                }
                1 => poll(&pool, m),
                2 => {
                    // The plain receive completes at once: a chunk, or end of stream.
                    m.held = None;
                    m.state = if m.left == 0 {
                        Phase::Done
                    } else {
                        m.left -= 1;
                        Phase::Armed(None)
                    };
                }
                3 => m.held = None,
                _ => {
                    // Dropped and made again: completions left go to the stash (copied
                    // out, the wake rule owed and applied as `dispatch` does).
                    m.state = Phase::Done;
                    for bid in m.queued.drain(..).flatten() {
                        // SAFETY: test: each bid the fake kernel picked is taken once.
                        drop(unsafe { pool.copy_out(bid, 0, 1) });
                    }
                    pool.wake_owed();
                    m.ended = false;
                    m.state = Phase::Armed(None);
                }
            }
            assert!(
                pool.parked() == 0 || pool.woken() >= pool.units(),
                "seed {seed}, step {step}: {} parked, {} wakes out, the pool can serve {}",
                pool.parked(),
                pool.woken(),
                pool.units()
            );
        }
        let unfinished = ms
            .iter()
            .filter(|m| !matches!(m.state, Phase::Done))
            .count();
        assert_eq!(
            unfinished,
            0,
            "seed {seed}: {unfinished} streams stalled ({} parked, {} wakes out, {} buffers \
             in the ring, {} slots taken)",
            pool.parked(),
            pool.woken(),
            pool.available(),
            pool.fallbacks()
        );
        drop(ms);
        assert_eq!(
            (pool.out(), pool.fallbacks(), pool.woken(), pool.parked()),
            (0, 0, 0, 0),
            "seed {seed}"
        );
    }
}
