//! Dropping accept, connect and read futures in flight leaks no fd, no op slot and no
//! connection.

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
        let ops = rt.metrics().cores.remove(0).ops_in_flight;
        for _ in 0..200 {
            let fut = support::poll_once(Box::pin(listener.accept())).await;
            assert!(fut.is_err(), "accept completed with no client");
            ringcore::yield_now().await;
            drop(fut);
        }
        support::settle().await;
        assert_eq!(
            rt.metrics().cores.remove(0).ops_in_flight,
            ops,
            "op slots leaked"
        );
        assert_eq!(support::open_fds(), fds, "fds leaked");
    });
}

/// The accept completes in the kernel, but its future is dropped before it sees the CQE:
/// the connection is not closed but handed to the next `accept` (it used to be closed, so
/// a client the kernel had accepted saw end-of-stream unserved).
#[test]
fn connection_accepted_by_a_cancelled_accept_goes_to_the_next_accept() {
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
            let next = ringcore::time::timeout(Duration::from_secs(10), listener.accept()).await;
            let (server, peer) = next
                .expect("the accepted connection was not handed on")
                .unwrap();
            assert_eq!(peer, client.local_addr().unwrap());
            server.write_all(b"x" as &'static [u8]).await.0.unwrap();
            let (res, buf) = client.read(Vec::with_capacity(8)).await;
            assert_eq!(&buf[..res.unwrap()], b"x");
        }
        // Racier variant: drop right after the client connects; every client is served.
        let mut clients = Vec::new();
        let mut served = 0;
        for _ in 0..200 {
            let pending = support::poll_once(Box::pin(listener.accept())).await;
            ringcore::yield_now().await;
            clients.push(TcpStream::connect(addr).await.unwrap());
            // The first poll may already hand over a connection left by an earlier drop.
            if let Ok(accepted) = pending {
                accepted
                    .unwrap()
                    .0
                    .write_all(b"y" as &'static [u8])
                    .await
                    .0
                    .unwrap();
                served += 1;
            }
        }
        while served < 200 {
            let next = ringcore::time::timeout(Duration::from_secs(10), listener.accept()).await;
            let (server, _) = next.expect("a client was never accepted").unwrap();
            server.write_all(b"y" as &'static [u8]).await.0.unwrap();
            served += 1;
        }
        for client in &clients {
            let (res, buf) = client.read(Vec::with_capacity(8)).await;
            assert_eq!(&buf[..res.unwrap()], b"y", "a client saw no greeting");
        }
        drop(clients);
        support::settle().await;
        assert_eq!(
            rt.metrics().cores.remove(0).ops_in_flight,
            0,
            "op slots leaked"
        );
        assert_eq!(support::open_fds(), fds, "fds leaked");
    });
}

/// A connection a cancelled accept left for the next `accept` is closed when the listener
/// is dropped instead: the client sees end-of-stream and no fd leaks.
#[test]
fn connection_left_by_a_cancelled_accept_closes_with_the_listener() {
    let _serial = support::fd_lock();
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let fds = support::open_fds();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let pending = support::poll_once(Box::pin(listener.accept()))
            .await
            .expect_err("accept completed with no client");
        let client = TcpStream::connect(addr).await.unwrap();
        support::settle().await;
        drop(pending);
        drop(listener);
        let read =
            ringcore::time::timeout(Duration::from_secs(10), client.read(vec![0u8; 8])).await;
        let (res, _) = read.expect("the stashed connection was not closed with its listener");
        assert_eq!(res.unwrap(), 0);
        drop(client);
        support::settle().await;
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
        let ops = rt.metrics().cores.remove(0).ops_in_flight;
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
        assert_eq!(
            rt.metrics().cores.remove(0).ops_in_flight,
            ops,
            "op slots leaked"
        );
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
        let ops = rt.metrics().cores.remove(0).ops_in_flight;
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
            assert_eq!(
                rt.metrics().cores.remove(0).ops_in_flight,
                ops,
                "op slots leaked"
            );
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
