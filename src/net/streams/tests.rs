//! Receive and accept streams over real loopback sockets: the multishot paths, `ENOBUFS`
//! under a burst, dropped streams (every pool buffer returned, no byte lost), and the plain
//! paths forced with `Driver::override_features`.

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;

use crate::net::{TcpListener, TcpStream, UnixStream};
use crate::runtime::context;

/// Bytes `0, 1, 2, ...` (mod 251), so a lost, duplicated or reordered chunk shows.
fn pattern(len: usize, seed: usize) -> Vec<u8> {
    (0..len).map(|i| ((i + seed) % 251) as u8).collect()
}

async fn pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = TcpStream::connect(addr).await.unwrap();
    let (server, _) = listener.accept().await.unwrap();
    (client, server)
}

fn features_without_fast_paths() -> crate::sys::uring::Features {
    let mut f = context::driver().features();
    f.buf_ring = false;
    f.accept_multishot = false;
    f.send_zc = false;
    f
}

/// Reads `stream` through a receive stream to its end; returns the bytes and how many
/// items came from the pool.
async fn drain(stream: &TcpStream) -> (Vec<u8>, usize) {
    let mut items = stream.recv_stream();
    let (mut got, mut pooled) = (Vec::new(), 0);
    while let Some(buf) = items.next().await {
        let buf = buf.unwrap();
        assert!(!buf.is_empty());
        pooled += usize::from(buf.is_pooled());
        got.extend_from_slice(&buf);
    }
    (got, pooled)
}

#[test]
fn multishot_receive_stream_round_trips_every_byte_in_order() {
    crate::block_on(async {
        let driver = context::driver();
        let (client, server) = pair().await;
        let data = pattern(1 << 20, 7);
        let sent = data.clone();
        let writer = crate::spawn(async move {
            for chunk in sent.chunks(10_000) {
                let (res, _) = client.write_all(chunk.to_vec()).await;
                res.unwrap();
            }
        });
        let (got, pooled) = drain(&server).await;
        writer.await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes differ");
        if driver.features().buf_ring {
            assert!(pooled > 0, "no item came from the buffer pool");
            let pool = driver.recv_pool().unwrap();
            assert_eq!(
                pool.out(),
                0,
                "pool buffers still out after the stream ended"
            );
        }
    });
}

#[test]
fn unix_receive_stream_echoes_pooled_buffers_back() {
    crate::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let data = pattern(200_000, 3);
        let sent = data.clone();
        let echo = crate::spawn(async move {
            let mut items = b.recv_stream();
            while let Some(buf) = items.next().await {
                // A pooled buffer is an IoBuf: written back without a copy.
                let (res, _) = b.write_all(buf.unwrap()).await;
                res.unwrap();
            }
        });
        let a = std::rc::Rc::new(a);
        let w = a.clone();
        let writer = crate::spawn(async move {
            let (res, _) = w.write_all(sent).await;
            res.unwrap();
        });
        let mut got = Vec::new();
        while got.len() < data.len() {
            let (res, buf) = a.read(Vec::with_capacity(65536)).await;
            assert!(res.unwrap() > 0);
            got.extend_from_slice(&buf);
        }
        writer.await.unwrap();
        assert!(got == data, "echoed bytes differ");
        a.shutdown(std::net::Shutdown::Write).unwrap();
        echo.await.unwrap();
    });
}

/// What a burst on many connections did to a small pool: the pool's `exhausted()` count,
/// its buffers at the end, items taken from the pool during the burst and plainly.
struct Burst {
    exhausted: u64,
    parks: u64,
    buffers: u16,
    pooled: usize,
    plain: usize,
}

