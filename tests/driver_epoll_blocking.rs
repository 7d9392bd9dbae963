//! Calls that may block for as long as another party pleases, on the readiness driver
//! (src/driver/epoll/): a Unix connect to a full backlog (docs/hazards.md, H24) and
//! opens of FIFOs with no peer, or any call stalled on every thread of the driver's
//! blocking pool (H25). Each test runs on the driver `RINGCORE_DRIVER` selects, so the
//! suite checks that both drivers give the same results (`.ci/run` runs it on both).

mod support;

use std::time::{Duration, Instant};

use ringcore::Runtime;
use ringcore::net::{ListenOptions, UnixListener, UnixStream};
use ringcore::time::timeout;

/// CPU time consumed by the calling thread (the core's thread).
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec we own.
    let res = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(res, 0);
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn a_unix_connect_to_a_full_backlog_completes_once_the_listener_accepts() {
    // Counted fds (the cancel test) are process-wide: one test at a time.
    let _fds = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    Runtime::new().unwrap().block_on(async {
        // Backlog 1: the kernel queues two connections; a third non-blocking connect(2)
        // gets EAGAIN, and the socket stays writable, so no readiness event comes.
        let listener = UnixListener::bind_with(&path, &ListenOptions::new().backlog(1)).unwrap();
        let connects: Vec<_> = (0..6u8)
            .map(|i| {
                let path = path.clone();
                ringcore::spawn(async move {
                    let stream = UnixStream::connect(&path).await?;
                    let (res, _) = stream.write_all(vec![i]).await;
                    res.map(|()| stream)
                })
            })
            .collect();
        // While nobody accepts, the waiting connects must not spin the core.
        let cpu = thread_cpu();
        ringcore::time::sleep(Duration::from_millis(100)).await;
        let spent = thread_cpu() - cpu;
        assert!(
            spent < Duration::from_millis(50),
            "the core spent {spent:?} of CPU in 100 ms waiting for the backlog"
        );

        let start = Instant::now();
        let mut seen = Vec::new();
        for _ in 0..6 {
            let (server, _) = timeout(Duration::from_secs(5), listener.accept())
                .await
                .expect("an accept waited 5 s: a connect never completed")
                .unwrap();
            let (res, buf) = server.read(Vec::with_capacity(1)).await;
            assert_eq!(res.unwrap(), 1);
            seen.push(buf[0]);
        }
        for (i, connect) in connects.into_iter().enumerate() {
            timeout(Duration::from_secs(5), connect)
                .await
                .unwrap_or_else(|_| panic!("connect {i} never completed"))
                .unwrap()
                .unwrap();
        }
        seen.sort_unstable();
        assert_eq!(seen, [0, 1, 2, 3, 4, 5]);
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the connects took {:?} after the listener began to accept",
            start.elapsed()
        );
    });
}

#[test]
fn a_connect_waiting_for_a_full_backlog_is_cancelled_when_dropped() {
    let _fds = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sock");
    Runtime::new().unwrap().block_on(async {
        let listener = UnixListener::bind_with(&path, &ListenOptions::new().backlog(1)).unwrap();
        let queued = [
            UnixStream::connect(&path).await.unwrap(),
            UnixStream::connect(&path).await.unwrap(),
        ];
        let baseline = support::open_fds();
        for _ in 0..20 {
            let waited = timeout(Duration::from_millis(5), UnixStream::connect(&path)).await;
            assert!(waited.is_err(), "a connect to a full backlog completed");
        }
        support::settle().await;
        assert_eq!(
            support::open_fds(),
            baseline,
            "a dropped connect leaked its socket"
        );
        // The backlog drains and a new connect gets in.
        drop(listener.accept().await.unwrap());
        drop(queued);
        let late = timeout(Duration::from_secs(5), UnixStream::connect(&path)).await;
        late.expect("a connect after the backlog drained waited 5 s")
            .unwrap();
    });
}
