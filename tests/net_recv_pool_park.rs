//! Receive streams parked on a tiny pool must all finish (issue 26, fault 2). The pool holds
//! 4 buffers of 4 KiB and may grow to 8 (32 KiB), so it has 2 fallback slots of 16 KiB;
//! 2,000 connections each receive 16 KiB and then end of stream, and each reader holds its
//! latest item until the next one arrives. The pool empties at its cap at once, most
//! streams park, and each must be woken again once buffers or slots come back.
//!
//! It broke this way: a parked stream got one wake per buffer put back or slot freed, and a
//! woken stream that reached end of stream, or took no buffer, did not pass the wake on.
//! Once the pool had refilled nothing woke the rest: hundreds to ~1,800 streams stayed
//! parked with no op in flight, every pool buffer back in the ring and both slots free.
//! Whether a run stalls depends on the kernel's timing: on Linux 6.18 (incremental pool)
//! these tests passed on that code too, so the lost wake itself is pinned down by
//! `net::streams::tests::a_woken_stream_that_meets_end_of_stream_passes_its_wake_on` and
//! the model test in `driver::bufring`. A stall here fails its 60 s timeout, saying how
//! many connections finished, rather than hanging.
//!
//! The readers run three ways: one stream per connection, a new stream per item (the old
//! one dropped while its item is still held), and items dropped as they arrive. On a driver
//! without provided-buffer rings (the epoll driver) the streams take their plain path and
//! only the bytes are checked.
//!
//! The clients live in a child process (this binary re-executed in the client role); the
//! test is skipped, saying so, where RLIMIT_NOFILE cannot be raised far enough.

mod support;

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures_util::StreamExt;
use futures_util::future::join_all;
use ringcore::Runtime;
use ringcore::net::{RecvBuf, RecvStream, TcpListener, TcpStream};

const CONNS: usize = 2_000;
const BYTES: usize = 16 * 1024;
/// Set (to the listener's address) in the client process.
const CLIENT_ENV: &str = "RINGCORE_TEST_RECV_POOL_PARK_CLIENT";

/// The client role: connect `CONNS` blocking sockets, say so on stdout, wait for a line on
/// stdin, then write `BYTES` bytes on every connection and shut its writing side down;
/// exit at end of input.
#[test]
fn client_process() {
    let Some(addr) = std::env::var_os(CLIENT_ENV) else {
        return;
    };
    let addr: SocketAddr = addr.to_str().unwrap().parse().unwrap();
    assert!(
        support::raise_nofile(CONNS as u64 + 100) >= CONNS as u64 + 100,
        "client: RLIMIT_NOFILE"
    );
    let clients: Vec<std::net::TcpStream> = (0..CONNS)
        .map(|_| std::net::TcpStream::connect(addr).expect("client connect"))
        .collect();
    let mut out = std::io::stdout();
    writeln!(out, "CONNECTED").unwrap();
    out.flush().unwrap();
    let mut lines = std::io::stdin().lock().lines();
    lines.next();
    for mut client in &clients {
        let port = client.local_addr().unwrap().port() as usize;
        client.write_all(&support::pattern(BYTES, port)).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
    }
    writeln!(out, "SENT").unwrap();
    out.flush().unwrap();
    for _ in lines {}
}

/// How a reader treats its stream and items.
#[derive(Clone, Copy)]
enum Reader {
    /// One stream per connection; the latest item is held until the next arrives.
    HoldsItems,
    /// A new stream per item, the old one dropped while its item is still held.
    RemakesStreams,
    /// One stream per connection; each item is dropped as it arrives.
    DropsItems,
}

/// Reads `server` to its end through `items` (its armed receive stream) as `how` says;
/// returns its bytes.
async fn read_to_end(server: &TcpStream, mut items: RecvStream, how: Reader) -> Vec<u8> {
    let mut got = Vec::with_capacity(BYTES);
    let mut held: Option<RecvBuf> = None;
    while let Some(buf) = items.next().await {
        let buf = buf.expect("receive");
        got.extend_from_slice(&buf);
        match how {
            Reader::HoldsItems => held = Some(buf),
            Reader::RemakesStreams => {
                held = Some(buf);
                items = server.recv_stream();
            }
            Reader::DropsItems => drop(buf),
        }
    }
    drop(held);
    got
}