/// 32 connections each arm a receive stream, stop consuming while 64 KiB arrive on each
/// (2 MiB in all) into a pool of 8 buffers of 1 KiB that may grow to `max_buffers`, then
/// read everything, holding every item until the connection's 64 KiB are in (so pool
/// buffers stay out and the pool stays empty), check it byte for byte, and read 100 bytes
/// more (recovery: each connection must take pool buffers again). `None` on a kernel
/// without provided-buffer rings.
fn burst_on_many_connections(max_buffers: u16) -> Option<Burst> {
    let rt = crate::Runtime::builder()
        .recv_buffer_pool(8, 1024)
        .recv_buffer_pool_max(max_buffers)
        .build()
        .unwrap();
    rt.block_on(async {
        let driver = context::driver();
        if !driver.features().buf_ring {
            return None;
        }
        const CONNS: usize = 32;
        const BYTES: usize = 64 * 1024;
        // Every connection starts reading in the same tick, once all bursts are in: with
        // timers each, the reads could start a tick apart, and each stream could find the
        // fallback slot free again, never parking.
        let written = Rc::new(Cell::new(0));
        let go = Rc::new(crate::sync::Event::new());
        let mut tasks = Vec::new();
        for c in 0..CONNS {
            let (client, server) = pair().await;
            let (written, go) = (written.clone(), go.clone());
            tasks.push(crate::spawn(async move {
                let mut items = server.recv_stream();
                // Arm the multishot receive, then stop consuming while the burst arrives.
                let mut got = Vec::new();
                std::future::poll_fn(|cx| {
                    if let std::task::Poll::Ready(Some(buf)) = items.poll_next_unpin(cx) {
                        got.extend_from_slice(&buf.unwrap());
                    }
                    std::task::Poll::Ready(())
                })
                .await;
                let (res, _) = client.write_all(pattern(BYTES, c)).await;
                res.unwrap();
                written.set(written.get() + 1);
                go.wait().await;
                let (mut pooled, mut plain, mut held) = (0, 0, Vec::new());
                while got.len() < BYTES {
                    let buf = items.next().await.unwrap().unwrap();
                    if buf.is_pooled() {
                        pooled += 1;
                    } else {
                        plain += 1;
                    }
                    got.extend_from_slice(&buf);
                    held.push(buf);
                }
                assert!(got == pattern(BYTES, c), "connection {c}: bytes differ");
                drop(held);
                (client, items, pooled, plain)
            }));
        }
        while written.get() < CONNS {
            crate::time::sleep(Duration::from_millis(1)).await;
        }
        // Let the last bytes land in the pool and the ENOBUFS completions be reaped.
        crate::time::sleep(Duration::from_millis(100)).await;
        go.set();
        let (mut pooled, mut plain, mut streams) = (0, 0, Vec::new());
        for t in tasks {
            // A lost wake-up of a parked stream would hang here.
            let (client, items, p, q) = crate::time::timeout(Duration::from_secs(30), t)
                .await
                .expect("a connection's burst stalled for 30 s")
                .unwrap();
            streams.push((client, items));
            pooled += p;
            plain += q;
        }
        let pool = driver.recv_pool().unwrap();
        assert_eq!(pool.out(), 0, "pool buffers still out after the burst");
        // Recovery: with every buffer back, each stream takes pool buffers again.
        for (c, (client, items)) in streams.iter_mut().enumerate() {
            let (res, _) = client.write_all(pattern(100, c)).await;
            res.unwrap();
            let mut tail = Vec::new();
            let mut pooled_after = false;
            while tail.len() < 100 {
                let buf = items.next().await.unwrap().unwrap();
                pooled_after |= buf.is_pooled();
                tail.extend_from_slice(&buf);
            }
            assert_eq!(tail, pattern(100, c));
            assert!(
                pooled_after,
                "connection {c}: no pool buffer after the burst"
            );
        }
        assert_eq!(pool.out(), 0, "pool buffers still out after recovery");
        Some(Burst {
            exhausted: pool.exhausted(),
            parks: pool.parks(),
            buffers: pool.buffers(),
            pooled,
            plain,
        })
    })
}

