//! The readiness driver's memory of readiness (src/driver/epoll/mod.rs): a drained socket
//! is not tried again until an event says data came; a direction the peer closed stays
//! ready (docs/hazards.md, H21); a fd number released and reused is registered afresh
//! (H20). Each test runs on the epoll driver whatever `RINGCORE_DRIVER` says (the
//! Builder's explicit choice wins), with real sockets on loopback.

use std::io::Write;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::time::Duration;

use ringcore::net::{TcpListener, TcpStream};
use ringcore::{DriverKind, Runtime};

fn epoll_runtime() -> Runtime {
    Runtime::builder()
        .driver(DriverKind::Epoll)
        .build()
        .expect("epoll runtime")
}

/// (ops submitted through the ring, socket syscalls made on the core's thread) so far.
fn counts() -> (u64, u64) {
    let d = ringcore::debug::metrics()
        .expect("inside the runtime")
        .driver;
    (d.ops_submitted, d.ops_inline)
}

/// A connection: the ringcore side, and a std peer on the same host.
async fn pair(listener: &TcpListener) -> (TcpStream, std::net::TcpStream) {
    let peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (ours, _) = listener.accept().await.unwrap();
    (ours, peer)
}

/// Reads once while `peer` writes `data` 5 ms later: the read waits for readiness (the
/// ring registers the socket) and comes back with `data.len()` bytes, fewer than it asked, so
/// the ring knows the socket is drained.
async fn read_while_peer_writes(ours: &TcpStream, peer: &mut std::net::TcpStream, data: &[u8]) {
    let write = async {
        ringcore::time::sleep(Duration::from_millis(5)).await;
        peer.write_all(data).unwrap();
    };
    let ((res, buf), ()) =
        futures_util::future::join(ours.read(Vec::with_capacity(8192)), write).await;
    assert_eq!(res.unwrap(), data.len());
    assert_eq!(&buf[..], data);
}

#[test]
fn a_drained_socket_is_not_tried_again_until_an_event_says_data_came() {
    epoll_runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (ours, mut peer) = pair(&listener).await;
        read_while_peer_writes(&ours, &mut peer, &[1; 100]).await;

        // Drained: the next read waits for the event with no recv(2) first, then makes
        // exactly one, with no op.
        let (submitted, inline) = counts();
        read_while_peer_writes(&ours, &mut peer, &[2; 50]).await;
        let (submitted2, inline2) = counts();
        assert_eq!(
            inline2 - inline,
            1,
            "a recv(2) was tried on a drained socket"
        );
        assert_eq!(submitted2 - submitted, 0, "the read went through an op");

        // Data that arrived (and whose event the core saw while it slept) is taken by an
        // inline recv(2), with no op.
        peer.write_all(&[3; 30]).unwrap();
        ringcore::time::sleep(Duration::from_millis(5)).await;
        let (res, buf) = ours.read(Vec::with_capacity(8192)).await;
        assert_eq!(res.unwrap(), 30);
        assert_eq!(&buf[..], &[3; 30]);
        let (submitted3, inline3) = counts();
        assert_eq!(
            submitted3 - submitted2,
            0,
            "a ready socket's read went through an op"
        );
        assert_eq!(inline3 - inline2, 1);
    });
}

#[test]
fn a_short_read_of_the_last_bytes_before_end_of_stream_still_sees_the_end() {
    epoll_runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (ours, mut peer) = pair(&listener).await;
        read_while_peer_writes(&ours, &mut peer, &[1; 10]).await;
        // The last bytes and the FIN arrive together; the core sees their one event while
        // no read waits.
        peer.write_all(&[7; 100]).unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        ringcore::time::sleep(Duration::from_millis(10)).await;
        // A short read takes the bytes (the socket is drained)...
        let (res, buf) = ours.read(Vec::with_capacity(8192)).await;
        assert_eq!(res.unwrap(), 100);
        assert_eq!(&buf[..], &[7; 100]);
        // ...and the next one must see end-of-stream at once: no event will come again.
        let end =
            ringcore::time::timeout(Duration::from_secs(5), ours.read(Vec::with_capacity(8192)))
                .await;
        let (res, _) =
            end.expect("the read after the last bytes waited for an event that never comes");
        assert_eq!(res.unwrap(), 0);
    });
}

#[test]
fn a_released_fd_number_reused_by_a_new_socket_is_registered_afresh() {
    epoll_runtime().block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (first, mut first_peer) = pair(&listener).await;
        // Registered, and known drained: what a stale memory of the number would trust.
        read_while_peer_writes(&first, &mut first_peer, &[1; 10]).await;
        let number = first.as_raw_fd();
        // The next connection's peer takes its fd first; then the number is freed, and
        // accept(2) gets the lowest free one: the same number, a new file.
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        drop(first);
        let (second, _) = listener.accept().await.unwrap();
        assert_eq!(
            second.as_raw_fd(),
            number,
            "the number was not reused; nothing tested"
        );
        let read = ringcore::time::timeout(
            Duration::from_secs(5),
            read_while_peer_writes(&second, &mut peer, &[2; 20]),
        )
        .await;
        read.expect("a read on the reused number waited on the old file's registration");
        drop(first_peer);
    });
}
