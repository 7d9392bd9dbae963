//! The simulated network (feature `sim`): TCP between named hosts with `ringcore::net`
//! unchanged, name resolution and binding by name, refused connects, partitions and
//! healing, the resets a crashed host leaves behind, UDP, and link bandwidth.

use std::io;
use std::time::Duration;

use ringcore::net::{TcpListener, TcpStream};
use ringcore::sim::Sim;
use ringcore::time::{sleep, timeout};

/// An echo server on port 7: every connection gets its bytes back.
async fn echo_server() {
    let listener = TcpListener::bind("0.0.0.0:7").unwrap();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            return;
        };
        ringcore::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            loop {
                let (res, b) = stream.read(buf).await;
                match res {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let (res, b) = stream.write_all(b).await;
                if res.is_err() {
                    return;
                }
                buf = b;
                buf.clear();
            }
        });
    }
}

/// Reads exactly `n` bytes.
async fn read_n(stream: &TcpStream, n: usize) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    while out.len() < n {
        let (res, buf) = stream.read(Vec::with_capacity(n - out.len())).await;
        if res? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        out.extend_from_slice(&buf);
    }
    Ok(out)
}

fn sim_with_server(seed: u64) -> Sim {
    let mut sim = Sim::new(seed);
    sim.host("server", echo_server).unwrap();
    sim.host("client", || async {}).unwrap();
    sim
}

#[test]
fn echo_between_named_hosts() {
    let mut sim = sim_with_server(1);
    let server_ip = sim.addr("server").unwrap();
    let (reply, peer, addrs) = sim
        .run_until("client", async {
            let addrs: Vec<_> = ringcore::net::lookup_host("server:7")
                .await
                .unwrap()
                .collect();
            let stream = TcpStream::connect("server:7").await.unwrap();
            let msg = b"hello, simulated world".to_vec();
            stream.write_all(msg.clone()).await.0.unwrap();
            let reply = read_n(&stream, msg.len()).await.unwrap();
            (reply, stream.peer_addr().unwrap(), addrs)
        })
        .unwrap();
    assert_eq!(reply, b"hello, simulated world");
    assert_eq!(peer, std::net::SocketAddr::new(server_ip, 7));
    assert_eq!(addrs, [peer]);
}

