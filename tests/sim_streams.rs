//! io_uring's network fast paths under simulation (feature `sim`): `TcpListener::incoming()`
//! on a multishot accept and `TcpStream::recv_stream()` on a multishot receive into the
//! core's provided-buffer pool, with the kernel's semantics (buffers named by CQEs,
//! `ENOBUFS` when the pool is empty, the end of a stream at end of file, reset or cancel),
//! replayed by seed.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::Duration;

use ringcore::net::{RecvBuf, TcpListener, TcpStream};
use ringcore::sim::Sim;
use ringcore::stream::StreamExt;

/// The current core's receive-pool counters: (buffers, times exhausted, buffers out).
fn pool_stats() -> (u64, u64, u64) {
    let d = ringcore::debug::metrics().unwrap().driver;
    (d.recv_pool_buffers, d.recv_pool_exhausted, d.recv_bufs_out)
}

/// Reads exactly `n` bytes with plain reads.
async fn read_n(stream: &TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < n {
        let (res, buf) = stream.read(Vec::with_capacity(n - out.len())).await;
        if res? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        out.extend_from_slice(&buf);
    }
    Ok(out)
}

/// An echo server on port 7 over `incoming()` and `recv_stream()`; counts the pooled
/// buffers it saw.
async fn pooled_echo_server(pooled: Rc<Cell<u64>>) {
    let listener = TcpListener::bind("0.0.0.0:7").unwrap();
    let mut incoming = listener.incoming();
    while let Some(conn) = incoming.next().await {
        let stream = conn.unwrap();
        let pooled = pooled.clone();
        ringcore::spawn(async move {
            let mut received = stream.recv_stream();
            while let Some(Ok(buf)) = received.next().await {
                if buf.is_pooled() {
                    pooled.set(pooled.get() + 1);
                }
                if stream.write_all(buf).await.0.is_err() {
                    return;
                }
            }
        });
    }
}

