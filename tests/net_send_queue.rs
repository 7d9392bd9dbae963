//! `SendQueue`: write-behind sends keep every byte in order (short sends continued, one
//! send in flight), push back on a slow peer, report the first error and stop, keep sending
//! after their handles are dropped, and leave nothing behind at shutdown. Run on both
//! drivers (.ci/run runs the suite again with RINGCORE_DRIVER=epoll).

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::time::Duration;

use ringcore::net::{SendQueue, TcpListener, TcpStream};
use ringcore::stream::StreamExt;

/// A connected pair: the ringcore end and a blocking std peer on another thread's side.
async fn pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stream = TcpStream::connect(addr).await.unwrap();
    let (peer, _) = listener.accept().unwrap();
    (stream, peer)
}

/// Shrinks `stream`'s kernel send buffer so large buffers go out in several short sends.
fn small_send_buffer(stream: &TcpStream) {
    let size: libc::c_int = 4096;
    // SAFETY: setsockopt with a pointer to a live c_int and its size, on an open fd.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
}

/// Reads everything until EOF on a thread, slowly if `pause` is set.
fn read_all(
    mut peer: std::net::TcpStream,
    pause: Option<Duration>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        peer.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 8192];
        loop {
            let n = match peer.read(&mut chunk) {
                Ok(n) => n,
                // A reset ends the stream too (a shutdown that cancelled a send may reset).
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
                Err(e) => panic!("peer read: {e} (timed out: the queue stalled?)"),
            };
            if n == 0 {
                return got;
            }
            got.extend_from_slice(&chunk[..n]);
            if let Some(p) = pause {
                std::thread::sleep(p);
            }
        }
    })
}

// Every test takes `support::fd_lock()`: two of them count this process's open fds, and
// the others' sockets would show up in the count.

#[test]
fn large_buffers_behind_a_small_socket_buffer_arrive_whole_and_in_order() {
    let _fds = support::fd_lock();
    ringcore::block_on(async {
        let (stream, peer) = pair().await;
        small_send_buffer(&stream);
        let reader = read_all(peer, Some(Duration::from_micros(200)));
        let queue: SendQueue<Vec<u8>> = stream.send_queue().with_limit(512 * 1024);
        let mut expected = Vec::new();
        let mut most_queued = 0;
        for i in 0..48 {
            // Sizes from 1 byte to ~300 KiB, each a different pattern.
            let len = 1 + (i * 6421) % (300 * 1024);
            let buf = support::random_bytes(len, i as u64 + 1);
            expected.extend_from_slice(&buf);
            queue.send(buf).await.unwrap();
            most_queued = most_queued.max(queue.queued_bytes());
        }
        queue.flush().await.unwrap();
        assert_eq!(queue.queued_bytes(), 0);
        assert_eq!(queue.sent_bytes(), expected.len() as u64);
        assert_eq!(queue.unsent_bytes(), 0);
        // Backpressure: `send` waited while more than the limit was queued, so the queue
        // never held more than the limit plus the one buffer accepted below it.
        assert!(
            most_queued <= 512 * 1024 + 300 * 1024,
            "queued {most_queued} bytes past a 512 KiB limit"
        );
        drop(queue);
        stream.shutdown(Shutdown::Write).unwrap();
        let got = reader.join().unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(got == expected, "bytes arrived out of order or corrupted");
    });
}

#[test]
fn echo_of_pooled_buffers_returns_every_byte() {
    let _fds = support::fd_lock();
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringcore::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let sends = stream.send_queue();
            let mut received = stream.recv_stream();
            while let Some(buf) = received.next().await {
                sends.send(buf.unwrap()).await.unwrap();
            }
            sends.flush().await.unwrap();
            sends.sent_bytes()
        });
        // A blocking client on a thread: writes 8 MiB in uneven pieces while a second
        // thread reads the echo, so the server sees bursts, partial buffers and a peer
        // that is sometimes behind.
        let data = support::random_bytes(8 << 20, 7);
        let client = std::thread::spawn({
            let data = data.clone();
            move || {
                let mut conn = std::net::TcpStream::connect(addr).unwrap();
                let reader = read_all(conn.try_clone().unwrap(), None);
                let mut at = 0;
                let mut step = 1;
                while at < data.len() {
                    let end = (at + step).min(data.len());
                    conn.write_all(&data[at..end]).unwrap();
                    at = end;
                    step = step * 7 % 65_521 + 1;
                }
                conn.shutdown(Shutdown::Write).unwrap();
                reader.join().unwrap()
            }
        });
        let echoed = server.await.unwrap();
        let got = ringcore::offload::spawn_blocking(move || client.join().unwrap())
            .await
            .unwrap();
        assert_eq!(echoed, data.len() as u64);
        assert!(got == data, "echo differs from what was sent");
    });
}

