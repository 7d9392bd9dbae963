//! `fs::copy`: a whole-file copy inside the kernel with copy_file_range(2), run in chunks
//! on the blocking pool.
//!
//! io_uring has no copy_file_range opcode. The alternatives measured against it
//! (docs/benchmarks.md, "File fast paths"): a read/write pipeline through the ring
//! (examples/file_copy `--method ring`) moves every byte through user space and hands each
//! buffered write to an io-wq worker, about 1.5x the CPU of `cp` for the same wall time;
//! IORING_OP_SPLICE through a pipe does the same page moves as copy_file_range (which on
//! a file system without reflink is a splice through an internal pipe) with two ops per
//! chunk, so it was not built. copy_file_range in chunks of [`CHUNK`] bytes keeps the
//! syscall of `cp` and lets a dropped copy stop after the chunk in flight.

use std::io;
use std::path::Path;

use super::path::with_path;
use super::{File, OpenOptions, metadata};
use crate::loom::Arc;

/// Bytes per blocking-pool job: large enough that the hand-off per job (a pool wake-up
/// and a remote wake of the core, some 20 µs) is under 0.1% of the chunk's copy, small
/// enough that a dropped copy stops soon (a 32 MiB chunk takes about 10 ms from the page
/// cache, a few hundred ms from a slow disk).
pub(crate) const CHUNK: usize = 32 << 20;

/// Copies the contents and permission bits of `from` to `to`, creating or truncating `to`;
/// returns the number of bytes copied (std::fs::copy's contract).
///
/// The data moves inside the kernel with copy_file_range(2) (the syscall `cp` and
/// `std::fs::copy` use; io_uring has no opcode for it), in jobs of 32 MiB on the blocking
/// pool ([`spawn_blocking`](crate::offload::spawn_blocking)), so the core keeps running
/// other tasks meanwhile. The source is opened with POSIX_FADV_SEQUENTIAL (larger
/// readahead), as `cp` does.
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
    copy_in_chunks(from.as_ref(), to.as_ref(), CHUNK).await
}

/// [`copy`] with jobs of `chunk` bytes.
pub(crate) async fn copy_in_chunks(from: &Path, to: &Path, chunk: usize) -> io::Result<u64> {
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
    let files = Arc::new((std_file(&src)?, std_file(&dst)?));
    let permissions = meta.permissions();
    let mut total = 0u64;
    let mut first = true;
    loop {
        let files = files.clone();
        let job = move || -> io::Result<(u64, bool)> {
            use std::os::fd::AsFd;
            let (src, dst) = (files.0.as_fd(), files.1.as_fd());
            if first {
                crate::sys::fd::fchmod(dst, permissions)?;
                crate::sys::fd::fadvise_sequential(src);
            }
            copy_chunk(src, dst, chunk)
        };
        let (n, eof) = crate::offload::spawn_blocking(job)
            .await
            .map_err(|e| io::Error::other(e.to_string()))?
            .map_err(|e| with_path(e, "copy", to))?;
        first = false;
        total += n;
        if eof {
            break;
        }
    }
    drop(files);
    src.close().await?;
    dst.close().await?;
    Ok(total)
}

/// Copies up to `len` bytes at the files' offsets (advancing them) with copy_file_range;
/// returns the bytes copied and whether the source reached its end.
fn copy_chunk(
    src: std::os::fd::BorrowedFd<'_>,
    dst: std::os::fd::BorrowedFd<'_>,
    len: usize,
) -> io::Result<(u64, bool)> {
    let mut done = 0;
    while done < len {
        match crate::sys::fd::copy_file_range(src, dst, len - done) {
            Ok(0) => return Ok((done as u64, true)),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok((done as u64, false))
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
        let chunk = 64 << 10;
        for len in [0, 1, chunk - 1, chunk, chunk + 1, 5 * chunk + 777] {
            let bytes = data(len);
            std::fs::write(&src, &bytes).unwrap();
            let n = crate::block_on(copy_in_chunks(&src, &dst, chunk)).unwrap();
            assert_eq!(n, len as u64);
            assert!(std::fs::read(&dst).unwrap() == bytes, "len {len}");
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
        rt.block_on(async {
            let mut fut = pin!(copy_in_chunks(&src, &dst, chunk));
            // Poll until the first chunk has started writing, then drop the copy.
            loop {
                let polled = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await;
                assert!(polled.is_pending(), "the copy finished before the drop");
                if std::fs::metadata(&dst).is_ok_and(|m| m.len() > 0) {
                    break;
                }
                crate::time::sleep(std::time::Duration::from_micros(50)).await;
            }
        });
        rt.block_on(async { crate::offload::spawn_blocking(|| ()).await })
            .unwrap();
        let left = std::fs::read(&dst).unwrap();
        // The job seen writing, and at most one more started when it completed.
        assert!(
            left.len() == chunk || left.len() == 2 * chunk,
            "{} bytes left",
            left.len()
        );
        assert!(
            left[..] == bytes[..left.len()],
            "not a prefix of the source"
        );
    }
}
