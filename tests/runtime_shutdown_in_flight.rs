//! Dropping a runtime with 10,000 ops in flight (idle pipe reads, pending accepts) and
//! long timers returns promptly and leaks nothing: every task future and buffer is dropped
//! and `/proc/self/fd` is back to its baseline (docs/hazards.md, H2).

mod support;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringcore::Runtime;
use ringcore::fs::File;
use ringcore::net::{ListenOptions, TcpListener};

#[test]
fn runtime_dropped_with_ten_thousand_ops_in_flight_returns_promptly_and_leaks_nothing() {
    let fds_before = support::open_fds();
    // Held by every task's future: dropped with it.
    let alive = Arc::new(());
    let (reader, writer) = std::io::pipe().unwrap();
    let rt = Runtime::new().unwrap();
    let rt_ref = &rt;
    let a = alive.clone();
    rt.block_on(async move {
        let f = Rc::new(File::from_std(std::fs::File::from(
            std::os::fd::OwnedFd::from(reader),
        )));
        let opts = ListenOptions::new().backlog(16);
        let listener = Rc::new(TcpListener::bind_with("127.0.0.1:0", &opts).unwrap());
        for i in 0..10_000 {
            let a = a.clone();
            if i % 2 == 0 {
                let f = f.clone();
                ringcore::spawn(async move {
                    let _a = a;
                    // An empty pipe: this read never completes on its own.
                    let (res, _) = f.read_at(Vec::with_capacity(64), 0).await;
                    res.map(drop)
                });
            } else {
                let l = listener.clone();
                ringcore::spawn(async move {
                    let _a = a;
                    l.accept().await.map(drop)
                });
            }
        }
        for _ in 0..1_000 {
            let a = a.clone();
            ringcore::spawn(async move {
                let _a = a;
                ringcore::time::sleep(Duration::from_secs(3600)).await;
            });
        }
        // Until every task has started its op (a fixed sleep was too short on a loaded
        // machine: 11,000 tasks take 180 ticks of 61 polls).
        let start = Instant::now();
        while rt_ref.metrics().cores.remove(0).ops_in_flight < 10_000
            && start.elapsed() < Duration::from_secs(20)
        {
            ringcore::time::sleep(Duration::from_millis(5)).await;
        }
        ringcore::time::sleep(Duration::from_millis(10)).await;
    });
    let m = rt.metrics().cores.remove(0);
    assert!(m.ops_in_flight >= 10_000, "{m:?}");
    assert_eq!(m.live_tasks, 11_000, "{m:?}");
    let start = Instant::now();
    drop(rt);
    let took = start.elapsed();
    // Shutdown gives the kernel 10 s to answer before it leaks; it must not need that.
    assert!(took < Duration::from_secs(5), "runtime drop took {took:?}");
    assert_eq!(Arc::strong_count(&alive), 1, "task futures not dropped");
    drop(writer);
    assert_eq!(support::open_fds(), fds_before, "fds leaked");
}