#[test]
fn a_reset_peer_stops_the_queue_with_its_error() {
    let _fds = support::fd_lock();
    ringcore::block_on(async {
        let (stream, peer) = pair().await;
        // The peer resets the connection (SO_LINGER 0 then close).
        let sock = socket2::Socket::from(peer);
        sock.set_linger(Some(Duration::ZERO)).unwrap();
        drop(sock);
        ringcore::time::sleep(Duration::from_millis(20)).await;
        let queue = stream.send_queue();
        let mut err = None;
        for i in 0..1000 {
            if let Err(e) = queue.send(vec![i as u8; 1024]).await {
                err = Some(e);
                break;
            }
            if let Err(e) = queue.flush().await {
                err = Some(e);
                break;
            }
        }
        let err = err.expect("sends to a reset peer never failed");
        assert!(
            matches!(
                err.kind(),
                ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ),
            "{err}"
        );
        // The queue stays stopped: the next send fails at once and its buffer is counted
        // as unsent, and flush reports the error too.
        let before = queue.unsent_bytes();
        let again = queue.send(vec![0u8; 100]).await.unwrap_err();
        assert_eq!(again.kind(), err.kind());
        assert_eq!(queue.unsent_bytes(), before + 100);
        assert_eq!(queue.flush().await.unwrap_err().kind(), err.kind());
    });
}

#[test]
fn dropped_handles_still_send_what_was_queued_then_close() {
    let _fds = support::fd_lock();
    let baseline = support::open_fds();
    let expected = support::random_bytes(2 << 20, 3);
    let got = ringcore::block_on(async {
        let (stream, peer) = pair().await;
        small_send_buffer(&stream);
        let reader = read_all(peer, Some(Duration::from_micros(100)));
        let queue = stream.send_queue().with_limit(usize::MAX);
        for piece in expected.chunks(64 * 1024) {
            queue.send(piece.to_vec()).await.unwrap();
        }
        assert!(
            queue.queued_bytes() > 0,
            "everything went out at once; nothing tested"
        );
        // The task lets go of the queue and the stream: the driver goes on sending, and the
        // socket closes once the last byte is out, so the peer sees EOF.
        drop(queue);
        drop(stream);
        ringcore::offload::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap()
    });
    assert_eq!(got.len(), expected.len());
    assert!(got == expected);
    assert_eq!(support::open_fds(), baseline, "an fd leaked");
}

#[test]
fn a_send_waiting_for_room_dropped_queues_nothing() {
    let _fds = support::fd_lock();
    ringcore::block_on(async {
        let (stream, peer) = pair().await;
        small_send_buffer(&stream);
        // The peer never reads until the end: the queue fills past its limit, and stays
        // there once the kernel's buffers are full too.
        let queue = stream.send_queue().with_limit(64 * 1024);
        let mut sent = 0usize;
        loop {
            if queue.queued_bytes() >= 64 * 1024 {
                ringcore::time::sleep(Duration::from_millis(50)).await;
                if queue.queued_bytes() >= 64 * 1024 {
                    break;
                }
            }
            queue.send(vec![1u8; 16 * 1024]).await.unwrap();
            sent += 16 * 1024;
            assert!(
                sent <= 256 << 20,
                "the queue never filled: the kernel took {sent} bytes"
            );
        }
        let queued = queue.queued_bytes();
        let r =
            ringcore::time::timeout(Duration::from_millis(30), queue.send(vec![2u8; 1000])).await;
        assert!(r.is_err(), "send did not wait for room");
        // Nothing was added (the kernel may still have taken some of what was queued).
        assert!(
            queue.queued_bytes() <= queued,
            "the dropped send queued its buffer"
        );
        // Now the peer reads: everything queued arrives, and none of the dropped send's.
        let reader = read_all(peer, None);
        queue.flush().await.unwrap();
        drop(queue);
        stream.shutdown(Shutdown::Write).unwrap();
        let got = ringcore::offload::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap();
        assert_eq!(got.len(), sent);
        assert!(got.iter().all(|&b| b == 1));
    });
}

#[test]
fn shutdown_with_sends_stuck_on_a_silent_peer_frees_everything() {
    let _fds = support::fd_lock();
    let baseline = support::open_fds();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let peer_thread = std::thread::spawn(move || listener.accept().unwrap().0);
    let rt = ringcore::Runtime::new().unwrap();
    let stuck = rt.block_on(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        small_send_buffer(&stream);
        let queue = stream.send_queue().with_limit(usize::MAX);
        for _ in 0..256 {
            queue.send(vec![9u8; 64 * 1024]).await.unwrap();
        }
        // The peer reads nothing, so most of it waits in the queue; the task returns
        // and the runtime shuts down with a send in flight.
        queue.queued_bytes()
    });
    assert!(stuck > 0);
    drop(rt);
    let peer = peer_thread.join().unwrap();
    // The runtime's shutdown cancelled the stuck send and closed the socket: the peer
    // reads what was sent, then EOF (or a reset), without waiting forever.
    let got = read_all(peer, None).join().unwrap();
    assert!(got.iter().all(|&b| b == 9));
    assert!(got.len() < 256 * 64 * 1024);
    assert_eq!(support::open_fds(), baseline, "an fd leaked");
}
