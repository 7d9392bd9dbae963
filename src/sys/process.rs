//! Child processes of the process pool: the socket pair, the spawn that hands one end to
//! the child, and the worker's adoption of its end.
//!
//! Workers are started with `std::process::Command` (fork or vfork followed at once by
//! exec; docs/hazards.md, H13). The only code that runs between the two is
//! [`spawn_with_fd`]'s `pre_exec` hook, which makes one fcntl(2) call (async-signal-safe,
//! allocation-free).
//! Waiting and killing go through `std::process::Child`, which remembers a reaped status so
//! a pid is never signalled or waited for after the kernel may have reused it.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};

use super::cvt_libc;

/// A connected pair of close-on-exec `AF_UNIX` stream sockets (the pool's end and the
/// worker's).
pub(crate) fn socketpair() -> io::Result<(OwnedFd, OwnedFd)> {
    super::socket::socketpair(libc::AF_UNIX, libc::SOCK_STREAM)
}

/// Spawns `cmd` with `child_end` inherited (its close-on-exec flag cleared in the child
/// only), at the same fd number. The caller tells the child the number (an env var) and
/// closes its copy of `child_end` afterwards.
pub(crate) fn spawn_with_fd(cmd: &mut Command, child_end: &OwnedFd) -> io::Result<Child> {
    let fd = child_end.as_raw_fd();
    // SAFETY: the hook runs in the child between fork and exec; it only calls fcntl(2),
    // which is async-signal-safe, touches no lock and allocates nothing. `fd` is open in
    // the child because the parent keeps `child_end` open until `spawn` returns.
    unsafe {
        cmd.pre_exec(move || {
            if libc::fcntl(fd, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// In a worker: takes ownership of the inherited socket `fd` (from the env var the parent
/// set) and makes it close-on-exec again, so the worker's own children do not inherit it.
///
/// # Errors
///
/// `EBADF` if `fd` is not open in this process.
pub(crate) fn adopt_inherited(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_GETFD takes no pointer; it only checks that `fd` is open.
    cvt_libc(unsafe { libc::fcntl(fd, libc::F_GETFD) })?;
    // SAFETY: the parent created this fd for this process alone and named it in the worker
    // env var; `init_worker` adopts it once, before anything else can claim it.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: no pointers; the fd is open (checked above) and owned by `owned`.
    cvt_libc(unsafe { libc::fcntl(owned.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) })?;
    Ok(owned)
}

/// `pidfd_open(2)` (Linux 5.3): an fd that becomes readable when process `pid` exits.
/// Close-on-exec (pidfds always are).
///
/// `pid` must be an unreaped child of this process, so the kernel cannot have given its
/// number to another process.
///
/// # Errors
///
/// `ENOSYS` on kernels before 5.3 (or where a seccomp profile denies the call); `ESRCH`
/// if no such process exists.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open takes no pointers; flags 0. The result is checked before use.
    let fd = cvt_libc(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })?;
    // SAFETY: a fresh fd from pidfd_open(2) (it fits an int: fds do), owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// True if the child `pid` has exited (it is a zombie), without reaping it:
/// `waitid(P_PID, pid, WEXITED | WNOHANG | WNOWAIT)`. The fallback where pidfds are
/// missing; the reap itself stays with `std::process::Child`.
///
/// # Errors
///
/// `ECHILD` if `pid` is not an unreaped child of this process.
pub(crate) fn has_exited(pid: u32) -> io::Result<bool> {
    let pid = libc::id_t::from(pid);
    // SAFETY: siginfo_t is plain data; all-zero is valid and is what waitid leaves when
    // no child has changed state (the kernel zeroes si_pid then).
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: waitid writes into the siginfo_t we own; WNOWAIT leaves the child unreaped.
    cvt_libc(unsafe {
        libc::waitid(
            libc::P_PID,
            pid,
            &mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    })?;
    // SAFETY: after a successful waitid, si_pid is 0 unless the child was reported.
    Ok(unsafe { info.si_pid() } != 0)
}
