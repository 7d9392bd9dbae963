//! Registered files (`Builder::registered_files`) on real loopback sockets: a busy socket
//! moves into the core's fixed-file table at its 64th op and loses no byte there, a
//! dropped socket gives its slot back and is closed at once, a full table leaves further
//! sockets on plain fds and a freed slot is taken again, multishot receives run on a slot,
//! a worker core's socket takes a slot in that core's table, and a table of 0 slots is
//! never used. On the epoll driver there is no table: the bytes are checked and the
//! counts must stay 0.

mod support;

use std::io::{Read, Write};
use std::net::TcpListener as StdListener;
use std::time::Duration;

use futures_util::StreamExt;
use ringcore::Runtime;
use ringcore::net::TcpStream;

/// With the inline path off, every send and receive is an op in the ring, so a round trip
/// is two ops on the stream.
fn runtime(slots: u32) -> Runtime {
    Runtime::builder()
        .registered_files(slots)
        .inline_reads_per_tick(0)
        .build()
        .unwrap()
}

fn on_epoll() -> bool {
    support::skip_on_epoll("no registered-file table on the epoll driver; counts must be 0")
}

/// A connected pair: a ringcore stream and the std socket at the other end.
async fn pair(listener: &StdListener) -> (TcpStream, std::net::TcpStream) {
    let stream = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (peer, _) = listener.accept().unwrap();
    peer.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (stream, peer)
}

/// `n` round trips: the stream writes a numbered message, the peer checks it and echoes
/// it, the stream reads it back and checks it. Two ops per trip (see `runtime`).
async fn round_trips(stream: &TcpStream, peer: &mut std::net::TcpStream, n: u32) {
    for i in 0..n {
        let msg = format!("message {i} on {:?}", stream.local_addr().unwrap()).into_bytes();
        let (res, _) = stream.write_all(msg.clone()).await;
        res.unwrap();
        let mut got = vec![0; msg.len()];
        peer.read_exact(&mut got).unwrap();
        assert_eq!(got, msg, "trip {i}: the peer got other bytes");
        peer.write_all(&got).unwrap();
        let mut back = Vec::new();
        while back.len() < msg.len() {
            let (res, buf) = stream.read(Vec::with_capacity(256)).await;
            let n = res.unwrap();
            assert!(n > 0, "trip {i}: early EOF");
            back.extend_from_slice(&buf[..n]);
        }
        assert_eq!(back, msg, "trip {i}: the echo came back different");
    }
}

/// The peer sees end-of-file now: the socket is closed, not held open by a table slot.
fn assert_closed(peer: &mut std::net::TcpStream) {
    let mut byte = [0u8; 1];
    let n = peer
        .read(&mut byte)
        .expect("no EOF within 10 s: the dropped socket is still open");
    assert_eq!(n, 0, "the dropped socket sent bytes");
}

#[test]
fn a_busy_socket_takes_a_slot_keeps_every_byte_and_dropping_it_closes_it() {
    let epoll = on_epoll();
    let rt = runtime(64);
    rt.block_on(async {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let (stream, mut peer) = pair(&listener).await;
        round_trips(&stream, &mut peer, 4).await;
        assert_eq!(
            rt.metrics().cores.remove(0).driver.files_registered,
            0,
            "a slot before the 64th op"
        );
        round_trips(&stream, &mut peer, 36).await;
        let want = if epoll { 0 } else { 1 };
        assert_eq!(rt.metrics().cores.remove(0).driver.files_registered, want);
        drop(stream);
        // The slot is given back inside the drop, before the fd closes: EOF with no tick.
        assert_closed(&mut peer);
        assert_eq!(rt.metrics().cores.remove(0).driver.files_registered, 0);
    });
}

