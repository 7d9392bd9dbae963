//! The copy loop of the file_copy example, shared with benches/file_io.rs.
//!
//! `depth` worker tasks each own one `block_size` buffer and repeatedly claim the next
//! block offset, read it from `src` and write it to `dst` at the same offset, so up to
//! `depth` reads and writes are in flight at once and each io_uring_enter(2) carries many
//! SQEs.

use std::cell::Cell;
use std::io;
use std::rc::Rc;

use ringcore::IoBuf;
use ringcore::fs::File;

/// Copies `len` bytes from `src` to `dst` (same offsets) with `depth` blocks of
/// `block_size` bytes in flight. Returns the bytes copied.
pub(crate) async fn copy_range(
    src: Rc<File>,
    dst: Rc<File>,
    len: u64,
    block_size: usize,
    depth: usize,
) -> io::Result<u64> {
    let next = Rc::new(Cell::new(0u64));
    let workers: Vec<_> = (0..depth.max(1))
        .map(|_| {
            let (src, dst, next) = (src.clone(), dst.clone(), next.clone());
            ringcore::spawn(async move {
                let mut buf = Vec::with_capacity(block_size);
                let mut copied = 0u64;
                loop {
                    let offset = next.get();
                    if offset >= len {
                        return Ok::<u64, io::Error>(copied);
                    }
                    next.set(offset + block_size as u64);
                    let want = (len - offset).min(block_size as u64) as usize;
                    buf.clear();
                    let (res, b) = src.read_exact_at(buf.slice(..want), offset).await;
                    buf = b.into_inner();
                    res?;
                    let (res, b) = dst.write_all_at(buf, offset).await;
                    buf = b;
                    res?;
                    copied += want as u64;
                }
            })
        })
        .collect();
    let mut total = 0;
    let mut first_err = None;
    for w in workers {
        match w.await {
            Ok(Ok(n)) => total += n,
            Ok(Err(e)) => {
                first_err.get_or_insert(e);
            }
            Err(e) => {
                first_err.get_or_insert(io::Error::other(e.to_string()));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}
