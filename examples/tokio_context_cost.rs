//! What the per-core tokio context (feature `tokio-context`) costs: a TCP ping-pong
//! between two cores (latency per round trip, io_uring_enter calls and parks per round
//! trip on the server's core) and a yield loop (the busy path), with the context on and
//! off. `cargo run --release --features tokio-context --example tokio_context_cost`
//! (`RINGCORE_DRIVER=epoll` for the readiness driver).

use std::time::{Duration, Instant};

use ringcore::{CoreId, Runtime};

const ROUND_TRIPS: u32 = 20_000;
const YIELDS: u32 = 1_000_000;

fn ping_pong(context: bool) -> (Duration, f64, f64) {
    let rt = Runtime::builder()
        .cores(2)
        .tokio_context(context)
        .build()
        .unwrap();
    rt.block_on(async {
        let listener = ringcore::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = ringcore::spawn_on(CoreId::new(1), move || async move {
            let s = ringcore::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut buf = vec![0u8; 64];
            let start = Instant::now();
            for _ in 0..ROUND_TRIPS {
                let (r, b) = s.write_all(buf).await;
                r.unwrap();
                let (r, b) = s.read(b).await;
                assert_eq!(r.unwrap(), 64);
                buf = b;
            }
            start.elapsed()
        });
        let (s, _) = listener.accept().await.unwrap();
        s.set_nodelay(true).unwrap();
        let before = ringcore::debug::metrics().unwrap();
        let mut buf = vec![0u8; 64];
        for _ in 0..ROUND_TRIPS {
            let (r, b) = s.read(buf).await;
            assert_eq!(r.unwrap(), 64);
            let (r, b) = s.write_all(b).await;
            r.unwrap();
            buf = b;
        }
        let after = ringcore::debug::metrics().unwrap();
        let took = client.await.unwrap();
        let n = f64::from(ROUND_TRIPS);
        (
            took / ROUND_TRIPS,
            (after.driver.enters - before.driver.enters) as f64 / n,
            (after.parks - before.parks) as f64 / n,
        )
    })
}

fn yields(context: bool) -> Duration {
    let rt = Runtime::builder().tokio_context(context).build().unwrap();
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..YIELDS {
            ringcore::yield_now().await;
        }
        start.elapsed() / YIELDS
    })
}

fn main() {
    for context in [false, true, false, true] {
        let (rtt, enters, parks) = ping_pong(context);
        let y = yields(context);
        println!(
            "context {context:5}: ping-pong {rtt:?}/round trip, server core {enters:.2} \
             io_uring_enter and {parks:.2} parks per round trip; yield loop {y:?}/yield"
        );
    }
}
