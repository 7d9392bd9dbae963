//! A simulation leaks no descriptor (feature `sim`): the placeholders that stand for
//! simulated files and sockets, and each host core's eventfd, are all closed again after
//! files, TCP connections and UDP sockets were opened, a host crashed with ops in flight,
//! restarted, and the simulation was dropped.

mod support;

use std::time::Duration;

use ringcore::net::{TcpListener, TcpStream, UdpSocket};
use ringcore::sim::Sim;

async fn busy_server() {
    let _udp = UdpSocket::bind("0.0.0.0:9").unwrap();
    let data = ringcore::fs::File::create("/data").await.unwrap();
    let listener = TcpListener::bind("0.0.0.0:7").unwrap();
    let mut conns = Vec::new();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let (res, buf) = stream.read(Vec::with_capacity(16)).await;
        res.unwrap();
        data.write_all_at(buf, 0).await.0.unwrap();
        // Keep the connection, with a receive in flight, until the crash.
        conns.push(ringcore::spawn(async move {
            let _ = stream.read(Vec::with_capacity(16)).await;
        }));
    }
}

#[test]
fn no_descriptor_outlives_the_simulation() {
    let _lock = support::fd_lock();
    let before = support::open_fds();
    for seed in 0..5 {
        let mut sim = Sim::new(seed);
        sim.host("server", busy_server).unwrap();
        sim.host("client", || async {}).unwrap();
        for _ in 0..3 {
            sim.run_until("client", async {
                let s = TcpStream::connect("server:7").await.unwrap();
                s.write_all(b"hello".to_vec()).await.0.unwrap();
                // Left open: the crash resets it under a receive in flight.
                drop(ringcore::spawn(async move {
                    let _ = s.read(Vec::with_capacity(16)).await;
                }));
            })
            .unwrap();
        }
        sim.run_for(Duration::from_millis(50)).unwrap();
        assert!(
            support::open_fds() > before,
            "the simulation holds placeholders"
        );
        sim.crash("server").unwrap();
        sim.restart("server").unwrap();
        sim.run_for(Duration::from_millis(50)).unwrap();
        drop(sim);
        assert_eq!(
            support::open_fds(),
            before,
            "seed {seed}: descriptors leaked"
        );
    }
}
