//! File-descriptor syscalls that have no ring opcode, or that must run before a ring exists.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

use super::cvt_libc;

/// Adopts an fd that a CQE returned. The caller must own `raw` (it came from a successful
/// open/accept/socket CQE that nobody else has seen).
pub(crate) fn adopt(raw: u32) -> OwnedFd {
    // SAFETY: callers pass the result of a successful fd-producing CQE; the kernel created
    // this descriptor for us alone and no other OwnedFd holds it.
    unsafe { OwnedFd::from_raw_fd(raw as RawFd) }
}

/// Creates a non-blocking, close-on-exec eventfd used to wake a parked ring from another
/// thread.
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; the result is checked before use.
    let fd = cvt_libc(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: a fresh fd from eventfd(2), owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Adds 1 to an eventfd's counter. Errors are ignored: EAGAIN means the counter is already
/// non-zero (the reader will wake anyway), and a closed fd cannot be woken.
pub(crate) fn eventfd_write(fd: BorrowedFd<'_>) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live stack variable to an fd we borrow.
    unsafe {
        libc::write(
            fd.as_raw_fd(),
            (&one as *const u64).cast(),
            std::mem::size_of::<u64>(),
        )
    };
}

/// `ftruncate(2)`: sets a file's length in bytes. Used where the kernel lacks
/// IORING_OP_FTRUNCATE (before 6.9).
pub(crate) fn ftruncate(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length exceeds off_t"))?;
    // SAFETY: no pointers; the fd is borrowed and live.
    cvt_libc(unsafe { libc::ftruncate(fd.as_raw_fd(), len) })?;
    Ok(())
}

/// `copy_file_range(2)` of up to `len` bytes at the files' own offsets. Returns bytes
/// copied; 0 means the source hit EOF.
pub(crate) fn copy_file_range(
    from: BorrowedFd<'_>,
    to: BorrowedFd<'_>,
    len: usize,
) -> io::Result<usize> {
    // SAFETY: null offset pointers mean "use and advance the file offsets"; fds are live.
    let n = cvt_libc(unsafe {
        libc::copy_file_range(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            0,
        )
    })?;
    Ok(n as usize)
}

/// A pipe (both ends close-on-exec) resized to `bytes` with F_SETPIPE_SZ if the kernel
/// allows (up to /proc/sys/fs/pipe-max-size; otherwise it keeps its default 64 KiB).
/// Returns (read end, write end).
pub(crate) fn pipe_with_size(bytes: usize) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two fds into the array we own.
    cvt_libc(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    // SAFETY: pipe2 succeeded: both fds are new and ours alone.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let size = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: no pointers; the fd is live. A refusal (EPERM over the user's pipe quota,
    // EINVAL) leaves the pipe as it was, which still works.
    let _ = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, size) };
    Ok((r, w))
}

/// `splice(2)` of up to `len` bytes from `from` to `to` (one of them a pipe) at the
/// files' own offsets. Returns bytes moved; 0 means `from` is at its end.
pub(crate) fn splice(from: BorrowedFd<'_>, to: BorrowedFd<'_>, len: usize) -> io::Result<usize> {
    // SAFETY: null offset pointers mean "use and advance the file offsets"; fds are live.
    let n = cvt_libc(unsafe {
        libc::splice(
            from.as_raw_fd(),
            std::ptr::null_mut(),
            to.as_raw_fd(),
            std::ptr::null_mut(),
            len,
            libc::SPLICE_F_MOVE,
        )
    })?;
    Ok(n as usize)
}

/// ioctl(FICLONE): makes `dst` share all of `src`'s extents (a reflink, on btrfs, XFS,
/// bcachefs...). Fails with EOPNOTSUPP, EXDEV, EINVAL or ENOTTY where it cannot.
pub(crate) fn ficlone(dst: BorrowedFd<'_>, src: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: FICLONE takes the source fd as its integer argument; both fds are live.
    cvt_libc(unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) })?;
    Ok(())
}

/// The file system type (`statfs.f_type`, e.g. 0xEF53 for ext2/3/4) of the file `fd`.
pub(crate) fn fs_magic(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: fstatfs fills the zeroed struct we own; the fd is live.
    let st = unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        cvt_libc(libc::fstatfs(fd.as_raw_fd(), &mut st))?;
        st
    };
    Ok(st.f_type as i64)
}

/// posix_fadvise(2) with POSIX_FADV_SEQUENTIAL over the whole file: doubles the
/// readahead window. Only advice, so its error (none for a regular file) is ignored.
pub(crate) fn fadvise_sequential(fd: BorrowedFd<'_>) {
    // SAFETY: no pointers; the fd is borrowed and live.
    let _ = unsafe { libc::posix_fadvise(fd.as_raw_fd(), 0, 0, libc::POSIX_FADV_SEQUENTIAL) };
}

/// `fchmod(2)`: sets permission bits.
pub(crate) fn fchmod(fd: BorrowedFd<'_>, mode: u32) -> io::Result<()> {
    // SAFETY: no pointers; the fd is borrowed and live.
    cvt_libc(unsafe { libc::fchmod(fd.as_raw_fd(), mode as libc::mode_t) })?;
    Ok(())
}

