//! `ringcore::io::{BufReader, BufWriter}` over real sockets and files.

mod support;

use std::io::{self, ErrorKind, Read as _};
use std::rc::Rc;
use std::time::Duration;

use ringcore::fs::File;
use ringcore::io::{BufReader, BufWriter};
use ringcore::net::{TcpListener, TcpStream, UnixStream};
use ringcore::stream::StreamExt;
use ringcore::time::{sleep, timeout};

/// A connected loopback TCP pair (client, server).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = ringcore::spawn(TcpStream::connect(addr));
    let (server, _) = listener.accept().await.unwrap();
    (client.await.unwrap().unwrap(), server)
}

async fn send(stream: &UnixStream, bytes: &[u8]) {
    let (res, _) = stream.write_all(bytes.to_vec()).await;
    res.unwrap();
}

#[test]
fn read_line_reassembles_lines_sent_in_pieces_over_tcp() {
    ringcore::block_on(async {
        let (client, server) = tcp_pair().await;
        let writer = ringcore::spawn(async move {
            client.set_nodelay(true).unwrap();
            // Lines cut at every byte boundary, with pauses so they arrive apart.
            for piece in [&b"fir"[..], b"st\r", b"\nsec", b"ond\n", b"\n", b"tail"] {
                let (res, _) = client.write_all(piece.to_vec()).await;
                res.unwrap();
                sleep(Duration::from_millis(5)).await;
            }
        });
        let mut r = BufReader::with_capacity(4, server);
        let mut got = Vec::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).await.unwrap() == 0 {
                break;
            }
            got.push(line);
        }
        writer.await.unwrap();
        assert_eq!(got, ["first\r\n", "second\n", "\n", "tail"]);
    });
}

#[test]
fn read_line_dropped_mid_line_keeps_the_partial_line() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut r = BufReader::new(b);
        send(&a, b"hel").await;
        let mut line = String::new();
        let res = timeout(Duration::from_millis(30), r.read_line(&mut line)).await;
        assert!(
            res.is_err(),
            "read_line finished without a newline: {res:?}"
        );
        assert_eq!(line, "", "a cancelled read_line appended to its string");
        assert_eq!(r.buffer(), b"hel");

        // Cancel again while more of the line arrives in the meantime.
        send(&a, b"lo wo").await;
        let res = timeout(Duration::from_millis(30), r.read_line(&mut line)).await;
        assert!(res.is_err());
        send(&a, b"rld\nnext\n").await;
        assert_eq!(r.read_line(&mut line).await.unwrap(), 12);
        assert_eq!(line, "hello world\n");
        line.clear();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "next\n");
    });
}

/// Lines of a file read under random timeouts (some zero, so reads that have to wait for
/// the ring are dropped): every line arrives once, in order.
#[test]
fn read_line_under_random_timeouts_loses_no_line() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("numbered");
        let text: String = (0..5000).map(|i| format!("{i}\n")).collect();
        std::fs::write(&path, &text).unwrap();
        let file = File::open(&path).await.unwrap();
        let mut r = BufReader::with_capacity(7, file);
        let mut rng = support::random_bytes(1 << 16, 7).into_iter().cycle();
        let (mut next, mut cancelled) = (0, 0);
        let mut line = String::new();
        loop {
            let wait = Duration::from_micros(u64::from(rng.next().unwrap() % 4) * 20);
            match timeout(wait, r.read_line(&mut line)).await {
                Err(_) => cancelled += 1,
                Ok(res) => {
                    if res.unwrap() == 0 {
                        break;
                    }
                    assert_eq!(line, format!("{next}\n"));
                    next += 1;
                    line.clear();
                }
            }
        }
        assert_eq!(next, 5000);
        assert!(
            cancelled > 0,
            "no read was ever cancelled: the test proved nothing"
        );
    });
}

#[test]
fn read_until_fill_buf_and_consume() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        send(&a, b"key=value;rest").await;
        drop(a);
        let mut r = BufReader::new(b);
        assert_eq!(r.fill_buf().await.unwrap(), b"key=value;rest");
        r.consume(4);
        let mut out = Vec::new();
        assert_eq!(r.read_until(b';', &mut out).await.unwrap(), 6);
        assert_eq!(out, b"value;");
        // No delimiter before end-of-stream: the rest, then 0.
        out.clear();
        assert_eq!(r.read_until(b';', &mut out).await.unwrap(), 4);
        assert_eq!(out, b"rest");
        assert_eq!(r.read_until(b';', &mut out).await.unwrap(), 0);
        assert!(r.fill_buf().await.unwrap().is_empty());
    });
}

