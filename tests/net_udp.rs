//! UDP datagrams round-trip with their source address.

mod support;

use ringcore::net::UdpSocket;

#[test]
fn datagrams_round_trip_with_source_address() {
    ringcore::block_on(async {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let client_addr = client.local_addr().unwrap();
        for i in 0..50u64 {
            let data = support::random_bytes(1 + (i as usize * 97) % 1400, i + 1);
            let (res, _) = client.send_to(data.clone(), server_addr).await;
            assert_eq!(res.unwrap(), data.len());
            let (res, buf) = server.recv_from(Vec::with_capacity(2048)).await;
            let (n, from) = res.unwrap();
            assert_eq!(from, client_addr);
            assert_eq!(&buf[..n], &data[..]);
            // Echo it back to where it came from.
            let (res, _) = server.send_to(buf, from).await;
            assert_eq!(res.unwrap(), n);
            let (res, back) = client.recv_from(Vec::with_capacity(2048)).await;
            let (m, from) = res.unwrap();
            assert_eq!(from, server_addr);
            assert_eq!(&back[..m], &data[..]);
        }
    });
}

#[test]
fn connected_udp_sockets_send_and_recv() {
    ringcore::block_on(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).await.unwrap();
        b.connect(a.local_addr().unwrap()).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        let (res, _) = a.send(b"ping" as &'static [u8]).await;
        res.unwrap();
        let (res, buf) = b.recv(Vec::with_capacity(16)).await;
        assert_eq!(&buf[..res.unwrap()], b"ping");
        // A datagram larger than the buffer is truncated to it.
        let (res, _) = b.send(vec![7u8; 100]).await;
        res.unwrap();
        let (res, buf) = a.recv(Vec::with_capacity(10)).await;
        assert_eq!(res.unwrap(), 10);
        assert_eq!(buf, vec![7u8; 10]);
    });
}
