//! [`BufReader`] and its [`Lines`] stream.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use super::DEFAULT_CAPACITY;
use super::traits::AsyncReadOwned;
use crate::buf::{BufResult, IoBufMut};

/// Adds a buffer to an [`AsyncReadOwned`] reader (a socket, a read half, a [`File`]) for
/// line- and delimiter-oriented reads: [`read_line`](BufReader::read_line),
/// [`read_until`](BufReader::read_until), [`lines`](BufReader::lines),
/// [`fill_buf`](BufReader::fill_buf)/[`consume`](BufReader::consume), and small
/// [`read`](BufReader::read)s served from the buffer.
///
/// Each read of the inner reader asks for at least [`capacity`](BufReader::capacity) bytes
/// (8 KiB unless set with [`with_capacity`](BufReader::with_capacity)). A line longer than
/// that grows the buffer until the line is complete, as std's and tokio's `read_line` grow
/// the caller's string: there is no length limit. For untrusted input, scan with
/// [`fill_buf`](BufReader::fill_buf)/[`consume`](BufReader::consume), which never buffer
/// more than one read, and enforce a limit of your own. Reads of an empty buffer may ask
/// for its whole allocation, which a long line may have grown.
///
/// A [`File`] is read from offset 0 in sequence (the reader counts the bytes it has read
/// and reads at that offset); several readers of one file are independent.
///
/// # Cancel safety
///
/// The buffer is never lent to the kernel while it holds bytes: a read that would add to
/// buffered bytes goes into a second buffer and is copied over when it completes, and the
/// main buffer itself is handed to the kernel only when it is empty. So dropping any of
/// the futures of this type (at any `.await`, e.g. in a `select` or under a
/// [`timeout`](crate::time::timeout)) loses none of the bytes already buffered; in
/// particular a partial line stays buffered and the next `read_line` returns the whole
/// line. What happens to a read *in flight* at that moment is the inner reader's
/// business: for a [`File`] nothing is lost (the reader's offset advances only when a read
/// completes, so the same bytes are read again); for a socket it is as its `read`
/// documents (see [`TcpStream::read`](crate::net::TcpStream::read)).
///
/// # Examples
///
/// ```
/// use ringcore::io::BufReader;
/// use ringcore::net::UnixStream;
///
/// ringcore::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (res, _) = a.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" as &'static [u8]).await;
///     res?;
///     let mut reader = BufReader::new(b);
///     let mut line = String::new();
///     while reader.read_line(&mut line).await? > 0 && line != "\r\n" {
///         print!("header: {line}");
///         line.clear();
///     }
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
///
/// [`File`]: crate::fs::File
pub struct BufReader<R> {
    inner: R,
    /// Buffered bytes are `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// Where reads that add to a non-empty `buf` land before being copied over.
    spare: Vec<u8>,
    capacity: usize,
    /// Bytes read from `inner` so far (the file offset of the next read).
    offset: u64,
}