#[test]
fn invalid_utf8_line_is_an_error_and_is_skipped() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        send(&a, b"ok\n\xff\xfe\nafter\n").await;
        drop(a);
        let mut r = BufReader::new(b);
        let mut line = String::new();
        r.read_line(&mut line).await.unwrap();
        assert_eq!(line, "ok\n");
        let err = r.read_line(&mut line).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidData);
        assert_eq!(line, "ok\n", "the bad line was appended");
        let mut lines = r.lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("after"));
        assert_eq!(lines.next_line().await.unwrap(), None);
    });
}

#[test]
fn lines_stream_over_a_tcp_read_half() {
    ringcore::block_on(async {
        let (client, server) = tcp_pair().await;
        let (read, _write) = server.into_split();
        let writer = ringcore::spawn(async move {
            let text: String = (0..2000).map(|i| format!("line {i}\r\n")).collect();
            let (res, _) = client.write_all(text.into_bytes()).await;
            res.unwrap();
        });
        let lines = BufReader::with_capacity(100, read).lines();
        let got: Vec<io::Result<String>> = lines.collect().await;
        writer.await.unwrap();
        assert_eq!(got.len(), 2000);
        for (i, line) in got.into_iter().enumerate() {
            assert_eq!(line.unwrap(), format!("line {i}"));
        }
    });
}

/// A `Lines` whose `next_line` is dropped while a read is pending keeps the read, and
/// `into_inner` hands back the reader with its buffered bytes.
#[test]
fn lines_next_line_is_cancel_safe_and_into_inner_keeps_the_buffer() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut lines = BufReader::new(Rc::new(b)).lines();
        send(&a, b"par").await;
        assert!(
            timeout(Duration::from_millis(20), lines.next_line())
                .await
                .is_err()
        );
        send(&a, b"tial\nnext").await;
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("partial"));
        assert!(
            timeout(Duration::from_millis(20), lines.next_line())
                .await
                .is_err()
        );
        let r = lines.into_inner();
        assert_eq!(r.buffer(), b"next");
    });
}

#[test]
fn read_and_read_exact_serve_from_the_buffer_then_the_stream() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let data = support::random_bytes(100_000, 3);
        let sent = data.clone();
        let writer = ringcore::spawn(async move {
            let (res, _) = a.write_all(sent).await;
            res.unwrap();
        });
        let mut r = BufReader::with_capacity(1000, &b);
        let mut got = Vec::new();
        // A small read fills the buffer and is served from it.
        let (res, buf) = r.read(Vec::with_capacity(10)).await;
        got.extend_from_slice(&buf[..res.unwrap()]);
        assert!(got.len() <= 10 && got[..] == data[..got.len()]);
        // read_exact across the buffered rest and further reads of the socket.
        let (res, buf) = r.read_exact(Vec::with_capacity(50_000)).await;
        res.unwrap();
        got.extend_from_slice(&buf);
        // A large read with an empty buffer goes straight to the socket.
        r.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes differ");

        let (res, buf) = r.read_exact(Vec::with_capacity(1)).await;
        assert_eq!(res.unwrap_err().kind(), ErrorKind::UnexpectedEof);
        assert!(buf.is_empty());
    });
}

#[test]
fn buf_reader_reads_a_file_in_sequence() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data = support::make_file(&path, 300_000, 11);
        let mut r = BufReader::with_capacity(4096, File::open(&path).await.unwrap());
        let mut head = Vec::new();
        r.read_until(data[5000], &mut head).await.unwrap();
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).await.unwrap();
        head.extend_from_slice(&rest);
        assert!(head == data, "file read back differs");
    });
}

#[test]
fn buf_writer_coalesces_and_sends_nothing_before_flush() {
    let rt = ringcore::Runtime::new().unwrap();
    rt.block_on(async {
        let (ours, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
        peer.set_nonblocking(true).unwrap();
        let mut w = BufWriter::with_capacity(4096, UnixStream::from_std(ours));
        // Writes reach the socket as ops through the ring, or as sends made inline (a
        // readiness driver sends inline when the socket has room): count both.
        let writes = || {
            let d = ringcore::debug::metrics().unwrap().driver;
            d.ops_submitted + d.ops_inline
        };
        let before = writes();
        for i in 0..300 {
            w.write_all(format!("{i:03}\n").as_bytes()).await.unwrap();
        }
        // 1200 bytes fit in the buffer: no op yet, nothing at the peer.
        assert_eq!(w.buffer().len(), 1200);
        assert_eq!(writes(), before);
        let mut got = vec![0; 8192];
        assert_eq!(
            peer.read(&mut got).unwrap_err().kind(),
            ErrorKind::WouldBlock
        );
        w.flush().await.unwrap();
        let ops = writes() - before;
        assert_eq!(ops, 1, "300 small writes took {ops} writes");
        assert!(w.buffer().is_empty());
        let n = peer.read(&mut got).unwrap();
        let want: String = (0..300).map(|i| format!("{i:03}\n")).collect();
        assert_eq!(&got[..n], want.as_bytes());

        // A write larger than the buffer goes out in buffer-sized ops, in order.
        let big = support::random_bytes(10_000, 5);
        w.write_all(&big).await.unwrap();
        w.shutdown().await.unwrap();
        peer.set_nonblocking(false).unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).unwrap();
        assert!(all == big, "large write arrived changed");
    });
}

