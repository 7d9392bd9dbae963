//! The per-core tokio context (feature `tokio-context`): tokio's tasks, timers, sockets,
//! files and blocking pool inside ringcore tasks, on the core that runs them, and the one
//! sleep per core that either side wakes. Real sockets on loopback. The suite runs on
//! both drivers (`RINGCORE_DRIVER=epoll` for the readiness driver).
#![cfg(feature = "tokio-context")]

mod support;

use std::time::{Duration, Instant};

use ringcore::Runtime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn rt() -> Runtime {
    Runtime::new().expect("runtime")
}

#[test]
fn tokio_spawn_runs_on_the_core_and_joins() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    rt().block_on(async {
        let me = std::thread::current().id();
        let handle = tokio::spawn(async move {
            tokio::task::yield_now().await;
            (std::thread::current().id(), 40 + 2)
        });
        let (thread, v) = handle.await.unwrap();
        assert_eq!(v, 42);
        assert_eq!(thread, me, "a tokio task runs on the core's thread");
    });
}

#[test]
fn tokio_spawn_local_runs_not_send_futures() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    rt().block_on(async {
        let shared = std::rc::Rc::new(std::cell::Cell::new(0));
        let s = shared.clone();
        tokio::task::spawn_local(async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            s.set(7);
        })
        .await
        .unwrap();
        assert_eq!(shared.get(), 7);
    });
}

#[test]
fn a_panic_in_a_tokio_task_is_a_join_error() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    rt().block_on(async {
        let err = tokio::spawn(async { panic!("tokio boom") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        let err = tokio::task::spawn_local(async { panic!("local boom") })
            .await
            .unwrap_err();
        assert!(err.is_panic());
        // The core goes on.
        assert_eq!(tokio::spawn(async { 1 }).await.unwrap(), 1);
    });
}

#[test]
fn tokio_sleep_timeout_interval_are_never_early() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    rt().block_on(async {
        for ms in [1u64, 5, 20] {
            let start = Instant::now();
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(ms),
                "{ms} ms sleep took {took:?}"
            );
            assert!(
                took < Duration::from_millis(ms + 200),
                "{ms} ms took {took:?}"
            );
        }
        let start = Instant::now();
        let r = tokio::time::timeout(Duration::from_millis(30), std::future::pending::<()>()).await;
        assert!(r.is_err());
        assert!(start.elapsed() >= Duration::from_millis(30));
        let start = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        for _ in 0..4 {
            tick.tick().await;
        }
        // The first tick is at once; three more periods.
        assert!(
            start.elapsed() >= Duration::from_millis(30),
            "{:?}",
            start.elapsed()
        );
        // ringcore's timers and tokio's together.
        let start = Instant::now();
        let (a, b) = futures::future::join(
            ringcore::time::sleep(Duration::from_millis(15)),
            tokio::time::sleep(Duration::from_millis(25)),
        )
        .await;
        let _ = (a, b);
        assert!(start.elapsed() >= Duration::from_millis(25));
    });
}

#[test]
fn tokio_net_echo_next_to_a_ringcore_stream_in_one_task() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    rt().block_on(async {
        // tokio's listener and client, echoed by a tokio task.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 1024];
            loop {
                let n = s.read(&mut buf).await.unwrap();
                if n == 0 {
                    return;
                }
                s.write_all(&buf[..n]).await.unwrap();
            }
        });
        // ringcore's listener, echoed by a ringcore task.
        let ring_listener = ringcore::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ring_addr = ring_listener.local_addr().unwrap();
        let ring_server = ringcore::spawn(async move {
            let (s, _) = ring_listener.accept().await.unwrap();
            support::echo(s, 1024).await.unwrap()
        });

        let mut tokio_client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let ring_client = ringcore::net::TcpStream::connect(ring_addr).await.unwrap();
        for i in 0..50u32 {
            let msg = format!("message {i}");
            tokio_client.write_all(msg.as_bytes()).await.unwrap();
            let (res, _) = ring_client.write_all(msg.clone().into_bytes()).await;
            res.unwrap();
            let mut got = vec![0u8; msg.len()];
            tokio_client.read_exact(&mut got).await.unwrap();
            assert_eq!(got, msg.as_bytes());
            let mut got = Vec::new();
            while got.len() < msg.len() {
                let (res, buf) = ring_client
                    .read(Vec::with_capacity(msg.len() - got.len()))
                    .await;
                assert!(res.unwrap() > 0);
                got.extend_from_slice(&buf);
            }
            assert_eq!(got, msg.as_bytes());
        }
        drop(tokio_client);
        drop(ring_client);
        server.await.unwrap();
        assert!(ring_server.await.unwrap() > 0);
    });
}

