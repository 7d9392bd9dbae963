//! Buffered I/O over the ownership-passing streams and files: [`BufReader`] and
//! [`BufWriter`].
//!
//! ringcore's sockets and files read into and write from owned buffers
//! ([`BufResult`]). That suits bulk transfers; protocols that read a line
//! or write many small pieces want a buffer in between. [`BufReader`] adds `read_line`,
//! `read_until`, `lines()` (a [`Stream`](futures_core::Stream)) and `fill_buf`/`consume`;
//! [`BufWriter`] gathers small writes into one op per buffer-full. Both work over any
//! [`AsyncReadOwned`]/[`AsyncWriteOwned`] type: [`TcpStream`](crate::net::TcpStream),
//! [`UnixStream`](crate::net::UnixStream), their owned halves, and
//! [`File`](crate::fs::File) (read and written in sequence from offset 0), or a shared
//! reference or `Rc` of one of them.
//!
//! # Examples
//!
//! ```
//! use ringcore::io::{BufReader, BufWriter};
//! use ringcore::net::UnixStream;
//!
//! ringcore::block_on(async {
//!     let (a, b) = UnixStream::pair()?;
//!     let mut w = BufWriter::new(a);
//!     w.write_all(b"hello\n").await?;
//!     w.write_all(b"world\n").await?;
//!     w.shutdown().await?; // one send for both lines, then end-of-stream
//!
//!     let mut r = BufReader::new(b);
//!     let mut line = String::new();
//!     r.read_line(&mut line).await?;
//!     assert_eq!(line, "hello\n");
//!     Ok::<_, std::io::Error>(())
//! })
//! .unwrap();
//! ```

mod buf_reader;
mod buf_writer;
mod copy;
pub(crate) mod poll_traits;
mod traits;

pub use buf_reader::{BufReader, Lines};
pub use buf_writer::BufWriter;
pub use copy::copy;
pub use traits::{AsyncReadOwned, AsyncWriteOwned};

/// The inner error of a `write_all`, `read_exact` or `send_all` that failed part way:
/// how many bytes had moved before the error, and the error itself.
///
/// It sits inside the returned [`io::Error`] (same [`kind`](io::Error::kind)) whenever at
/// least one byte moved first; get it with
/// `err.get_ref().and_then(|e| e.downcast_ref::<PartialTransfer>())`. When nothing moved the
/// error is the operation's own, unwrapped (so `raw_os_error` works), and the count is 0.
///
/// # Examples
///
/// ```
/// # fn check(err: &std::io::Error) -> usize {
/// use ringcore::io::PartialTransfer;
/// let sent = err
///     .get_ref()
///     .and_then(|e| e.downcast_ref::<PartialTransfer>())
///     .map_or(0, |p| p.done);
/// # sent }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{what} failed after {done} of {total} bytes: {source}")]
pub struct PartialTransfer {
    /// Bytes transferred (sent, written or read) before the error.
    pub done: usize,
    /// Bytes asked for.
    pub total: usize,
    /// What was being done ("send", "file write", "file read").
    pub what: &'static str,
    /// The error the transfer stopped on.
    #[source]
    pub source: io::Error,
}

/// Default buffer size of [`BufReader`] and [`BufWriter`], as tokio's and std's.
const DEFAULT_CAPACITY: usize = 8 * 1024;

use std::future::Future;
use std::io;

use crate::buf::{BufResult, IoBuf, Slice};

/// Runs `op` on the unfinished range `done..total` of `buf` until `total` bytes have moved,
/// retrying `Interrupted`. `op(slice, done)` transfers into or out of the slice and returns
/// the byte count. A count of 0 before the end is the error `zero` (e.g. `UnexpectedEof`
/// for reads, `WriteZero` for writes), whose message names `what` and the progress; any
/// other error after some progress is wrapped in a [`PartialTransfer`] saying how far it
/// got. The buffer comes back whatever happens, holding whatever was transferred.
pub(crate) async fn transfer_all<B, F, Fut>(
    buf: B,
    total: usize,
    zero: io::ErrorKind,
    what: &'static str,
    mut op: F,
) -> BufResult<(), B>
where
    B: IoBuf,
    F: FnMut(Slice<B>, usize) -> Fut,
    Fut: Future<Output = BufResult<usize, Slice<B>>>,
{
    let mut buf = buf;
    let mut done = 0;
    while done < total {
        let (res, slice) = op(buf.slice(done..total), done).await;
        buf = slice.into_inner();
        match res {
            Ok(0) => {
                let msg = format!("{what} stopped after {done} of {total} bytes");
                return (Err(io::Error::new(zero, msg)), buf);
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if done == 0 => return (Err(e), buf),
            Err(source) => {
                let kind = source.kind();
                let partial = PartialTransfer {
                    done,
                    total,
                    what,
                    source,
                };
                return (Err(io::Error::new(kind, partial)), buf);
            }
        }
    }
    (Ok(()), buf)
}