#[test]
fn dropping_an_unflushed_buf_writer_loses_its_bytes() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let mut w = BufWriter::new(a);
        w.write_all(b"never sent").await.unwrap();
        drop(w);
        let (res, _) = b.read(Vec::with_capacity(64)).await;
        assert_eq!(
            res.unwrap(),
            0,
            "the peer should see end-of-stream and no bytes"
        );
    });
}

#[test]
fn buf_writer_writes_a_file_in_sequence() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut w = BufWriter::with_capacity(1000, File::create(&path).await.unwrap());
        let mut want = Vec::new();
        for i in 0..500u32 {
            let piece = support::random_bytes((i % 37) as usize * 5, u64::from(i));
            w.write_all(&piece).await.unwrap();
            want.extend_from_slice(&piece);
        }
        w.flush().await.unwrap();
        w.get_ref().sync_all().await.unwrap();
        assert!(
            std::fs::read(&path).unwrap() == want,
            "file contents differ"
        );
    });
}

#[test]
fn failed_flush_keeps_the_bytes_and_cancelled_flush_poisons() {
    ringcore::block_on(async {
        // The peer is gone: the flush fails and the bytes stay buffered.
        let (a, b) = UnixStream::pair().unwrap();
        drop(b);
        let mut w = BufWriter::new(a);
        w.write_all(b"lost cause").await.unwrap();
        let err = w.flush().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BrokenPipe, "{err}");
        assert_eq!(w.buffer(), b"lost cause");

        // The peer does not read: a large flush blocks, and dropping it poisons the writer.
        let (a, _b) = UnixStream::pair().unwrap();
        let mut w = BufWriter::with_capacity(8 << 20, a);
        w.write_all(&vec![7; 8 << 20]).await.unwrap();
        let res = timeout(Duration::from_millis(50), w.flush()).await;
        assert!(
            res.is_err(),
            "an 8 MiB flush to a peer that never reads finished"
        );
        let err = w.write_all(b"x").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Other);
        assert!(err.to_string().contains("cancelled"), "{err}");
        assert_eq!(w.flush().await.unwrap_err().kind(), ErrorKind::Other);
    });
}

/// Numbered lines over TCP read under random timeouts, with the writer racing the
/// cancellations: every line arrives once, in order. The BufReader keeps what it holds;
/// whether a socket read cancelled after its data arrived loses that data is the socket's
/// `read`, which hands a dropped receive's bytes to the next one. (Before it did, this
/// failed with one read's worth, 64 bytes, of lines missing.)
#[test]
fn lines_over_tcp_under_random_timeouts_lose_nothing() {
    ringcore::block_on(async {
        let (client, server) = tcp_pair().await;
        const N: usize = 20_000;
        let writer = ringcore::spawn(async move {
            let mut w = BufWriter::with_capacity(512, client);
            for i in 0..N {
                w.write_all(format!("{i}\n").as_bytes()).await.unwrap();
                if i % 97 == 0 {
                    w.flush().await.unwrap();
                    ringcore::yield_now().await;
                }
            }
            w.shutdown().await.unwrap();
        });
        let mut r = BufReader::with_capacity(64, server);
        let mut rng = support::random_bytes(1 << 16, 9).into_iter().cycle();
        let (mut next, mut cancelled) = (0, 0);
        let mut line = String::new();
        loop {
            let wait = Duration::from_micros(u64::from(rng.next().unwrap() % 4) * 25);
            match timeout(wait, r.read_line(&mut line)).await {
                Err(_) => cancelled += 1,
                Ok(res) => {
                    if res.unwrap() == 0 {
                        break;
                    }
                    assert_eq!(line, format!("{next}\n"), "after {cancelled} cancellations");
                    next += 1;
                    line.clear();
                }
            }
        }
        writer.await.unwrap();
        assert_eq!(next, N);
        assert!(
            cancelled > 0,
            "no read was ever cancelled: the test proved nothing"
        );
    });
}
