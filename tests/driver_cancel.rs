//! Dropping in-flight ops: no crash, every slot freed, no fd leaked (docs/architecture.md,
//! invariant 2; docs/hazards.md, H1, H2 and H4).

mod support;

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Waker};
use std::time::Duration;

use ringcore::fs::{File, OpenOptions};
use ringcore::{Runtime, time};

/// Polls `fut` once (submitting its SQE), then drops it.
fn poll_once_then_drop<F: Future>(fut: F) -> bool {
    let mut fut = pin!(fut);
    fut.as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
        .is_pending()
}

#[test]
fn ten_thousand_pipe_reads_dropped_in_flight() {
    let _serial = support::fd_lock();
    let fds_before = support::open_fds();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        // Reads from an empty pipe never complete on their own: each must be cancelled.
        let (reader, writer) = std::io::pipe().unwrap();
        let f = File::from_std(std::fs::File::from(std::os::fd::OwnedFd::from(reader)));
        let mut pending = 0;
        for _ in 0..10_000 {
            if poll_once_then_drop(f.read_at(Vec::with_capacity(64), 0)) {
                pending += 1;
            }
        }
        assert_eq!(pending, 10_000);
        support::wait_until_drained(&rt).await;
        drop(writer);
        f.close().await.unwrap();
    });
    let m = rt.metrics().cores.remove(0);
    assert_eq!(m.ops_in_flight, 0);
    assert!(m.driver.ops_cancelled >= 10_000, "{m:?}");
    drop(rt);
    assert_eq!(support::open_fds(), fds_before, "fd leaked");
}

#[test]
fn ten_thousand_file_reads_dropped_at_random_points() {
    let _serial = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    support::make_file(&path, 1 << 20, 5);
    let fds_before = support::open_fds();
    // Every read through the ring: the file is cached, so inline reads would complete
    // most of them before any could be dropped in flight.
    let rt = Runtime::builder().inline_reads_per_tick(0).build().unwrap();
    rt.block_on(async {
        let f = Rc::new(File::open(&path).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..10_000u64 {
            let f = f.clone();
            tasks.push(ringcore::spawn(async move {
                let (res, buf) = f
                    .read_at(Vec::with_capacity(4096), (i * 4096) % (1 << 20))
                    .await;
                assert_eq!(res.unwrap(), 4096);
                buf.len()
            }));
            // Dropped before the first poll, after submission, or after completion.
            match i % 3 {
                0 => tasks.pop().unwrap().abort(),
                1 => ringcore::yield_now().await,
                _ => {}
            }
        }
        for (i, t) in tasks.into_iter().enumerate() {
            if i % 2 == 0 {
                t.abort();
            }
            let _ = t.await;
        }
        support::wait_until_drained(&rt).await;
    });
    assert_eq!(rt.metrics().cores.remove(0).ops_in_flight, 0);
    assert_eq!(rt.metrics().cores.remove(0).live_tasks, 0);
    drop(rt);
    assert_eq!(support::open_fds(), fds_before, "fd leaked");
}

#[test]
fn timeout_cancels_a_blocked_read_and_the_fd_closes() {
    let _serial = support::fd_lock();
    let fds_before = support::open_fds();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let (reader, writer) = std::io::pipe().unwrap();
        let f = File::from_std(std::fs::File::from(std::os::fd::OwnedFd::from(reader)));
        let res = time::timeout(
            Duration::from_millis(20),
            f.read_at(Vec::with_capacity(8), 0),
        )
        .await;
        assert!(
            res.is_err(),
            "the read cannot complete: nothing was written"
        );
        // The cancel lands first: without DEFER_TASKRUN (COOP_TASKRUN, no flags, and so
        // with the tokio context) the write below runs the dropped read's retry as task
        // work on its way back from write(2), before the queued cancel is submitted, and
        // that read takes the bytes (a dropped file read owns what it read; sockets have
        // their stash, net_cancel_no_byte_lost).
        support::wait_until_drained(&rt).await;
        // The pipe works afterwards: a new read gets the bytes.
        std::io::Write::write_all(&mut &writer, b"late").unwrap();
        let (res, buf) = f.read_at(Vec::with_capacity(8), 0).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf, b"late");
        support::wait_until_drained(&rt).await;
    });
    drop(rt);
    assert_eq!(support::open_fds(), fds_before);
}

#[test]
fn dropped_opens_close_their_fds() {
    let _serial = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let fds_before = support::open_fds();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        for i in 0..2_000 {
            let path = dir.path().join(format!("f{}", i % 16));
            poll_once_then_drop(OpenOptions::new().write(true).create(true).open(path));
        }
        support::wait_until_drained(&rt).await;
    });
    drop(rt);
    assert_eq!(
        support::open_fds(),
        fds_before,
        "an fd of a cancelled open leaked"
    );
}

#[test]
fn runtime_dropped_with_ops_in_flight_returns_and_leaks_nothing() {
    let _serial = support::fd_lock();
    let fds_before = support::open_fds();
    let (reader, writer) = std::io::pipe().unwrap();
    let reader = std::os::fd::OwnedFd::from(reader);
    {
        let rt = Runtime::new().unwrap();
        rt.block_on(async {
            let f = Rc::new(File::from_std(std::fs::File::from(reader)));
            for _ in 0..1_000 {
                let f = f.clone();
                ringcore::spawn(async move {
                    let (res, _) = f.read_at(Vec::with_capacity(8), 0).await;
                    res
                });
            }
            // A long timer too: shutdown must not wait for it.
            ringcore::spawn(time::sleep(Duration::from_secs(3600)));
            time::sleep(Duration::from_millis(10)).await;
        });
        assert!(rt.metrics().cores.remove(0).ops_in_flight >= 1_000);
    }
    drop(writer);
    assert_eq!(support::open_fds(), fds_before);
}

#[test]
fn a_small_ring_runs_many_concurrent_ops() {
    let _serial = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let data = support::make_file(&path, 1 << 20, 11);
    // Every read through the ring (no inline page-cache reads), so the tiny SQ fills.
    let rt = Runtime::builder()
        .ring_entries(8)
        .inline_reads_per_tick(0)
        .build()
        .unwrap();
    rt.block_on(async {
        let f = Rc::new(File::open(&path).await.unwrap());
        let tasks: Vec<_> = (0..100_000u64)
            .map(|i| {
                let f = f.clone();
                ringcore::spawn(async move {
                    let off = (i * 512) % (1 << 20);
                    let (res, buf) = f.read_at(Vec::with_capacity(512), off).await;
                    assert_eq!(res.unwrap(), 512);
                    (off, buf)
                })
            })
            .collect();
        for t in tasks {
            let (off, buf) = t.await.unwrap();
            assert_eq!(&buf[..], &data[off as usize..off as usize + 512]);
        }
    });
    assert!(rt.metrics().cores.remove(0).driver.sq_full_flushes > 0);
    assert_eq!(rt.metrics().cores.remove(0).ops_in_flight, 0);
}
