//! Vectored TCP I/O (writev/readv through SENDMSG/RECVMSG) and stream options.

mod support;

use ringcore::net::{TcpListener, TcpStream};

#[test]
fn writev_and_readv_keep_buffer_order() {
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(client.peer_addr().unwrap(), listener.local_addr().unwrap());
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());

        let parts = vec![
            support::random_bytes(10, 1),
            support::random_bytes(3000, 2),
            support::random_bytes(1, 3),
        ];
        let expected: Vec<u8> = parts.concat();
        let (res, parts) = client.writev(parts).await;
        assert_eq!(res.unwrap(), expected.len());
        assert_eq!(parts.len(), 3);
        client.shutdown(std::net::Shutdown::Write).unwrap();

        let mut got = Vec::new();
        loop {
            let bufs = vec![Vec::with_capacity(7), Vec::with_capacity(1000)];
            let (res, bufs) = server.readv(bufs).await;
            let n = res.unwrap();
            if n == 0 {
                break;
            }
            // The first buffer fills before the second gets anything.
            assert!(bufs[1].is_empty() || bufs[0].len() == 7);
            assert_eq!(bufs[0].len() + bufs[1].len(), n);
            got.extend(bufs.concat());
        }
        assert_eq!(got, expected);
    });
}

/// More than IOV_MAX (1024) buffers used to come back as EMSGSIZE from the kernel; the
/// documented error is InvalidInput, and nothing is sent or received.
#[test]
fn readv_and_writev_with_more_than_iov_max_buffers_returned_emsgsize() {
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let many: Vec<Vec<u8>> = (0..1025).map(|_| vec![1u8]).collect();
        let (res, back) = client.writev(many).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(back.len(), 1025, "the buffers come back");
        let bufs: Vec<Vec<u8>> = (0..1025).map(|_| Vec::with_capacity(1)).collect();
        let (res, _) = server.readv(bufs).await;
        assert_eq!(res.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
        // 1024 is still fine, and nothing was sent before.
        let (res, _) = client.writev((0..1024).map(|_| vec![2u8]).collect()).await;
        assert_eq!(res.unwrap(), 1024);
        let mut got = Vec::new();
        while got.len() < 1024 {
            let (res, buf) = server.read(Vec::with_capacity(2048)).await;
            got.extend_from_slice(&buf[..res.unwrap()]);
        }
        assert!(
            got.iter().all(|&b| b == 2),
            "a byte of the refused writev went out"
        );
    });
}
