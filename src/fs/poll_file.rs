//! [`PollFile`]: a buffered, cursor-keeping adapter that gives a [`File`] the poll-based
//! `AsyncRead + AsyncBufRead + AsyncWrite + AsyncSeek` traits of tokio (feature `tokio-io`)
//! and of `futures_io` (feature `futures-io`).
//!
//! Files have no readiness to wait for, so the adapter owns a buffer and runs ring reads
//! and writes (IORING_OP_READ/WRITE) into and out of it; the caller's borrowed buffers only
//! ever see `memcpy`s. The in-flight op lives in the adapter, not in the caller's future.
//!
//! The adapter's state (only its own `&mut self` methods touch it):
//!
//! ```text
//! Idle(buf, Clean)              nothing buffered
//! Idle(buf, Read { read })      read-ahead: file bytes at the cursor are buf[read..]
//! Idle(buf, Write { start })    unwritten bytes; buf[0] belongs at file offset start
//! Reading(op)                   one IORING_OP_READ of up to `cap` bytes at the cursor
//!                               owns the buffer -> Idle(Read { read: 0 }), or Idle(Clean)
//!                               and the error
//! Writing { op, start }         one IORING_OP_WRITE of buf[done..] at start + done owns
//!                               it -> short: Writing the rest; done: Idle(Clean); an
//!                               error or 0 bytes: Idle(Clean) and the error
//! Empty                         only during a transition (after a panic in one: every
//!                               call fails)
//! ```
//!
//! Every transition first drives the op in flight to `Idle`: a read after writes flushes
//! them, a write after reads drops the read-ahead past the cursor, a seek does both but
//! keeps read-ahead that covers its target. A write that fills the buffer hands it to the
//! ring at once and returns, so its error comes from the next call.

use std::future::Future;
use std::io::{self, SeekFrom};
#[cfg(feature = "tokio-io")]
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use super::File;
use crate::buf::{IoBuf, Slice};
use crate::driver::Op;
use crate::driver::ops::rw::{Read, Write};

/// The buffer size of [`PollFile::new`]: 64 KiB, bytes.
const DEFAULT_CAPACITY: usize = 64 * 1024;

/// A [`File`] with a cursor and one buffer (with feature `tokio-io` or `futures-io`),
/// implementing `AsyncRead`, `AsyncBufRead`, `AsyncWrite` and `AsyncSeek` from tokio
/// (feature `tokio-io`) and from `futures_io` (feature `futures-io`), so `tokio::io::copy`,
/// `tokio_util::codec` and `futures::io::copy` work on files.
///
/// Made by [`File::into_poll_io`] (a 64 KiB buffer) or [`PollFile::with_capacity`]. The
/// cursor starts at offset 0. Reads fill the buffer with one ring read of up to its
/// capacity at the cursor and copy out of it; writes copy into it and go to the file, one
/// ring write at a time, when it is full or on flush. Switching between reading, writing
/// and seeking first finishes (writes) or drops (read-ahead) what the buffer holds, so the
/// file always sees the bytes at the offsets the cursor says. For a file opened with
/// `append`, the kernel puts every write at the end whatever the cursor says.
///
/// # Errors and durability
///
/// `poll_write` returns as soon as the bytes are in the buffer; an error writing them
/// to the file (`StorageFull`, `EIO`) is returned by the next `poll_write`, `poll_flush`,
/// `poll_shutdown`/`poll_close`, read or seek, and the bytes of the failed write are
/// dropped. `flush` hands the bytes to the kernel; it does not fsync: call
/// [`File::sync_all`] on [`get_ref`](PollFile::get_ref) for that.
///
/// # Drop
///
/// Dropping a `PollFile` (or calling [`into_inner`](PollFile::into_inner)) loses the
/// bytes still in the buffer: flush first. A write already handed to the ring is
/// cancelled and may or may not reach the file, in part or fully.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "futures-io")] {
/// use futures_io::{AsyncRead, AsyncWrite};
/// use ringcore::fs::File;
/// use std::future::poll_fn;
/// use std::pin::Pin;
///
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir()?;
///     let mut w = File::create(dir.path().join("f")).await?.into_poll_io();
///     poll_fn(|cx| Pin::new(&mut w).poll_write(cx, b"hello")).await?;
///     poll_fn(|cx| Pin::new(&mut w).poll_flush(cx)).await?;
///     let mut r = File::open(dir.path().join("f")).await?.into_poll_io();
///     let mut buf = [0u8; 16];
///     let n = poll_fn(|cx| Pin::new(&mut r).poll_read(cx, &mut buf)).await?;
///     assert_eq!(&buf[..n], b"hello");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// # }
/// ```
pub struct PollFile {
    file: File,
    /// The cursor: the file offset of the caller's next read or write, in bytes.
    pos: u64,
    /// The buffer's capacity in bytes (at least 1).
    cap: usize,
    state: State,
    /// A seek asked for by tokio's `start_seek` and not yet completed.
    #[cfg_attr(not(feature = "tokio-io"), allow(dead_code))]
    seek: Option<SeekFrom>,
}