impl<R: AsyncReadOwned> BufReader<R> {
    /// A reader with an 8 KiB buffer (allocated at the first read).
    pub fn new(inner: R) -> Self {
        Self::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// A reader whose reads of `inner` ask for `capacity` bytes (at least 1; 0 is taken as
    /// 1).
    pub fn with_capacity(capacity: usize, inner: R) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            pos: 0,
            spare: Vec::new(),
            capacity: capacity.max(1),
            offset: 0,
        }
    }

    /// The inner reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The inner reader, mutably. Reading from it directly skips the buffered bytes.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Gives the inner reader back; buffered bytes are dropped (see
    /// [`buffer`](BufReader::buffer) to take them first).
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The buffered bytes not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// How many bytes each read of the inner reader asks for, at least.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Returns the buffered bytes, reading once from the inner reader first if there are
    /// none. An empty slice means end-of-stream (or end of file). Mark bytes used with
    /// [`consume`](BufReader::consume).
    ///
    /// # Errors
    ///
    /// The inner reader's read error (`Interrupted` is retried).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: no buffered byte is lost (see the type's docs for a read in flight).
    pub async fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            self.fill_more().await?;
        }
        Ok(self.buffer())
    }

    /// Marks `amt` buffered bytes as used, so [`fill_buf`](BufReader::fill_buf) and the
    /// reads no longer return them. `amt` is capped at the number buffered.
    pub fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }

    /// Reads bytes into `out` until `delim` (included) or end-of-stream, and returns how
    /// many were appended (0 at end-of-stream).
    ///
    /// # Errors
    ///
    /// The inner reader's read error. The bytes of the unfinished line stay buffered (not
    /// appended to `out`); call again to go on.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, and stronger than tokio's: nothing is appended to `out` until the
    /// delimiter or end-of-stream is seen, so a dropped call leaves `out` unchanged, the
    /// partial line stays buffered, and the next call returns the whole of it.
    pub async fn read_until(&mut self, delim: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.find(delim).await?;
        out.extend_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }

    /// Reads a line, including its `\n` (and a `\r` before it), into `out`, and returns its
    /// length in bytes (0 at end-of-stream). A last line without `\n` is returned as is.
    ///
    /// # Errors
    ///
    /// The inner reader's read error (the partial line stays buffered, `out` unchanged);
    /// `InvalidData` if the line is not UTF-8 (the line is consumed, `out` unchanged).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe as [`read_until`](BufReader::read_until): `out` is unchanged and no
    /// byte is lost if the future is dropped.
    pub async fn read_line(&mut self, out: &mut String) -> io::Result<usize> {
        let n = self.find(b'\n').await?;
        let line = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        out.push_str(std::str::from_utf8(line).map_err(|_| invalid_utf8())?);
        Ok(n)
    }

    /// Reads up to `buf.bytes_total()` bytes into the start of `buf`, as the inner
    /// reader's `read` does: from the buffer if it holds any, otherwise with one read of
    /// the inner reader (straight into `buf`, skipping the buffer, when `buf` is at least
    /// [`capacity`](BufReader::capacity) bytes). Returns 0 at end-of-stream. A `Vec<u8>`
    /// comes back with `len()` equal to the bytes read.
    ///
    /// # Errors
    ///
    /// The inner reader's read error.
    ///
    /// # Cancel safety
    ///
    /// As [`fill_buf`](BufReader::fill_buf): no buffered byte is lost; `buf` is lost with
    /// the future.
    pub async fn read<B: IoBufMut>(&mut self, mut buf: B) -> BufResult<usize, B> {
        let want = buf.bytes_total();
        if self.pos == self.buf.len() && want >= self.capacity {
            let (res, buf) = self.inner.read_owned(buf, self.offset).await;
            if let Ok(n) = res {
                self.offset += n as u64;
            }
            return (res, buf);
        }
        if let Err(e) = self.fill_buf().await {
            return (Err(e), buf);
        }
        let n = want.min(self.buf.len() - self.pos);
        // SAFETY: `buf` has `want >= n` writable bytes at `stable_mut_ptr`, and our own
        // Vec cannot overlap memory the caller's buffer owns.
        unsafe {
            std::ptr::copy_nonoverlapping(self.buf[self.pos..].as_ptr(), buf.stable_mut_ptr(), n);
            buf.set_init(n);
        }
        self.pos += n;
        (Ok(n), buf)
    }

    /// Reads exactly `buf.bytes_total()` bytes into `buf`, looping over short reads.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the stream ends first (the bytes read so far are in `buf`), or
    /// the first read error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: bytes already moved into `buf` are lost with it (the buffered ones
    /// that were not are kept).
    pub async fn read_exact<B: IoBufMut>(&mut self, buf: B) -> BufResult<(), B> {
        let total = buf.bytes_total();
        let mut buf = buf;
        let mut done = 0;
        while done < total {
            let (res, slice) = self.read(buf.slice(done..total)).await;
            buf = slice.into_inner();
            match res {
                Ok(0) => {
                    let msg = format!("read_exact stopped after {done} of {total} bytes");
                    return (Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg)), buf);
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return (Err(e), buf),
            }
        }
        (Ok(()), buf)
    }

    /// Reads everything up to end-of-stream, appending it to `out`; returns the number of
    /// bytes appended.
    ///
    /// # Errors
    ///
    /// The first read error (the bytes read before it have been appended).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe in that no byte is lost: bytes read before the drop are in `out`, the
    /// rest are still to be read.
    pub async fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let start = out.len();
        loop {
            let chunk = self.fill_buf().await?;
            if chunk.is_empty() {
                return Ok(out.len() - start);
            }
            out.extend_from_slice(chunk);
            self.pos = self.buf.len();
        }
    }

    /// The lines of the stream, as a [`Stream`](futures_core::Stream) of
    /// `io::Result<String>` and with [`Lines::next_line`]. Lines are split on `\n`; the
    /// `\n` and a `\r` before it are removed; a last line without `\n` is returned too.
    pub fn lines(self) -> Lines<R>
    where
        R: 'static,
    {
        Lines {
            pending: None,
            reader: Rc::new(RefCell::new(self)),
        }
    }

    /// The length of the next line ending in `delim` (included) at `buf[pos..]`, reading
    /// more as needed; at end-of-stream, all that is buffered.
    async fn find(&mut self, delim: u8) -> io::Result<usize> {
        let mut scanned = 0;
        loop {
            if let Some(n) = self.find_buffered(delim, &mut scanned) {
                return Ok(n);
            }
            if self.fill_more().await? == 0 {
                return Ok(self.buf.len() - self.pos);
            }
        }
    }

    /// The length of the line ending in `delim` if it is buffered; `scanned` (bytes after
    /// `pos` known to hold no `delim`) is advanced so the next search skips them.
    fn find_buffered(&self, delim: u8, scanned: &mut usize) -> Option<usize> {
        let rest = &self.buf[self.pos..];
        match rest[*scanned..].iter().position(|&b| b == delim) {
            Some(i) => Some(*scanned + i + 1),
            None => {
                *scanned = rest.len();
                None
            }
        }
    }

    /// Reads once from the inner reader, appending to the buffered bytes; returns the
    /// count (0 at end-of-stream). `Interrupted` is retried.
    async fn fill_more(&mut self) -> io::Result<usize> {
        loop {
            let res = if self.pos == self.buf.len() {
                // Nothing buffered: lend the buffer itself. If this future is dropped the
                // buffer goes with the op and an empty one takes its place.
                let mut buf = std::mem::take(&mut self.buf);
                buf.clear();
                self.pos = 0;
                buf.reserve(self.capacity);
                let (res, buf) = self.inner.read_owned(buf, self.offset).await;
                self.buf = buf;
                res
            } else {
                // Keep the buffered bytes out of the kernel's reach: read into the spare
                // buffer and copy.
                if self.pos > 0 {
                    self.buf.drain(..self.pos);
                    self.pos = 0;
                }
                let mut spare = std::mem::take(&mut self.spare);
                spare.clear();
                spare.reserve(self.capacity);
                let (res, spare) = self.inner.read_owned(spare, self.offset).await;
                if let Ok(n) = res {
                    self.buf.extend_from_slice(&spare[..n]);
                }
                self.spare = spare;
                res
            };
            match res {
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for BufReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.buf.len() - self.pos))
            .field("capacity", &self.capacity)
            .finish()
    }
}