#[test]
fn tokio_fs_and_spawn_blocking() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.txt");
    std::fs::write(&path, b"tokio fs inside ringcore").unwrap();
    rt().block_on(async move {
        let bytes = tokio::fs::read(&path).await.unwrap();
        assert_eq!(bytes, b"tokio fs inside ringcore");
        let core_thread = std::thread::current().id();
        let pool_thread = tokio::task::spawn_blocking(|| std::thread::current().id())
            .await
            .unwrap();
        assert_ne!(
            pool_thread, core_thread,
            "spawn_blocking runs on tokio's pool"
        );
    });
}

#[test]
fn handle_current_spawns_on_this_core() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    rt().block_on(async {
        let handle = tokio::runtime::Handle::current();
        let me = std::thread::current().id();
        let id = handle
            .spawn(async { std::thread::current().id() })
            .await
            .unwrap();
        assert_eq!(id, me);
    });
}

#[test]
fn each_core_has_its_own_context_and_tasks_stay_on_their_core() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let rt = support::two_cores();
    let results = rt.run_on_all(|core| async move {
        let me = std::thread::current().id();
        let mut handles = Vec::new();
        for _ in 0..8 {
            handles.push(tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(2)).await;
                std::thread::current().id()
            }));
        }
        for h in handles {
            assert_eq!(h.await.unwrap(), me, "{core}: a tokio task left its core");
        }
        let local = tokio::task::spawn_local(async { std::thread::current().id() });
        assert_eq!(local.await.unwrap(), me);
        (core, me)
    });
    assert_eq!(results.len(), 2);
    assert_ne!(results[0].1, results[1].1, "each core has its own thread");
}

#[test]
fn a_tokio_timer_alone_wakes_a_parked_core() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let rt = rt();
    rt.block_on(async {
        // Nothing of ringcore's is pending: the core parks, and only tokio's timer (in
        // tokio's reactor) can end the park.
        let start = Instant::now();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(50) && took < Duration::from_millis(500));
    });
    assert!(rt.metrics().cores.remove(0).parks >= 1, "the core parked");
}

#[test]
fn a_ringcore_completion_wakes_a_core_parked_in_tokio() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    // A tokio task waits on a ringcore socket read (through spawn_pinned); the peer writes
    // from a std thread later, while the core sleeps in tokio's reactor: the CQE (or the
    // epoll event, on the readiness driver) must end that sleep.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer = std::thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        std::thread::sleep(Duration::from_millis(60));
        std::io::Write::write_all(&mut s, b"late").unwrap();
        s
    });
    let rt = rt();
    rt.block_on(async move {
        let start = Instant::now();
        let got = tokio::spawn(async move {
            ringcore::task::spawn_pinned(move || async move {
                let stream = ringcore::net::TcpStream::connect(addr).await?;
                let (res, buf) = stream.read(Vec::with_capacity(16)).await;
                res.map(|_| buf)
            })
            .await
            .unwrap()
            .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(got, b"late");
        let took = start.elapsed();
        assert!(took < Duration::from_secs(2), "woken late: {took:?}");
    });
    drop(peer.join().unwrap());
    // And a wake from another thread (the remote queue's eventfd, read through the ring).
    rt.block_on(async {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            tx.send(5).unwrap();
        });
        let (ring_tx, mut ring_rx) = ringcore::channel::channel(1);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            ring_tx.try_send(6).unwrap();
        });
        assert_eq!(rx.await.unwrap(), 5);
        assert_eq!(ring_rx.recv().await, Some(6));
    });
}

#[test]
fn spawn_pinned_from_a_send_task_reads_through_the_ring() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pinned.txt");
    std::fs::write(&path, b"pinned").unwrap();
    rt().block_on(async move {
        let bytes = tokio::spawn(async move {
            ringcore::task::spawn_pinned(move || async move { ringcore::fs::read(&path).await })
                .await
                .unwrap()
                .unwrap()
        })
        .await
        .unwrap();
        assert_eq!(bytes, b"pinned");
    });
}

#[test]
fn runtime_drop_with_tokio_work_in_flight_closes_every_fd() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let before = support::open_fds();
    let rt = support::two_cores();
    let started = Instant::now();
    rt.run_on_all(|_| async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // A tokio task blocked on a read, one on accept, one on a long timer; a local
        // task holding a socket; a ringcore task holding a tokio socket.
        tokio::spawn(async move {
            let mut server = server;
            let mut buf = [0u8; 8];
            let _ = server.read(&mut buf).await;
        });
        tokio::spawn(async move {
            let _ = listener.accept().await;
        });
        tokio::spawn(tokio::time::sleep(Duration::from_secs(3600)));
        let extra = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        tokio::task::spawn_local(async move {
            let _ = extra.accept().await;
        });
        ringcore::spawn(async move {
            let mut client = client;
            let mut buf = [0u8; 8];
            let _ = client.read(&mut buf).await;
        });
        tokio::task::yield_now().await;
    });
    drop(rt);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_eq!(support::open_fds(), before, "fds left open");
}

