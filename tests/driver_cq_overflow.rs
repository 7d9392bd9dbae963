//! A tiny ring (SQ 4, CQ 8) with 10,000 ops whose completions nobody reaps for a while:
//! the CQ overflows, and still every op completes exactly once and nothing hangs
//! (docs/hazards.md, H5 and H6).

mod support;

use std::rc::Rc;
use std::time::Duration;

use ringcore::Runtime;
use ringcore::fs::File;
use ringcore::net::TcpListener;

const OPS: usize = 10_000;

fn tiny_ring() -> Runtime {
    // Every op through the ring (no inline page-cache reads or sends), SQ 4 and CQ 8.
    Runtime::builder()
        .ring_entries(4)
        .inline_reads_per_tick(0)
        .build()
        .unwrap()
}

#[test]
fn sq4_cq8_with_ten_thousand_unreaped_reads_completes_every_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let data = support::make_file(&path, 1 << 20, 21);
    let rt = tiny_ring();
    let before = rt.metrics().cores.remove(0).driver;
    rt.block_on(async {
        let f = Rc::new(File::open(&path).await.unwrap());
        // One task pushes all 10,000 reads without awaiting any, so their CQEs pile up far
        // beyond the CQ's 8 entries before anything polls them.
        let mut pending = Vec::with_capacity(OPS);
        for i in 0..OPS {
            let off = (i * 4096 + i % 509) % ((1 << 20) - 600);
            let fut = Box::pin(f.read_at(Vec::with_capacity(600), off as u64));
            match support::poll_once(fut).await {
                Ok(done) => pending.push((off, Ok(done))),
                Err(fut) => pending.push((off, Err(fut))),
            }
        }
        let check = async {
            for (off, op) in pending {
                let (res, buf) = match op {
                    Ok(done) => done,
                    Err(fut) => fut.await,
                };
                assert_eq!(res.unwrap(), 600);
                assert!(
                    buf[..] == data[off..off + 600],
                    "read at {off} returned wrong bytes"
                );
            }
        };
        ringcore::time::timeout(Duration::from_secs(60), check)
            .await
            .expect("hang: ops never completed after the CQ overflowed");
    });
    let after = rt.metrics().cores.remove(0);
    let submitted = after.driver.ops_submitted - before.ops_submitted;
    let completed = after.driver.ops_completed - before.ops_completed;
    assert!(submitted >= OPS as u64, "{after:?}");
    assert_eq!(submitted, completed, "{after:?}");
    assert!(after.driver.sq_full_flushes > 0);
    assert_eq!(after.ops_in_flight, 0);
}

/// 2,500 receives wait on a ring whose CQ holds 8; another thread then makes all of them
/// ready while the core is busy, so their completions arrive in one burst that overflows
/// the CQ (the kernel keeps the excess on its overflow list, NODROP). Four rounds: 10,000
/// receives, each completing exactly once with the right byte.
#[test]
fn sq4_cq8_with_bursts_of_2500_completions_loses_none_and_does_not_hang() {
    const CONNS: usize = 2_500;
    const ROUNDS: usize = 4;
    support::raise_nofile(3 * CONNS as u64 + 256);
    let rt = tiny_ring();
    let before = rt.metrics().cores.remove(0).driver;
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut peers = Vec::new();
        let mut ours = Vec::new();
        for _ in 0..CONNS {
            peers.push(std::net::TcpStream::connect(addr).unwrap());
            ours.push(listener.accept().await.unwrap().0);
        }
        let received = Rc::new(std::cell::Cell::new(0usize));
        let readers: Vec<_> = ours
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let received = received.clone();
                ringcore::spawn(async move {
                    for round in 0..ROUNDS {
                        let (res, buf) = s.read(Vec::with_capacity(1)).await;
                        assert_eq!(res.unwrap(), 1, "connection {i} round {round}");
                        assert_eq!(buf[0], (i + round) as u8, "connection {i} round {round}");
                        received.set(received.get() + 1);
                    }
                })
            })
            .collect();
        // Let every reader submit its first receive.
        support::settle().await;
        let (go_tx, go_rx) = std::sync::mpsc::channel::<usize>();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let writer = std::thread::spawn(move || {
            while let Ok(round) = go_rx.recv() {
                for (i, p) in peers.iter_mut().enumerate() {
                    std::io::Write::write_all(p, &[(i + round) as u8]).unwrap();
                }
                done_tx.send(()).unwrap();
            }
        });
        for round in 0..ROUNDS {
            go_tx.send(round).unwrap();
            // Block the core while every receive becomes ready: the CQEs pile up.
            done_rx.recv().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            let target = (round + 1) * CONNS;
            let wait = async {
                while received.get() < target {
                    ringcore::yield_now().await;
                }
            };
            ringcore::time::timeout(Duration::from_secs(60), wait)
                .await
                .unwrap_or_else(|_| panic!("hang: {} of {target} receives", received.get()));
        }
        drop(go_tx);
        for r in readers {
            r.await.unwrap();
        }
        writer.join().unwrap();
    });
    let after = rt.metrics().cores.remove(0);
    let submitted = after.driver.ops_submitted - before.ops_submitted;
    let completed = after.driver.ops_completed - before.ops_completed;
    // On io_uring every receive is an op (the CQ overflowed with them); on the epoll
    // driver a socket receive waits for readiness without one, and only the count of
    // bytes received above says nothing was lost.
    if after.driver_kind == ringcore::DriverKind::IoUring {
        assert!(submitted >= (CONNS * ROUNDS) as u64, "{after:?}");
    }
    assert_eq!(submitted, completed, "{after:?}");
    assert_eq!(after.ops_in_flight, 0);
}