/// Ten clients echo 100 KiB each through the server's multishot accept and receive: every
/// byte comes back in order, the server's bytes came in pool buffers, and every pool
/// buffer is back in the pool at the end; one seed gives one trace.
#[test]
fn incoming_and_recv_stream_use_the_pool() {
    let run = |seed| {
        let pooled = Rc::new(Cell::new(0));
        let mut sim = Sim::new(seed);
        let p = pooled.clone();
        sim.host("server", move || pooled_echo_server(p.clone()))
            .unwrap();
        sim.host("client", || async {}).unwrap();
        sim.run_until("client", async {
            let mut tasks = Vec::new();
            for i in 0..10u8 {
                tasks.push(ringcore::spawn(async move {
                    let stream = TcpStream::connect("server:7").await.unwrap();
                    let data: Vec<u8> = (0..100 * 1024).map(|k| (k % 251) as u8 ^ i).collect();
                    let (res, data) = stream.write_all(data).await;
                    res.unwrap();
                    assert_eq!(read_n(&stream, data.len()).await.unwrap(), data);
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
        })
        .unwrap();
        let out = sim
            .run_until("server", async {
                ringcore::time::sleep(Duration::from_millis(10)).await;
                pool_stats()
            })
            .unwrap();
        (pooled.get(), out, sim.trace_hash())
    };
    let (pooled, (buffers, _, out), hash) = run(11);
    assert!(
        pooled >= 10 * 7,
        "{pooled} pooled buffers (100 KiB in 16 KiB buffers)"
    );
    assert!(buffers >= 32, "{buffers}");
    assert_eq!(out, 0, "every pool buffer went back");
    assert_eq!(run(11).2, hash, "one seed, one trace");
}

/// A receiver that holds every buffer it gets drains the pool: the multishot receive ends
/// with `ENOBUFS` (nothing lost), the pool doubles, and the stream goes on.
#[test]
fn an_empty_pool_ends_the_receive_with_enobufs_and_the_pool_grows() {
    let mut sim = Sim::new(12);
    let held: Rc<RefCell<Vec<RecvBuf>>> = Rc::default();
    let stats = Rc::new(Cell::new((0, 0, 0)));
    let (h, s) = (held.clone(), stats.clone());
    sim.host("server", move || {
        let (held, stats) = (h.clone(), s.clone());
        async move {
            let listener = TcpListener::bind("0.0.0.0:7").unwrap();
            let (stream, _) = listener.accept().await.unwrap();
            let mut received = stream.recv_stream();
            while let Some(buf) = received.next().await {
                held.borrow_mut().push(buf.unwrap());
                stats.set(pool_stats());
            }
        }
    })
    .unwrap();
    sim.host("client", || async {
        let stream = TcpStream::connect("server:7").await.unwrap();
        // 40 messages far apart in time: one pool buffer each.
        for i in 0..40u8 {
            stream.write_all(vec![i; 100]).await.0.unwrap();
            ringcore::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .unwrap();
    sim.run_for(Duration::from_secs(5)).unwrap();
    let held = held.borrow();
    let bytes: Vec<u8> = held.iter().flat_map(|b| b.iter().copied()).collect();
    let want: Vec<u8> = (0..40u8).flat_map(|i| [i; 100]).collect();
    assert_eq!(bytes, want, "every byte, in order");
    let (buffers, exhausted, out) = stats.get();
    assert!(exhausted >= 1, "the pool ran dry");
    assert_eq!(buffers, 64, "and doubled");
    assert_eq!(out, 40, "each held buffer is out of the pool");
}

/// How a receive stream ends: `None` when the peer closes, `ConnectionReset` when its host
/// crashes; a dropped stream (its multishot receive cancelled) loses no byte to the next
/// read.
#[test]
fn recv_streams_end_at_close_and_reset_and_lose_nothing_when_dropped() {
    let mut sim = Sim::new(13);
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:7").unwrap();
        let mut incoming = listener.incoming();
        // First connection: send and close. Second: send, then stay open.
        let (a, b) = (incoming.next().await, incoming.next().await);
        let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
        a.write_all(b"bye".to_vec()).await.0.unwrap();
        drop(a);
        b.write_all(b"first".to_vec()).await.0.unwrap();
        ringcore::time::sleep(Duration::from_millis(100)).await;
        b.write_all(b"second".to_vec()).await.0.unwrap();
        std::future::pending::<()>().await;
    })
    .unwrap();
    sim.host("client", || async {}).unwrap();
    let (closed, first, rest) = sim
        .run_until("client", async {
            let a = TcpStream::connect("server:7").await.unwrap();
            let b = TcpStream::connect("server:7").await.unwrap();
            let mut s = a.recv_stream();
            let mut closed = Vec::new();
            while let Some(buf) = s.next().await {
                closed.extend_from_slice(&buf.unwrap());
            }
            let mut s = b.recv_stream();
            let first = s.next().await.unwrap().unwrap().to_vec();
            drop(s);
            let rest = read_n(&b, 6).await.unwrap();
            drop(ringcore::spawn(async move {
                let mut s = b.recv_stream();
                let end = s.next().await;
                RESET.with(|r| r.set(end.map(|e| e.map(drop).unwrap_err().kind())));
                assert!(s.next().await.is_none(), "an error ends the stream");
            }));
            (closed, first, rest)
        })
        .unwrap();
    assert_eq!(closed, b"bye");
    assert_eq!(first, b"first");
    assert_eq!(rest, b"second");
    sim.crash("server").unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(RESET.with(Cell::get), Some(io::ErrorKind::ConnectionReset));
}

thread_local! {
    static RESET: Cell<Option<io::ErrorKind>> = const { Cell::new(None) };
}

/// A multishot accept gives every queued connection; dropping `Incoming` while
/// connections arrive loses none (the next `accept` gets them).
#[test]
fn incoming_dropped_mid_way_loses_no_connection() {
    let mut sim = Sim::new(14);
    let accepted = Rc::new(Cell::new(0u32));
    let a = accepted.clone();
    sim.host("server", move || {
        let accepted = a.clone();
        async move {
            let listener = TcpListener::bind("0.0.0.0:7").unwrap();
            {
                let mut incoming = listener.incoming();
                for _ in 0..5 {
                    incoming.next().await.unwrap().unwrap();
                    accepted.set(accepted.get() + 1);
                }
            }
            let mut open = Vec::new();
            loop {
                let (s, _) = listener.accept().await.unwrap();
                accepted.set(accepted.get() + 1);
                open.push(s);
            }
        }
    })
    .unwrap();
    sim.host("client", || async {
        // Twenty connects at once, so one accept CQE follows another and the stream is
        // dropped with some queued.
        for _ in 0..20 {
            ringcore::spawn(async {
                let conn = TcpStream::connect("server:7").await.unwrap();
                std::future::pending::<()>().await;
                drop(conn);
            });
        }
    })
    .unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(accepted.get(), 20);
}
