//! [`BufWriter`].

use std::io;

use super::DEFAULT_CAPACITY;
use super::traits::AsyncWriteOwned;
use crate::buf::IoBuf;

/// Gathers small writes to an [`AsyncWriteOwned`] writer (a socket, a write half, a
/// [`File`]) into one buffer and sends it in one op when it is full, on
/// [`flush`](BufWriter::flush) and on [`shutdown`](BufWriter::shutdown).
///
/// Writes copy the caller's bytes (`&[u8]`) into the buffer, so they take no ownership
/// and complete without I/O while the buffer has room.
///
/// A [`File`] is written from offset 0 in sequence (the writer counts the bytes it has
/// written and writes at that offset; with O_APPEND the kernel appends instead). `flush`
/// does not sync a file to disk: call [`File::sync_all`] through
/// [`get_ref`](BufWriter::get_ref) after it.
///
/// # Dropping
///
/// Dropping a `BufWriter` does **not** flush it (a flush needs the ring and can fail, and
/// `Drop` can neither wait nor report): the bytes still buffered, at most
/// [`capacity`](BufWriter::capacity), are lost, as with tokio's `BufWriter`. Call
/// [`flush`](BufWriter::flush) or [`shutdown`](BufWriter::shutdown) before dropping it;
/// [`buffer`](BufWriter::buffer) shows what is pending.
///
/// # Cancel safety
///
/// Writes that fit in the buffer never wait, so they are not interrupted. A future that
/// waits is flushing: the buffer is then lent to the kernel, and if the future is dropped
/// an unknown prefix of it has been written and the rest is gone. Writing on after that
/// would corrupt the stream silently, so the writer is then *poisoned*: every later write,
/// flush and shutdown fails with `io::ErrorKind::Other` ("a flush was cancelled").
///
/// # Examples
///
/// ```
/// use ringcore::io::BufWriter;
///
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir()?;
///     let path = dir.path().join("out.csv");
///     let mut w = BufWriter::new(ringcore::fs::File::create(&path).await?);
///     for i in 0..1000 {
///         w.write_all(format!("{i},{}\n", i * i).as_bytes()).await?; // few ops, not 1000
///     }
///     w.flush().await?;
///     w.get_ref().sync_all().await?;
///     assert!(std::fs::read_to_string(&path)?.ends_with("999,998001\n"));
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
///
/// [`File`]: crate::fs::File
/// [`File::sync_all`]: crate::fs::File::sync_all
pub struct BufWriter<W> {
    inner: W,
    /// `None` only while a flush has it lent to the kernel, or after such a flush was
    /// dropped (poisoned).
    buf: Option<Vec<u8>>,
    capacity: usize,
    /// Bytes written to `inner` so far (the file offset of the next write).
    offset: u64,
}

impl<W: AsyncWriteOwned> BufWriter<W> {
    /// A writer with an 8 KiB buffer.
    pub fn new(inner: W) -> Self {
        Self::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// A writer that sends at most `capacity` bytes per op (at least 1; 0 is taken as 1).
    pub fn with_capacity(capacity: usize, inner: W) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner,
            buf: Some(Vec::with_capacity(capacity)),
            capacity,
            offset: 0,
        }
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The inner writer, mutably. Writing to it directly puts the bytes before those still
    /// buffered.
    pub fn get_mut(&mut self) -> &mut W {
        &mut self.inner
    }

    /// Gives the inner writer back **without flushing**: buffered bytes are dropped (flush
    /// first, or look at [`buffer`](BufWriter::buffer)).
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// The bytes buffered and not yet written (empty if poisoned).
    pub fn buffer(&self) -> &[u8] {
        self.buf.as_deref().unwrap_or_default()
    }

    /// The buffer's size: the most bytes one op sends.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Copies as much of `data` as fits into the buffer, flushing it first if it is full,
    /// and returns how many bytes were taken (0 only for an empty `data`).
    ///
    /// # Errors
    ///
    /// The flush's error (see [`flush`](BufWriter::flush)); none of `data` was taken then.
    ///
    /// # Cancel safety
    ///
    /// See the type's docs: cancel-safe unless it had to flush, and then the writer is
    /// poisoned.
    pub async fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        if data.is_empty() {
            return Ok(0);
        }
        if self.buffer().len() == self.capacity {
            self.flush_buf().await?;
        }
        let buf = self.buf.as_mut().ok_or_else(poisoned)?;
        let n = data.len().min(self.capacity - buf.len());
        buf.extend_from_slice(&data[..n]);
        Ok(n)
    }

    /// Copies all of `data` into the buffer, flushing each time it fills.
    ///
    /// # Errors
    ///
    /// A flush's error; an unknown part of `data` may have been taken (it is buffered or
    /// written).
    ///
    /// # Cancel safety
    ///
    /// As [`write`](BufWriter::write).
    pub async fn write_all(&mut self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = self.write(data).await?;
            data = &data[n..];
        }
        Ok(())
    }

    /// Writes out every buffered byte (several ops if the writer takes less per op).
    ///
    /// # Errors
    ///
    /// The first write error, or `WriteZero` if a write takes nothing; the bytes not
    /// written stay buffered, so the flush can be retried. `Other` if poisoned.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: a dropped flush poisons the writer (see the type's docs).
    pub async fn flush(&mut self) -> io::Result<()> {
        self.flush_buf().await
    }

    /// Flushes, then shuts the writing direction down (shutdown(2) SHUT_WR for a socket, so
    /// the peer sees end-of-stream; nothing more for a file).
    ///
    /// # Errors
    ///
    /// As [`flush`](BufWriter::flush); shutdown(2)'s errors, e.g. `NotConnected`.
    ///
    /// # Cancel safety
    ///
    /// As [`flush`](BufWriter::flush).
    pub async fn shutdown(&mut self) -> io::Result<()> {
        self.flush_buf().await?;
        self.inner.shutdown_write()
    }

    async fn flush_buf(&mut self) -> io::Result<()> {
        let mut buf = self.buf.take().ok_or_else(poisoned)?;
        let len = buf.len();
        let mut done = 0;
        let mut result = Ok(());
        while done < len {
            let (res, slice) = self
                .inner
                .write_owned(buf.slice(done..len), self.offset)
                .await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    result = Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("BufWriter flush stopped after {done} of {len} bytes"),
                    ));
                    break;
                }
                Ok(n) => {
                    done += n;
                    self.offset += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        buf.drain(..done);
        self.buf = Some(buf);
        result
    }
}

fn poisoned() -> io::Error {
    io::Error::other(
        "BufWriter: a flush was cancelled mid-write, so what reached the writer is unknown",
    )
}

impl<W: std::fmt::Debug> std::fmt::Debug for BufWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufWriter")
            .field("inner", &self.inner)
            .field("buffered", &self.buf.as_ref().map_or(0, Vec::len))
            .field("capacity", &self.capacity)
            .field("poisoned", &self.buf.is_none())
            .finish()
    }
}