#[test]
fn without_the_context_tokio_panics_as_outside_any_runtime() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let rt = Runtime::builder().tokio_context(false).build().unwrap();
    rt.block_on(async {
        assert!(tokio::runtime::Handle::try_current().is_err());
        let panic = std::panic::catch_unwind(|| {
            drop(tokio::time::sleep(Duration::from_millis(1)));
        })
        .unwrap_err();
        let msg = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        assert!(msg.contains("no reactor running"), "{msg}");
    });
    // Outside any runtime: the same message.
    let panic = std::panic::catch_unwind(|| drop(tokio::time::sleep(Duration::from_millis(1))))
        .unwrap_err();
    let msg = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or_default();
    assert!(msg.contains("no reactor running"), "{msg}");
}

#[test]
fn the_ring_is_set_up_without_defer_taskrun() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let rt = rt();
    assert_ne!(rt.setup_mode(), Some(ringcore::SetupMode::DeferTaskrun));
    if rt.driver_kind() == ringcore::DriverKind::IoUring {
        let err = Runtime::builder()
            .setup_mode(ringcore::SetupMode::DeferTaskrun)
            .build()
            .unwrap_err();
        assert!(
            matches!(err, ringcore::BuildError::InvalidConfig(_)),
            "{err}"
        );
        // Off, the mode is allowed again (where the kernel has it).
        let _ = Runtime::builder()
            .tokio_context(false)
            .setup_mode(ringcore::SetupMode::DeferTaskrun)
            .build();
    }
}

#[test]
fn repeated_block_on_keeps_tokio_tasks() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    let rt = rt();
    let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
    // The handle itself is the output: the task runs on in the next block_on.
    #[allow(clippy::async_yields_async)]
    let handle = rt.block_on(async move { tokio::spawn(async move { rx.await.unwrap() + 1 }) });
    rt.block_on(async move {
        tx.send(1).unwrap();
        assert_eq!(handle.await.unwrap(), 2);
    });
}

#[test]
fn under_the_attribute_macro_tokio_works() {
    // Every test holds the lock: the fd count above is process-wide.
    let _fds = support::fd_lock();
    #[ringcore::main]
    async fn run() -> u32 {
        tokio::spawn(async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            3
        })
        .await
        .unwrap()
    }
    assert_eq!(run(), 3);
}

#[test]
fn a_cross_core_ping_pong_through_a_channel_never_loses_a_remote_wake() {
    // Every test holds the lock: the fd count below is process-wide.
    let _fds = support::fd_lock();
    // Each message wakes the other core, usually parked in tokio's reactor: a remote wake
    // writes its eventfd, whose read armed in the ring must be in the kernel (submitted)
    // before the core sleeps. When `Driver::look` left the read re-armed by the previous
    // wake's CQE queued, the next write completed nothing and both cores slept for good
    // (within a few hundred round trips). The runtime runs on its own thread so a hang
    // fails here instead of blocking the suite.
    const ROUND_TRIPS: u32 = 20_000;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = support::two_cores();
        let n = rt.block_on(async {
            assert!(
                tokio::runtime::Handle::try_current().is_ok(),
                "the context is on"
            );
            let (ping_tx, mut ping_rx) = ringcore::channel::channel::<u32>(1);
            let (pong_tx, mut pong_rx) = ringcore::channel::channel::<u32>(1);
            let echo = ringcore::spawn_on(ringcore::CoreId::new(1), move || async move {
                assert!(tokio::runtime::Handle::try_current().is_ok());
                while let Some(i) = ping_rx.recv().await {
                    pong_tx.send(i).await.unwrap();
                }
            });
            let mut n = 0;
            for i in 0..ROUND_TRIPS {
                ping_tx.send(i).await.unwrap();
                assert_eq!(pong_rx.recv().await, Some(i));
                n += 1;
            }
            drop(ping_tx);
            echo.await.unwrap();
            n
        });
        let _ = done_tx.send((n, rt.metrics().cores.remove(0).remote_unparks));
    });
    match done_rx.recv_timeout(Duration::from_secs(30)) {
        Ok((n, unparks)) => {
            assert_eq!(n, ROUND_TRIPS);
            eprintln!("{n} round trips, {unparks} eventfd unparks on core 0");
        }
        Err(_) => panic!("the ping-pong stopped: a remote wake was lost (both cores asleep)"),
    }
}
