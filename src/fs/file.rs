//! `File`: an open file whose reads and writes go through the ring with owned buffers
//! (page-cache hits inline with preadv2(RWF_NOWAIT)), and the offset check every path shares.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;
use std::rc::Rc;

use super::nowait::{NowaitReads, Outcome};
use super::{Lines, Metadata, OpenOptions};
use crate::buf::transfer::transfer_all;
use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::ops::fs::{Close, Fallocate, Fsync, Ftruncate, Statx};
use crate::driver::ops::rw::{Read, Write};
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Driver, Op};

mod read_at;
use read_at::{Phase, ReadAt};

/// An open file whose I/O goes through the core's io_uring.
///
/// All reads and writes are positional (pread/pwrite semantics: they do not move a file
/// cursor), take an owned buffer and return it with the result. The file belongs to the
/// core that opened it (`!Send`); share it between tasks of that core with `Rc<File>`.
///
/// Dropping a `File` closes its descriptor once every op still in flight on it has
/// completed; [`close`](File::close) does the same asynchronously and reports close's
/// error.
///
/// # Examples
///
/// ```
/// use ringcore::fs::OpenOptions;
///
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir()?;
///     let path = dir.path().join("data");
///     let file = OpenOptions::new().read(true).write(true).create(true).open(&path).await?;
///     let (res, _buf) = file.write_all_at(b"0123456789" as &'static [u8], 0).await;
///     res?;
///     file.sync_all().await?;
///
///     let (res, buf) = file.read_exact_at(Vec::with_capacity(4), 3).await;
///     res?;
///     assert_eq!(buf, b"3456");
///     file.close().await
/// })
/// .unwrap();
/// ```
pub struct File {
    fd: SharedFd,
    driver: Rc<Driver>,
    /// Whether reads try preadv2(RWF_NOWAIT) first: off for O_DIRECT files and file
    /// systems that answer EOPNOTSUPP, paused while reads miss the page cache
    /// (src/fs/nowait.rs).
    nowait: NowaitReads,
}

impl File {
    pub(crate) fn from_parts(fd: OwnedFd, driver: Rc<Driver>, direct: bool) -> Self {
        Self {
            fd: SharedFd::new(fd),
            driver,
            nowait: NowaitReads::new(!direct),
        }
    }

