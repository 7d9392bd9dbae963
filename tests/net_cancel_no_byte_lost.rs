//! "Dropping this future loses no data": reads, accepts and datagram receives cut short by
//! `timeout` or `select`, under every ring setup mode, with a busy neighbour task on the
//! same core, lose no byte, no datagram and no connection.
//!
//! Before the per-socket stash, a receive whose deadline passed while its CQE was already
//! on the way freed the received bytes with its buffer (40–65% of a sequence-numbered
//! stream with a busy neighbour), and a cancelled accept closed a connection the client
//! thought was open.

mod support;

use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::buf::IoBuf;
use ringcore::future::{Either, select};
use ringcore::net::{TcpListener, TcpStream, UdpSocket, UnixStream};
use ringcore::time::{sleep, timeout};
use ringcore::{Runtime, SetupMode};

const MODES: [SetupMode; 3] = [
    SetupMode::DeferTaskrun,
    SetupMode::CoopTaskrun,
    SetupMode::Plain,
];

/// A runtime in `mode`, or `None` (with the reason printed) if this kernel refuses it.
fn runtime(mode: SetupMode) -> Option<Runtime> {
    // Without the tokio context, which refuses DEFER_TASKRUN (it is each mode under test).
    match Runtime::builder()
        .tokio_context(false)
        .setup_mode(mode)
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("skipping {mode:?}: the kernel refused it: {e}");
            None
        }
    }
}

/// xorshift64*: deterministic, seedable randomness for the tests.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n
    }

    fn micros(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_micros(lo + self.below(hi - lo))
    }
}

/// `count` little-endian u32 sequence numbers: 0, 1, 2, ...
fn sequence(count: u32) -> Vec<u8> {
    (0..count).flat_map(u32::to_le_bytes).collect()
}

/// Writes `data` from a plain thread in random chunks with short pauses, then closes.
///
/// Every 32 chunks it also stalls until the reader reports a read cut short (`cuts`), so
/// every run cuts reads, however loaded the machine: the first bytes after a stall race the
/// cancel of the read that timed out waiting for them.
fn write_from_thread(
    mut sink: impl Write + Send + 'static,
    data: Vec<u8>,
    seed: u64,
) -> std::sync::mpsc::Sender<()> {
    let (cut, cuts) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut rng = Rng(seed);
        let mut at = 0;
        let mut chunks = 0u64;
        while at < data.len() {
            chunks += 1;
            if chunks.is_multiple_of(32) {
                while cuts.try_recv().is_ok() {}
                if cuts.recv_timeout(Duration::from_secs(30)).is_err() {
                    return;
                }
            }
            let n = (1 + rng.below(3000) as usize).min(data.len() - at);
            sink.write_all(&data[at..at + n]).unwrap();
            at += n;
            // Pauses around and past the readers' deadlines, so some reads wait and are cut
            // short while others complete.
            match rng.below(3) {
                0 => std::thread::sleep(Duration::from_micros(rng.below(1000))),
                1 => std::thread::sleep(Duration::from_millis(2)),
                _ => {}
            }
        }
    });
    cut
}

/// A task that keeps the core busy: it is always ready, and each poll spins ~10 µs, so
/// deadlines pass while receives are completing in the kernel. (The readers run as tasks
/// beside it: timers fire and completions are reaped only between batches of polls.)
fn spawn_busy_neighbour() -> ringcore::JoinHandle<()> {
    ringcore::spawn(async {
        loop {
            let start = Instant::now();
            while start.elapsed() < Duration::from_micros(10) {
                std::hint::spin_loop();
            }
            ringcore::yield_now().await;
        }
    })
}

/// How a read is cut short.
#[derive(Clone, Copy, Debug)]
enum Cut {
    Timeout,
    Select,
}

/// Reads until end-of-stream with every read under a random 50–500 µs deadline; returns
/// the bytes and how many reads were cut short.
async fn read_all_under_deadlines<F, Fut>(
    mut read: F,
    cut: Cut,
    seed: u64,
    report: std::sync::mpsc::Sender<()>,
) -> (Vec<u8>, u64)
where
    F: FnMut(Vec<u8>) -> Fut,
    Fut: Future<Output = (std::io::Result<usize>, Vec<u8>)>,
{
    let mut rng = Rng(seed);
    let mut got = Vec::new();
    let mut cut_short = 0;
    loop {
        let buf = Vec::with_capacity(1 + rng.below(4096) as usize);
        let limit = rng.micros(50, 500);
        let outcome = match cut {
            Cut::Timeout => timeout(limit, read(buf)).await.ok(),
            Cut::Select => match select(read(buf), sleep(limit)).await {
                Either::Left(done) => Some(done),
                Either::Right(()) => None,
            },
        };
        match outcome {
            Some((Ok(0), _)) => return (got, cut_short),
            Some((Ok(n), buf)) => got.extend_from_slice(&buf[..n]),
            Some((Err(e), _)) => panic!("read failed: {e}"),
            None => {
                cut_short += 1;
                let _ = report.send(());
            }
        }
    }
}

fn assert_same_sequence(got: &[u8], want: &[u8], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: bytes lost or duplicated");
    if let Some(at) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("{what}: first gap at byte {at}");
    }
}

