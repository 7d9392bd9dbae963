//! 10,000 accepts and 10,000 opens dropped at random points of their race with the kernel
//! (before submission, while in the kernel, after the CQE but before the re-poll): no fd
//! leaks (`/proc/self/fd` back to its baseline), no op slot leaks, and every client sees
//! end-of-stream once the server drops what it accepted: a connection a dropped accept took
//! is handed to the next accept, never leaked (docs/hazards.md, H4 and H14).

mod support;

use std::rc::Rc;
use std::time::Duration;

use ringcore::Runtime;
use ringcore::fs::OpenOptions;
use ringcore::net::{ListenOptions, TcpListener, TcpStream};

/// xorshift64: deterministic drop points, so a failure reproduces.
fn next(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

async fn yields(n: u64) {
    for _ in 0..n {
        ringcore::yield_now().await;
    }
}

#[test]
fn ten_thousand_accepts_dropped_mid_race_leak_no_fd_and_every_peer_sees_eof() {
    const BATCHES: usize = 40;
    const PER_BATCH: usize = 250;
    let _serial = support::fd_lock();
    support::raise_nofile(4096);
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let opts = ListenOptions::new().backlog(4096);
        let listener = Rc::new(TcpListener::bind_with("127.0.0.1:0", &opts).unwrap());
        let addr = listener.local_addr().unwrap();
        let fds = support::open_fds();
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        for batch in 0..BATCHES {
            let mut clients = Vec::with_capacity(PER_BATCH);
            for _ in 0..PER_BATCH {
                // A connection queued by an earlier iteration may complete the accept at
                // once; the accepted stream is dropped (closed) like the rest.
                let pending = support::poll_once(Box::pin(listener.accept())).await;
                match next(&mut rng) % 4 {
                    // Dropped before its SQE reached the kernel.
                    0 => {
                        drop(pending);
                        clients.push(TcpStream::connect(addr).await.unwrap());
                    }
                    // In the kernel when the client connects; dropped at once (the
                    // kernel may or may not have accepted).
                    1 => {
                        yields(1).await;
                        clients.push(TcpStream::connect(addr).await.unwrap());
                        drop(pending);
                    }
                    // Completed in the kernel, CQE taken, future never re-polled.
                    2 => {
                        clients.push(TcpStream::connect(addr).await.unwrap());
                        yields(1 + next(&mut rng) % 4).await;
                        drop(pending);
                    }
                    _ => {
                        clients.push(TcpStream::connect(addr).await.unwrap());
                        drop(pending);
                    }
                }
            }
            // Connections still queued are accepted and closed here; every client must
            // then see end-of-stream, whichever accept took its connection.
            let l = listener.clone();
            let drain = ringcore::spawn(async move {
                loop {
                    let (s, _) = l.accept().await.unwrap();
                    drop(s);
                }
            });
            let eofs: Vec<_> = clients
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    ringcore::spawn(async move {
                        let read = c.read(Vec::with_capacity(1));
                        let (res, _) = ringcore::time::timeout(Duration::from_secs(20), read)
                            .await
                            .unwrap_or_else(|_| {
                                panic!("batch {batch} client {i}: no EOF, its fd leaked")
                            });
                        assert_eq!(res.unwrap(), 0, "batch {batch} client {i}");
                    })
                })
                .collect();
            for e in eofs {
                e.await.unwrap();
            }
            drain.abort();
            let _ = drain.await;
        }
        support::wait_until_drained(&rt).await;
        support::settle().await;
        assert_eq!(support::open_fds(), fds, "fds leaked");
    });
    assert!(rt.metrics().cores.remove(0).driver.ops_cancelled >= (BATCHES * PER_BATCH) as u64 / 2);
}

#[test]
fn ten_thousand_opens_dropped_at_random_points_leak_no_fd() {
    let _serial = support::fd_lock();
    let dir = tempfile::tempdir().unwrap();
    let fds = support::open_fds();
    let rt = Runtime::new().unwrap();
    let (mut opened, mut dropped) = (0, 0);
    rt.block_on(async {
        let mut rng = 0x2545_F491_4F6C_DD1Du64;
        for i in 0..10_000 {
            let path = dir.path().join(format!("f{}", i % 16));
            let mut opts = OpenOptions::new();
            opts.write(true).create(true);
            let open = Box::pin(opts.open(path));
            match support::poll_once(open).await {
                Ok(file) => {
                    drop(file.unwrap());
                    opened += 1;
                }
                Err(pending) => {
                    dropped += 1;
                    // Before submission, in the worker thread, or completed but unpolled.
                    match next(&mut rng) % 3 {
                        0 => drop(pending),
                        1 => {
                            yields(1).await;
                            drop(pending);
                        }
                        _ => {
                            ringcore::time::sleep(Duration::from_micros(50)).await;
                            drop(pending);
                        }
                    }
                }
            }
        }
        support::wait_until_drained(&rt).await;
    });
    assert!(dropped > 9_000, "opened {opened}, dropped {dropped}");
    drop(rt);
    assert_eq!(support::open_fds(), fds, "an fd of a dropped open leaked");
}
