//! Name lookup and connecting by name: `lookup_host`, `TcpStream::connect`,
//! `UdpSocket::connect` and `send_to` with `ToSocketAddrs` arguments. Only localhost,
//! numeric and reserved `.invalid` names are used (the test machines have no DNS).

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use ringcore::net::{ResolveError, TcpListener, TcpStream, UdpSocket, lookup_host};

/// A loopback port nothing listens on (bound, then closed).
fn refused_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A multicast address: connect(2) of a TCP socket to it fails at once with ENETUNREACH.
const UNREACHABLE: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::new(224, 0, 0, 1)), 9);

fn resolve_error(err: &std::io::Error) -> &ResolveError {
    err.get_ref()
        .and_then(|e| e.downcast_ref::<ResolveError>())
        .unwrap_or_else(|| panic!("not a ResolveError: {err:?}"))
}

#[test]
fn connect_by_localhost_name_in_every_form() {
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = ringcore::spawn(async move {
            for _ in 0..4 {
                let (s, _) = listener.accept().await.unwrap();
                let (res, _) = s.write_all(b"hi" as &'static [u8]).await;
                res.unwrap();
            }
        });
        let name = format!("localhost:{port}");
        let streams = [
            TcpStream::connect(name.as_str()).await.unwrap(),
            TcpStream::connect(name.clone()).await.unwrap(),
            TcpStream::connect(("localhost", port)).await.unwrap(),
            TcpStream::connect((String::from("127.0.0.1"), port))
                .await
                .unwrap(),
        ];
        for s in &streams {
            assert_eq!(s.peer_addr().unwrap().port(), port);
            assert!(s.peer_addr().unwrap().ip().is_loopback());
            let (res, buf) = s.read(Vec::with_capacity(8)).await;
            assert_eq!(&buf[..res.unwrap()], b"hi");
        }
        server.await.unwrap();
    });
}

#[test]
fn a_name_that_does_not_exist_is_a_typed_error() {
    ringcore::block_on(async {
        let err = TcpStream::connect("nonexistent.invalid:80")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other, "{err}");
        assert_eq!(resolve_error(&err).host(), "nonexistent.invalid");
        assert!(err.to_string().contains("nonexistent.invalid"), "{err}");

        let err = lookup_host(("nonexistent.invalid", 443)).await.unwrap_err();
        assert_eq!(resolve_error(&err).host(), "nonexistent.invalid");

        // No port: malformed, InvalidInput, still naming what was asked.
        let err = lookup_host("localhost").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert_eq!(resolve_error(&err).host(), "localhost");

        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (res, buf) = udp
            .send_to(b"x" as &'static [u8], "nonexistent.invalid:53")
            .await;
        assert_eq!(
            resolve_error(&res.unwrap_err()).host(),
            "nonexistent.invalid"
        );
        assert_eq!(buf, b"x", "the buffer comes back");
        let err = udp.connect("nonexistent.invalid:53").await.unwrap_err();
        assert_eq!(resolve_error(&err).host(), "nonexistent.invalid");
    });
}

#[test]
fn lookup_host_resolves_localhost_and_passes_numbers_through() {
    ringcore::block_on(async {
        let addrs: Vec<_> = lookup_host("localhost:8080").await.unwrap().collect();
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 8080),
            "{addrs:?}"
        );
        let addr: SocketAddr = "[::1]:9".parse().unwrap();
        assert_eq!(lookup_host(addr).await.unwrap().collect::<Vec<_>>(), [addr]);
        let both = [refused_addr(), addr];
        assert_eq!(
            lookup_host(&both[..]).await.unwrap().collect::<Vec<_>>(),
            both
        );
    });
}

#[test]
fn connect_tries_each_address_in_order_and_returns_the_last_error() {
    ringcore::block_on(async {
        let first = TcpListener::bind("127.0.0.1:0").unwrap();
        let second = TcpListener::bind("127.0.0.1:0").unwrap();
        let addrs = [
            refused_addr(),
            UNREACHABLE,
            first.local_addr().unwrap(),
            second.local_addr().unwrap(),
        ];
        let stream = TcpStream::connect(&addrs[..]).await.unwrap();
        assert_eq!(stream.peer_addr().unwrap(), addrs[2]);
        let (_, peer) = first.accept().await.unwrap();
        assert_eq!(peer, stream.local_addr().unwrap());
        // The later address was never tried.
        let res = ringcore::time::timeout(Duration::from_millis(50), second.accept()).await;
        assert!(
            res.is_err(),
            "the address after the one that worked was tried too"
        );

        // None connects: the last address's error, whichever came first.
        let err = TcpStream::connect([UNREACHABLE, refused_addr()])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
        let err = TcpStream::connect([refused_addr(), UNREACHABLE])
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NetworkUnreachable, "{err}");
    });
}

#[test]
fn udp_connect_and_send_to_by_name() {
    ringcore::block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = server.local_addr().unwrap().port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        // An IPv6 address first: an IPv4 socket cannot connect to it, so the next is tried.
        let v6: SocketAddr = format!("[::1]:{port}").parse().unwrap();
        client
            .connect([v6, server.local_addr().unwrap()])
            .await
            .unwrap();
        assert_eq!(client.peer_addr().unwrap(), server.local_addr().unwrap());
        client.connect(format!("localhost:{port}")).await.unwrap();
        let (res, _) = client.send(b"by name" as &'static [u8]).await;
        res.unwrap();
        let (res, buf) = server.recv_from(Vec::with_capacity(64)).await;
        let (n, from) = res.unwrap();
        assert_eq!(
            (&buf[..n], from),
            (&b"by name"[..], client.local_addr().unwrap())
        );

        let (res, _) = server
            .send_to(b"reply" as &'static [u8], ("127.0.0.1", from.port()))
            .await;
        res.unwrap();
        let (res, buf) = client.recv(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.unwrap()], b"reply");
    });
}

#[test]
fn special_use_names_are_answered_without_a_resolver() {
    ringcore::block_on(async {
        // localhost (any case, a trailing dot) is both loopback addresses, for everyone.
        let addrs: Vec<_> = lookup_host("LocalHost.:81").await.unwrap().collect();
        assert_eq!(
            addrs,
            [
                SocketAddr::from((Ipv4Addr::LOCALHOST, 81)),
                SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 81)),
            ]
        );
        let err = lookup_host(("deep.name.INVALID", 80)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other, "{err}");
        let resolve = resolve_error(&err);
        assert_eq!(resolve.host(), "deep.name.INVALID");
        assert_eq!(resolve.resolver_error().kind(), ErrorKind::NotFound);
    });
}