/// 16 connections each receive 100 bytes into a pool of 32 buffers of 16 KiB, holding every
/// item; returns how many distinct pool buffers the 16 items sit in (after checking each
/// item's bytes and that every buffer comes back), twice over the same streams.
fn small_receives_on_many_connections(incremental: bool) -> Option<Vec<usize>> {
    let rt = crate::Runtime::builder()
        .recv_buffer_pool(32, 16 * 1024)
        .recv_buffer_pool_max(32)
        .build()
        .unwrap();
    rt.block_on(async {
        let driver = context::driver();
        let mut features = driver.features();
        if !features.buf_ring || (incremental && !features.buf_ring_inc) {
            return None;
        }
        features.buf_ring_inc = incremental;
        driver.override_features(features);
        let pool = driver.recv_pool().unwrap();
        assert_eq!(pool.is_incremental(), incremental);
        let mut conns = Vec::new();
        for _ in 0..16 {
            let (client, server) = pair().await;
            conns.push((client, server.recv_stream()));
        }
        let mut distinct = Vec::new();
        for round in 0..2 {
            let (mut held, mut bufs) = (Vec::new(), Vec::new());
            for (c, (client, items)) in conns.iter_mut().enumerate() {
                let (res, _) = client.write_all(pattern(100, c + round)).await;
                res.unwrap();
                let buf = items.next().await.unwrap().unwrap();
                assert_eq!(&buf[..], &pattern(100, c + round)[..], "connection {c}");
                held.push(buf.pool_place().expect("a pooled item"));
                bufs.push(buf);
            }
            let mut bids: Vec<u16> = held.iter().map(|p| p.0).collect();
            bids.sort_unstable();
            bids.dedup();
            distinct.push(bids.len());
            drop(bufs);
            assert_eq!(pool.out(), 0, "round {round}: buffers not returned");
        }
        Some(distinct)
    })
}

#[test]
fn small_receives_share_buffers_in_an_incremental_pool_and_take_one_each_without_it() {
    if let Some(distinct) = small_receives_on_many_connections(true) {
        // 16 x 100 bytes fit in one 16 KiB buffer; the kernel may move to a new buffer
        // between receives, but not for each.
        assert!(
            distinct.iter().all(|&d| d < 16),
            "incremental pool: 16 receives took {distinct:?} distinct buffers"
        );
    }
    if let Some(distinct) = small_receives_on_many_connections(false) {
        assert_eq!(distinct, [16, 16], "whole-buffer pool: buffers shared");
    }
}

#[test]
fn a_burst_on_a_pool_at_its_cap_hits_enobufs_falls_back_or_parks_loses_nothing_and_recovers() {
    let Some(b) = burst_on_many_connections(8) else {
        return;
    };
    assert!(b.exhausted > 0, "the burst never emptied the pool");
    assert_eq!(b.buffers, 8, "a pool at its cap grew");
    assert!(
        b.plain > 0,
        "an empty pool at its cap gave no plain receive"
    );
    // One fallback slot (8 KiB of pool, 16 KiB receives) for 32 connections: the rest park
    // and are woken as slots and buffers come back (a lost wake-up hangs the test).
    assert!(b.parks > 0, "no stream parked on the empty pool");
}

