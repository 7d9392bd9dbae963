//! Unix sockets on a simulated host (feature `sim`): `UnixListener`, `UnixStream`,
//! `UnixStream::pair` and `UnixDatagram` between tasks of one host, with paths in each
//! host's own namespace, on the plain and the multishot paths.

use std::io;
use std::time::Duration;

use ringcore::net::{UnixDatagram, UnixListener, UnixStream};
use ringcore::sim::Sim;
use ringcore::stream::StreamExt;

/// Reads exactly `n` bytes.
async fn read_n(stream: &UnixStream, n: usize) -> io::Result<Vec<u8>> {
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

/// An echo server on `path` over `incoming()` and `recv_stream()`.
async fn echo_on(path: &'static str) {
    let listener = UnixListener::bind(path).unwrap();
    let mut incoming = listener.incoming();
    while let Some(conn) = incoming.next().await {
        let stream = conn.unwrap();
        ringcore::spawn(async move {
            let mut received = stream.recv_stream();
            while let Some(Ok(buf)) = received.next().await {
                if stream.write_all(buf).await.0.is_err() {
                    return;
                }
            }
        });
    }
}

/// Clients on one host echo through a listener on a path of that host; addresses are the
/// path and unnamed, as on Linux; one seed gives one trace.
#[test]
fn unix_streams_echo_between_tasks_of_one_host() {
    let run = |seed| {
        let mut sim = Sim::new(seed);
        sim.host("app", || async {
            ringcore::spawn(echo_on("/run/app.sock"));
        })
        .unwrap();
        let (addrs, replies) = sim
            .run_until("app", async {
                // Let the server bind first.
                ringcore::time::sleep(Duration::from_millis(1)).await;
                let mut tasks = Vec::new();
                for i in 0..5u8 {
                    tasks.push(ringcore::spawn(async move {
                        let s = UnixStream::connect("/run/app.sock").await.unwrap();
                        let msg = vec![i; 20_000 + usize::from(i)];
                        s.write_all(msg.clone()).await.0.unwrap();
                        let back = read_n(&s, msg.len()).await.unwrap();
                        assert_eq!(back, msg);
                        (s.local_addr().unwrap(), s.peer_addr().unwrap())
                    }));
                }
                let mut addrs = Vec::new();
                for t in tasks {
                    addrs.push(t.await.unwrap());
                }
                (addrs, 5)
            })
            .unwrap();
        (addrs, replies, sim.trace_hash())
    };
    let (addrs, replies, hash) = run(31);
    assert_eq!(replies, 5);
    for (local, peer) in &addrs {
        assert!(local.is_unnamed());
        assert_eq!(
            peer.as_pathname(),
            Some(std::path::Path::new("/run/app.sock"))
        );
    }
    assert_eq!(run(31).2, hash, "one seed, one trace");
}

/// Paths belong to their host: two hosts bind one path; on one host a second bind is
/// `AddrInUse` until the first listener is dropped, and a connect to a path nobody bound
/// is `NotFound`.
#[test]
fn unix_paths_are_per_host() {
    let mut sim = Sim::new(32);
    sim.host("a", || async {}).unwrap();
    sim.host("b", || async {}).unwrap();
    let kept = sim
        .run_until("a", async {
            let first = UnixListener::bind("/tmp/s").unwrap();
            let again = UnixListener::bind("/tmp/s").map(drop).unwrap_err().kind();
            let missing = UnixStream::connect("/tmp/none").await.map(drop);
            drop(first);
            let rebound = UnixListener::bind("/tmp/s").unwrap();
            (again, missing.unwrap_err().kind(), rebound)
        })
        .unwrap();
    assert_eq!(kept.0, io::ErrorKind::AddrInUse);
    assert_eq!(kept.1, io::ErrorKind::NotFound);
    // Host b has its own namespace: the same path is free there, and b cannot reach a's.
    let b = sim
        .run_until("b", async {
            let missing = UnixStream::connect("/tmp/s").await.map(drop);
            let own = UnixListener::bind("/tmp/s").map(drop);
            (missing.unwrap_err().kind(), own.is_ok())
        })
        .unwrap();
    assert_eq!(b, (io::ErrorKind::NotFound, true));
}

/// `UnixStream::pair`: two connected sockets; a write shut down reads as end of stream, a
/// dropped peer too.
#[test]
fn a_unix_pair_is_connected() {
    let mut sim = Sim::new(33);
    sim.host("h", || async {}).unwrap();
    let (got, eof, after_drop) = sim
        .run_until("h", async {
            let (a, b) = UnixStream::pair().unwrap();
            a.write_all(b"over the pair".to_vec()).await.0.unwrap();
            a.shutdown(std::net::Shutdown::Write).unwrap();
            let got = read_n(&b, 13).await.unwrap();
            let (n, _) = b.read(Vec::with_capacity(8)).await;
            b.write_all(b"back".to_vec()).await.0.unwrap();
            let back = read_n(&a, 4).await.unwrap();
            drop(b);
            let (after, _) = a.read(Vec::with_capacity(8)).await;
            assert_eq!(back, b"back");
            (got, n.unwrap(), after.unwrap())
        })
        .unwrap();
    assert_eq!(got, b"over the pair");
    assert_eq!((eof, after_drop), (0, 0));
}

/// Unix datagrams within a host: `send_to`/`recv_from` with the sender's path, a connected
/// pair, and the errors of sends to nowhere, to a closed peer and with no address.
#[test]
fn unix_datagrams_within_a_host() {
    let mut sim = Sim::new(34);
    sim.host("h", || async {}).unwrap();
    let out = sim
        .run_until("h", async {
            let server = UnixDatagram::bind("/run/d.sock").unwrap();
            let client = UnixDatagram::bind("/run/c.sock").unwrap();
            let reader = ringcore::spawn(async move {
                let mut got = Vec::new();
                for _ in 0..3 {
                    let (res, buf) = server.recv_from(Vec::with_capacity(64)).await;
                    let (n, from) = res.unwrap();
                    got.push((buf[..n].to_vec(), from.as_pathname().map(|p| p.to_owned())));
                }
                got
            });
            for msg in [&b"one"[..], b"two", b"three"] {
                client.send_to(msg.to_vec(), "/run/d.sock").await.0.unwrap();
            }
            let got = reader.await.unwrap();
            let nowhere = client.send_to(b"x".to_vec(), "/run/none").await.0;
            let unbound = UnixDatagram::unbound().unwrap();
            let no_addr = unbound.send(b"x".to_vec()).await.0;
            let (a, b) = UnixDatagram::pair().unwrap();
            a.send(b"pair".to_vec()).await.0.unwrap();
            let (res, buf) = b.recv(Vec::with_capacity(8)).await;
            let paired = buf[..res.unwrap()].to_vec();
            drop(b);
            let closed = a.send(b"gone".to_vec()).await.0;
            (got, nowhere, no_addr, paired, closed)
        })
        .unwrap();
    let (got, nowhere, no_addr, paired, closed) = out;
    let c = Some(std::path::PathBuf::from("/run/c.sock"));
    assert_eq!(
        got,
        [
            (b"one".to_vec(), c.clone()),
            (b"two".to_vec(), c.clone()),
            (b"three".to_vec(), c)
        ]
    );
    assert_eq!(nowhere.unwrap_err().kind(), io::ErrorKind::NotFound);
    assert_eq!(
        no_addr.unwrap_err().raw_os_error(),
        Some(libc::EDESTADDRREQ)
    );
    assert_eq!(paired, b"pair");
    assert_eq!(closed.unwrap_err().kind(), io::ErrorKind::ConnectionRefused);
}