fn invalid_utf8() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "line is not valid UTF-8")
}

type FindFuture = Pin<Box<dyn Future<Output = io::Result<usize>>>>;

/// The lines of a [`BufReader`], from [`BufReader::lines`]: a
/// [`Stream`](futures_core::Stream) of `io::Result<String>`, or call
/// [`next_line`](Lines::next_line).
///
/// Lines are split on `\n`; the `\n` and a `\r` before it are removed, as
/// `std::io::BufRead::lines` does. A last line without `\n` is returned too.
///
/// # Examples
///
/// ```
/// use ringcore::io::BufReader;
/// use ringcore::net::UnixStream;
/// use ringcore::stream::StreamExt;
///
/// ringcore::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (res, _) = a.write_all(b"one\ntwo\r\nthree" as &'static [u8]).await;
///     res?;
///     drop(a); // end-of-stream after "three"
///     let mut lines = BufReader::new(b).lines();
///     let mut got = Vec::new();
///     while let Some(line) = lines.next().await {
///         got.push(line?);
///     }
///     assert_eq!(got, ["one", "two", "three"]);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub struct Lines<R> {
    /// A search that had to wait for the inner reader; it holds a borrow of `reader` (the
    /// `RefCell`) until it completes or is dropped. Declared first so it drops first.
    pending: Option<FindFuture>,
    reader: Rc<RefCell<BufReader<R>>>,
}