#[test]
fn bad_addresses_are_typed_errors() {
    let mut sim = sim_with_server(2);
    let (refused, unknown) = sim
        .run_until("client", async {
            let refused = TcpStream::connect("server:8").await.map(drop);
            let unknown = TcpStream::connect("nowhere:7").await.map(drop);
            (refused, unknown)
        })
        .unwrap();
    assert_eq!(
        refused.unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    assert_eq!(unknown.unwrap_err().kind(), io::ErrorKind::NotFound);
}

#[test]
fn a_partition_holds_messages_until_healed() {
    let mut sim = sim_with_server(3);
    sim.run_until("client", async {
        let stream = TcpStream::connect("server:7").await.unwrap();
        // Park the connection in a task the test can keep using across runs.
        drop(ringcore::spawn(async move {
            sleep(Duration::from_secs(1)).await;
            stream.write_all(b"ping".to_vec()).await.0.unwrap();
            let got = timeout(Duration::from_secs(5), read_n(&stream, 4)).await;
            assert!(got.is_err(), "no reply crosses the partition");
            let got = read_n(&stream, 4).await.unwrap();
            assert_eq!(got, b"ping");
            SENT.with(|s| s.set(true));
        }));
    })
    .unwrap();
    sim.partition(&["client"], &["server"]).unwrap();
    sim.run_for(Duration::from_secs(30)).unwrap();
    assert!(!SENT.with(std::cell::Cell::get), "held while partitioned");
    sim.heal();
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert!(SENT.with(std::cell::Cell::get), "delivered after healing");
}

thread_local! {
    static SENT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

#[test]
fn a_connect_across_a_partition_times_out() {
    let mut sim = sim_with_server(4);
    sim.partition(&["client"], &["server"]).unwrap();
    let res = sim
        .run_until("client", async {
            TcpStream::connect("server:7").await.map(drop)
        })
        .unwrap();
    assert_eq!(res.unwrap_err().kind(), io::ErrorKind::TimedOut);
}

#[test]
fn a_crashed_server_resets_its_connections_and_comes_back() {
    let mut sim = sim_with_server(5);
    sim.run_until("client", async {
        let stream = TcpStream::connect("server:7").await.unwrap();
        drop(ringcore::spawn(async move {
            let res = read_n(&stream, 1).await;
            RESET.with(|r| r.set(res.err().map(|e| e.kind())));
        }));
    })
    .unwrap();
    sim.run_for(Duration::from_millis(100)).unwrap();
    sim.crash("server").unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    assert_eq!(
        RESET.with(std::cell::Cell::get),
        Some(io::ErrorKind::ConnectionReset)
    );
    // While it is down nothing listens; after the restart the server listens again.
    let down = sim
        .run_until("client", async {
            TcpStream::connect("server:7").await.map(drop)
        })
        .unwrap();
    assert_eq!(down.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
    sim.restart("server").unwrap();
    let echoed = sim
        .run_until("client", async {
            let stream = TcpStream::connect("server:7").await.unwrap();
            stream.write_all(b"again".to_vec()).await.0.unwrap();
            read_n(&stream, 5).await.unwrap()
        })
        .unwrap();
    assert_eq!(echoed, b"again");
}

thread_local! {
    static RESET: std::cell::Cell<Option<io::ErrorKind>> = const { std::cell::Cell::new(None) };
}

/// Five clients echo 3,000 bytes each; the trace of a run, as text.
fn five_clients(seed: u64) -> (u64, Vec<String>) {
    let mut sim = sim_with_server(seed);
    sim.keep_trace_log();
    sim.run_until("client", async {
        let mut tasks = Vec::new();
        for i in 0..5u8 {
            tasks.push(ringcore::spawn(async move {
                let stream = TcpStream::connect("server:7").await.unwrap();
                stream.write_all(vec![i; 3000]).await.0.unwrap();
                read_n(&stream, 3000).await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    })
    .unwrap();
    (sim.trace_hash(), sim.trace_log())
}

/// One seed, one trace, even while another thread of the process opens and closes fds
/// (simulated fds are real placeholders whose numbers then differ from run to run: the
/// regression where an accepted fd's number reached the trace).
#[test]
fn network_runs_replay_by_seed_while_fds_churn() {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut open = std::collections::VecDeque::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                open.push_back(std::fs::File::open("/").unwrap());
                if open.len() > 5 {
                    open.remove(open.len() / 2);
                    open.pop_front();
                }
            }
        })
    };
    let (hash, log) = five_clients(9);
    for _ in 0..10 {
        let (h, l) = five_clients(9);
        if let Some(i) = log.iter().zip(&l).position(|(a, b)| a != b) {
            panic!("trace diverged at record {i}: {} | {}", log[i], l[i]);
        }
        assert_eq!(h, hash);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    assert_ne!(five_clients(10).0, hash, "another seed, another trace");
}

/// `bind("name:port")` with the host's own simulated name binds on that host, without a
/// DNS query; another host's name is not a local address, an unknown name is `NotFound`.
#[test]
fn a_host_binds_with_its_own_name() {
    let mut sim = Sim::new(15);
    sim.host("server", || async {
        let listener = TcpListener::bind("server:9").unwrap();
        let udp = ringcore::net::UdpSocket::bind("server:9").unwrap();
        let (stream, _) = listener.accept().await.unwrap();
        stream.write_all(b"bound by name".to_vec()).await.0.unwrap();
        drop(udp);
        std::future::pending::<()>().await;
    })
    .unwrap();
    sim.host("client", || async {}).unwrap();
    let server_ip = sim.addr("server").unwrap();
    let (other, unknown, local, got) = sim
        .run_until("client", async {
            let other = TcpListener::bind("server:10").map(drop).unwrap_err();
            let unknown = TcpListener::bind("nowhere:10").map(drop).unwrap_err();
            let own = TcpListener::bind("client:0").unwrap();
            let stream = TcpStream::connect("server:9").await.unwrap();
            let got = read_n(&stream, 13).await.unwrap();
            (other.kind(), unknown.kind(), own.local_addr().unwrap(), got)
        })
        .unwrap();
    assert_eq!(other, io::ErrorKind::AddrNotAvailable);
    assert_eq!(unknown, io::ErrorKind::NotFound);
    assert_eq!(local.ip(), sim.addr("client").unwrap());
    assert_ne!(local.ip(), server_ip);
    assert_eq!(got, b"bound by name");
}

/// On a real runtime a name still resolves for real: a name that does not resolve is a
/// typed error (a `ResolveError` inside), here without a DNS query (`.invalid`, RFC 6761).
#[test]
fn binding_a_name_on_a_real_runtime_is_a_typed_error() {
    let err =
        ringcore::block_on(async { TcpListener::bind("db.invalid:5432").map(drop) }).unwrap_err();
    let resolve = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<ringcore::net::ResolveError>())
        .unwrap();
    assert_eq!(resolve.host(), "db.invalid");
    let local = ringcore::block_on(async {
        TcpListener::bind("localhost:0")
            .unwrap()
            .local_addr()
            .unwrap()
    });
    assert!(local.ip().is_loopback());
}

/// A sink on port 9 that reads until end of stream and answers the byte count.
async fn sink() {
    let listener = TcpListener::bind("0.0.0.0:9").unwrap();
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        ringcore::spawn(async move {
            let mut n = 0u64;
            loop {
                let (res, _) = stream.read(Vec::with_capacity(64 * 1024)).await;
                match res.unwrap() {
                    0 => break,
                    k => n += k as u64,
                }
            }
            stream.write_all(n.to_le_bytes().to_vec()).await.0.unwrap();
        });
    }
}

/// Virtual time to send `bytes` to the sink and hear back its count.
fn transfer(seed: u64, bandwidth: Option<(u64, u64)>, bytes: usize) -> Duration {
    let mut sim = Sim::new(seed);
    sim.net_latency(Duration::from_millis(1), Duration::from_millis(1));
    sim.net_bandwidth(bandwidth);
    sim.host("sink", sink).unwrap();
    sim.host("source", || async {}).unwrap();
    sim.run_until("source", async move {
        let stream = TcpStream::connect("sink:9").await.unwrap();
        let start = ringcore::time::now();
        // In 64 KiB writes, as a real sender's socket buffer would cut it.
        for chunk in vec![7u8; bytes].chunks(64 * 1024) {
            stream.write_all(chunk.to_vec()).await.0.unwrap();
        }
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let count = read_n(&stream, 8).await.unwrap();
        assert_eq!(u64::from_le_bytes(count.try_into().unwrap()), bytes as u64);
        ringcore::time::now() - start
    })
    .unwrap()
}

/// With a link bandwidth, a transfer takes virtual time proportional to its size; without
/// one, only latency; a range is drawn per link from the seed.
#[test]
fn a_transfer_takes_time_proportional_to_its_size() {
    const MIB: u64 = 1 << 20;
    let one = transfer(16, Some((MIB, MIB)), MIB as usize);
    let four = transfer(16, Some((MIB, MIB)), 4 * MIB as usize);
    // 1 s (4 s) on the wire, plus the handshake-free round trip and the reply.
    assert!(
        one >= Duration::from_secs(1) && one < Duration::from_millis(1050),
        "{one:?}"
    );
    assert!(
        four >= Duration::from_secs(4) && four < Duration::from_millis(4050),
        "{four:?}"
    );
    let unlimited = transfer(16, None, 4 * MIB as usize);
    assert!(unlimited < Duration::from_millis(10), "{unlimited:?}");
    // A range: the link draws a bandwidth in it, the same for one seed.
    let drawn = transfer(17, Some((MIB, 8 * MIB)), 4 * MIB as usize);
    assert!(
        drawn >= Duration::from_millis(500) && drawn < Duration::from_millis(4050),
        "{drawn:?}"
    );
    assert_eq!(transfer(17, Some((MIB, 8 * MIB)), 4 * MIB as usize), drawn);
}

/// UDP between hosts: `send_to`/`recv_from` with the sender's address, and a connected
/// socket's `send`/`recv`.
#[test]
fn udp_between_named_hosts() {
    let mut sim = Sim::new(8);
    sim.host("dns", || async {
        let sock = ringcore::net::UdpSocket::bind("0.0.0.0:53").unwrap();
        loop {
            let (res, buf) = sock.recv_from(Vec::with_capacity(512)).await;
            let (_, from) = res.unwrap();
            let mut reply = b"re: ".to_vec();
            reply.extend_from_slice(&buf);
            sock.send_to(reply, from).await.0.unwrap();
        }
    })
    .unwrap();
    sim.host("client", || async {}).unwrap();
    let dns = std::net::SocketAddr::new(sim.addr("dns").unwrap(), 53);
    let (a, b, from) = sim
        .run_until("client", async {
            let sock = ringcore::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            sock.send_to(b"one".to_vec(), "dns:53").await.0.unwrap();
            let (res, a) = sock.recv_from(Vec::with_capacity(64)).await;
            let (_, from) = res.unwrap();
            sock.connect("dns:53").await.unwrap();
            sock.send(b"two".to_vec()).await.0.unwrap();
            let (res, b) = sock.recv(Vec::with_capacity(64)).await;
            res.unwrap();
            (a, b, from)
        })
        .unwrap();
    assert_eq!(
        (a.as_slice(), b.as_slice()),
        (&b"re: one"[..], &b"re: two"[..])
    );
    assert_eq!(from, dns);
}

/// Loss and duplication from the seed: 1,000 datagrams with 20 % loss and 10 %
/// duplication arrive about 880 times, some of them twice, and one seed gives one count.
#[test]
fn udp_loss_and_duplication_follow_the_seed() {
    let run = |seed| {
        let mut sim = Sim::new(seed);
        sim.udp_faults(0.2, 0.1);
        let got = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let g = got.clone();
        sim.host("sink", move || {
            let g = g.clone();
            async move {
                let sock = ringcore::net::UdpSocket::bind("0.0.0.0:9").unwrap();
                loop {
                    let (res, buf) = sock.recv(Vec::with_capacity(8)).await;
                    res.unwrap();
                    g.borrow_mut().push(u16::from_le_bytes([buf[0], buf[1]]));
                }
            }
        })
        .unwrap();
        sim.host("source", || async {
            let sock = ringcore::net::UdpSocket::bind("0.0.0.0:0").unwrap();
            for i in 0..1000u16 {
                sock.send_to(i.to_le_bytes().to_vec(), "sink:9")
                    .await
                    .0
                    .unwrap();
                if i % 100 == 99 {
                    // Let the receiver drain (its queue holds 256 datagrams).
                    ringcore::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
        .unwrap();
        sim.run_for(Duration::from_secs(2)).unwrap();
        got.borrow().clone()
    };
    let got = run(1);
    assert!((780..980).contains(&got.len()), "{} datagrams", got.len());
    let unique: std::collections::BTreeSet<_> = got.iter().collect();
    assert!(unique.len() < got.len(), "some were duplicated");
    assert!(unique.len() < 1000, "some were lost");
    assert!(got.windows(2).any(|w| w[0] > w[1]), "some were reordered");
    assert_eq!(run(1), got, "one seed, one delivery");
}

/// The tokio I/O bridge (`into_poll_io`: readiness polls and non-blocking calls instead of
/// ring ops) runs on simulated sockets too.
#[test]
fn the_poll_io_bridge_runs_simulated() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut sim = sim_with_server(7);
    let reply = sim
        .run_until("client", async {
            let stream = TcpStream::connect("server:7").await.unwrap();
            let mut io = stream.into_poll_io();
            io.write_all(b"through the bridge").await.unwrap();
            let mut buf = [0u8; 18];
            io.read_exact(&mut buf).await.unwrap();
            buf
        })
        .unwrap();
    assert_eq!(&reply, b"through the bridge");
}

/// Bytes a client sends (and its FIN) before the server accepts wait in the connection,
/// as in a kernel's accept queue: the server reads them, then end of stream.
#[test]
fn data_sent_before_the_accept_is_read_after_it() {
    let mut sim = Sim::new(1);
    sim.host("srv", || async {}).unwrap();
    sim.host("cli", || async {}).unwrap();
    let listener = sim
        .run_until("srv", async { TcpListener::bind("0.0.0.0:80").unwrap() })
        .unwrap();
    sim.run_until("cli", async {
        let s = TcpStream::connect("srv:80").await.unwrap();
        s.write_all(vec![7u8; 10]).await.0.unwrap();
    })
    .unwrap();
    sim.run_for(Duration::from_secs(1)).unwrap();
    let (data, eof) = sim
        .run_until("srv", async move {
            let (s, _) = listener.accept().await.unwrap();
            let data = read_n(&s, 10).await.unwrap();
            let (res, _) = s.read(Vec::with_capacity(1)).await;
            (data, res.unwrap())
        })
        .unwrap();
    assert_eq!(data, [7u8; 10]);
    assert_eq!(eof, 0);
}

/// Bytes a client sends before the server accepts its connection wait in the connection,
/// as in a kernel's accept queue: no reset (the regression: they reset the client).
#[test]
fn data_sent_before_the_accept_waits_for_it() {
    let mut sim = Sim::new(18);
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:7").unwrap();
        ringcore::time::sleep(Duration::from_secs(1)).await;
        let (stream, _) = listener.accept().await.unwrap();
        let got = read_n(&stream, 5).await.unwrap();
        stream.write_all(got).await.0.unwrap();
        std::future::pending::<()>().await;
    })
    .unwrap();
    sim.host("client", || async {}).unwrap();
    let back = sim
        .run_until("client", async {
            let stream = TcpStream::connect("server:7").await.unwrap();
            stream.write_all(b"early".to_vec()).await.0.unwrap();
            read_n(&stream, 5).await
        })
        .unwrap();
    assert_eq!(back.unwrap(), b"early");
}
