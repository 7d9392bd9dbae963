//! Peer reset, half-close and end-of-stream through the tokio traits: the same scripted
//! scenario runs over tokio's own `TcpStream` (in a tokio runtime) and over a ringcore
//! `PollIo<TcpStream>` (in `ringcore::block_on`), against the same std peer, and both must
//! report the same results step by step; likewise tokio's and ringcore's `UnixStream`.
#![cfg(feature = "tokio-io")]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener as StdListener, TcpStream as StdStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// One step of our side's script.
#[derive(Clone, Copy, Debug)]
enum Step {
    /// One `read` into a 64-byte buffer.
    Read,
    /// `read_to_end`.
    ReadToEnd,
    /// One `write` (not `write_all`).
    Write(&'static [u8]),
    /// `shutdown` (the write direction).
    Shutdown,
    /// Block the thread (lets the peer's FIN or RST arrive); no runtime timer needed.
    Pause(u64),
}

fn outcome<T: std::fmt::Debug>(res: std::io::Result<T>) -> String {
    match res {
        Ok(v) => format!("Ok({v:?})"),
        Err(e) => format!("Err({:?}, os {:?})", e.kind(), e.raw_os_error()),
    }
}

async fn run_script<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, steps: &[Step]) -> Vec<String> {
    let mut log = Vec::new();
    for step in steps {
        let line = match *step {
            Step::Read => {
                let mut buf = [0u8; 64];
                let res = s.read(&mut buf).await;
                outcome(res.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned()))
            }
            Step::ReadToEnd => {
                let mut buf = Vec::new();
                let res = s.read_to_end(&mut buf).await;
                outcome(res.map(|_| String::from_utf8_lossy(&buf).into_owned()))
            }
            Step::Write(data) => outcome(s.write(data).await),
            Step::Shutdown => outcome(s.shutdown().await),
            Step::Pause(ms) => {
                std::thread::sleep(Duration::from_millis(ms));
                continue;
            }
        };
        log.push(format!("{step:?} -> {line}"));
    }
    log
}

/// Runs `peer` on a std thread against a connection made by `ours`; returns both logs.
/// The peer starts only once `ours` has its connection (`ours` waits on the barrier after
/// its connect): a peer that resets at once could otherwise reset a connect still being
/// finished, which fails the connect instead of the first write, depending on timing.
fn with_peer(
    peer: fn(StdStream) -> String,
    ours: impl FnOnce(std::net::SocketAddr, &std::sync::Barrier) -> Vec<String>,
) -> (Vec<String>, String) {
    let listener = StdListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let connected = std::sync::Arc::new(std::sync::Barrier::new(2));
    let peer_connected = connected.clone();
    let peer = std::thread::spawn(move || {
        let s = listener.accept().unwrap().0;
        peer_connected.wait();
        peer(s)
    });
    let log = ours(addr, &connected);
    (log, peer.join().unwrap())
}

fn over_tokio(peer: fn(StdStream) -> String, steps: &[Step]) -> (Vec<String>, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    with_peer(peer, |addr, connected| {
        rt.block_on(async {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            connected.wait();
            run_script(&mut s, steps).await
        })
    })
}

fn over_ringcore(peer: fn(StdStream) -> String, steps: &[Step]) -> (Vec<String>, String) {
    with_peer(peer, |addr, connected| {
        ringcore::block_on(async {
            let s = ringcore::net::TcpStream::connect(addr).await.unwrap();
            connected.wait();
            run_script(&mut s.into_poll_io(), steps).await
        })
    })
}

/// Runs the scenario both ways and checks they agree; returns ringcore's log.
fn same_as_tokio(peer: fn(StdStream) -> String, steps: &[Step]) -> Vec<String> {
    let tokio = over_tokio(peer, steps);
    let ring = over_ringcore(peer, steps);
    assert_eq!(ring, tokio, "ringcore (left) and tokio (right) differ");
    ring.0
}

/// Closes with SO_LINGER 0, so the kernel sends RST instead of FIN.
fn reset(s: StdStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: passes a live linger struct and its size for the socket we own.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(s);
}

fn read_all(s: &mut StdStream) -> String {
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    got
}

#[test]
fn end_of_stream_then_reply() {
    // The peer sends and half-closes, then reads our reply to its end.
    fn peer(mut s: StdStream) -> String {
        s.write_all(b"hello").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        read_all(&mut s)
    }
    let steps = [
        Step::ReadToEnd,
        Step::Read,
        Step::Read,
        Step::Write(b"bye"),
        Step::Shutdown,
    ];
    let log = same_as_tokio(peer, &steps);
    assert_eq!(log[0], "ReadToEnd -> Ok(\"hello\")");
    assert_eq!(log[1], "Read -> Ok(\"\")", "end-of-stream repeats");
}

