//! Signals as futures: [`ctrl_c`] (SIGINT), [`terminate`] (SIGTERM) and
//! [`ctrl_c_or_terminate`] (either, for servers that stop on both).
//!
//! A signal is read from a signalfd(2) whose readiness is awaited through the ring
//! (IORING_OP_POLL_ADD); the signal itself is blocked (pthread_sigmask(3)) so its default
//! action (terminating the process) does not run.
//!
//! # With several cores
//!
//! A signal sent to the process (`kill`, Ctrl-C in a terminal) goes to some thread that
//! does not block it, and kills the process if that thread has the default action. So a
//! signal reaches a signalfd only if *every* thread blocks it. ringcore arranges that for
//! its own threads: worker cores (1..) block SIGINT and SIGTERM from the start (which does
//! not change what the signals do to a program that never waits for them: the thread that
//! built the runtime still takes them); the first call of a function here blocks its
//! signals in the calling thread and, when called on a core other than 0, in core 0's
//! thread too before it starts waiting. Threads the program started itself before that
//! keep their own mask: call these functions early.
//!
//! The future may wait on any core; one delivery is consumed by one waiting future. To stop
//! every core, wait on one core and tell the others (a [`channel`](crate::channel) or
//! [`submit_to`](crate::submit_to)), as `examples/echo_server.rs --cores N` does.

use std::io;
use std::os::fd::AsFd;

use crate::net::socket::Socket;
use crate::sys;

/// Which signal ended a wait of [`ctrl_c_or_terminate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignalKind {
    /// SIGINT (Ctrl-C in a terminal).
    Interrupt,
    /// SIGTERM (`kill`, systemd, Kubernetes).
    Terminate,
}

const INT: &[i32] = &[libc::SIGINT];
const TERM: &[i32] = &[libc::SIGTERM];
const BOTH: &[i32] = &[libc::SIGINT, libc::SIGTERM];

/// Completes when the process receives SIGINT (Ctrl-C in a terminal).
///
/// The call blocks SIGINT in the calling thread (see the [module docs](self) for the
/// other threads) and opens a signalfd; from then on a SIGINT no longer kills the process
/// but is consumed by this future. A thread started *before* the first call, with SIGINT
/// unblocked, may still receive the signal and die of it, so call `ctrl_c` early.
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
    let wait = wait_for(INT);
    async move { wait.await.map(|_| ()) }
}

/// Completes when the process receives SIGTERM; otherwise as [`ctrl_c`].
///
/// # Errors
///
/// As [`ctrl_c`].
///
/// # Panics
///
/// Outside a ringcore runtime.
///
/// # Cancel safety
///
/// Cancel-safe, as [`ctrl_c`].
#[track_caller]
pub fn terminate() -> impl Future<Output = io::Result<()>> {
    let wait = wait_for(TERM);
    async move { wait.await.map(|_| ()) }
}

/// Completes when the process receives SIGINT or SIGTERM, and says which; otherwise as
/// [`ctrl_c`]. This is what a server usually wants to stop on.
///
/// # Errors
///
/// As [`ctrl_c`].
///
/// # Panics
///
/// Outside a ringcore runtime.
///
/// # Cancel safety
///
/// Cancel-safe, as [`ctrl_c`].
///
/// # Examples
///
/// ```no_run
/// ringcore::block_on(async {
///     let which = ringcore::signal::ctrl_c_or_terminate().await?;
///     println!("stopping on {which:?}");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
#[track_caller]
pub fn ctrl_c_or_terminate() -> impl Future<Output = io::Result<SignalKind>> {
    wait_for(BOTH)
}

#[track_caller]
fn wait_for(signos: &'static [i32]) -> impl Future<Output = io::Result<SignalKind>> {
    let setup = sys::signal::block(signos)
        .and_then(|()| sys::signal::signalfd(signos))
        .map(Socket::from_fd);
    let on_other_core = crate::current_core().index() != 0;
    async move {
        // The signalfd is not a socket, but `Socket` is simply an fd with ring ops.
        let fd = setup?;
        if on_other_core {
            // Core 0 runs on the thread that built the runtime, which may not block these
            // signals yet. If core 0 is gone the runtime is shutting down: nothing to do.
            let _ = crate::submit_to(crate::CoreId::new(0), move || async move {
                sys::signal::block(signos)
            })
            .await;
        }
        loop {
            match sys::signal::read_signalfd(fd.as_fd())? {
                Some(signo) if signo == libc::SIGTERM as u32 => return Ok(SignalKind::Terminate),
                Some(_) => return Ok(SignalKind::Interrupt),
                None => {}
            }
            fd.poll(libc::POLLIN as u32).await?;
        }
    }
}
