//! The `futures-io` traits with real `futures` combinators: `futures::io::copy` between a
//! ringcore `UnixStream` and a `File` in both directions, `AsyncBufRead` lines, and
//! `AsyncSeek`.
#![cfg(feature = "futures-io")]

mod support;

use std::io::SeekFrom;

use futures::StreamExt;
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use ringcore::fs::{File, OpenOptions};
use ringcore::net::UnixStream;

#[test]
fn futures_copy_file_to_unix_stream_to_file() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let dst = dir.path().join("dst");
        let data = support::make_file(&src, 2_500_007, 5);
        let (a, b) = UnixStream::pair().unwrap();
        // One task: file -> socket, then close (shutdown) so the other side sees EOF.
        let sender = ringcore::spawn(async move {
            let mut from = File::open(&src).await.unwrap().into_poll_io();
            let mut to = a.into_poll_io();
            let n = futures::io::copy(&mut from, &mut to).await.unwrap();
            to.close().await.unwrap();
            n
        });
        // The other: socket -> file, then flush the file's buffer.
        let mut from = b.into_poll_io();
        let mut to = File::create(&dst).await.unwrap().into_poll_io();
        let n = futures::io::copy(&mut from, &mut to).await.unwrap();
        to.close().await.unwrap();
        assert_eq!(sender.await.unwrap(), data.len() as u64);
        assert_eq!(n, data.len() as u64);
        assert!(std::fs::read(&dst).unwrap() == data, "copied file differs");
    });
}

#[test]
fn futures_lines_and_seek_on_a_file() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lines");
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        // A 7-byte buffer: lines cross buffer edges in both directions.
        let mut f = ringcore::fs::PollFile::with_capacity(7, f);
        for i in 0..300 {
            f.write_all(format!("line {i}\n").as_bytes()).await.unwrap();
        }
        assert_eq!(f.seek(SeekFrom::Start(0)).await.unwrap(), 0);
        let lines: Vec<String> = (&mut f).lines().map(|l| l.unwrap()).collect().await;
        assert_eq!(lines.len(), 300);
        assert_eq!(lines[299], "line 299");
        // Seek from the end, read the last line again.
        let end = f.seek(SeekFrom::End(0)).await.unwrap();
        assert_eq!(end, std::fs::metadata(&path).unwrap().len());
        f.seek(SeekFrom::End(-9)).await.unwrap();
        let mut last = String::new();
        f.read_to_string(&mut last).await.unwrap();
        assert_eq!(last, "line 299\n");
    });
}

#[test]
fn futures_read_exact_over_a_unix_stream_and_close() {
    ringcore::block_on(async {
        let (a, b) = UnixStream::pair().unwrap();
        let (r, w) = a.into_split();
        let (mut r, mut w) = (r.into_poll_io(), w.into_poll_io());
        let mut peer = b.into_poll_io();
        w.write_all(b"0123456789").await.unwrap();
        w.close().await.unwrap();
        let mut got = [0u8; 10];
        peer.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"0123456789");
        // The writer closed: the peer reads EOF; the peer's reply still reaches `r`.
        assert_eq!(peer.read(&mut got).await.unwrap(), 0);
        peer.write_all(b"ok").await.unwrap();
        drop(peer);
        let mut reply = Vec::new();
        r.read_to_end(&mut reply).await.unwrap();
        assert_eq!(reply, b"ok");
    });
}
