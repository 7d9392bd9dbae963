//! Dropping accept, connect and read futures in flight leaks no fd and no op slot.

mod support;

use std::time::Duration;

use ringcore::Runtime;
use ringcore::net::{TcpListener, TcpStream};

#[test]
fn dropped_accepts_leak_nothing() {
    let _serial = support::fd_lock();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let fds = support::open_fds();
        let ops = rt.metrics().ops_in_flight;
        for _ in 0..200 {
            let fut = support::poll_once(Box::pin(listener.accept())).await;
            assert!(fut.is_err(), "accept completed with no client");
            ringcore::yield_now().await;
            drop(fut);
        }
        support::settle().await;
        assert_eq!(rt.metrics().ops_in_flight, ops, "op slots leaked");
        assert_eq!(support::open_fds(), fds, "fds leaked");
    });
}

/// The accept completes in the kernel, but its future is dropped before it sees the CQE:
/// the accepted connection must be closed, so the client reads end-of-stream.
#[test]
fn fd_accepted_by_a_cancelled_accept_is_closed() {
    let _serial = support::fd_lock();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fds = support::open_fds();
        for _ in 0..20 {
            let pending = support::poll_once(Box::pin(listener.accept()))
                .await
                .expect_err("accept completed with no client");
            let client = TcpStream::connect(addr).await.unwrap();
            // Let the accept's CQE arrive while its future is not polled, then drop it.
            support::settle().await;
            drop(pending);
            let read = ringcore::time::timeout(
                Duration::from_secs(10),
                client.read(Vec::with_capacity(8)),
            )
            .await;
            let (res, _) = read.expect("accepted fd was not closed: the client saw no EOF");
            assert_eq!(res.unwrap(), 0);
        }
        // Racier variant: drop right after the client connects.
        let mut clients = Vec::new();
        for _ in 0..200 {
            let pending = support::poll_once(Box::pin(listener.accept())).await;
            ringcore::yield_now().await;
            clients.push(TcpStream::connect(addr).await.unwrap());
            drop(pending);
        }
        drop(clients);
        support::settle().await;
        assert_eq!(rt.metrics().ops_in_flight, 0, "op slots leaked");
        assert_eq!(support::open_fds(), fds, "fds leaked");
    });
}

#[test]
fn dropped_connects_leak_nothing() {
    let _serial = support::fd_lock();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fds = support::open_fds();
        let ops = rt.metrics().ops_in_flight;
        for i in 0..200 {
            let fut = Box::pin(TcpStream::connect(addr));
            let fut = support::poll_once(fut).await;
            // Drop at different points: right away, or after the socket op completed.
            if i % 2 == 1 {
                ringcore::yield_now().await;
            }
            drop(fut);
        }
        support::settle().await;
        assert_eq!(rt.metrics().ops_in_flight, ops, "op slots leaked");
        assert_eq!(support::open_fds(), fds, "fds leaked");
    });
}

#[test]
fn dropped_reads_leak_nothing_and_lose_no_later_bytes() {
    let _serial = support::fd_lock();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let fds = support::open_fds();
        let ops = rt.metrics().ops_in_flight;
        {
            let client = TcpStream::connect(listener.local_addr().unwrap())
                .await
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            for _ in 0..100 {
                let fut = support::poll_once(Box::pin(server.read(vec![0u8; 64]))).await;
                ringcore::yield_now().await;
                drop(fut);
            }
            support::settle().await;
            assert_eq!(rt.metrics().ops_in_flight, ops, "op slots leaked");
            // Reads cancelled before any data arrived consumed nothing.
            let (res, _) = client.write_all(b"after" as &'static [u8]).await;
            res.unwrap();
            let (res, buf) = server.read(Vec::with_capacity(16)).await;
            assert_eq!(&buf[..res.unwrap()], b"after");
        }
        support::settle().await;
        assert_eq!(support::open_fds(), fds, "fds leaked");
    });
}
