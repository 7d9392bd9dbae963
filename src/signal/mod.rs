//! Signals as futures: [`ctrl_c`].
//!
//! A signal is read from a signalfd(2) whose readiness is awaited through the ring
//! (IORING_OP_POLL_ADD); the signal itself is blocked in the calling thread
//! (pthread_sigmask(3)) so its default action (terminating the process) does not run.

use std::io;
use std::os::fd::AsFd;

use crate::net::socket::Socket;
use crate::sys;

/// Completes when the process receives SIGINT (Ctrl-C in a terminal).
///
/// The first call blocks SIGINT in the calling thread and opens a signalfd; from then on
/// a SIGINT no longer kills the process but is consumed by this future. Threads started
/// afterwards inherit the blocked mask; a thread started *before* the first call, with
/// SIGINT unblocked, may still receive the signal and die of it, so call `ctrl_c` early
/// (before starting threads or a [`spawn_blocking`](crate::offload::spawn_blocking) pool).
///
/// Each call returns a new future; any number may wait at once, but one SIGINT is
/// consumed by only one of them.
///
/// # Errors
///
/// pthread_sigmask(3) or signalfd(2) failing (`EMFILE` when out of descriptors).
///
/// # Panics
///
/// Outside a ringcore runtime.
///
/// # Cancel safety
///
/// Cancel-safe: a dropped future consumes no signal, and its signalfd is closed. SIGINT
/// stays blocked in the thread.
///
/// # Examples
///
/// ```no_run
/// ringcore::block_on(async {
///     ringcore::signal::ctrl_c().await?;
///     println!("bye");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[track_caller]
pub fn ctrl_c() -> impl Future<Output = io::Result<()>> {
    let setup = sys::signal::block(libc::SIGINT)
        .and_then(|()| sys::signal::signalfd(libc::SIGINT))
        .map(Socket::from_fd);
    async move {
        // The signalfd is not a socket, but `Socket` is simply an fd with ring ops.
        let fd = setup?;
        loop {
            if sys::signal::read_signalfd(fd.as_fd())?.is_some() {
                return Ok(());
            }
            fd.poll(libc::POLLIN as u32).await?;
        }
    }
}
