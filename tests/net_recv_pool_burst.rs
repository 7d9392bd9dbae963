//! A burst on 10,000 connections at once into a small receive pool. Every connection's
//! receive stream is armed, then a client process sends 2 KiB on each connection (20 MiB
//! in all) while the server's core is blocked, so all of it meets the pool at the core's
//! next io_uring_enter. The pool holds 64 buffers of
//! 4 KiB and may grow to 256 (1 MiB). It runs dry (`ENOBUFS`), doubles to its cap, and then
//! serves the rest through the bounded plain fallbacks (at most 64 receives of 16 KiB in
//! flight) while the other streams park.
//!
//! The server holds every item until every connection has its 2 KiB, so the pool stays
//! empty at its cap whatever pace the kernel runs the receives at (6.13 and later run at
//! most 20 deferred completions per io_uring_enter, which alone would let a reader that
//! drops its items keep up with a 1 MiB pool). Streams must still get on, through the
//! fallbacks: a fallback never waits for the user to give pool buffers back.
//!
//! Every byte must arrive, in order, on its own connection, and every pool buffer must come
//! back. A second burst on the same streams must be served from the pool again.
//!
//! On a driver without provided-buffer rings (the epoll driver) the streams take their
//! plain path and only the bytes are checked.
//!
//! The clients live in a child process (this binary re-executed in the client role), so
//! each process holds 10,000 sockets and fits the usual hard RLIMIT_NOFILE of 20,000; the
//! soft limit is raised to the hard one. The test is skipped, saying so, where the hard
//! limit is below what a process needs.

mod support;

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use ringcore::Runtime;
use ringcore::net::{ListenOptions, RecvBuf, RecvStream, TcpListener};

const CONNS: usize = 10_000;
const BYTES: usize = 2048;
/// Set (to the listener's address) in the client process.
const CLIENT_ENV: &str = "RINGCORE_TEST_RECV_POOL_BURST_CLIENT";

/// Raises the soft RLIMIT_NOFILE as far as the hard one allows; false if that stays
/// below `want`.
fn raise_nofile(want: u64) -> bool {
    support::raise_nofile(want) >= want
}

/// The client role: connect `CONNS` blocking sockets, say so on stdout, then for each line
/// on stdin (the round) write `BYTES` bytes on every connection; exit at end of input.
#[test]
fn client_process() {
    let Some(addr) = std::env::var_os(CLIENT_ENV) else {
        return;
    };
    let addr: SocketAddr = addr.to_str().unwrap().parse().unwrap();
    assert!(raise_nofile(CONNS as u64 + 100), "client: RLIMIT_NOFILE");
    let clients: Vec<std::net::TcpStream> = (0..CONNS)
        .map(|_| std::net::TcpStream::connect(addr).expect("client connect"))
        .collect();
    let mut out = std::io::stdout();
    writeln!(out, "CONNECTED").unwrap();
    out.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let round: usize = line.unwrap().trim().parse().unwrap();
        for mut client in &clients {
            let port = client.local_addr().unwrap().port() as usize;
            client
                .write_all(&support::pattern(BYTES, port + round))
                .unwrap();
        }
        writeln!(out, "SENT {round}").unwrap();
        out.flush().unwrap();
    }
}

/// Reads `BYTES` bytes from `items`; returns them and the items, still held (so their
/// pool buffers stay out until the caller drops them).
async fn read_burst(items: &mut RecvStream) -> (Vec<u8>, Vec<RecvBuf>) {
    let (mut got, mut held) = (Vec::with_capacity(BYTES), Vec::new());
    while got.len() < BYTES {
        let buf = items.next().await.expect("end of stream").expect("receive");
        got.extend_from_slice(&buf);
        held.push(buf);
    }
    (got, held)
}

#[test]
fn a_burst_on_ten_thousand_connections_empties_the_pool_loses_no_byte_and_recovers() {
    if std::env::var_os(CLIENT_ENV).is_some() {
        return;
    }
    if !raise_nofile(CONNS as u64 + 1_000) {
        eprintln!(
            "skipped: the hard RLIMIT_NOFILE is below {} descriptors",
            CONNS + 1_000
        );
        return;
    }
    let rt = Rc::new(
        Runtime::builder()
            .recv_buffer_pool(64, 4096)
            .recv_buffer_pool_max(256)
            .build()
            .unwrap(),
    );
    let metrics = rt.clone();
    rt.block_on(async move {
        let opts = ListenOptions::new().backlog(CONNS as i32);
        let listener = TcpListener::bind_with("127.0.0.1:0", &opts).unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = support::LineChild::spawn("client_process", CLIENT_ENV, &addr.to_string());

        let mut incoming = listener.incoming();
        let mut streams: Vec<(usize, RecvStream)> = Vec::with_capacity(CONNS);
        while streams.len() < CONNS {
            let server = incoming.next().await.unwrap().expect("accept");
            let port = server.peer_addr().unwrap().port() as usize;
            streams.push((port, server.recv_stream()));
        }
        client.wait_for("CONNECTED");
        // Arm every receive stream before the burst: poll each once (no data yet).
        for (_, items) in streams.iter_mut() {
            let armed = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(items.poll_next_unpin(cx).is_pending())
            })
            .await;
            assert!(armed, "a stream yielded before any byte was sent");
        }
        let pool_exists = metrics.metrics().driver.recv_pool_buffers > 0;

        let mut pooled_by_round = Vec::new();
        for round in 0..2 {
            client.send(&round.to_string());
            // The core is blocked until the client has sent everything, as a busy core
            // would be: the 20 MiB wait in the sockets and meet the pool all at once.
            client.wait_for("SENT");
            // Every item is held until every connection has its 2 KiB: 20 MiB against a
            // 1 MiB pool, so the pool empties at its cap whatever the kernel's pace, and
            // the streams must get on through the fallbacks (a fallback never waits for the
            // user to give pool buffers back).
            let reads = join_all(streams.iter_mut().map(|(port, items)| async move {
                let (got, held) = read_burst(items).await;
                assert!(
                    got == support::pattern(BYTES, *port + round),
                    "connection from port {port}: bytes differ"
                );
                held
            }));
            let held = ringcore::time::timeout(Duration::from_secs(120), reads)
                .await
                .expect("the burst stalled for 120 s");
            let pooled = held.iter().flatten().filter(|b| b.is_pooled()).count();
            pooled_by_round.push(pooled);
            drop(held);
            let stats = metrics.metrics().driver;
            assert_eq!(
                stats.recv_bufs_out, 0,
                "round {round}: pool buffers still out"
            );
        }
        client.finish();
        if !pool_exists {
            eprintln!("no provided-buffer pool on this driver: only the bytes were checked");
            return;
        }
        let stats = metrics.metrics().driver;
        assert!(
            stats.recv_pool_exhausted > 0,
            "20 MiB never emptied a 1 MiB pool"
        );
        assert_eq!(
            stats.recv_pool_buffers, 256,
            "the pool did not grow to its cap"
        );
        assert!(
            stats.recv_pool_parks > 0,
            "no stream parked with 64 fallback slots for {CONNS} connections"
        );
        assert!(
            pooled_by_round.iter().all(|&p| p > 0),
            "a burst was served without the pool: {pooled_by_round:?} pooled items"
        );
    });
}
