//! Shared I/O loops: `read_exact`/`write_all` over ownership-passing single-shot ops.

use std::future::Future;
use std::io;

use crate::buf::{BufResult, IoBuf, Slice};

/// Runs `op` on the unfinished range `done..total` of `buf` until `total` bytes have moved,
/// retrying `Interrupted`. `op(slice, done)` transfers into or out of the slice and returns
/// the byte count. A count of 0 before the end is the error `zero` (e.g. `UnexpectedEof`
/// for reads, `WriteZero` for writes), whose message names `what` and the progress. The
/// buffer comes back whatever happens, holding whatever was transferred.
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
            Err(e) => return (Err(e), buf),
        }
    }
    (Ok(()), buf)
}
