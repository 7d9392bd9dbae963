//! The syscalls a user-space backend makes for an SQE (the readiness driver, through
//! `driver::opcodes::perform`): what the kernel's io_uring would do with the same entry,
//! done from user space. Each returns the CQE's `res`: a count, fd or event mask, or
//! `-errno`.
//!
//! Every pointer read from an SQE is valid for the access: `Ring::push`'s contract keeps
//! what the SQE points to alive and unmoved until the op's CQE is reaped, and the ring
//! posts that CQE only after the call returns.

use std::io;
use std::os::fd::RawFd;

use io_uring::opcode;

use super::sqe::RawSqe;

/// `-errno` of the last failed libc call.
fn neg_errno() -> i32 {
    -io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// A libc return value as a CQE `res`.
fn res(ret: isize) -> i32 {
    if ret < 0 {
        neg_errno()
    } else {
        i32::try_from(ret).unwrap_or(i32::MAX)
    }
}

/// What an fd is, for choosing how to run a read or write on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FdKind {
    /// A regular file or block device: no readiness; page-cache hits run inline, the rest
    /// on the blocking pool.
    File,
    /// A socket: `recv`/`send` with MSG_DONTWAIT, then readiness.
    Socket,
    /// A pipe, eventfd, signalfd or character device opened O_NONBLOCK: the plain call,
    /// then readiness.
    NonBlocking,
    /// Any other fd in blocking mode (a pipe, a tty): preadv2/pwritev2 with RWF_NOWAIT,
    /// then readiness; where the file does not support RWF_NOWAIT (EOPNOTSUPP), the
    /// blocking pool.
    Stream,
}

/// fstat(2) and fcntl(F_GETFL) say what `fd` is.
pub(crate) fn fd_kind(fd: RawFd) -> Result<FdKind, i32> {
    // SAFETY: `libc::stat` is plain integers, for which all-zero bytes are valid.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable stat struct; an invalid fd is reported as EBADF.
    if unsafe { libc::fstat(fd, &mut st) } < 0 {
        return Err(neg_errno());
    }
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFBLK => FdKind::File,
        libc::S_IFSOCK => FdKind::Socket,
        _ if is_nonblocking(fd)? => FdKind::NonBlocking,
        _ => FdKind::Stream,
    })
}

fn is_nonblocking(fd: RawFd) -> Result<bool, i32> {
    // SAFETY: F_GETFL takes no pointer.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(neg_errno());
    }
    Ok(flags & libc::O_NONBLOCK != 0)
}

/// Sets O_NONBLOCK on `fd` if it is not set (a listening or connecting socket, whose
/// accept(2) and connect(2) have no per-call non-blocking flag). The flag stays: see
/// docs/hazards.md, H19.
pub(crate) fn ensure_nonblocking(fd: RawFd) -> Result<(), i32> {
    // SAFETY: F_GETFL takes no pointer.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return Err(neg_errno());
    }
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: F_SETFL takes an int, no pointer.
        if unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
            return Err(neg_errno());
        }
    }
    Ok(())
}

/// What [`attempt`] returns for an op that must be tried again later although no
/// readiness event will say when: a connect(2) answered EAGAIN, which on a Unix socket
/// means the listener's backlog is full. The socket is writable all the while, and the
/// kernel wakes only blocking connectors when the listener accepts, so the ring retries
/// it on a timer (docs/hazards.md, H27). Not an errno: below every `-errno`.
pub(crate) const RETRY_LATER: i32 = i32::MIN;