#[test]
fn a_full_table_leaves_sockets_on_plain_fds_and_a_freed_slot_is_taken_again() {
    let epoll = on_epoll();
    let rt = runtime(2);
    rt.block_on(async {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let mut conns = Vec::new();
        for _ in 0..4 {
            let (stream, mut peer) = pair(&listener).await;
            round_trips(&stream, &mut peer, 40).await;
            conns.push((stream, peer));
        }
        let m = rt.metrics().cores.remove(0).driver;
        if !epoll {
            assert_eq!(m.files_registered, 2, "a table of 2 slots holds 2 sockets");
            assert_eq!(m.files_table_full, 2, "the third and fourth found no slot");
        }
        // Every socket, with or without a slot, still carries bytes both ways.
        for (stream, peer) in &mut conns {
            round_trips(stream, peer, 3).await;
        }
        // The first socket took the first slot; dropping it frees the slot for a new one.
        let (first, mut first_peer) = conns.remove(0);
        drop(first);
        assert_closed(&mut first_peer);
        let (stream, mut peer) = pair(&listener).await;
        round_trips(&stream, &mut peer, 40).await;
        let m = rt.metrics().cores.remove(0).driver;
        if epoll {
            assert_eq!((m.files_registered, m.files_table_full), (0, 0));
        } else {
            assert_eq!(m.files_registered, 2, "the freed slot was not taken again");
            assert_eq!(m.files_table_full, 2);
        }
        drop(stream);
        assert_closed(&mut peer);
        for (stream, mut peer) in conns {
            drop(stream);
            assert_closed(&mut peer);
        }
        assert_eq!(rt.metrics().cores.remove(0).driver.files_registered, 0);
    });
}

#[test]
fn a_multishot_receive_runs_on_a_registered_socket() {
    let epoll = on_epoll();
    let rt = runtime(8);
    rt.block_on(async {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let (stream, mut peer) = pair(&listener).await;
        round_trips(&stream, &mut peer, 40).await;
        assert_eq!(
            rt.metrics().cores.remove(0).driver.files_registered,
            if epoll { 0 } else { 1 }
        );
        let mut items = stream.recv_stream();
        let mut want = Vec::new();
        for i in 0..50u32 {
            let msg = format!("streamed {i};").into_bytes();
            peer.write_all(&msg).unwrap();
            want.extend_from_slice(&msg);
        }
        let mut got = Vec::new();
        while got.len() < want.len() {
            let buf = items.next().await.expect("stream ended").unwrap();
            got.extend_from_slice(&buf);
        }
        assert_eq!(
            got, want,
            "the multishot receive on a slot lost or changed bytes"
        );
        drop(items);
        drop(stream);
        // The dropped stream's receive holds the socket until its cancel completes (as
        // it does on a plain fd): let the core run that far.
        while rt.ops_in_flight() > 0 {
            ringcore::time::sleep(Duration::from_millis(1)).await;
        }
        assert_closed(&mut peer);
        assert_eq!(rt.metrics().cores.remove(0).driver.files_registered, 0);
    });
}

#[test]
fn a_table_of_zero_slots_is_never_used() {
    let rt = runtime(0);
    rt.block_on(async {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let (stream, mut peer) = pair(&listener).await;
        round_trips(&stream, &mut peer, 40).await;
        let m = rt.metrics().cores.remove(0).driver;
        assert_eq!((m.files_registered, m.files_table_full), (0, 0));
        drop(stream);
        assert_closed(&mut peer);
    });
}

#[test]
fn a_socket_on_a_worker_core_takes_a_slot_in_that_cores_table() {
    let epoll = on_epoll();
    let rt = Runtime::builder()
        .cores(2)
        .inline_reads_per_tick(0)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = StdListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The peer side runs on a plain thread, so core 1 can block on nothing.
        let peer = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            // A socket the drop left open fails the join below instead of hanging it.
            peer.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buf = [0u8; 64];
            loop {
                match peer.read(&mut buf).unwrap() {
                    0 => return,
                    n => peer.write_all(&buf[..n]).unwrap(),
                }
            }
        });
        let (registered, after_drop) =
            ringcore::spawn_on(ringcore::CoreId::new(1), move || async move {
                let stream = TcpStream::connect(addr).await.unwrap();
                for i in 0..40u32 {
                    let msg = format!("{i:08}").into_bytes();
                    let (res, _) = stream.write_all(msg.clone()).await;
                    res.unwrap();
                    let mut back = Vec::new();
                    while back.len() < msg.len() {
                        let (res, buf) = stream.read(Vec::with_capacity(64)).await;
                        let n = res.unwrap();
                        assert!(n > 0, "early EOF");
                        back.extend_from_slice(&buf[..n]);
                    }
                    assert_eq!(back, msg);
                }
                let core1 = || ringcore::debug::metrics().unwrap().driver;
                let registered = core1().files_registered;
                drop(stream);
                (registered, core1().files_registered)
            })
            .await
            .unwrap();
        assert_eq!((registered, after_drop), (if epoll { 0 } else { 1 }, 0));
        // The drop closed the socket: the peer thread saw end-of-file and returned.
        peer.join()
            .expect("no EOF within 10 s: the dropped socket is still open");
        assert_eq!(
            rt.metrics().cores.remove(0).driver.files_registered,
            0,
            "core 0 took no slot"
        );
    });
}