enum State {
    /// The buffer is ours; `mode` says what it holds.
    Idle(Vec<u8>, Mode),
    /// A read of up to `cap` bytes at `pos` owns the buffer.
    Reading(Op<Read<Vec<u8>>>),
    /// A write of the buffer's bytes `done..` at file offset `start + done` owns it.
    Writing {
        op: Op<Write<Slice<Vec<u8>>>>,
        start: u64,
    },
    /// Only while a transition runs (or after a panic in one).
    Empty,
}

#[derive(Clone, Copy)]
enum Mode {
    /// Nothing buffered.
    Clean,
    /// File bytes at the cursor: the unread ones are `buf[read..]`.
    Read { read: usize },
    /// Bytes not yet written; `buf[0]` belongs at file offset `start`, and the cursor is
    /// `start + buf.len()`.
    Write { start: u64 },
}

impl File {
    /// Wraps the file in a [`PollFile`] with a 64 KiB buffer and the cursor at offset 0,
    /// for the poll-based `AsyncRead`/`AsyncWrite`/`AsyncSeek` traits.
    pub fn into_poll_io(self) -> PollFile {
        PollFile::with_capacity(DEFAULT_CAPACITY, self)
    }
}

impl PollFile {
    /// Wraps `file` with a buffer of `capacity` bytes (each ring read or write moves up to
    /// that many) and the cursor at offset 0.
    ///
    /// # Panics
    ///
    /// If `capacity` is 0.
    pub fn with_capacity(capacity: usize, file: File) -> PollFile {
        assert!(
            capacity > 0,
            "ringcore: PollFile capacity must be at least 1"
        );
        PollFile {
            file,
            pos: 0,
            cap: capacity,
            state: State::Idle(Vec::new(), Mode::Clean),
            seek: None,
        }
    }

    /// The file.
    pub fn get_ref(&self) -> &File {
        &self.file
    }

    /// The cursor: the file offset, in bytes, of the next read or write.
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// Unwraps the file. Buffered, unwritten bytes are lost (flush first); see the type's
    /// docs.
    pub fn into_inner(self) -> File {
        self.file
    }

    /// Hands `buf[done..]` to the ring as a write at file offset `start + done`.
    fn start_write(&mut self, buf: Vec<u8>, start: u64, done: usize) {
        let len = buf.len();
        let op = self
            .file
            .write_op(buf.slice(done..len), start + done as u64);
        self.state = State::Writing { op, start };
    }