/// One attempt at a socket or non-blocking-fd op that never blocks; `-EAGAIN` means
/// "wait for readiness and try again", [`RETRY_LATER`] "try again after a while".
/// `kind` says how READ and WRITE reach the fd.
pub(crate) fn attempt(sqe: &RawSqe, kind: FdKind) -> i32 {
    let fd = sqe.fd;
    let buf = sqe.addr as *mut libc::c_void;
    let len = sqe.len as usize;
    let flags = sqe.op_flags as i32;
    let iov = libc::iovec {
        iov_base: buf,
        iov_len: len,
    };
    if matches!(sqe.opcode, opcode::Accept::CODE | opcode::Connect::CODE)
        && let Err(e) = ensure_nonblocking(fd)
    {
        return e;
    }
    let nowait = libc::MSG_DONTWAIT;
    // SAFETY: every pointer comes from the SQE and is valid for `len` bytes (or one
    // msghdr, sockaddr or socklen_t) until the CQE, see the module docs; `iov` is a local.
    let ret: isize = unsafe {
        match sqe.opcode {
            opcode::Recv::CODE => libc::recv(fd, buf, len, flags | nowait),
            opcode::Send::CODE => libc::send(fd, buf, len, flags | nowait),
            opcode::RecvMsg::CODE => libc::recvmsg(fd, buf.cast(), flags | nowait),
            opcode::SendMsg::CODE => libc::sendmsg(fd, buf.cast(), flags | nowait),
            opcode::Read::CODE if kind == FdKind::Socket => libc::recv(fd, buf, len, nowait),
            opcode::Write::CODE if kind == FdKind::Socket => {
                libc::send(fd, buf, len, nowait | libc::MSG_NOSIGNAL)
            }
            opcode::Read::CODE if kind == FdKind::Stream => {
                libc::preadv2(fd, &iov, 1, -1, libc::RWF_NOWAIT)
            }
            opcode::Write::CODE if kind == FdKind::Stream => {
                libc::pwritev2(fd, &iov, 1, -1, libc::RWF_NOWAIT)
            }
            opcode::Read::CODE => libc::read(fd, buf, len),
            opcode::Write::CODE => libc::write(fd, buf, len),
            opcode::Accept::CODE => {
                libc::accept4(fd, buf.cast(), sqe.off as *mut libc::socklen_t, flags) as isize
            }
            opcode::Connect::CODE => {
                let ret = libc::connect(fd, buf.cast(), sqe.off as libc::socklen_t);
                if ret < 0 {
                    return match neg_errno() {
                        // A second connect(2) on a socket whose connection is under way
                        // says EALREADY; on one that got connected meanwhile, EISCONN; on
                        // one that failed, the failure (ECONNREFUSED, ETIMEDOUT).
                        e if e == -libc::EINPROGRESS || e == -libc::EALREADY => -libc::EAGAIN,
                        e if e == -libc::EISCONN => 0,
                        // Nothing is under way: a Unix listener's backlog is full, and
                        // the socket is writable all along (see `RETRY_LATER`).
                        e if e == -libc::EAGAIN => RETRY_LATER,
                        e => e,
                    };
                }
                ret as isize
            }
            opcode::PollAdd::CODE => return poll_now(fd, sqe.op_flags),
            _ => return -libc::EINVAL,
        }
    };
    res(ret)
}

/// poll(2) with a zero timeout: the requested events that are ready (with POLLERR and
/// POLLHUP, which are always reported), or `-EAGAIN` if none is. A closed fd is EBADF, as
/// io_uring reports it.
pub(crate) fn poll_now(fd: RawFd, events: u32) -> i32 {
    let mut pfd = libc::pollfd {
        fd,
        events: events as i16,
        revents: 0,
    };
    // SAFETY: one pollfd, valid for the call.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    if n < 0 {
        return neg_errno();
    }
    let ready = (pfd.revents as u16 as u32) & (events | (libc::POLLERR | libc::POLLHUP) as u32);
    if pfd.revents & libc::POLLNVAL != 0 {
        -libc::EBADF
    } else if ready == 0 {
        -libc::EAGAIN
    } else {
        ready as i32
    }
}

/// A read of a regular file that returns only what the page cache holds: preadv2(2) with
/// RWF_NOWAIT. `-EAGAIN` (or `-EOPNOTSUPP` from a filesystem without it) means "run it on
/// the blocking pool".
pub(crate) fn read_cached(sqe: &RawSqe) -> i32 {
    let iov = libc::iovec {
        iov_base: sqe.addr as *mut libc::c_void,
        iov_len: sqe.len as usize,
    };
    // SAFETY: one iovec over the SQE's buffer, valid until the CQE (module docs).
    res(unsafe {
        libc::preadv2(
            sqe.fd,
            &iov,
            1,
            sqe.off as i64,
            sqe.op_flags as i32 | libc::RWF_NOWAIT,
        )
    })
}

/// Open flags with which io_uring never tries an open without blocking: it runs such an
/// OPENAT on its io-wq threads, where open(2) may wait (`io_openat_force_async`).
const OPEN_FORCE_ASYNC: i32 =
    libc::O_CREAT | libc::O_TRUNC | (libc::O_TMPFILE & !libc::O_DIRECTORY);

