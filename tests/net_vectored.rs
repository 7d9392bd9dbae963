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
