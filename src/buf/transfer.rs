//! The loop behind every `write_all`, `read_exact` and `send_all`: [`transfer_all`] moves
//! a whole buffer through an op that may move part of it, and [`PartialTransfer`] says how
//! far it got when it failed part way. It sits with the buffers (not in `io`) so that
//! `net` and `fs`, which use it, and `io`, which builds on them, do not import each other.

use std::future::Future;
use std::io;

use super::{BufResult, IoBuf, Slice};

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
