//! Regression: a core's eventfd outlived the runtime while any waker of its tasks was alive
//! (a waker a user kept, a blocking job still running), because the remote queue that those
//! wakers reach kept the fd. Dropping the runtime must close every eventfd it opened; a
//! wake that comes later does nothing (docs/architecture.md, invariant 7).

use std::future::poll_fn;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::Duration;

use ringcore::{CoreId, Runtime};

/// Open eventfds of this process, from the targets of /proc/self/fd's links.
fn open_eventfds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("[eventfd]"))
        .count()
}

#[test]
fn eventfds_are_closed_when_the_runtime_drops_though_wakers_live_on() {
    let before = open_eventfds();
    let wakers: Arc<Mutex<Vec<Waker>>> = Arc::default();
    let (job_started_tx, job_started) = std::sync::mpsc::channel();
    let (finish_job, job_may_finish) = std::sync::mpsc::channel::<()>();
    {
        let rt = Runtime::builder().cores(2).build().unwrap();
        assert!(
            open_eventfds() >= before + 2,
            "each core should have an eventfd while the runtime runs"
        );
        let w = wakers.clone();
        rt.block_on(async move {
            // The main future's waker.
            poll_fn(|cx| {
                w.lock().unwrap().push(cx.waker().clone());
                Poll::Ready(())
            })
            .await;
            // Wakers of pending tasks on both cores.
            for core in [CoreId::new(0), CoreId::new(1)] {
                let w = w.clone();
                ringcore::submit_to(core, move || async move {
                    ringcore::spawn(poll_fn(move |cx| {
                        w.lock().unwrap().push(cx.waker().clone());
                        Poll::<()>::Pending
                    }));
                    ringcore::yield_now().await;
                })
                .await
                .unwrap();
            }
            // A blocking job that is still running when the runtime drops; its handle
            // holds the waker of the task awaiting it.
            let job = ringcore::offload::spawn_blocking(move || {
                job_started_tx.send(()).unwrap();
                let _ = job_may_finish.recv_timeout(Duration::from_secs(10));
            });
            ringcore::spawn(job);
            ringcore::yield_now().await;
        });
        job_started.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(wakers.lock().unwrap().len() >= 3);
    }
    assert_eq!(open_eventfds(), before, "an eventfd outlived the runtime");

    // Late wakes, on this thread and another one, while the blocking job still runs: they
    // find closed queues and do nothing.
    let taken: Vec<Waker> = std::mem::take(&mut *wakers.lock().unwrap());
    std::thread::scope(|s| {
        s.spawn(|| {
            for w in &taken {
                w.wake_by_ref();
            }
        });
    });
    for w in &taken {
        w.wake_by_ref();
    }
    finish_job.send(()).unwrap();
    drop(taken);
    assert_eq!(open_eventfds(), before);
}
