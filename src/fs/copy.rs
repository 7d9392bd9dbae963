//! `fs::copy`: a whole-file copy inside the kernel, in chunks on the blocking pool.
//!
//! The first job sets the permission bits, advises sequential reads and tries a reflink
//! (ioctl FICLONE, as `cp` does). Then the bytes move by one of two engines:
//!
//! - on ext2/3/4 and tmpfs, whose copy_file_range(2) is itself a splice through the task's
//!   internal 64 KiB pipe, by splice(2) through a pipe of 1 MiB of our own: the same page
//!   moves with fewer round trips, so with less CPU than copy_file_range and `cp`;
//! - elsewhere by copy_file_range(2), which lets the file system offload the copy (NFS
//!   server-side copy, reflinks).
//!
//! Jobs of [`CHUNK`] bytes let a dropped copy stop after the job in flight. io_uring has no
//! copy_file_range opcode, and its IORING_OP_SPLICE always runs in an io-wq worker (two
//! hand-offs per pipeful), so the ring has nothing faster to offer here; a read/write
//! pipeline through the ring (examples/file_copy `--method ring`) moves every byte
//! through user space and costs more CPU than `cp`. The measurements are in
//! docs/benchmarks.md, "File fast paths".

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

use super::path::with_path;
use super::{File, OpenOptions, metadata};
use crate::loom::Arc;

/// Bytes per blocking-pool job: large enough that the hand-off per job (a pool wake-up
/// and a remote wake of the core, some 20 µs) is under 0.1% of the chunk's copy, small
/// enough that a dropped copy stops soon (a 32 MiB chunk takes about 10 ms from the page
/// cache, a few hundred ms from a slow disk).
pub(crate) const CHUNK: usize = 32 << 20;

/// The pipe size asked for the splice engine: 1 MiB, the default
/// /proc/sys/fs/pipe-max-size. copy_file_range on these file systems splices through the
/// task's internal pipe of 64 KiB; a 1 MiB pipe makes the same copy with fewer round trips
/// and less CPU (docs/benchmarks.md, "File fast paths").
const SPLICE_PIPE: usize = 1 << 20;

/// File systems whose copy_file_range is a plain splice (no reflink, no offload), where
/// the splice engine is used: ext2/3/4 (EXT4_SUPER_MAGIC) and tmpfs (TMPFS_MAGIC).
const SPLICING_FS: [i64; 2] = [0xEF53, 0x0102_1994];

/// Copies the contents and permission bits of `from` to `to`, creating or truncating `to`;
/// returns the number of bytes copied (std::fs::copy's contract).
///
/// The data moves inside the kernel, in jobs of 32 MiB on the blocking pool
/// ([`spawn_blocking`](crate::offload::spawn_blocking)), so the core keeps running other
/// tasks meanwhile: a reflink (FICLONE) where the file system can, else splice(2) through
/// a 1 MiB pipe on ext2/3/4 and tmpfs, else copy_file_range(2) (the syscall of `cp` and
/// `std::fs::copy`; io_uring has no opcode for it). The source gets POSIX_FADV_SEQUENTIAL
/// (larger readahead), as in `cp`.
///
/// In a deterministic simulation (feature `sim`) the copy reads and writes the simulated
/// host's disk through the ring, 1 MiB at a time, with its latencies and faults; like any
/// write, the copy's bytes are durable only once `to` is synced, and its name once any
/// file or directory of the host is synced. Permission bits are not simulated.
///
/// # Errors
///
/// `InvalidInput` if `from` is not a regular file, or if `from` and `to` are the same
/// file (copying would truncate it to nothing); otherwise the open, read or write error
/// (`NotFound`, `PermissionDenied`, `StorageFull`, ...), naming the path.
///
/// # Cancel safety
///
/// Not cancel-safe. Dropping the future stops the copy once the job in flight (at most
/// 32 MiB) has finished: `to` is then left created or truncated, with its permission bits
/// set once the first job ran, holding a prefix of `from`'s bytes of unknown length. Both
/// descriptors are closed.
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let dir = tempfile::tempdir()?;
///     let (a, b) = (dir.path().join("a"), dir.path().join("b"));
///     ringcore::fs::write(&a, vec![1u8; 100_000]).await?;
///     assert_eq!(ringcore::fs::copy(&a, &b).await?, 100_000);
///     assert_eq!(ringcore::fs::read(&b).await?, vec![1u8; 100_000]);
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub async fn copy(from: impl AsRef<Path>, to: impl AsRef<Path>) -> io::Result<u64> {
    copy_in_chunks(from.as_ref(), to.as_ref(), CHUNK, true).await
}