#[test]
fn tcp_reads_under_random_timeouts_lose_no_byte_in_every_setup_mode() {
    for (i, mode) in MODES.into_iter().enumerate() {
        for cut in [Cut::Timeout, Cut::Select] {
            let Some(rt) = runtime(mode) else { continue };
            let want = sequence(100_000);
            rt.block_on(async {
                let listener = TcpListener::bind("127.0.0.1:0").unwrap();
                let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
                let (server, _) = listener.accept().await.unwrap();
                let report = write_from_thread(client, want.clone(), 7 + i as u64);
                let busy = spawn_busy_neighbour();
                let server = Rc::new(server);
                let reader = ringcore::spawn(read_all_under_deadlines(
                    move |b| {
                        let s = server.clone();
                        async move { s.read(b).await }
                    },
                    cut,
                    11 + i as u64,
                    report,
                ));
                let (got, cut_short) = reader.await.unwrap();
                busy.abort();
                eprintln!(
                    "{mode:?} {cut:?}: {cut_short} reads cut short; {:?}",
                    rt.metrics().driver
                );
                assert!(
                    cut_short > 0,
                    "no read was cut short: the test proved nothing"
                );
                assert_same_sequence(&got, &want, &format!("TCP {mode:?} {cut:?}"));
            });
        }
    }
}

#[test]
fn unix_stream_reads_under_random_timeouts_lose_no_byte_in_every_setup_mode() {
    for (i, mode) in MODES.into_iter().enumerate() {
        let Some(rt) = runtime(mode) else { continue };
        let want = sequence(100_000);
        rt.block_on(async {
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            let ours = UnixStream::from_std(ours);
            let report = write_from_thread(theirs, want.clone(), 21 + i as u64);
            let busy = spawn_busy_neighbour();
            let ours = Rc::new(ours);
            let reader = ringcore::spawn(read_all_under_deadlines(
                move |b| {
                    let s = ours.clone();
                    async move { s.read(b).await }
                },
                Cut::Timeout,
                23 + i as u64,
                report,
            ));
            let (got, cut_short) = reader.await.unwrap();
            busy.abort();
            eprintln!("{mode:?}: {cut_short} reads cut short");
            assert!(
                cut_short > 0,
                "no read was cut short: the test proved nothing"
            );
            assert_same_sequence(&got, &want, &format!("Unix {mode:?}"));
        });
    }
}

#[test]
fn read_halves_under_random_timeouts_lose_no_byte() {
    let rt = Runtime::new().unwrap();
    let want = sequence(50_000);
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (read_half, _write_half) = server.into_split();
        let report = write_from_thread(client, want.clone(), 31);
        let busy = spawn_busy_neighbour();
        let read_half = Rc::new(read_half);
        let reader = ringcore::spawn(read_all_under_deadlines(
            move |b| {
                let s = read_half.clone();
                async move { s.read(b).await }
            },
            Cut::Timeout,
            33,
            report,
        ));
        let (got, cut_short) = reader.await.unwrap();
        busy.abort();
        assert!(
            cut_short > 0,
            "no read was cut short: the test proved nothing"
        );
        assert_same_sequence(&got, &want, "read half");
    });
}

#[test]
fn udp_recv_from_under_random_timeouts_loses_no_datagram_or_sender() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = socket.local_addr().unwrap();
        let sender = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let from = sender.local_addr().unwrap();
        let count = 2_000u32;
        // UDP drops what overflows the receive buffer: send in batches of 16 and wait for
        // the reader to have taken each batch, so every loss would be ringcore's.
        let (acks, acked) = std::sync::mpsc::channel::<()>();
        std::thread::spawn(move || {
            for i in 0..count {
                sender.send_to(&i.to_le_bytes(), addr).unwrap();
                if i % 16 == 15 && acked.recv().is_err() {
                    return;
                }
                if i % 64 == 63 {
                    // The reader has taken everything: a pause longer than any receive's
                    // limit cuts the receive now waiting short, on either driver and
                    // however the ticks' timing falls.
                    std::thread::sleep(Duration::from_millis(2));
                }
                std::thread::sleep(Duration::from_micros(30));
            }
        });
        let started = Instant::now();
        let busy = spawn_busy_neighbour();
        let mut rng = Rng(41);
        let mut next = 0u32;
        let mut cut_short = 0;
        while next < count {
            let limit = rng.micros(50, 500);
            match timeout(limit, socket.recv_from(Vec::with_capacity(16))).await {
                Ok((Ok((n, source)), buf)) => {
                    assert_eq!(
                        source, from,
                        "datagram {next} came back with the wrong sender"
                    );
                    assert_eq!(n, 4);
                    let seq = u32::from_le_bytes(buf[..4].try_into().unwrap());
                    assert_eq!(seq, next, "datagram lost or reordered");
                    next += 1;
                    if next.is_multiple_of(16) {
                        let _ = acks.send(());
                    }
                }
                Ok((Err(e), _)) => panic!("recv_from failed: {e}"),
                Err(_) => cut_short += 1,
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "datagram {next} never arrived"
            );
        }
        busy.abort();
        assert!(
            cut_short > 0,
            "no receive was cut short: the test proved nothing"
        );
    });
}

