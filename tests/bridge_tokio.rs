//! Real tokio-ecosystem crates, unmodified, over ringcore streams and files through the
//! `tokio-io` trait impls: tokio-util's `Framed` + `LinesCodec`, `tokio::io::copy`,
//! `copy_bidirectional`, `split`, and `AsyncSeek`.
#![cfg(feature = "tokio-io")]

mod support;

use std::io::SeekFrom;

use futures::{SinkExt, StreamExt};
use ringcore::fs::{File, OpenOptions};
use ringcore::net::{TcpListener, TcpStream, UnixStream};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio_util::codec::{Framed, FramedRead, LinesCodec};

#[test]
fn framed_lines_codec_round_trip_over_tcp() {
    ringcore::block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The server upper-cases every line it gets, until the client closes.
        let server = ringcore::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut framed = Framed::new(stream.into_poll_io(), LinesCodec::new());
            let mut n = 0;
            while let Some(line) = framed.next().await {
                framed.send(line.unwrap().to_uppercase()).await.unwrap();
                n += 1;
            }
            n
        });
        let stream = TcpStream::connect(addr).await.unwrap();
        let mut framed = Framed::new(stream.into_poll_io(), LinesCodec::new());
        // Lines of growing length, some longer than one socket read.
        let lines: Vec<String> = (0..500)
            .map(|i| format!("line {i} {}", "x".repeat(i * 37 % 20_000)))
            .collect();
        for chunk in lines.chunks(50) {
            for line in chunk {
                framed.feed(line.clone()).await.unwrap();
            }
            SinkExt::<String>::flush(&mut framed).await.unwrap();
            for line in chunk {
                let got = framed.next().await.unwrap().unwrap();
                assert_eq!(got, line.to_uppercase());
            }
        }
        // Closing (poll_shutdown) lets the server see end-of-stream and finish.
        SinkExt::<String>::close(&mut framed).await.unwrap();
        assert_eq!(server.await.unwrap(), lines.len());
        assert!(
            framed.next().await.is_none(),
            "the server closed: end of stream"
        );
    });
}

#[test]
fn copy_bidirectional_through_a_ringcore_proxy() {
    ringcore::block_on(async {
        // An echo server written against the split halves (read half and write half in
        // two tasks, each wrapped in PollIo).
        let echo = TcpListener::bind("127.0.0.1:0").unwrap();
        let echo_addr = echo.local_addr().unwrap();
        let _echo = ringcore::spawn(async move {
            let (stream, _) = echo.accept().await.unwrap();
            let (r, w) = stream.into_split();
            let (mut r, mut w) = (r.into_poll_io(), w.into_poll_io());
            let n = tokio::io::copy(&mut r, &mut w).await.unwrap();
            w.shutdown().await.unwrap();
            n
        });
        // The proxy: one accepted stream, one connected stream, copy_bidirectional.
        let proxy = TcpListener::bind("127.0.0.1:0").unwrap();
        let proxy_addr = proxy.local_addr().unwrap();
        let proxy_task = ringcore::spawn(async move {
            let (front, _) = proxy.accept().await.unwrap();
            let back = TcpStream::connect(echo_addr).await.unwrap();
            let (mut front, mut back) = (front.into_poll_io(), back.into_poll_io());
            tokio::io::copy_bidirectional(&mut front, &mut back)
                .await
                .unwrap()
        });
        let data = support::random_bytes(3 << 20, 7);
        let client = TcpStream::connect(proxy_addr).await.unwrap();
        let (mut rd, mut wr) = tokio::io::split(client.into_poll_io());
        let to_send = data.clone();
        let writer = ringcore::spawn(async move {
            for chunk in to_send.chunks(100_000) {
                wr.write_all(chunk).await.unwrap();
            }
            wr.shutdown().await.unwrap();
        });
        let mut back = Vec::new();
        rd.read_to_end(&mut back).await.unwrap();
        writer.await.unwrap();
        assert_eq!(back.len(), data.len());
        assert!(back == data, "the echo through the proxy differs");
        let (up, down) = proxy_task.await.unwrap();
        assert_eq!((up, down), (data.len() as u64, data.len() as u64));
    });
}

