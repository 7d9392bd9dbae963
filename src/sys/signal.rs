//! Signals as file descriptors: pthread_sigmask(3) and signalfd(2).

use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use super::cvt_libc;

fn sigset_of(signos: &[i32]) -> io::Result<libc::sigset_t> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use.
    let mut set: libc::sigset_t = unsafe { zeroed() };
    // SAFETY: writes into the set we own.
    unsafe { libc::sigemptyset(&mut set) };
    for &signo in signos {
        // SAFETY: writes into the set we own; an invalid signal number is an EINVAL.
        cvt_libc(unsafe { libc::sigaddset(&mut set, signo) })?;
    }
    Ok(set)
}

/// Blocks `signos` in the calling thread (pthread_sigmask(SIG_BLOCK)), so it stays pending
/// for a signalfd instead of running its default action here. Threads created afterwards
/// inherit the mask.
pub(crate) fn block(signos: &[i32]) -> io::Result<()> {
    let set = sigset_of(signos)?;
    // SAFETY: passes a pointer to a live sigset; the old mask is not wanted.
    let res = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if res != 0 {
        return Err(io::Error::from_raw_os_error(res));
    }
    Ok(())
}

/// A non-blocking, close-on-exec signalfd(2) that reports `signos`.
pub(crate) fn signalfd(signos: &[i32]) -> io::Result<OwnedFd> {
    let set = sigset_of(signos)?;
    // SAFETY: -1 asks for a new fd; the sigset pointer is live for the call.
    let fd = cvt_libc(unsafe { libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK) })?;
    // SAFETY: a fresh fd from signalfd(2), owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Reads one `signalfd_siginfo` from a non-blocking signalfd. `Ok(None)`: nothing pending
/// (EAGAIN, another reader took it).
pub(crate) fn read_signalfd(fd: BorrowedFd<'_>) -> io::Result<Option<u32>> {
    // SAFETY: signalfd_siginfo is plain integers; all-zero is valid.
    let mut info: libc::signalfd_siginfo = unsafe { zeroed() };
    // SAFETY: reads at most size_of::<signalfd_siginfo>() bytes into the struct we own.
    let n = unsafe {
        libc::read(
            fd.as_raw_fd(),
            (&raw mut info).cast(),
            size_of::<libc::signalfd_siginfo>(),
        )
    };
    if n < 0 {
        let err = io::Error::last_os_error();
        return match err.kind() {
            io::ErrorKind::WouldBlock => Ok(None),
            _ => Err(err),
        };
    }
    Ok(Some(info.ssi_signo))
}