/// 1,500 clients connect while the server accepts under a 150 µs timeout: every client is
/// served (its line echoed), none is closed unserved.
#[test]
fn accepts_under_a_150us_timeout_serve_every_one_of_1500_clients() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // All four client threads stop together for 20 ms every 125 connections, so some
        // accepts are cut short however loaded the machine is.
        let stall = std::sync::Arc::new(std::sync::Barrier::new(4));
        let clients: Vec<_> = (0..4)
            .map(|t| {
                let stall = stall.clone();
                std::thread::spawn(move || {
                    let mut rng = Rng(61 + t);
                    for i in 0..375 {
                        if i % 125 == 124 {
                            stall.wait();
                            std::thread::sleep(Duration::from_millis(20));
                        }
                        // Arrivals spread around the accept deadline, so some accepts wait
                        // past it and are cut short.
                        std::thread::sleep(rng.micros(0, 600));
                        let mut c = std::net::TcpStream::connect(addr).unwrap();
                        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
                        let line = format!("client {t}/{i}\n");
                        c.write_all(line.as_bytes()).unwrap();
                        let mut back = vec![0u8; line.len()];
                        c.read_exact(&mut back)
                            .unwrap_or_else(|e| panic!("client {t}/{i} was not served: {e}"));
                        assert_eq!(back, line.as_bytes());
                    }
                })
            })
            .collect();
        let mut served = 0;
        let mut cut_short = 0;
        let mut tasks = Vec::new();
        while served < 1500 {
            match timeout(Duration::from_micros(150), listener.accept()).await {
                Ok(Ok((stream, _))) => {
                    served += 1;
                    tasks.push(ringcore::spawn(async move {
                        let (res, buf) = stream.read(Vec::with_capacity(64)).await;
                        let n = res.unwrap();
                        stream.write_all(buf.slice(..n)).await.0.unwrap();
                    }));
                }
                Ok(Err(e)) => panic!("accept failed: {e}"),
                Err(_) => cut_short += 1,
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
        let joined = ringcore::offload::spawn_blocking(move || {
            clients.into_iter().all(|c| c.join().is_ok())
        })
        .await
        .unwrap();
        assert!(joined, "a client thread failed");
        assert!(
            cut_short > 0,
            "no accept was cut short: the test proved nothing"
        );
        eprintln!("{cut_short} accepts cut short");
    });
}

/// 10,000 reads dropped at random points (before submission, in the kernel, after their
/// CQE) on a 256-entry ring, with data arriving now and then; afterwards every byte sent
/// and then a marker arrive, in order, at fresh reads of every connection. Before the
/// fix a cancel the kernel did not find left a receive armed that swallowed the marker.
#[test]
fn ten_thousand_dropped_reads_then_every_marker_arrives_in_every_setup_mode() {
    for (m, mode) in MODES.into_iter().enumerate() {
        let Some(rt) = runtime(mode) else { continue };
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let mut pairs = Vec::new();
            for _ in 0..32 {
                let client = TcpStream::connect(addr).await.unwrap();
                let (server, _) = listener.accept().await.unwrap();
                pairs.push((client, server, Vec::<u8>::new()));
            }
            let mut rng = Rng(51 + m as u64);
            for i in 0..10_000u32 {
                let k = rng.below(pairs.len() as u64) as usize;
                let (client, server, sent) = &mut pairs[k];
                let read = Box::pin(server.read(Vec::with_capacity(1 + rng.below(64) as usize)));
                let pending = support::poll_once(read).await;
                if rng.below(8) == 0 {
                    let bytes = i.to_le_bytes().to_vec();
                    sent.extend_from_slice(&bytes);
                    client.write_all(bytes).await.0.unwrap();
                }
                match rng.below(3) {
                    0 => {}
                    1 => ringcore::yield_now().await,
                    _ => sleep(Duration::from_micros(rng.below(200))).await,
                }
                // A read that completed is data received: it counts as taken.
                if let Ok((res, buf)) = pending {
                    let n = res.unwrap();
                    assert_eq!(buf[..n], sent[..n], "a read returned bytes out of order");
                    sent.drain(..n);
                }
            }
            support::settle().await;
            for (i, (client, server, sent)) in pairs.iter_mut().enumerate() {
                let marker = format!("marker {i}");
                sent.extend_from_slice(marker.as_bytes());
                client.write_all(marker.into_bytes()).await.0.unwrap();
                let mut got = Vec::new();
                while got.len() < sent.len() {
                    let read = timeout(
                        Duration::from_secs(10),
                        server.read(Vec::with_capacity(256)),
                    );
                    let (res, buf) = read.await.expect("a marker never arrived");
                    let n = res.unwrap();
                    assert!(n > 0, "connection {i} ended early");
                    got.extend_from_slice(&buf[..n]);
                }
                assert_eq!(
                    got, *sent,
                    "connection {i} ({mode:?}) lost or reordered bytes"
                );
            }
            eprintln!("{mode:?}: {:?}", rt.metrics().driver);
        });
    }
}