/// Reads a kernel sysctl under /proc/sys as an integer, if it exists.
pub(crate) fn read_sysctl(path: &str) -> Option<i64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The soft RLIMIT_MEMLOCK in bytes (`None` when unlimited or unreadable).
pub(crate) fn memlock_limit() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit struct we own.
    let res = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    if res != 0 || lim.rlim_cur == libc::RLIM_INFINITY {
        None
    } else {
        Some(lim.rlim_cur)
    }
}

/// The soft RLIMIT_NOFILE (getrlimit(2)); `u64::MAX` when unlimited, 0 if the call fails.
pub(crate) fn nofile_soft_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    lim.rlim_cur
}

/// preadv2(2) with RWF_NOWAIT: reads only what the page cache already holds. Returns the
/// count read, or `-errno`: `-EAGAIN` if the data is not cached (the caller then goes
/// through the ring), `-EOPNOTSUPP` where the file system cannot do non-blocking reads.
/// (A raw result rather than `io::Result`: the hit path then tests one sign bit.)
///
/// # Safety
///
/// `ptr` must be valid for writes of `len` bytes, and `offset` must not be negative (-1
/// would mean "the file's position": docs/hazards.md, H17).
#[inline]
pub(crate) unsafe fn pread_nowait(
    fd: BorrowedFd<'_>,
    ptr: *mut u8,
    len: usize,
    offset: i64,
) -> isize {
    debug_assert!(offset >= 0);
    let iov = libc::iovec {
        iov_base: ptr.cast(),
        iov_len: len,
    };
    // SAFETY: one iovec describing memory the caller guarantees writable; the fd is live.
    unsafe { raw_preadv2(fd.as_raw_fd(), &iov, offset, libc::RWF_NOWAIT) }
}

/// preadv2(fd, iov, 1, offset, 0, flags) as a bare `syscall` instruction: the kernel's
/// result, a count or `-errno`. Not glibc's preadv2() (its cancellation-point bookkeeping
/// cost about 3% of a cached 4 KiB read) nor libc's variadic syscall() (it shuffles every
/// argument and goes through errno: about 15 instructions of the 40 a cached read cost
/// ringcore in user space). A 64-bit kernel takes the offset whole in `pos_l` (`pos_h` is
/// 0).
///
/// # Safety
///
/// `iov` must point to one iovec whose memory is valid for writes.
#[cfg(target_arch = "x86_64")]
#[inline]
unsafe fn raw_preadv2(fd: RawFd, iov: *const libc::iovec, offset: i64, flags: i32) -> isize {
    let res: isize;
    // SAFETY: the x86_64 Linux syscall ABI: number in rax, arguments in rdi, rsi, rdx,
    // r10, r8, r9; the kernel clobbers rcx and r11 and returns in rax. It reads the iovec
    // and writes the buffer it describes, which the caller guarantees; the asm may touch
    // memory (no `nomem`/`readonly`), so the compiler keeps both in place around it.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") libc::SYS_preadv2 as isize => res,
            in("rdi") fd as isize,
            in("rsi") iov,
            in("rdx") 1isize,
            in("r10") offset,
            in("r8") 0isize,
            in("r9") flags as isize,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    res
}

/// preadv2 through libc's syscall(); the result as a count or `-errno`.
///
/// # Safety
///
/// `iov` must point to one iovec whose memory is valid for writes.
#[cfg(all(not(target_arch = "x86_64"), target_pointer_width = "64"))]
#[inline]
unsafe fn raw_preadv2(fd: RawFd, iov: *const libc::iovec, offset: i64, flags: i32) -> isize {
    // SAFETY: the arguments match preadv2(fd, iov, iovcnt, pos_l, pos_h, flags); the
    // caller guarantees the iovec.
    let n = unsafe { libc::syscall(libc::SYS_preadv2, fd, iov, 1, offset, 0, flags) };
    if n < 0 {
        -(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO) as isize)
    } else {
        n as isize
    }
}

/// preadv2 through glibc (32-bit: the offset is split by the wrapper); the result as a
/// count or `-errno`.
///
/// # Safety
///
/// `iov` must point to one iovec whose memory is valid for writes.
#[cfg(not(target_pointer_width = "64"))]
#[inline]
unsafe fn raw_preadv2(fd: RawFd, iov: *const libc::iovec, offset: i64, flags: i32) -> isize {
    // A 32-bit off_t cannot hold every offset: EINVAL (InvalidInput), as pread's own.
    let Ok(offset) = libc::off_t::try_from(offset) else {
        return -(libc::EINVAL as isize);
    };
    // SAFETY: one iovec the caller guarantees; the fd is live.
    let n = unsafe { libc::preadv2(fd, iov, 1, offset, flags) };
    if n < 0 {
        -(io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO) as isize)
    } else {
        n as isize
    }
}

/// True if the fd was opened with O_DIRECT (fcntl F_GETFL).
pub(crate) fn is_direct(fd: BorrowedFd<'_>) -> bool {
    // SAFETY: F_GETFL takes no pointer; the fd is borrowed and live.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    flags >= 0 && flags & libc::O_DIRECT != 0
}

/// The size in bytes of the file behind `fd` (fstat(2)'s `st_size`): an inode lookup that
/// does no I/O on local file systems.
#[cfg(any(feature = "tokio-io", feature = "futures-io"))]
pub(crate) fn file_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: `stat` is plain data; all-zero is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fstat writes one `stat` into the struct we own; the fd is borrowed and live.
    cvt_libc(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    Ok(st.st_size as u64)
}
