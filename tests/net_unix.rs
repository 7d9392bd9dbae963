//! Unix-domain stream and datagram sockets.

mod support;

use std::io::ErrorKind;

use ringcore::net::{UnixDatagram, UnixListener, UnixStream};

#[test]
fn unix_stream_echoes_and_reports_addresses() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("echo.sock");
        let listener = UnixListener::bind(&path).unwrap();
        assert_eq!(
            listener.local_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let err = UnixListener::bind(&path).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse, "{err}");

        let server = ringcore::spawn(async move {
            let (stream, peer) = listener.accept().await.unwrap();
            assert!(peer.is_unnamed());
            let (rd, wr) = stream.into_split();
            loop {
                let (res, buf) = rd.read(Vec::with_capacity(4096)).await;
                if res.unwrap() == 0 {
                    break;
                }
                let (res, _) = wr.write_all(buf).await;
                res.unwrap();
            }
        });
        let client = UnixStream::connect(&path).await.unwrap();
        assert_eq!(
            client.peer_addr().unwrap().as_pathname(),
            Some(path.as_path())
        );
        let data = support::random_bytes(300_000, 9);
        let (rd, wr) = client.into_split();
        let sent = data.clone();
        let writer = ringcore::spawn(async move {
            let (res, _) = wr.write_all(sent).await;
            res.unwrap();
            // Dropping the write half shuts it down: the server sees EOF.
        });
        let mut got = Vec::new();
        loop {
            let (res, mut buf) = rd.read(Vec::with_capacity(8192)).await;
            if res.unwrap() == 0 {
                break;
            }
            got.append(&mut buf);
        }
        writer.await.unwrap();
        server.await.unwrap();
        assert!(got == data, "echoed bytes differ");
    });
}

#[test]
fn unix_connect_to_missing_path_is_not_found() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let err = UnixStream::connect(dir.path().join("nope"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        let long = dir.path().join("x".repeat(200));
        let err = UnixStream::connect(long).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    });
}

#[test]
fn unix_datagrams_carry_their_sender() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let a_path = dir.path().join("a.sock");
        let b_path = dir.path().join("b.sock");
        let a = UnixDatagram::bind(&a_path).unwrap();
        let b = UnixDatagram::bind(&b_path).unwrap();
        let (res, _) = a.send_to(b"hello b" as &'static [u8], &b_path).await;
        assert_eq!(res.unwrap(), 7);
        let (res, buf) = b.recv_from(Vec::with_capacity(64)).await;
        let (n, from) = res.unwrap();
        assert_eq!(&buf[..n], b"hello b");
        assert_eq!(from.as_pathname(), Some(a_path.as_path()));

        b.connect(&a_path).await.unwrap();
        let (res, _) = b.send(b"reply" as &'static [u8]).await;
        res.unwrap();
        let (res, buf) = a.recv(Vec::with_capacity(64)).await;
        assert_eq!(&buf[..res.unwrap()], b"reply");

        let (x, y) = UnixDatagram::pair().unwrap();
        let (res, _) = x.send(vec![1u8, 2, 3]).await;
        res.unwrap();
        let (res, buf) = y.recv(Vec::with_capacity(8)).await;
        assert_eq!(&buf[..res.unwrap()], &[1, 2, 3]);
        let unbound = UnixDatagram::unbound().unwrap();
        let (res, _) = unbound.send_to(b"anon" as &'static [u8], &a_path).await;
        res.unwrap();
        let (res, _) = a.recv_from(Vec::with_capacity(8)).await;
        assert!(res.unwrap().1.is_unnamed());
    });
}