    /// Drives the op in flight, if any, to completion, leaving `Idle`. A write that
    /// wrote part of its bytes submits the rest; a finished read fills the buffer.
    fn poll_idle(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            match &mut self.state {
                State::Idle(..) => return Poll::Ready(Ok(())),
                State::Reading(op) => {
                    let (res, buf) = ready!(Pin::new(op).poll(cx));
                    match res {
                        // `buf.len()` is what was read; 0 (an empty buffer) is EOF.
                        Ok(_) => self.state = State::Idle(buf, Mode::Read { read: 0 }),
                        Err(e) => {
                            self.state = State::Idle(cleared(buf), Mode::Clean);
                            return Poll::Ready(Err(e));
                        }
                    }
                }
                State::Writing { op, start } => {
                    let start = *start;
                    let (res, slice) = ready!(Pin::new(op).poll(cx));
                    let begin = slice.begin();
                    let buf = slice.into_inner();
                    match res {
                        Ok(n) if n > 0 && begin + n < buf.len() => {
                            self.start_write(buf, start, begin + n)
                        }
                        Ok(n) if n > 0 => self.state = State::Idle(cleared(buf), Mode::Clean),
                        res => {
                            self.state = State::Idle(cleared(buf), Mode::Clean);
                            let err = res.err().unwrap_or_else(|| {
                                io::Error::new(
                                    io::ErrorKind::WriteZero,
                                    "the file accepted no bytes of a buffered write",
                                )
                            });
                            return Poll::Ready(Err(err));
                        }
                    }
                }
                State::Empty => return Poll::Ready(Err(poisoned())),
            }
        }
    }

    /// Writes out what the buffer holds for writing, waiting for every write in flight.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.poll_idle(cx))?;
            match std::mem::replace(&mut self.state, State::Empty) {
                State::Idle(buf, Mode::Write { start }) if !buf.is_empty() => {
                    self.start_write(buf, start, 0)
                }
                State::Idle(buf, Mode::Write { .. }) => {
                    self.state = State::Idle(buf, Mode::Clean);
                    return Poll::Ready(Ok(()));
                }
                state => {
                    self.state = state;
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }

    /// Makes the buffer hold file bytes at the cursor (one ring read of up to `cap` bytes
    /// if it holds none) and returns the unread ones; empty at end of file.
    fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        loop {
            ready!(self.poll_flush(cx))?;
            match std::mem::replace(&mut self.state, State::Empty) {
                State::Idle(buf, Mode::Read { read }) if read < buf.len() => {
                    self.state = State::Idle(buf, Mode::Read { read });
                    break;
                }
                State::Idle(buf, Mode::Read { .. }) if buf.is_empty() => {
                    // The last read hit end of file: report it once; the next call reads
                    // again (the file may have grown).
                    self.state = State::Idle(buf, Mode::Clean);
                    return Poll::Ready(Ok(&[]));
                }
                State::Idle(buf, _) => {
                    let mut buf = cleared(buf);
                    buf.reserve(self.cap);
                    self.state = State::Reading(self.file.read_op(buf, self.pos));
                }
                state => self.state = state,
            }
        }
        match &self.state {
            State::Idle(buf, Mode::Read { read }) => Poll::Ready(Ok(&buf[*read..])),
            _ => unreachable!("ringcore: PollFile::poll_fill_buf left a filled buffer"),
        }
    }

    /// Marks `amt` bytes of what `poll_fill_buf` returned as read.
    fn consume(&mut self, amt: usize) {
        if let State::Idle(buf, Mode::Read { read }) = &mut self.state {
            let amt = amt.min(buf.len() - *read);
            *read += amt;
            self.pos += amt as u64;
        }
    }

    /// Reads into `dst` from the buffer, filling it first if empty.
    #[cfg(feature = "futures-io")]
    fn poll_read(&mut self, cx: &mut Context<'_>, dst: &mut [u8]) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let avail = ready!(self.poll_fill_buf(cx))?;
        let n = avail.len().min(dst.len());
        dst[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// Copies from `data` into the buffer, handing a full buffer to the ring first.
    fn poll_write(&mut self, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        if data.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            ready!(self.poll_idle(cx))?;
            match std::mem::replace(&mut self.state, State::Empty) {
                State::Idle(buf, Mode::Write { start }) if buf.len() >= self.cap => {
                    self.start_write(buf, start, 0)
                }
                State::Idle(mut buf, Mode::Write { start }) => {
                    buf.reserve_exact(self.cap - buf.len());
                    let n = (self.cap - buf.len()).min(data.len());
                    buf.extend_from_slice(&data[..n]);
                    self.pos += n as u64;
                    if buf.len() == self.cap {
                        // Start the write now, so it runs while the caller produces more.
                        self.start_write(buf, start, 0);
                    } else {
                        self.state = State::Idle(buf, Mode::Write { start });
                    }
                    return Poll::Ready(Ok(n));
                }
                // Read-ahead past the cursor is dropped; writing starts at the cursor.
                State::Idle(buf, _) => {
                    self.state = State::Idle(cleared(buf), Mode::Write { start: self.pos })
                }
                state => self.state = state,
            }
        }
    }

    /// Finishes pending writes, then moves the cursor to `target`.
    fn poll_seek(&mut self, cx: &mut Context<'_>, target: SeekFrom) -> Poll<io::Result<u64>> {
        ready!(self.poll_flush(cx))?;
        let new = match target {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(off) => self.pos.checked_add_signed(off),
            SeekFrom::End(off) => {
                use std::os::fd::AsFd;
                crate::sys::fd::file_size(self.file.as_fd())?.checked_add_signed(off)
            }
        };
        let Some(new) = new else {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            )));
        };
        // Keep read-ahead that covers the new cursor.
        let kept = match &mut self.state {
            State::Idle(buf, Mode::Read { read }) => {
                let first = self.pos - *read as u64;
                let end = first + buf.len() as u64;
                if (first..end).contains(&new) {
                    *read = (new - first) as usize;
                    true
                } else {
                    false
                }
            }
            _ => false,
        };
        if !kept && let State::Idle(buf, mode) = &mut self.state {
            buf.clear();
            *mode = Mode::Clean;
        }
        self.pos = new;
        Poll::Ready(Ok(new))
    }
    /// As `poll_read`, into possibly uninitialised bytes (tokio's `ReadBuf`): on
    /// `Ready(Ok(n))` the first `n` bytes of `dst` are written.
    #[cfg(feature = "tokio-io")]
    fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let avail = ready!(self.poll_fill_buf(cx))?;
        let n = avail.len().min(dst.len());
        for (d, s) in dst.iter_mut().zip(&avail[..n]) {
            d.write(*s);
        }
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    /// Writes the buffer out, as `poll_flush` (no fsync).
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }

    /// tokio's two-step seek: records the target; a second call before `poll_complete`
    /// replaces the first.
    #[cfg(feature = "tokio-io")]
    fn start_seek(&mut self, position: SeekFrom) -> io::Result<()> {
        self.seek = Some(position);
        Ok(())
    }

    /// Completes the seek `start_seek` recorded (the cursor, if none).
    #[cfg(feature = "tokio-io")]
    fn poll_complete(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let Some(target) = self.seek else {
            return Poll::Ready(Ok(self.pos));
        };
        let res = ready!(self.poll_seek(cx, target));
        self.seek = None;
        Poll::Ready(res)
    }
}