#[test]
fn our_half_close() {
    // We send and half-close; the peer reads to the end and answers; we read its answer.
    fn peer(mut s: StdStream) -> String {
        let got = read_all(&mut s);
        s.write_all(format!("got {got}").as_bytes()).unwrap();
        got
    }
    let steps = [
        Step::Write(b"ping"),
        Step::Shutdown,
        Step::ReadToEnd,
        Step::Write(b"late"),
        Step::Shutdown,
    ];
    let log = same_as_tokio(peer, &steps);
    assert_eq!(log[2], "ReadToEnd -> Ok(\"got ping\")");
    assert!(log[3].contains("BrokenPipe"), "{log:?}");
}

#[test]
fn peer_reset_seen_by_a_waiting_read() {
    // The peer resets while our read waits; later reads see end-of-stream, writes fail.
    fn peer(s: StdStream) -> String {
        std::thread::sleep(Duration::from_millis(30));
        reset(s);
        String::new()
    }
    let steps = [Step::Read, Step::Read, Step::Write(b"x"), Step::Shutdown];
    let log = same_as_tokio(peer, &steps);
    assert!(log[0].contains("ConnectionReset"), "{log:?}");
}

#[test]
fn peer_reset_seen_by_writes() {
    // The peer resets before we write anything.
    fn peer(s: StdStream) -> String {
        reset(s);
        String::new()
    }
    let steps = [
        Step::Pause(50),
        Step::Write(b"x"),
        Step::Write(b"y"),
        Step::Read,
        Step::Shutdown,
    ];
    let log = same_as_tokio(peer, &steps);
    assert!(log[0].contains("ConnectionReset"), "{log:?}");
    assert!(log[1].contains("BrokenPipe"), "{log:?}");
}

#[test]
fn peer_closes_with_unread_data_resets() {
    // The peer closes without reading what we sent: its kernel answers with RST.
    fn peer(mut s: StdStream) -> String {
        let mut one = [0u8; 1];
        s.read_exact(&mut one).unwrap();
        drop(s);
        String::from_utf8_lossy(&one).into_owned()
    }
    let steps = [
        Step::Write(b"ab"),
        Step::Pause(50),
        Step::Read,
        Step::Read,
        Step::Write(b"c"),
    ];
    let log = same_as_tokio(peer, &steps);
    assert!(log[1].contains("ConnectionReset"), "{log:?}");
}

/// The Unix-domain form of `same_as_tokio`: tokio's `UnixStream` against ringcore's, with a
/// std peer on a socket file.
fn unix_same_as_tokio(
    peer: fn(std::os::unix::net::UnixStream) -> String,
    steps: &[Step],
) -> Vec<String> {
    fn with_unix_peer(
        peer: fn(std::os::unix::net::UnixStream) -> String,
        ours: impl FnOnce(&std::path::Path) -> Vec<String>,
    ) -> (Vec<String>, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let peer = std::thread::spawn(move || peer(listener.accept().unwrap().0));
        let log = ours(&path);
        (log, peer.join().unwrap())
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let tokio = with_unix_peer(peer, |path| {
        rt.block_on(async {
            let mut s = tokio::net::UnixStream::connect(path).await.unwrap();
            run_script(&mut s, steps).await
        })
    });
    let ring = with_unix_peer(peer, |path| {
        ringcore::block_on(async {
            let s = ringcore::net::UnixStream::connect(path).await.unwrap();
            run_script(&mut s.into_poll_io(), steps).await
        })
    });
    assert_eq!(ring, tokio, "ringcore (left) and tokio (right) differ");
    ring.0
}

#[test]
fn unix_end_of_stream_and_half_close() {
    fn peer(mut s: std::os::unix::net::UnixStream) -> String {
        s.write_all(b"hello").unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut got = String::new();
        s.read_to_string(&mut got).unwrap();
        got
    }
    let steps = [
        Step::ReadToEnd,
        Step::Read,
        Step::Write(b"bye"),
        Step::Shutdown,
        Step::Write(b"late"),
    ];
    let log = unix_same_as_tokio(peer, &steps);
    assert_eq!(log[0], "ReadToEnd -> Ok(\"hello\")");
    assert!(log[4].contains("BrokenPipe"), "{log:?}");
}

#[test]
fn unix_peer_closes_with_unread_data() {
    // A Unix stream socket closed with unread data gives its peer ECONNRESET.
    fn peer(mut s: std::os::unix::net::UnixStream) -> String {
        let mut one = [0u8; 1];
        s.read_exact(&mut one).unwrap();
        drop(s);
        String::from_utf8_lossy(&one).into_owned()
    }
    let steps = [
        Step::Write(b"ab"),
        Step::Pause(50),
        Step::Read,
        Step::Read,
        Step::Write(b"c"),
        Step::Shutdown,
    ];
    let log = unix_same_as_tokio(peer, &steps);
    assert!(log[1].contains("ConnectionReset"), "{log:?}");
}
