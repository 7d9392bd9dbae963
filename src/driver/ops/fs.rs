//! Path and metadata ops: IORING_OP_OPENAT, STATX, FSYNC, FALLOCATE, FTRUNCATE, CLOSE,
//! RENAMEAT, UNLINKAT, MKDIRAT (io_uring_enter(2); the semantics of openat(2), statx(2),
//! fsync(2), fallocate(2), ftruncate(2), close(2), renameat2(2), unlinkat(2), mkdirat(2)).

use std::ffi::CString;
use std::io;
use std::os::fd::{OwnedFd, RawFd};

use io_uring::{opcode, squeue, types};

use crate::driver::op::{Completion, OpCode};
use crate::driver::shared_fd::SharedFd;
use crate::sys;

/// openat(AT_FDCWD, path, flags, mode). Produces an fd: a late CQE closes it.
pub(crate) struct Open {
    pub(crate) path: CString,
    pub(crate) flags: i32,
    pub(crate) mode: u32,
}

// SAFETY: the SQE points at `path`'s heap bytes, owned by this value.
unsafe impl OpCode for Open {
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(self.flags)
            .mode(self.mode)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(sys::fd::adopt)
    }

    fn late_cqe(self, cqe: Completion) {
        // Nobody will claim the fd of a cancelled open: adopt it so its Drop closes it.
        drop(cqe.result.map(sys::fd::adopt));
    }
}

/// statx of an open fd (`fd` set, empty path, AT_EMPTY_PATH) or of a path.
pub(crate) struct Statx {
    pub(crate) fd: Option<SharedFd>,
    pub(crate) path: CString,
    pub(crate) flags: i32,
    pub(crate) buf: Box<libc::statx>,
}

impl Statx {
    pub(crate) fn of_fd(fd: SharedFd) -> Self {
        Self {
            fd: Some(fd),
            path: CString::default(),
            flags: libc::AT_EMPTY_PATH,
            buf: zeroed_statx(),
        }
    }

    pub(crate) fn of_path(path: CString, follow_symlinks: bool) -> Self {
        Self {
            fd: None,
            path,
            flags: if follow_symlinks {
                0
            } else {
                libc::AT_SYMLINK_NOFOLLOW
            },
            buf: zeroed_statx(),
        }
    }
}

fn zeroed_statx() -> Box<libc::statx> {
    // SAFETY: statx is a plain C struct of integers, for which all-zero bytes are valid.
    Box::new(unsafe { std::mem::zeroed() })
}

// SAFETY: the SQE points at `path`'s heap bytes and the boxed statx buffer, both owned by
// this value; the fd (if any) is kept open by `fd`.
unsafe impl OpCode for Statx {
    type Output = io::Result<Box<libc::statx>>;

    fn sqe(&mut self) -> squeue::Entry {
        let dirfd = self.fd.as_ref().map_or(libc::AT_FDCWD, SharedFd::raw);
        let buf: *mut libc::statx = &mut *self.buf;
        opcode::Statx::new(types::Fd(dirfd), self.path.as_ptr(), buf.cast())
            .flags(self.flags)
            .mask(libc::STATX_BASIC_STATS | libc::STATX_BTIME)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(|_| self.buf)
    }
}

/// fsync / fdatasync.
pub(crate) struct Fsync {
    pub(crate) fd: SharedFd,
    pub(crate) datasync: bool,
}

// SAFETY: the SQE points at no memory; the fd is kept open by `fd`.
unsafe impl OpCode for Fsync {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let flags = if self.datasync {
            types::FsyncFlags::DATASYNC
        } else {
            types::FsyncFlags::empty()
        };
        opcode::Fsync::new(types::Fd(self.fd.raw()))
            .flags(flags)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(drop)
    }
}

/// fallocate(fd, mode, offset, len).
pub(crate) struct Fallocate {
    pub(crate) fd: SharedFd,
    pub(crate) offset: u64,
    pub(crate) len: u64,
    pub(crate) mode: i32,
}

// SAFETY: the SQE points at no memory; the fd is kept open by `fd`.
unsafe impl OpCode for Fallocate {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Fallocate::new(types::Fd(self.fd.raw()), self.len)
            .offset(self.offset)
            .mode(self.mode)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(drop)
    }
}

/// ftruncate(fd, len) (Linux 6.9+).
pub(crate) struct Ftruncate {
    pub(crate) fd: SharedFd,
    pub(crate) len: u64,
}

// SAFETY: the SQE points at no memory; the fd is kept open by `fd`.
unsafe impl OpCode for Ftruncate {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Ftruncate::new(types::Fd(self.fd.raw()), self.len).build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(drop)
    }
}

/// close(fd). The op owns the raw fd: whatever the CQE says, the descriptor is released
/// (close(2) frees the slot even when it reports an error).
pub(crate) struct Close {
    pub(crate) fd: RawFd,
}

// SAFETY: the SQE points at no memory.
unsafe impl OpCode for Close {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Close::new(types::Fd(self.fd)).build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(drop)
    }
}

/// renameat2(AT_FDCWD, from, AT_FDCWD, to, 0).
pub(crate) struct Rename {
    pub(crate) from: CString,
    pub(crate) to: CString,
}

// SAFETY: the SQE points at the two paths' heap bytes, owned by this value.
unsafe impl OpCode for Rename {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::RenameAt::new(
            types::Fd(libc::AT_FDCWD),
            self.from.as_ptr(),
            types::Fd(libc::AT_FDCWD),
            self.to.as_ptr(),
        )
        .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(drop)
    }
}

/// unlinkat(AT_FDCWD, path, dir ? AT_REMOVEDIR : 0).
pub(crate) struct Unlink {
    pub(crate) path: CString,
    pub(crate) dir: bool,
}

// SAFETY: the SQE points at `path`'s heap bytes, owned by this value.
unsafe impl OpCode for Unlink {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        let flags = if self.dir { libc::AT_REMOVEDIR } else { 0 };
        opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .flags(flags)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(drop)
    }
}

/// mkdirat(AT_FDCWD, path, mode).
pub(crate) struct Mkdir {
    pub(crate) path: CString,
    pub(crate) mode: u32,
}

// SAFETY: the SQE points at `path`'s heap bytes, owned by this value.
unsafe impl OpCode for Mkdir {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), self.path.as_ptr())
            .mode(self.mode)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(drop)
    }
}
