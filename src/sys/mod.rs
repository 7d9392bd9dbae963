//! The only place with `libc` calls and raw file descriptors.
//!
//! Everything the kernel hands back as a raw fd becomes an [`OwnedFd`](std::os::fd::OwnedFd) on the line it is
//! born, so an fd nobody claims is closed by its `Drop`. The ring itself is set up here
//! ([`uring`]); the rest of the crate talks to it through `driver::ring`.

pub(crate) mod affinity;
pub(crate) mod emulate;
pub(crate) mod fd;
#[cfg(feature = "sim")]
pub(crate) mod placeholder;
pub(crate) mod probe;
pub(crate) mod process;
pub(crate) mod signal;
pub(crate) mod socket;
pub(crate) mod sqe;
pub(crate) mod uring;

use std::io;

/// Turns a negative `-errno` CQE result (or syscall return) into an [`io::Error`].
pub(crate) fn cvt(res: i32) -> io::Result<u32> {
    if res < 0 {
        Err(io::Error::from_raw_os_error(-res))
    } else {
        Ok(res as u32)
    }
}

/// Converts a `-1`/`errno` libc return into an [`io::Result`].
fn cvt_libc<T: PartialOrd + Default>(res: T) -> io::Result<T> {
    if res < T::default() {
        Err(io::Error::last_os_error())
    } else {
        Ok(res)
    }
}
