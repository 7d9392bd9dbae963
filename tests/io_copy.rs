//! `io::copy` between sockets and files: every byte, in order, and the count.

mod support;

use ringcore::fs::File;
use ringcore::net::{TcpListener, TcpStream, UnixStream};

#[test]
fn copy_moves_every_byte_from_a_file_to_a_socket_and_from_a_socket_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    // Not a multiple of the 64 KiB buffer, so the last read is short.
    let data = support::make_file(&src, 3 * 1024 * 1024 + 12_345, 7);
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let dst2 = dst.clone();
        // The receiving side: socket -> file.
        let receiver = ringcore::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            let out = File::create(&dst2).await.unwrap();
            let n = ringcore::io::copy(&s, &out).await.unwrap();
            out.sync_all().await.unwrap();
            n
        });
        // The sending side: file -> socket.
        let s = TcpStream::connect(addr).await.unwrap();
        let f = File::open(&src).await.unwrap();
        let sent = ringcore::io::copy(&f, &s).await.unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(sent, data.len() as u64);
        assert_eq!(receiver.await.unwrap(), data.len() as u64);
    });
    assert!(std::fs::read(&dst).unwrap() == data, "the copy differs");
}

#[test]
fn copy_of_an_empty_source_copies_nothing_and_a_closed_writer_is_an_error() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (c, d) = UnixStream::pair().unwrap();
        a.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(ringcore::io::copy(&b, &c).await.unwrap(), 0);

        // The writer's peer is gone: the copy reports the write error, no panic.
        let (e, f) = UnixStream::pair().unwrap();
        e.write_all(vec![1u8; 1000]).await.0.unwrap();
        e.shutdown(std::net::Shutdown::Write).unwrap();
        drop(d);
        let err = ringcore::io::copy(&f, &c).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe, "{err}");
    });
}