/// Serves `CONNS` connections of `BYTES` bytes each on a pool of 4 buffers of 4 KiB growing
/// to 8; fails if they are not all read to their end within 60 s.
fn all_finish(how: Reader) {
    if std::env::var_os(CLIENT_ENV).is_some() {
        return;
    }
    // The tests of this binary run one at a time: each holds `CONNS` sockets and a client.
    let _serial = support::fd_lock();
    let want = CONNS as u64 + 500;
    if support::raise_nofile(want) < want {
        eprintln!("skipped: the hard RLIMIT_NOFILE is below {want} descriptors");
        return;
    }
    let rt = Rc::new(
        Runtime::builder()
            .recv_buffer_pool(4, 4096)
            .recv_buffer_pool_max(8)
            .build()
            .unwrap(),
    );
    let metrics = rt.clone();
    rt.block_on(async move {
        let listener = TcpListener::bind_with(
            "127.0.0.1:0",
            &ringcore::net::ListenOptions::new().backlog(CONNS as i32),
        )
        .unwrap();
        let addr = listener.local_addr().unwrap();
        let mut client = support::LineChild::spawn("client_process", CLIENT_ENV, &addr.to_string());
        let mut servers = Vec::with_capacity(CONNS);
        let mut incoming = listener.incoming();
        while servers.len() < CONNS {
            let server = incoming.next().await.unwrap().expect("accept");
            let port = server.peer_addr().unwrap().port() as usize;
            servers.push((port, server));
        }
        client.wait_for("CONNECTED");
        // Arm every receive stream before the bytes are sent: poll each once (no data yet).
        let mut streams = Vec::with_capacity(CONNS);
        for (_, server) in &servers {
            let mut items = server.recv_stream();
            let armed = std::future::poll_fn(|cx| {
                std::task::Poll::Ready(items.poll_next_unpin(cx).is_pending())
            })
            .await;
            assert!(armed, "a stream yielded before any byte was sent");
            streams.push(items);
        }
        // The core is blocked until the client has sent everything, as a busy core would
        // be: the 32 MiB wait in the sockets and meet the 32 KiB pool all at once.
        client.send("go");
        client.wait_for("SENT");

        let finished = Rc::new(std::cell::Cell::new(0usize));
        let readers: Vec<_> = servers
            .into_iter()
            .zip(streams)
            .map(|((port, server), items)| {
                let finished = finished.clone();
                ringcore::spawn(async move {
                    let got = read_to_end(&server, items, how).await;
                    assert!(
                        got == support::pattern(BYTES, port),
                        "connection from port {port}: {} bytes, or bytes that differ",
                        got.len()
                    );
                    finished.set(finished.get() + 1);
                })
            })
            .collect();
        let reads = join_all(readers);
        if ringcore::time::timeout(Duration::from_secs(60), reads)
            .await
            .is_err()
        {
            let stats = metrics.metrics();
            panic!(
                "parked receive streams stalled: {} of {CONNS} connections read to their \
                 end in 60 s ({} ops in flight, {} pool buffers out, {} parks)",
                finished.get(),
                stats.ops_in_flight,
                stats.driver.recv_bufs_out,
                stats.driver.recv_pool_parks,
            );
        }
        client.finish();
        let stats = metrics.metrics().driver;
        assert_eq!(stats.recv_bufs_out, 0, "pool buffers still out");
        if stats.recv_pool_buffers == 0 {
            eprintln!("no provided-buffer pool on this driver: only the bytes were checked");
        }
    });
}

#[test]
fn parked_streams_with_held_items_on_a_tiny_pool_all_finish() {
    all_finish(Reader::HoldsItems);
}

#[test]
fn parked_streams_remade_after_each_item_on_a_tiny_pool_all_finish() {
    all_finish(Reader::RemakesStreams);
}

#[test]
fn parked_streams_dropping_items_at_once_on_a_tiny_pool_all_finish() {
    all_finish(Reader::DropsItems);
}