impl<R: AsyncReadOwned + 'static> Lines<R> {
    /// The next line, or `None` at end-of-stream.
    ///
    /// # Errors
    ///
    /// A read error (the partial line stays buffered; call again to go on), or
    /// `InvalidData` if the line is not UTF-8 (the line is skipped).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe, whatever the inner reader: a read in flight stays pending in `Lines`
    /// and the next call picks it up, so no line and no byte is lost.
    pub async fn next_line(&mut self) -> io::Result<Option<String>> {
        poll_fn(|cx| self.poll_next_line(cx)).await
    }

    /// Polls for the next line; see [`next_line`](Lines::next_line).
    ///
    /// # Errors
    ///
    /// As [`next_line`](Lines::next_line).
    pub fn poll_next_line(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Option<String>>> {
        let n = match &mut self.pending {
            Some(fut) => {
                let res = ready!(fut.as_mut().poll(cx));
                self.pending = None;
                res?
            }
            None => {
                let mut scanned = 0;
                let buffered = self.reader.borrow().find_buffered(b'\n', &mut scanned);
                match buffered {
                    Some(n) => n,
                    None => {
                        let reader = self.reader.clone();
                        // The future holds the reader's only borrow until it completes or
                        // is dropped; `Lines` touches the reader only when no future is
                        // pending.
                        #[allow(clippy::await_holding_refcell_ref)]
                        let mut fut: FindFuture =
                            Box::pin(async move { reader.borrow_mut().find(b'\n').await });
                        match fut.as_mut().poll(cx) {
                            Poll::Ready(res) => res?,
                            Poll::Pending => {
                                self.pending = Some(fut);
                                return Poll::Pending;
                            }
                        }
                    }
                }
            }
        };
        let mut reader = self.reader.borrow_mut();
        if n == 0 {
            return Poll::Ready(Ok(None));
        }
        let mut line = &reader.buf[reader.pos..reader.pos + n];
        if line.last() == Some(&b'\n') {
            line = &line[..line.len() - 1];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
        }
        let out = String::from_utf8(line.to_vec()).map_err(|_| invalid_utf8());
        reader.pos += n;
        Poll::Ready(out.map(Some))
    }

    /// Gives the reader back, with the bytes it has buffered; a read in flight is
    /// cancelled (with the inner reader's cancel semantics, as for a dropped
    /// [`BufReader`] future).
    pub fn into_inner(self) -> BufReader<R> {
        let Lines { pending, reader } = self;
        drop(pending);
        match Rc::try_unwrap(reader) {
            Ok(cell) => cell.into_inner(),
            Err(_) => unreachable!("only the pending search shares the reader"),
        }
    }
}

impl<R: AsyncReadOwned + 'static> futures_core::Stream for Lines<R> {
    type Item = io::Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_line(cx).map(Result::transpose)
    }
}

impl<R: std::fmt::Debug> std::fmt::Debug for Lines<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Lines");
        match self.reader.try_borrow() {
            Ok(r) => d.field("reader", &*r),
            Err(_) => d.field("reader", &"<reading>"),
        };
        d.field("pending", &self.pending.is_some()).finish()
    }
}
