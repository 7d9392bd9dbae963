//! A burst of sends wakes the receiver once, and costs its core no eventfd write while
//! the core is awake (the remote queue's `sleeping` flag).

use std::future::poll_fn;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Wake, Waker};

use ringcore::channel::channel;

/// Wraps a waker and counts its wakes.
struct Counting {
    inner: Waker,
    wakes: Arc<AtomicUsize>,
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.inner.wake_by_ref();
    }
}

#[test]
fn a_burst_of_sends_wakes_the_receiver_once() {
    const BURST: u64 = 1000;
    let rt = ringcore::Runtime::new().unwrap();
    let wakes = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = channel::<u64>(BURST as usize);
    let w = wakes.clone();
    let rt_ref = &rt;
    let (received, unparks) = rt.block_on(async move {
        let receiver = ringcore::spawn(async move {
            let mut got = 0;
            while got < BURST {
                // Each pending recv registers a counting waker.
                let v = poll_fn(|cx| {
                    let waker = Waker::from(Arc::new(Counting {
                        inner: cx.waker().clone(),
                        wakes: w.clone(),
                    }));
                    let mut cx = std::task::Context::from_waker(&waker);
                    std::pin::Pin::new(&mut rx.recv()).poll(&mut cx)
                })
                .await;
                assert_eq!(v, Some(got));
                got += 1;
            }
            got
        });
        // Let the receiver find the channel empty and wait.
        for _ in 0..5 {
            ringcore::yield_now().await;
        }
        let before = rt_ref.metrics().cores.remove(0).remote_unparks;
        // The burst comes from another thread while this core is busy (blocked in this
        // task), so the receiver cannot run in between: exactly one wake.
        std::thread::spawn(move || {
            for i in 0..BURST {
                tx.try_send(i).unwrap();
            }
        })
        .join()
        .unwrap();
        let unparks = rt_ref.metrics().cores.remove(0).remote_unparks - before;
        (receiver.await.unwrap(), unparks)
    });
    assert_eq!(received, BURST);
    assert_eq!(
        wakes.load(Ordering::SeqCst),
        1,
        "one wake for the whole burst"
    );
    // The core was awake the whole time: no eventfd write was needed.
    assert_eq!(unparks, 0);
}