/// Two streams park on a pool empty at its cap with its fallback slot taken: the first
/// has only its peer's shutdown waiting, the second one byte. One buffer comes back and
/// wakes the first, which re-arms and meets end of stream. That wake stood for the buffer,
/// and the buffer is still in the ring: the second stream must be woken for it. It broke
/// so (issue 26, fault 2): the first stream took the only wake to its end, the second
/// stayed parked for good. `None` on a kernel without provided-buffer rings.
fn a_woken_stream_at_end_of_stream() -> Option<()> {
    let rt = crate::Runtime::builder()
        .recv_buffer_pool(8, 1024)
        .recv_buffer_pool_max(8)
        .build()
        .unwrap();
    rt.block_on(async {
        let driver = context::driver();
        let mut features = driver.features();
        if !features.buf_ring {
            return None;
        }
        // Whole buffers per receive, so 8 KiB empty the pool exactly (the wake rule does
        // not depend on incremental consumption).
        features.buf_ring_inc = false;
        driver.override_features(features);
        let pool = driver.recv_pool().unwrap();
        // Every fallback slot (one: 8 KiB of pool, 16 KiB receives) is held here, so
        // streams at the empty pool park.
        let slots: Vec<_> = std::iter::from_fn(|| pool.try_fallback()).collect();
        assert_eq!(slots.len(), 1);
        // Empty the pool: one connection's 8 KiB, every item held.
        let (c0, s0) = pair().await;
        let (res, _) = c0.write_all(pattern(8 * 1024, 0)).await;
        res.unwrap();
        let mut items0 = s0.recv_stream();
        let (mut got, mut held) = (Vec::new(), Vec::new());
        while got.len() < 8 * 1024 {
            let buf = items0.next().await.unwrap().unwrap();
            got.extend_from_slice(&buf);
            held.push(buf);
        }
        assert_eq!(pool.available(), 0);
        let (ca, sa) = pair().await;
        ca.shutdown(std::net::Shutdown::Write).unwrap();
        let (cb, sb) = pair().await;
        let (res, _) = cb.write_all(vec![7]).await;
        res.unwrap();
        let a = crate::spawn(async move { sa.recv_stream().next().await.is_none() });
        let b = crate::spawn(async move {
            let buf = sb.recv_stream().next().await.unwrap().unwrap();
            buf.to_vec()
        });
        for _ in 0..1000 {
            if pool.parked() == 2 {
                break;
            }
            crate::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(pool.parked(), 2, "the two streams did not park");
        // One buffer back: the first stream is woken, re-arms and meets end of stream.
        drop(held.pop());
        let a = crate::time::timeout(Duration::from_secs(5), a).await;
        assert!(a.expect("the first stream stalled").unwrap());
        let b = crate::time::timeout(Duration::from_secs(5), b)
            .await
            .expect("the second stream stayed parked with a buffer in the ring")
            .unwrap();
        assert_eq!(b, [7]);
        drop((held, items0, c0, ca, cb, slots));
        Some(())
    })
}

#[test]
fn a_woken_stream_that_meets_end_of_stream_passes_its_wake_on() {
    if a_woken_stream_at_end_of_stream().is_none() {
        eprintln!("skipped: no provided-buffer rings");
    }
}

#[test]
fn a_burst_on_a_pool_below_its_cap_doubles_it_instead_of_falling_back() {
    // 4096 buffers of 1 KiB hold the whole 2 MiB burst.
    let Some(b) = burst_on_many_connections(4096) else {
        return;
    };
    assert!(
        b.exhausted > 0,
        "the burst never emptied the first 8 buffers"
    );
    assert!(
        b.buffers > 8 && b.buffers <= 4096 && b.buffers.is_power_of_two(),
        "the pool did not double: {} buffers",
        b.buffers
    );
    assert_eq!(
        b.plain, 0,
        "a pool that could grow fell back to plain receives ({} pooled)",
        b.pooled
    );
}

#[test]
fn a_stream_dropped_mid_stream_returns_every_buffer_and_the_next_read_gets_the_rest() {
    crate::block_on(async {
        let driver = context::driver();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let mut late_seen = 0;
        for round in 0..20 {
            let total = 256 * 1024;
            let sender = std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                // Small writes over a few milliseconds, so CQEs keep arriving while the
                // stream is dropped.
                for chunk in pattern(total, round).chunks(2048) {
                    s.write_all(chunk).unwrap();
                    std::thread::sleep(Duration::from_micros(50));
                }
            });
            let (std_server, _) = listener.accept().unwrap();
            let server = TcpStream::from_std(std_server);
            let mut got = Vec::new();
            {
                let mut items = server.recv_stream();
                for _ in 0..(3 + round % 5) {
                    match items.next().await {
                        Some(buf) => got.extend_from_slice(&buf.unwrap()),
                        None => break,
                    }
                }
                // Let CQEs queue up in the slot, then drop with the receive armed.
                crate::time::sleep(Duration::from_micros(300)).await;
            }
            let stash = server.sock.stash();
            if stash.orphans() > 0 || !stash.is_empty() {
                late_seen += 1;
            }
            loop {
                let (res, buf) = server.read(Vec::with_capacity(8192)).await;
                if res.unwrap() == 0 {
                    break;
                }
                got.extend_from_slice(&buf);
            }
            sender.join().unwrap();
            assert_eq!(got.len(), total, "round {round}: bytes lost or duplicated");
            assert!(got == pattern(total, round), "round {round}: bytes differ");
            if let Some(pool) = driver.recv_pool() {
                assert_eq!(pool.out(), 0, "round {round}: pool buffers not returned");
            }
        }
        if driver.features().buf_ring {
            assert!(late_seen > 0, "no dropped stream left bytes in the stash");
        }
    });
}