fn cleared(mut buf: Vec<u8>) -> Vec<u8> {
    buf.clear();
    buf
}

fn poisoned() -> io::Error {
    io::Error::other("ringcore: PollFile used after a panic in one of its operations")
}

impl std::fmt::Debug for PollFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.state {
            State::Idle(_, Mode::Clean) => "idle",
            State::Idle(_, Mode::Read { .. }) => "read-ahead",
            State::Idle(_, Mode::Write { .. }) => "unflushed writes",
            State::Reading(_) => "reading",
            State::Writing { .. } => "writing",
            State::Empty => "poisoned",
        };
        f.debug_struct("PollFile")
            .field("file", &self.file)
            .field("pos", &self.pos)
            .field("capacity", &self.cap)
            .field("state", &state)
            .finish()
    }
}

crate::io::poll_traits::poll_traits! {
    /// Reads from the buffer, filling it with one ring read at the cursor when empty.
    /// Cancel-safe: a read in flight belongs to the adapter, and the next call gets its
    /// bytes.
    impl read for PollFile;
    /// The buffer itself; `consume` moves the cursor.
    impl buf_read for PollFile;
    /// Buffers writes; `poll_flush` and `poll_shutdown`/`poll_close` write the buffer out
    /// (no fsync).
    impl write for PollFile;
    /// Seeks after writing out the buffer; `SeekFrom::End` reads the size with fstat(2).
    /// tokio's `start_seek` only records the target, so it never fails (a second
    /// `start_seek` before `poll_complete` replaces the first); `poll_complete` (tokio) and
    /// `poll_seek` (futures) report the errors (`InvalidInput` for a negative position,
    /// or an earlier buffered write's error).
    impl seek for PollFile;
}