#[test]
fn write_vectored_sends_every_slice_in_order() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut a, mut b) = (a.into_poll_io(), b.into_poll_io());
        assert!(tokio::io::AsyncWrite::is_write_vectored(&a));
        let parts: [&[u8]; 3] = [b"alpha ", b"", b"beta gamma"];
        let slices: Vec<std::io::IoSlice<'_>> =
            parts.iter().map(|p| std::io::IoSlice::new(p)).collect();
        let n = a.write_vectored(&slices).await.unwrap();
        assert_eq!(
            n, 16,
            "a small gather fits the socket buffer in one sendmsg"
        );
        a.shutdown().await.unwrap();
        let mut got = String::new();
        b.read_to_string(&mut got).await.unwrap();
        assert_eq!(got, "alpha beta gamma");
        // After shutdown, writes fail as tokio's do.
        let err = a.write_all(b"late").await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    });
}

#[test]
fn files_work_with_tokio_copy_codecs_and_seek() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let dst = dir.path().join("dst");
        let data = support::make_file(&src, 1_000_003, 11);

        // tokio::io::copy from file to file; small buffers so writes cross buffer edges.
        let mut from =
            ringcore::fs::PollFile::with_capacity(10_000, File::open(&src).await.unwrap());
        let mut to = File::create(&dst).await.unwrap().into_poll_io();
        let n = tokio::io::copy(&mut from, &mut to).await.unwrap();
        to.shutdown().await.unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(to.position(), n);
        assert!(std::fs::read(&dst).unwrap() == data, "copied file differs");

        // A codec over a file.
        let text = dir.path().join("lines");
        let want: Vec<String> = (0..2000)
            .map(|i| format!("{i}:{}", "y".repeat(i % 90)))
            .collect();
        std::fs::write(&text, want.join("\n") + "\n").unwrap();
        let file = File::open(&text).await.unwrap().into_poll_io();
        let got: Vec<String> = FramedRead::new(file, LinesCodec::new())
            .map(|l| l.unwrap())
            .collect()
            .await;
        assert_eq!(got, want);

        // AsyncBufRead on the file directly.
        let mut file = File::open(&text).await.unwrap().into_poll_io();
        let mut first = String::new();
        file.read_line(&mut first).await.unwrap();
        assert_eq!(first, "0:\n");

        // Seek: write, seek back, overwrite, read around, seek from the end.
        let path = dir.path().join("seek");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let mut f = ringcore::fs::PollFile::with_capacity(4, f);
        f.write_all(b"0123456789").await.unwrap();
        assert_eq!(f.seek(SeekFrom::Start(2)).await.unwrap(), 2);
        f.write_all(b"ab").await.unwrap();
        assert_eq!(f.seek(SeekFrom::Current(-4)).await.unwrap(), 0);
        let mut s = String::new();
        f.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "01ab456789");
        assert_eq!(f.seek(SeekFrom::End(-3)).await.unwrap(), 7);
        let mut three = [0u8; 3];
        f.read_exact(&mut three).await.unwrap();
        assert_eq!(&three, b"789");
        // Inside the read-ahead: the buffer is reused and the bytes still right.
        assert_eq!(f.seek(SeekFrom::Current(-2)).await.unwrap(), 8);
        let mut rest = Vec::new();
        f.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest, b"89");
        let err = f.seek(SeekFrom::Current(-100)).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        assert_eq!(f.position(), 10, "a failed seek leaves the cursor");
        f.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"01ab456789");
    });
}

#[test]
fn file_write_errors_surface_on_flush() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ro");
        std::fs::write(&path, b"x").unwrap();
        // Opened read-only: the buffered write succeeds, the ring write fails with EBADF.
        let mut f = File::open(&path).await.unwrap().into_poll_io();
        assert_eq!(f.write(b"data").await.unwrap(), 4);
        let err = f.flush().await.unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
        // The failed bytes are dropped; the file is unchanged and the adapter usable.
        f.flush().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"x");
    });
}
