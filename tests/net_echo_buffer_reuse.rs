//! The natural echo loop that reuses one buffer must not echo stale bytes.
//!
//! `let (res, b) = s.read(buf).await; s.write_all(b).await; buf = b;` compiled, passed a
//! first test and then echoed `"hi\nong message\n"` for `"hi\n"` after a longer line: a
//! read filled the start of the `Vec` but never shrank its length. A read into a whole
//! `Vec<u8>` now leaves its length equal to the bytes read.

use ringcore::buf::IoBuf;
use ringcore::fs::File;
use ringcore::net::{TcpListener, TcpStream, UnixStream};

const MESSAGES: [&[u8]; 6] = [
    b"a long message, longer than the next\n",
    b"hi\n",
    b"a medium one\n",
    b"x",
    b"another long message to overwrite things\n",
    b"ok\n",
];

/// Echoes with one reused buffer, as a newcomer writes it, until end of stream.
async fn natural_echo(s: TcpStream) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        let (res, b) = s.read(buf).await;
        if res? == 0 {
            return Ok(());
        }
        let (res, b) = s.write_all(b).await;
        res?;
        buf = b;
    }
}

#[test]
fn the_natural_echo_loop_with_one_buffer_echoes_no_stale_bytes() {
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = ringcore::spawn(async move {
            let (s, _) = listener.accept().await.unwrap();
            natural_echo(s).await
        });
        let client = TcpStream::connect(addr).await.unwrap();
        let mut back = Vec::with_capacity(4096);
        for round in 0..50 {
            let msg = MESSAGES[round % MESSAGES.len()];
            let (res, _) = client.write_all(msg.to_vec()).await;
            res.unwrap();
            // One message in flight at a time: the echo comes back whole (a short read is
            // followed by the rest, so gather until the length matches).
            let mut got = Vec::new();
            while got.len() < msg.len() {
                let (res, b) = client.read(back).await;
                let n = res.unwrap();
                assert!(n > 0, "end of stream in round {round}");
                assert_eq!(b.len(), n, "the Vec's length is the bytes read");
                got.extend_from_slice(&b);
                back = b;
            }
            assert_eq!(
                got,
                msg,
                "round {round}: echoed {:?}",
                String::from_utf8_lossy(&got)
            );
        }
        client.shutdown(std::net::Shutdown::Write).unwrap();
        server.await.unwrap().unwrap();
    });
}

#[test]
fn a_reused_buffer_read_from_a_unix_stream_and_a_file_holds_only_the_new_bytes() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut buf = Vec::with_capacity(256);
        for msg in MESSAGES {
            a.write_all(msg.to_vec()).await.0.unwrap();
            let (res, got) = b.read(buf).await;
            assert_eq!(res.unwrap(), msg.len());
            assert_eq!(got, msg);
            buf = got;
        }

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("short-then-long");
        std::fs::write(&path, b"0123456789abcdef").unwrap();
        let file = File::open(&path).await.unwrap();
        let (res, buf) = file.read_at(Vec::with_capacity(16), 0).await;
        assert_eq!(res.unwrap(), 16);
        // A read of 4 bytes at the end: the length is 4, not 16 with 12 stale bytes.
        let (res, buf) = file.read_at(buf, 12).await;
        assert_eq!(res.unwrap(), 4);
        assert_eq!(buf, b"cdef");
        // End of file: zero bytes, an empty Vec, the capacity kept.
        let (res, buf) = file.read_at(buf, 16).await;
        assert_eq!(res.unwrap(), 0);
        assert!(buf.is_empty());
        assert_eq!(buf.capacity(), 16);
        file.close().await.unwrap();
    });
}

#[test]
fn a_slice_view_keeps_the_bytes_outside_it() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut buf = Vec::with_capacity(16);
        buf.extend_from_slice(b"ABCDEFGHIJ");
        a.write_all(b"xy".to_vec()).await.0.unwrap();
        // Read into bytes 2..4 of a 10-byte Vec: its other bytes and its length stay.
        let (res, view) = b.read(buf.slice(2..4)).await;
        assert_eq!(res.unwrap(), 2);
        let buf = view.into_inner();
        assert_eq!(buf, b"ABxyEFGHIJ");
    });
}
