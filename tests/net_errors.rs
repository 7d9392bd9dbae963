//! Typed errors from sockets: address in use, refused and timed-out connects.

mod support;

use std::io::ErrorKind;
use std::time::Duration;

use ringcore::net::{ListenOptions, TcpListener, TcpStream, UdpSocket};

#[test]
fn bind_to_a_port_in_use_is_addr_in_use() {
    let _serial = support::fd_lock();
    ringcore::block_on(async {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = first.local_addr().unwrap();
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let err = UdpSocket::bind(udp.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");
    });
}

#[test]
fn reuse_port_lets_two_listeners_share_an_address() {
    let _serial = support::fd_lock();
    ringcore::block_on(async {
        let opts = ListenOptions::new().reuse_port(true);
        let a = TcpListener::bind_with("127.0.0.1:0", &opts).unwrap();
        let b = TcpListener::bind_with(a.local_addr().unwrap(), &opts).unwrap();
        assert_eq!(a.local_addr().unwrap(), b.local_addr().unwrap());
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    let _serial = support::fd_lock();
    ringcore::block_on(async {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let err = TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    });
}

/// A connect that never completes: the listener's accept queue is full, so the kernel
/// drops our SYNs and retries for minutes. (Addresses such as 10.255.255.1 are answered by
/// a transparent proxy on some CI machines, so the test builds its own black hole.)
#[test]
fn hanging_connect_times_out_and_leaks_no_fd() {
    let _serial = support::fd_lock();
    ringcore::block_on(async {
        let full = TcpListener::bind_with("127.0.0.1:0", &ListenOptions::new().backlog(0)).unwrap();
        let addr = full.local_addr().unwrap();
        // Fill the accept queue (backlog 0 holds one connection); extra attempts may hang,
        // which the short timeout absorbs.
        let mut fillers = Vec::new();
        for _ in 0..3 {
            if let Ok(s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300)) {
                fillers.push(s);
            }
        }
        let before = support::open_fds();
        for _ in 0..5 {
            let res =
                ringcore::time::timeout(Duration::from_millis(100), TcpStream::connect(addr)).await;
            assert!(
                res.is_err(),
                "connect to a full listener completed: {res:?}"
            );
        }
        support::settle().await;
        assert_eq!(
            support::open_fds(),
            before,
            "a timed-out connect left an fd open"
        );
        drop(fillers);
    });
}

/// A `write_all` that fails part way says how many bytes went out before the error (it
/// used to return the bare send error, so a caller could not tell what the peer got).
#[test]
fn write_all_error_reports_the_bytes_that_went_out() {
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let total = 64 << 20;
        let writer = ringcore::spawn(async move { client.write_all(vec![7u8; total]).await.0 });
        // The peer takes 1 KiB, then closes with unread data (a reset).
        let (res, _) = server.read(Vec::with_capacity(1024)).await;
        assert!(res.unwrap() > 0);
        ringcore::time::sleep(std::time::Duration::from_millis(50)).await;
        drop(server);
        let err = writer
            .await
            .unwrap()
            .expect_err("64 MiB went into a closed connection");
        let partial = err
            .get_ref()
            .and_then(|e| e.downcast_ref::<ringcore::io::PartialTransfer>())
            .unwrap_or_else(|| panic!("no byte count in {err:?}"));
        assert!(partial.done > 0 && partial.done < total, "{partial}");
        assert_eq!(partial.total, total);
        assert_eq!(err.kind(), partial.source.kind());
        assert!(
            matches!(
                err.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{err}"
        );
    });
}
