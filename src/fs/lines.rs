//! `Lines`: reading a file line by line through the ring (a stream of `io::Result<String>`).

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::File;
use crate::buf::{IoBuf, Slice};
use crate::driver::Op;
use crate::driver::ops::rw::Read;

/// Bytes read per op.
const CHUNK: usize = 64 * 1024;

/// Reads a file line by line (the `async for line in f` of aiofiles), from offset 0.
///
/// Lines are split on `\n`; the `\n` (and a `\r` before it) is removed, as
/// `std::io::BufRead::lines` does. A last line without `\n` is returned too. The file is
/// read in 64 KiB chunks through the ring. `Lines` is also a `futures_core::Stream` of
/// `io::Result<String>`.
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir()?;
///     let path = dir.path().join("lines.txt");
///     ringcore::fs::write(&path, "one\ntwo\r\nthree").await?;
///     let mut lines = ringcore::fs::File::open(&path).await?.lines();
///     let mut got = Vec::new();
///     while let Some(line) = lines.next_line().await? {
///         got.push(line);
///     }
///     assert_eq!(got, ["one", "two", "three"]);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[derive(Debug)]
pub struct Lines {
    file: File,
    /// Bytes read and not yet returned start at `start`.
    buf: Option<Vec<u8>>,
    start: usize,
    offset: u64,
    eof: bool,
    pending: Option<Op<Read<Slice<Vec<u8>>>>>,
}

impl Lines {
    pub(crate) fn new(file: File) -> Self {
        Self {
            file,
            buf: Some(Vec::new()),
            start: 0,
            offset: 0,
            eof: false,
            pending: None,
        }
    }

    /// The next line, or `None` at the end of the file.
    ///
    /// # Errors
    ///
    /// A read error, or `InvalidData` if the line is not UTF-8 (the line is skipped).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an in-flight read stays pending and the next call picks it up; no
    /// line is lost.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        poll_fn(|cx| self.poll_next_line(cx)).await
    }

    /// Polls for the next line; see [`next_line`](Lines::next_line).
    pub fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<String>>> {
        loop {
            if let Some(op) = &mut self.pending {
                let (res, slice) = ready!(Pin::new(op).poll(cx));
                self.pending = None;
                self.buf = Some(slice.into_inner());
                match res {
                    Ok(0) => self.eof = true,
                    Ok(n) => self.offset += n as u64,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            let Some(buf) = self.buf.as_mut() else {
                return Poll::Ready(Ok(None));
            };
            let rest = &buf[self.start..];
            if let Some(i) = rest.iter().position(|&b| b == b'\n') {
                let mut line = &rest[..i];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let out = to_string(line);
                self.start += i + 1;
                return Poll::Ready(out.map(Some));
            }
            if self.eof {
                if rest.is_empty() {
                    return Poll::Ready(Ok(None));
                }
                let out = to_string(rest);
                self.start = buf.len();
                return Poll::Ready(out.map(Some));
            }
            // Need more bytes: compact, then read a chunk into the spare capacity.
            let mut buf = self.buf.take().unwrap_or_default();
            buf.drain(..self.start);
            self.start = 0;
            buf.reserve(CHUNK);
            let len = buf.len();
            let total = buf.bytes_total();
            self.pending = Some(self.file.read_op(buf.slice(len..total), self.offset));
        }
    }

    /// Gives the file back.
    pub fn into_inner(self) -> File {
        self.file
    }
}

use std::future::Future;

fn to_string(bytes: &[u8]) -> io::Result<String> {
    String::from_utf8(bytes.to_vec())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "line is not valid UTF-8"))
}

impl futures_core::Stream for Lines {
    type Item = io::Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_line(cx).map(Result::transpose)
    }
}
