//! The blocking baselines of the read benches: std's positioned read, and preadv2(2) with
//! RWF_NOWAIT (what ringcore's inline page-cache read attempts), `block` bytes at each
//! offset of `offs`.

use std::fs::File as StdFile;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;

/// `block` bytes at each offset through std's `read_at` (pread(2)).
pub(crate) fn std_reads(f: &StdFile, offs: &[u64], block: usize) {
    let mut buf = vec![0u8; block];
    for &off in offs {
        // A blocking read reads whatever the cache holds or not.
        assert_eq!(f.read_at(&mut buf, off).unwrap(), block);
    }
}

/// `block` bytes at each offset through preadv2(2) with RWF_NOWAIT; a read that answers
/// EAGAIN (the page left the cache since the warm-up: reclaim, other work) is read as std
/// does.
pub(crate) fn preadv2_reads(f: &StdFile, offs: &[u64], block: usize) {
    let mut buf = vec![0u8; block];
    for &off in offs {
        let iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: one iovec over our own buffer; the fd is live.
        let n = unsafe {
            libc::syscall(
                libc::SYS_preadv2,
                f.as_raw_fd(),
                &iov as *const libc::iovec,
                1,
                off as libc::off_t,
                0,
                libc::RWF_NOWAIT,
            )
        };
        if n != block as i64 {
            assert_eq!(f.read_at(&mut buf, off).unwrap(), block);
        }
    }
}