/// [`copy`] with jobs of `chunk` bytes; `may_splice` false keeps copy_file_range on every
/// file system (tests).
pub(crate) async fn copy_in_chunks(
    from: &Path,
    to: &Path,
    chunk: usize,
    may_splice: bool,
) -> io::Result<u64> {
    let src = File::open(from).await?;
    let meta = src
        .metadata()
        .await
        .map_err(|e| with_path(e, "copy", from))?;
    if !meta.is_file() {
        let err = io::Error::new(
            io::ErrorKind::InvalidInput,
            "the source is not a regular file",
        );
        return Err(with_path(err, "copy", from));
    }
    if let Ok(dst_meta) = metadata(to).await
        && (dst_meta.dev(), dst_meta.ino()) == (meta.dev(), meta.ino())
    {
        let err = io::Error::new(
            io::ErrorKind::InvalidInput,
            "source and destination are the same file",
        );
        return Err(with_path(err, "copy", to));
    }
    let dst = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(meta.permissions())
        .open(to)
        .await?;
    #[cfg(feature = "sim")]
    if crate::sim::is_simulated() {
        return copy_through_ring(src, dst, chunk.min(SIM_CHUNK))
            .await
            .map_err(|e| with_path(e, "copy", to));
    }
    let job_state = Arc::new(Job {
        src: std_file(&src)?,
        dst: std_file(&dst)?,
        permissions: meta.permissions(),
        len: meta.len(),
        may_splice,
    });
    let mut engine = None;
    let mut total = 0u64;
    loop {
        let state = job_state.clone();
        let mut current = engine.take();
        let job = move || -> io::Result<(u64, bool, Option<Engine>)> {
            let engine = match current.take() {
                Some(engine) => engine,
                None => match state.start()? {
                    Some(engine) => engine,
                    // Cloned whole.
                    None => return Ok((state.len, true, None)),
                },
            };
            let (n, eof) = state.chunk(&engine, chunk)?;
            Ok((n, eof, Some(engine)))
        };
        let (n, eof, next) = crate::offload::spawn_blocking(job)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?
            .map_err(|e| with_path(e, "copy", to))?;
        total += n;
        if eof {
            break;
        }
        engine = next;
    }
    drop(job_state);
    src.close().await?;
    dst.close().await?;
    Ok(total)
}

/// Bytes per read and write of a copy on a simulated host.
#[cfg(feature = "sim")]
const SIM_CHUNK: usize = 1 << 20;

/// [`copy`] on a simulated host (feature `sim`): reads and writes of `chunk` bytes through
/// the ring, which the simulation performs on the host's disk, so the copy has the
/// disk's latencies, faults and durability (its bytes are in the page cache until a sync
/// of `to`). Permission bits are not simulated.
#[cfg(feature = "sim")]
async fn copy_through_ring(src: File, dst: File, chunk: usize) -> io::Result<u64> {
    let mut buf = Vec::with_capacity(chunk);
    let mut total = 0u64;
    loop {
        buf.clear();
        let (res, b) = src.read_at(buf, total).await;
        let n = res?;
        if n == 0 {
            break;
        }
        let (res, b) = dst.write_all_at(b, total).await;
        res?;
        buf = b;
        total += n as u64;
    }
    src.close().await?;
    dst.close().await?;
    Ok(total)
}

/// What the blocking-pool jobs of one copy share: duplicates of both descriptors (their
/// file offsets advance as the copy goes) and what the first job needs.
struct Job {
    src: std::fs::File,
    dst: std::fs::File,
    permissions: u32,
    len: u64,
    may_splice: bool,
}

/// How the bytes move, chosen by the first job.
enum Engine {
    /// copy_file_range(2): lets the file system offload the copy (NFS server-side copy,
    /// reflinks) where it can.
    CopyFileRange,
    /// splice(2) from the source into this pipe and from the pipe into the destination,
    /// [`SPLICE_PIPE`] bytes at a time; (read end, write end).
    Splice(OwnedFd, OwnedFd),
}