#[test]
fn multishot_accept_takes_many_connects_and_a_dropped_stream_leaks_none() {
    crate::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        const N: usize = 500;
        let clients = std::thread::spawn(move || {
            let mut conns = Vec::new();
            for i in 0..N {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                s.write_all(&(i as u32).to_le_bytes()).unwrap();
                conns.push(s);
            }
            conns
        });
        let mut seen = vec![false; N];
        let mut accepted = 0;
        {
            let mut incoming = listener.incoming();
            while accepted < N / 2 {
                let stream = incoming.next().await.unwrap().unwrap();
                let (res, buf) = stream.read(Vec::with_capacity(4)).await;
                assert_eq!(res.unwrap(), 4);
                let i = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
                assert!(!seen[i], "connection {i} accepted twice");
                seen[i] = true;
                accepted += 1;
            }
        }
        // The rest through plain accepts: connections the dropped stream's late CQEs
        // accepted come from the stash, the others from the kernel's queue.
        while accepted < N {
            let (stream, peer) = listener.accept().await.unwrap();
            assert_eq!(peer, stream.peer_addr().unwrap());
            let (res, buf) = stream.read(Vec::with_capacity(4)).await;
            assert_eq!(res.unwrap(), 4);
            let i = u32::from_le_bytes(buf[..4].try_into().unwrap()) as usize;
            assert!(!seen[i], "connection {i} accepted twice");
            seen[i] = true;
            accepted += 1;
        }
        let mut conns = clients.join().unwrap();
        assert!(seen.iter().all(|s| *s));
        // Every server side was dropped (closed): each client sees end of stream.
        for c in &mut conns {
            let mut b = [0u8; 1];
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            assert_eq!(c.read(&mut b).unwrap(), 0);
        }
    });
}

#[test]
fn forced_plain_paths_deliver_the_same_bytes_and_connections() {
    crate::block_on(async {
        let driver = context::driver();
        let probed = driver.features();
        driver.override_features(features_without_fast_paths());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let before = driver.stats().ops_submitted;
        let client = crate::spawn(async move {
            let s = TcpStream::connect(addr).await.unwrap();
            let (res, _) = s.write_all(pattern(100_000, 1)).await;
            res.unwrap();
        });
        let mut incoming = listener.incoming();
        let server = incoming.next().await.unwrap().unwrap();
        let (got, pooled) = drain(&server).await;
        client.await.unwrap();
        assert_eq!(pooled, 0, "the plain path used the pool");
        assert!(got == pattern(100_000, 1));
        // One op per item on the plain path: more SQEs than the two multishot ones.
        assert!(driver.stats().ops_submitted - before > 3);
        driver.override_features(probed);
    });
}

#[test]
fn zero_copy_sends_deliver_every_byte_and_the_plain_path_is_taken_without_the_feature() {
    let rt = crate::Runtime::builder()
        .send_zerocopy_from(Some(16 * 1024))
        .build()
        .unwrap();
    rt.block_on(async {
        let driver = context::driver();
        for forced_plain in [false, true] {
            let probed = driver.features();
            if forced_plain {
                driver.override_features(features_without_fast_paths());
            }
            let before = driver.stats().zerocopy_sends;
            let (client, server) = pair().await;
            let data = pattern(4 << 20, 5);
            let sent = data.clone();
            let writer = crate::spawn(async move {
                // 256 KiB writes (zero-copy), then small ones (below the threshold).
                for chunk in sent.chunks(256 * 1024) {
                    let (res, buf) = client.write_all(chunk.to_vec()).await;
                    res.unwrap();
                    assert_eq!(buf.len(), chunk.len(), "the buffer came back changed");
                }
                let (res, _) = client.write_all(vec![7u8; 100]).await;
                res.unwrap();
            });
            let mut got = Vec::new();
            while got.len() < data.len() + 100 {
                let (res, buf) = server.read(Vec::with_capacity(65536)).await;
                assert!(res.unwrap() > 0);
                got.extend_from_slice(&buf);
            }
            writer.await.unwrap();
            assert!(got[..data.len()] == data[..] && got[data.len()..] == [7u8; 100]);
            let zc = driver.stats().zerocopy_sends - before;
            if forced_plain || !probed.send_zc {
                assert_eq!(zc, 0, "SEND_ZC used without the feature");
            } else {
                assert!(
                    zc >= 16,
                    "only {zc} zero-copy sends for 16 writes of 256 KiB"
                );
            }
            driver.override_features(probed);
        }
    });
}

