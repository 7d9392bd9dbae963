//! The descriptors that stand for simulated files and sockets (feature `sim`,
//! src/driver/sim/mod.rs): `O_PATH` descriptors of `/`. They are real, so their numbers are
//! unique in the process and closing them closes something; they refuse I/O (a read or a
//! write on an `O_PATH` descriptor fails with `EBADF`), so a stray real syscall on a
//! simulated fd does nothing.

use std::io;
use std::os::fd::RawFd;

/// Opens a new placeholder. Returned raw, as a kernel's CQE returns a new fd: the op that
/// receives it in its CQE adopts it into an `OwnedFd` (`sys::fd::adopt`).
///
/// # Errors
///
/// open(2)'s: `EMFILE`/`ENFILE` when out of descriptors.
pub(crate) fn open() -> io::Result<RawFd> {
    // SAFETY: a constant NUL-terminated path; O_PATH opens nothing for I/O.
    let fd = unsafe {
        libc::open(
            c"/".as_ptr(),
            libc::O_PATH | libc::O_CLOEXEC | libc::O_DIRECTORY,
        )
    };
    if fd < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(fd)
    }
}

/// Closes `fd` as an IORING_OP_CLOSE would: its submitter owned the number (it came from
/// `into_raw_fd`) and no longer uses it.
///
/// # Errors
///
/// close(2)'s.
pub(crate) fn close(fd: RawFd) -> io::Result<()> {
    // SAFETY: the caller owns `fd` (see above); nothing else closes or uses it after this.
    if unsafe { libc::close(fd) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