    /// Opens a file read-only.
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`]; a missing file is `NotFound`.
    ///
    /// # Cancel safety
    ///
    /// As [`OpenOptions::open`]: a descriptor opened after the future was dropped is closed.
    pub async fn open(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new().read(true).open(path).await
    }

    /// Opens a file write-only, creating it (mode 0o666 before the umask) or truncating it.
    ///
    /// # Errors
    ///
    /// As [`OpenOptions::open`]; a missing parent directory is `NotFound`, a directory is
    /// `IsADirectory`.
    ///
    /// # Cancel safety
    ///
    /// As [`OpenOptions::open`].
    pub async fn create(path: impl AsRef<Path>) -> io::Result<File> {
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .await
    }

    /// Adopts a `std::fs::File` (it must be usable by the current core's ring).
    ///
    /// # Panics
    ///
    /// If called outside a ringcore runtime.
    pub fn from_std(file: std::fs::File) -> File {
        let direct = crate::sys::fd::is_direct(std::os::fd::AsFd::as_fd(&file));
        File::from_parts(
            OwnedFd::from(file),
            crate::runtime::context::driver(),
            direct,
        )
    }

    /// Reads up to `buf.bytes_total()` bytes at byte offset `pos` into the start of `buf`
    /// (IORING_OP_READ, pread(2) semantics). Returns the number of bytes read (0 at or past
    /// EOF) and the buffer: a `Vec<u8>` comes back with `len()` equal to the bytes read (0 at
    /// EOF), so one buffer can be reused with no stale bytes (a [`Slice`](crate::buf::Slice)
    /// view only grows its buffer; see [`IoBufMut`](crate::buf::IoBufMut)).
    ///
    /// # Errors
    ///
    /// read(2)'s errors, e.g. `EINVAL` (`InvalidInput`) for a misaligned O_DIRECT read,
    /// `EBADF` if the file was not opened for reading.
    ///
    /// A read whose data is already in the page cache completes at once, without an SQE:
    /// when no SQE is queued in this tick, it is tried with preadv2(RWF_NOWAIT) on the
    /// core's thread (which never blocks), and goes through the ring only if that answers
    /// EAGAIN. A bounded number of reads per tick complete this way
    /// ([`Builder::inline_reads_per_tick`](crate::Builder::inline_reads_per_tick)),
    /// so a task reading cached data in a loop still lets I/O and timers run (a read past
    /// the budget waits for the next tick and completes inline then). A file whose
    /// recent reads missed the page cache stops trying (4 misses in a row) and probes again
    /// one read in 8, then 16, ... 256, until a probe hits. The result is the same either
    /// way, except that a cached prefix of a partly cached range may come back as a short
    /// read.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the read; the buffer stays owned by the runtime until the
    /// kernel has let go of it and is then freed. Bytes read are lost with it.
    pub fn read_at<B: IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl Future<Output = BufResult<usize, B>> + use<'_, B> {
        ReadAt {
            file: self,
            pos,
            phase: Phase::Start,
            buf: Some(buf),
            op: std::mem::ManuallyDrop::new(None),
        }
    }

    /// One preadv2(RWF_NOWAIT) into `buf` at `pos` (checked: at most `i64::MAX`) on the
    /// core's thread, its budget unit already spent. `Some` when the read is over (a hit,
    /// EOF, or an error to report), `None` when it goes through the ring (EAGAIN, or the
    /// file cannot read this way).
    #[inline]
    fn read_inline<B: IoBufMut>(&self, buf: &mut B, pos: u64) -> Option<io::Result<usize>> {
        let len = buf.bytes_total();
        // SAFETY: the pointer and capacity come from the buffer we own for the whole
        // call; IoBufMut guarantees `bytes_total` writable bytes there. `pos` passed
        // `check_offset`, so it fits an off_t.
        let res = unsafe {
            crate::sys::fd::pread_nowait(self.fd.borrow(), buf.stable_mut_ptr(), len, pos as i64)
        };
        // With RWF_NOWAIT an uncached range is EAGAIN, so 0 bytes is a real EOF.
        let Ok(n) = usize::try_from(res) else {
            return self.read_inline_failed(res);
        };
        self.nowait.record(Outcome::Hit);
        self.driver.inline_read_hit(n);
        // SAFETY: preadv2 initialised the first `n <= len` bytes.
        unsafe { buf.set_init(n) };
        Some(Ok(n))
    }

    /// What a failed inline read (`res`: `-errno`) means: go through the ring (EAGAIN;
    /// EOPNOTSUPP or ESPIPE, which also stop the attempts on this file), or report the
    /// error.
    #[cold]
    fn read_inline_failed(&self, res: isize) -> Option<io::Result<usize>> {
        let errno = i32::try_from(-res).unwrap_or(libc::EIO);
        match errno {
            // Not supported here, or not seekable (a pipe, where the ring's read works):
            // stop trying for this file.
            libc::EOPNOTSUPP | libc::ESPIPE => {
                self.nowait.disable();
                None
            }
            libc::EAGAIN => {
                self.nowait.record(Outcome::Miss);
                None
            }
            _ => Some(Err(io::Error::from_raw_os_error(errno))),
        }
    }

    /// What this file's inline-read tracker decided so far (tests and benchmarks).
    #[cfg(test)]
    pub(crate) fn nowait_counts(&self) -> super::nowait::NowaitCounts {
        self.nowait.counts()
    }

    /// True while this file's reads skip the inline attempt (tests).
    #[cfg(test)]
    pub(crate) fn nowait_skipping(&self) -> bool {
        self.nowait.is_skipping()
    }

    /// Like [`read_at`](File::read_at), but the returned future does not borrow the file.
    /// `InvalidInput` for an offset past `i64::MAX` (see [`check_offset`]).
    pub(crate) fn read_op<B: IoBufMut>(&self, buf: B, pos: u64) -> Op<Read<B>> {
        let op = Read {
            fd: self.fd.clone(),
            buf,
            offset: pos,
        };
        match check_offset(pos) {
            Ok(()) => self.driver.submit(op),
            Err(e) => Op::failed(self.driver.clone(), op, e),
        }
    }

    /// Writes `buf`'s initialised bytes at byte offset `pos` (IORING_OP_WRITE, pwrite(2)
    /// semantics; with O_APPEND the data goes to the end). Returns the number of bytes
    /// written, which may be fewer than asked, and the buffer.
    ///
    /// # Errors
    ///
    /// write(2)'s errors, e.g. `StorageFull` (ENOSPC), `EBADF` if not opened for writing.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future cancels the write; it may or may not have happened, fully or in
    /// part. The buffer is freed once the kernel lets go of it.
    pub async fn write_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<usize, B> {
        self.write_op(buf, pos).await
    }

    /// `InvalidInput` for an offset past `i64::MAX` (see [`check_offset`]).
    pub(crate) fn write_op<B: IoBuf>(&self, buf: B, pos: u64) -> Op<Write<B>> {
        let op = Write {
            fd: self.fd.clone(),
            buf,
            offset: pos,
        };
        match check_offset(pos) {
            Ok(()) => self.driver.submit(op),
            Err(e) => Op::failed(self.driver.clone(), op, e),
        }
    }

    /// Reads exactly `buf.bytes_total()` bytes at offset `pos`, looping over short reads.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the file ends first (the bytes read so far are in `buf`), or the
    /// first read error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: bytes read before the drop are lost with the buffer.
    pub async fn read_exact_at<B: IoBufMut>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        let total = buf.bytes_total();
        let eof = io::ErrorKind::UnexpectedEof;
        transfer_all(buf, total, eof, "file read", |slice, done| {
            self.read_at(slice, pos + done as u64)
        })
        .await
    }

    /// Writes all of `buf`'s initialised bytes at offset `pos`, looping over short writes.
    ///
    /// # Errors
    ///
    /// `WriteZero` if a write accepts no bytes, or the first write error.
    ///
    /// # Cancel safety
    ///
    /// Not cancel-safe: an unknown prefix of the data may have been written.
    pub async fn write_all_at<B: IoBuf>(&self, buf: B, pos: u64) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let zero = io::ErrorKind::WriteZero;
        transfer_all(buf, total, zero, "file write", |slice, done| {
            self.write_at(slice, pos + done as u64)
        })
        .await
    }

    /// Flushes data and metadata to the device (IORING_OP_FSYNC, fsync(2)).
    ///
    /// # Errors
    ///
    /// fsync(2)'s errors (`EIO` on a device error).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves it unknown whether the data reached the device.
    pub async fn sync_all(&self) -> io::Result<()> {
        self.driver
            .submit(Fsync {
                fd: self.fd.clone(),
                datasync: false,
            })
            .await
    }

    /// Flushes data, and only the metadata needed to read it back (fdatasync(2)).
    ///
    /// # Errors
    ///
    /// As [`sync_all`](File::sync_all).
    ///
    /// # Cancel safety
    ///
    /// As [`sync_all`](File::sync_all).
    pub async fn sync_data(&self) -> io::Result<()> {
        self.driver
            .submit(Fsync {
                fd: self.fd.clone(),
                datasync: true,
            })
            .await
    }

    /// The file's metadata (IORING_OP_STATX on the fd).
    ///
    /// # Errors
    ///
    /// statx(2)'s errors.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: nothing changes.
    pub async fn metadata(&self) -> io::Result<Metadata> {
        let stx = self.driver.submit(Statx::of_fd(self.fd.clone())).await?;
        Ok(Metadata::from_statx(&stx))
    }

    /// Truncates or extends the file to `size` bytes (IORING_OP_FTRUNCATE on Linux 6.9+,
    /// else ftruncate(2) on the calling thread, which does not block on I/O).
    ///
    /// # Errors
    ///
    /// `InvalidInput` if the file is not open for writing or `size` exceeds `i64::MAX`;
    /// `StorageFull`, `FileTooLarge`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves it unknown whether the length changed.
    pub async fn set_len(&self, size: u64) -> io::Result<()> {
        if i64::try_from(size).is_err() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "size exceeds i64::MAX",
            ));
        }
        if self.driver.features().ftruncate {
            self.driver
                .submit(Ftruncate {
                    fd: self.fd.clone(),
                    len: size,
                })
                .await
        } else {
            crate::sys::fd::ftruncate(self.fd.borrow(), size)
        }
    }

    /// Allocates (or with `mode` flags, punches or zeroes) `len` bytes at `offset`
    /// (IORING_OP_FALLOCATE, fallocate(2); `mode` 0 allocates and extends the file).
    ///
    /// # Errors
    ///
    /// fallocate(2)'s errors: `Unsupported` (EOPNOTSUPP) where the file system cannot,
    /// `StorageFull`.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future leaves it unknown whether space was allocated.
    pub async fn allocate(&self, offset: u64, len: u64, mode: i32) -> io::Result<()> {
        self.driver
            .submit(Fallocate {
                fd: self.fd.clone(),
                offset,
                len,
                mode,
            })
            .await
    }

    /// Closes the file through the ring (IORING_OP_CLOSE), after every op still in flight
    /// on it has completed.
    ///
    /// # Errors
    ///
    /// close(2)'s error (`EIO` on NFS, say); the descriptor is released either way.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped while waiting for in-flight ops, the descriptor is closed
    /// when they finish; if dropped after the close was queued, the close still happens.
    pub async fn close(self) -> io::Result<()> {
        let File { fd, driver, .. } = self;
        let Some(owned) = fd.into_sole_owner().await else {
            return Ok(());
        };
        let raw = std::os::fd::IntoRawFd::into_raw_fd(owned);
        driver.submit(Close { fd: raw }).await
    }

    /// A line-by-line reader over the file from offset 0; see [`Lines`].
    pub fn lines(self) -> Lines {
        Lines::new(self)
    }
}

impl AsRawFd for File {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.raw()
    }
}

impl AsFd for File {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.borrow()
    }
}

impl std::fmt::Debug for File {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("File").field("fd", &self.fd.raw()).finish()
    }
}

/// Offsets are `off_t` (signed 64-bit) to the kernel: io_uring reads one past `i64::MAX` as
/// -1, "the file's current position", and preadv2/pwritev2 the same. std's `read_at` and
/// `write_at` return `InvalidInput` for them (EINVAL); so does ringcore, on every path,
/// before anything reaches the kernel (docs/hazards.md, H17).
#[inline]
pub(crate) fn check_offset(pos: u64) -> io::Result<()> {
    if pos > i64::MAX as u64 {
        return Err(offset_error(pos));
    }
    Ok(())
}

#[cold]
fn offset_error(pos: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("file offset {pos} is past i64::MAX"),
    )
}

// The owned-buffer stream traits of `crate::io`: a buffered reader or writer holding a
// `File` reads or writes at its own running position (`pos`, bytes from offset 0).
impl crate::io::traits::sealed::Read for File {
    fn read_owned<B: crate::buf::IoBufMut>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl std::future::Future<Output = crate::buf::BufResult<usize, B>> {
        self.read_at(buf, pos)
    }
}
impl crate::io::AsyncReadOwned for File {}

impl crate::io::traits::sealed::Write for File {
    fn write_owned<B: crate::buf::IoBuf>(
        &self,
        buf: B,
        pos: u64,
    ) -> impl std::future::Future<Output = crate::buf::BufResult<usize, B>> {
        self.write_at(buf, pos)
    }

    fn shutdown_write(&self) -> std::io::Result<()> {
        Ok(())
    }
}
impl crate::io::AsyncWriteOwned for File {}