/// OPENAT as io_uring runs it: first with O_NONBLOCK added (its non-blocking issue), then
/// the flag cleared from the new file unless the caller set it. So a FIFO with no writer
/// opens for reading at once, in blocking mode, and one with no reader fails to open for
/// writing with ENXIO, as on io_uring; no open waits for another party here, only for
/// storage. `None` means io_uring would go on to a blocking open(2), which may wait for
/// another party for as long as it pleases: a lease holder (EAGAIN), or the reader of a
/// FIFO opened for writing with O_CREAT or O_TRUNC (ENXIO; `File::create` of a FIFO waits
/// for a reader on io_uring). The caller runs [`blocking`] for it where waiting holds up
/// no other op (docs/hazards.md, H28).
///
/// io_uring also answers EAGAIN, and so opens blocking, when the path is not in the
/// dentry cache (LOOKUP_CACHED); from user space a path that needs storage is looked up
/// here all the same, on the pool thread, so an uncached FIFO opens as a cached one does.
/// And io_uring opens blocking at once with O_CREAT, O_TRUNC or O_TMPFILE, where this
/// tries without blocking first and goes on only on ENXIO: the results differ only for a
/// FIFO opened for reading with such a flag and no writer (at once here; io_uring waits
/// for a writer) and a terminal opened so (no wait for its carrier here).
pub(crate) fn open_nowait(sqe: &RawSqe) -> Option<i32> {
    let flags = sqe.op_flags as i32;
    let path = sqe.addr as *const libc::c_char;
    // SAFETY: the path comes from the SQE, NUL-terminated and valid until the CQE (module
    // docs).
    let fd = unsafe { libc::openat(sqe.fd, path, flags | libc::O_NONBLOCK, sqe.len) };
    if fd < 0 {
        let e = neg_errno();
        if e == -libc::EAGAIN || (e == -libc::ENXIO && flags & OPEN_FORCE_ASYNC != 0) {
            return None;
        }
        return Some(e);
    }
    if flags & libc::O_NONBLOCK != 0 {
        return Some(fd);
    }
    // SAFETY: F_GETFL and F_SETFL take no pointer; `fd` is ours until we return it. An
    // O_PATH file took no O_NONBLOCK (open(2) drops it) and refuses F_SETFL: left alone.
    let cleared = unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        fl >= 0
            && (fl & libc::O_NONBLOCK == 0
                || libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK) >= 0)
    };
    if !cleared {
        let e = neg_errno();
        // SAFETY: `fd` was opened above and handed to nobody.
        unsafe { libc::close(fd) };
        return Some(e);
    }
    Some(fd)
}

/// Ops that finish at once without touching storage: socket(2) and close(2).
pub(crate) fn inline(sqe: &RawSqe) -> i32 {
    match sqe.opcode {
        // SAFETY: socket(2) takes no pointer.
        opcode::Socket::CODE => res(unsafe {
            libc::socket(sqe.fd, sqe.off as i32 | sqe.op_flags as i32, sqe.len as i32)
        } as isize),
        // SAFETY: the fd belongs to the op (io_uring's CLOSE takes it over likewise).
        opcode::Close::CODE => res(unsafe { libc::close(sqe.fd) } as isize),
        _ => blocking(sqe, FdKind::File),
    }
}

/// The ops the blocking pool runs: file reads and writes that missed the page cache, and
/// everything that may wait for storage (open, fsync, statx of a path, rename...). Reads
/// and writes of a stream (`kind` other than [`FdKind::File`]) ignore the offset, as
/// io_uring does for files that cannot seek.
pub(crate) fn blocking(sqe: &RawSqe, kind: FdKind) -> i32 {
    let fd = sqe.fd;
    let path = sqe.addr as *const libc::c_char;
    let flags = sqe.op_flags as i32;
    let iov = libc::iovec {
        iov_base: sqe.addr as *mut libc::c_void,
        iov_len: sqe.len as usize,
    };
    let off = sqe.off as i64;
    let stream = kind != FdKind::File;
    // SAFETY: the pointers (buffer, path, statx struct) come from the SQE and stay valid
    // until the CQE (module docs); paths are NUL-terminated; `iov` is a local.
    let ret: isize = unsafe {
        match sqe.opcode {
            opcode::Read::CODE if stream => libc::read(fd, iov.iov_base, iov.iov_len),
            opcode::Write::CODE if stream => libc::write(fd, iov.iov_base, iov.iov_len),
            opcode::Read::CODE => libc::preadv2(fd, &iov, 1, off, flags),
            opcode::Write::CODE => libc::pwritev2(fd, &iov, 1, off, flags),
            opcode::Fsync::CODE if sqe.op_flags & FSYNC_DATASYNC != 0 => {
                libc::fdatasync(fd) as isize
            }
            opcode::Fsync::CODE => libc::fsync(fd) as isize,
            opcode::Fallocate::CODE => {
                libc::fallocate(fd, sqe.len as i32, off, sqe.addr as i64) as isize
            }
            opcode::Ftruncate::CODE => libc::ftruncate(fd, off) as isize,
            opcode::OpenAt::CODE => libc::openat(fd, path, flags, sqe.len) as isize,
            opcode::Statx::CODE => {
                libc::statx(fd, path, flags, sqe.len, sqe.off as *mut _) as isize
            }
            opcode::RenameAt::CODE => libc::syscall(
                libc::SYS_renameat2,
                fd,
                path,
                sqe.len as i32,
                sqe.off as *const libc::c_char,
                sqe.op_flags,
            ) as isize,
            opcode::UnlinkAt::CODE => libc::unlinkat(fd, path, flags) as isize,
            opcode::MkDirAt::CODE => libc::mkdirat(fd, path, sqe.len as libc::mode_t) as isize,
            opcode::Socket::CODE | opcode::Close::CODE => return inline(sqe),
            _ => return -libc::EINVAL,
        }
    };
    res(ret)
}

/// IORING_FSYNC_DATASYNC (in `fsync_flags`).
const FSYNC_DATASYNC: u32 = 1;