impl Job {
    /// Sets the permission bits, advises sequential reads, tries a reflink (FICLONE, as
    /// `cp` does) and picks the engine; `None` if the reflink copied the whole file.
    fn start(&self) -> io::Result<Option<Engine>> {
        let (src, dst) = (self.src.as_fd(), self.dst.as_fd());
        crate::sys::fd::fchmod(dst, self.permissions)?;
        crate::sys::fd::fadvise_sequential(src);
        if crate::sys::fd::ficlone(dst, src).is_ok() {
            return Ok(None);
        }
        let plain = self.may_splice
            && crate::sys::fd::fs_magic(src).is_ok_and(|m| SPLICING_FS.contains(&m))
            && crate::sys::fd::fs_magic(dst).is_ok_and(|m| SPLICING_FS.contains(&m));
        if plain {
            let (r, w) = crate::sys::fd::pipe_with_size(SPLICE_PIPE)?;
            Ok(Some(Engine::Splice(r, w)))
        } else {
            Ok(Some(Engine::CopyFileRange))
        }
    }

    /// Copies up to `len` bytes at the files' offsets (advancing them); returns the bytes
    /// copied and whether the source reached its end. The pipe is empty again on success.
    fn chunk(&self, engine: &Engine, len: usize) -> io::Result<(u64, bool)> {
        let (src, dst) = (self.src.as_fd(), self.dst.as_fd());
        let mut done = 0;
        while done < len {
            let res = match engine {
                Engine::CopyFileRange => crate::sys::fd::copy_file_range(src, dst, len - done),
                Engine::Splice(r, w) => splice_through(src, dst, r.as_fd(), w.as_fd(), len - done),
            };
            match res {
                Ok(0) => return Ok((done as u64, true)),
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok((done as u64, false))
    }
}

/// Moves up to `len` (at most one pipeful) bytes from `src` into the pipe and all of them
/// on into `dst`; returns the count (0 at the source's end).
fn splice_through(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    pipe_r: BorrowedFd<'_>,
    pipe_w: BorrowedFd<'_>,
    len: usize,
) -> io::Result<usize> {
    let n = crate::sys::fd::splice(src, pipe_w, len.min(SPLICE_PIPE))?;
    let mut out = 0;
    while out < n {
        match crate::sys::fd::splice(pipe_r, dst, n - out) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(m) => out += m,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A `std::fs::File` on a duplicate of `file`'s descriptor, for the blocking pool.
fn std_file(file: &File) -> io::Result<std::fs::File> {
    use std::os::fd::AsFd;
    Ok(std::fs::File::from(file.as_fd().try_clone_to_owned()?))
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::Poll;

    use super::copy_in_chunks;

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn copies_across_chunk_boundaries() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        // Chunks smaller and larger than the splice engine's pipe.
        for chunk in [64 << 10, 3 << 20] {
            for len in [0, 1, chunk - 1, chunk, chunk + 1, 5 * chunk + 777] {
                let bytes = data(len);
                std::fs::write(&src, &bytes).unwrap();
                // Both engines: the splice one (chosen on ext4 and tmpfs, where tests
                // run) and copy_file_range (chosen elsewhere).
                for may_splice in [true, false] {
                    let n = crate::block_on(copy_in_chunks(&src, &dst, chunk, may_splice));
                    assert_eq!(n.unwrap(), len as u64);
                    assert!(
                        std::fs::read(&dst).unwrap() == bytes,
                        "len {len}, chunk {chunk}, splice {may_splice}"
                    );
                    std::fs::remove_file(&dst).unwrap();
                }
            }
        }
    }

    #[test]
    fn a_dropped_copy_stops_after_the_chunk_in_flight_and_leaves_a_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
        let chunk = 64 << 10;
        let bytes = data(64 * chunk);
        std::fs::write(&src, &bytes).unwrap();
        // One pool thread: a job queued after the copy's runs only once the chunk in
        // flight is done.
        let rt = crate::Runtime::builder()
            .blocking_threads(1)
            .build()
            .unwrap();
        let seen = rt.block_on(async {
            let mut fut = pin!(copy_in_chunks(&src, &dst, chunk, true));
            // Poll until the first chunk has been written, then drop the copy.
            loop {
                let polled = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                assert!(polled.is_pending(), "the copy finished before the drop");
                if let Ok(m) = std::fs::metadata(&dst)
                    && m.len() > 0
                {
                    break m.len() as usize;
                }
                crate::time::sleep(std::time::Duration::from_micros(50)).await;
            }
        });
        rt.block_on(async { crate::offload::spawn_blocking(|| ()).await })
            .unwrap();
        let left = std::fs::read(&dst).unwrap();
        // What was written when the copy was dropped, and at most the one chunk job in
        // flight then (the last poll may have started it), never more.
        assert!(
            left.len() >= seen && left.len() <= seen + chunk && left.len() < bytes.len(),
            "{} bytes left, {seen} written at the drop",
            left.len()
        );
        assert!(
            left[..] == bytes[..left.len()],
            "not a prefix of the source"
        );
    }
}
