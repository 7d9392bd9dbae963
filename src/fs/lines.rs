//! `Lines`: reading a file line by line through the ring (a stream of `io::Result<String>`).

use std::io;
use std::task::{Context, Poll};

use super::File;
use crate::io::BufReader;

/// Bytes read per op.
const CHUNK: usize = 64 * 1024;

/// Reads a file line by line (the `async for line in f` of aiofiles), from offset 0.
///
/// Lines are split on `\n`; the `\n` (and a `\r` before it) is removed, as
/// `std::io::BufRead::lines` does. A last line without `\n` is returned too. The file is
/// read in 64 KiB chunks through the ring. `Lines` is also a `futures_core::Stream` of
/// `io::Result<String>`.
///
/// This is [`BufReader::lines`](crate::io::BufReader::lines) over the file, with a 64 KiB
/// [`BufReader`]; use that directly to mix lines with other reads.
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
    inner: crate::io::Lines<File>,
}

impl Lines {
    pub(crate) fn new(file: File) -> Self {
        Self {
            inner: BufReader::with_capacity(CHUNK, file).lines(),
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
        self.inner.next_line().await
    }

    /// Polls for the next line; see [`next_line`](Lines::next_line).
    ///
    /// # Errors
    ///
    /// As [`next_line`](Lines::next_line).
    pub fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<String>>> {
        self.inner.poll_next_line(cx)
    }

    /// Gives the file back (a read in flight is cancelled).
    pub fn into_inner(self) -> File {
        self.inner.into_inner().into_inner()
    }
}

impl futures_core::Stream for Lines {
    type Item = io::Result<String>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_line(cx).map(Result::transpose)
    }
}