#[test]
fn a_sqpoll_ring_runs_streams_and_plain_ops_and_without_it_the_ring_has_no_sq_thread() {
    if std::env::var(crate::DRIVER_ENV).is_ok_and(|v| v.eq_ignore_ascii_case("epoll")) {
        eprintln!("skipped on the epoll driver: SQPOLL is an io_uring setup flag");
        return;
    }
    for sqpoll in [true, false] {
        let mut builder = crate::Runtime::builder();
        if sqpoll {
            builder = builder.sqpoll(Duration::from_millis(2));
        }
        let rt = builder.build().unwrap();
        rt.block_on(async {
            let driver = context::driver();
            // This kernel (6.18) grants SQPOLL to unprivileged rings.
            assert_eq!(driver.features().sqpoll, sqpoll);
            let (client, server) = pair().await;
            let data = pattern(1 << 20, 9);
            let sent = data.clone();
            let writer = crate::spawn(async move {
                for chunk in sent.chunks(3000) {
                    let (res, _) = client.write_all(chunk.to_vec()).await;
                    res.unwrap();
                }
            });
            let (got, _) = drain(&server).await;
            writer.await.unwrap();
            assert!(got == data, "bytes differ with sqpoll = {sqpoll}");
            // Idle past the SQ thread's sleep, then submit again: it is woken.
            crate::time::sleep(Duration::from_millis(20)).await;
            let (a, b) = pair().await;
            let (res, _) = a.write_all(b"after idle".to_vec()).await;
            res.unwrap();
            let (res, buf) = b.read(Vec::with_capacity(64)).await;
            assert_eq!(&buf[..res.unwrap()], b"after idle");
        });
    }
}

#[test]
fn a_zero_copy_write_to_a_local_peer_completes_only_once_the_peer_has_read_it() {
    // Why zero-copy sends are off by default (Builder::send_zerocopy_from): on loopback
    // the notification waits for the peer application's read.
    let rt = crate::Runtime::builder()
        .send_zerocopy_from(Some(64 * 1024))
        .build()
        .unwrap();
    rt.block_on(async {
        if !context::driver().features().send_zc {
            return;
        }
        let (a, b) = pair().await;
        let mut write = std::pin::pin!(a.write_all(pattern(256 * 1024, 2)));
        let early = crate::time::timeout(Duration::from_millis(300), &mut write).await;
        assert!(
            early.is_err(),
            "the zero-copy write finished before the peer read"
        );
        let mut got = Vec::new();
        while got.len() < 256 * 1024 {
            let (res, buf) = b.read(Vec::with_capacity(65536)).await;
            assert!(res.unwrap() > 0);
            got.extend_from_slice(&buf);
        }
        let (res, _) = crate::time::timeout(Duration::from_secs(5), write)
            .await
            .expect("the write completed after the peer read");
        res.unwrap();
        assert!(got == pattern(256 * 1024, 2));
    });
}

#[test]
fn a_runtime_dropped_with_armed_streams_drains_them_and_closes_every_socket() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut clients = Vec::new();
    let rt = crate::Runtime::new().unwrap();
    rt.block_on(async {
        for _ in 0..50 {
            let client = std::net::TcpStream::connect(addr).unwrap();
            let (server, _) = listener.accept().unwrap();
            clients.push(client);
            let server = TcpStream::from_std(server);
            crate::spawn(async move {
                let mut items = server.recv_stream();
                while items.next().await.is_some() {}
            });
        }
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        crate::spawn(async move {
            let mut incoming = l.incoming();
            while incoming.next().await.is_some() {}
        });
        // Let every task arm its multishot op.
        crate::time::sleep(Duration::from_millis(20)).await;
        assert!(context::driver().in_flight() >= 51);
    });
    let start = std::time::Instant::now();
    drop(rt);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "shutdown waited on armed streams"
    );
    for mut c in clients {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut b = [0u8; 1];
        assert_eq!(c.read(&mut b).unwrap(), 0, "a server socket was not closed");
    }
}
