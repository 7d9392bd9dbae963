//! `copy`: every byte of a reader into a writer, through one reused buffer.

use std::io;

use super::traits::{AsyncReadOwned, AsyncWriteOwned};
use crate::buf::transfer::transfer_all;

/// Bytes of the buffer `copy` reads into and writes from (one allocation per call).
const COPY_BUF: usize = 64 * 1024;

/// Copies everything `reader` yields until its end into `writer` and returns how many
/// bytes were copied (asyncio's `writer.write(await reader.read())` loop; tokio's
/// `io::copy`).
///
/// Reads and writes alternate through one 64 KiB buffer, each through the ring: a read of
/// up to 64 KiB, then writes until all of it is written. A [`File`](crate::fs::File) is read
/// or written in sequence from offset 0 (as [`BufReader`](super::BufReader) and
/// [`BufWriter`](super::BufWriter) do); a socket from wherever its stream is. The writer
/// is not shut down at the end: call `shutdown` on a socket, `sync_all` on a file, as the
/// protocol needs. For a file to a file, [`fs::copy`](crate::fs::copy) lets the kernel do
/// the work instead.
///
/// # Examples
///
/// ```
/// use ringcore::net::UnixStream;
///
/// ringcore::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (c, d) = UnixStream::pair()?;
///     a.write_all(b"through the middle".to_vec()).await.0?;
///     a.shutdown(std::net::Shutdown::Write)?;
///     // b -> c: copy what arrives on `b` to `c` until `a` is done.
///     let n = ringcore::io::copy(&b, &c).await?;
///     assert_eq!(n, 18);
///     let (res, buf) = d.read(Vec::with_capacity(64)).await;
///     assert_eq!(&buf[..res?], b"through the middle");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
///
/// # Errors
///
/// The first read or write error (`Interrupted` is retried); `WriteZero` if a write
/// accepts no bytes. Bytes copied before the error are in the writer; how many is not
/// reported (wrap the writer in a [`BufWriter`](super::BufWriter) and count, if it
/// matters).
///
/// # Cancel safety
///
/// Not cancel-safe: if the future is dropped, bytes already read but not yet written are
/// lost with the buffer, and a write in flight may or may not have happened.
pub async fn copy<R, W>(reader: &R, writer: &W) -> io::Result<u64>
where
    R: AsyncReadOwned + ?Sized,
    W: AsyncWriteOwned + ?Sized,
{
    let mut buf = Vec::with_capacity(COPY_BUF);
    let mut copied: u64 = 0;
    loop {
        let (res, b) = reader.read_owned(buf, copied).await;
        buf = b;
        let n = match res {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let at = copied;
        let (res, b) = transfer_all(buf, n, io::ErrorKind::WriteZero, "copy write", |s, done| {
            writer.write_owned(s, at + done as u64)
        })
        .await;
        buf = b;
        res?;
        copied += n as u64;
    }
}
