//! Noticing a worker's death while a call waits on its socket.
//!
//! End of stream on the socket is not enough: a job that forks a child and exits leaves
//! the socket open in the child, so EOF comes only when that grandchild exits. The call
//! therefore also watches the worker's pid: a pidfd (pidfd_open(2), Linux 5.3) polled
//! through the ring (IORING_OP_POLL_ADD), which becomes readable when the worker exits;
//! where the worker has no pidfd (pidfd_open failed at spawn: `ENOSYS` before Linux 5.3),
//! a `waitid(WNOWAIT)` check every 1 ms, doubling
//! up to [`MAX_PAUSE`]. When the worker has exited, the pool's end of the socket is shut
//! down both ways: the pending read then returns what the worker wrote before it died,
//! then end of stream, and a pending send fails with `EPIPE`, so the exchange ends at
//! once with the right outcome (a complete answer, or a crash before or after the ACK).
//!
//! The pidfd is opened once per worker, at spawn. The watch starts only after
//! [`WATCH_AFTER`]: the pidfd's duplicate, its poll and the poll's cancel cost about
//! 1 µs, a sixth of a trivial job's round trip, and a short job does not need them. Until
//! then end of stream is what reports a death, which is late only if another process
//! holds the socket (a child that this job, or an earlier one on the same worker,
//! forked); a worker's death is therefore reported within about `WATCH_AFTER` of the
//! call's start, or at once if it comes later. (With a 2 ms delay the p99 of a trivial
//! round trip went from 8 to 24 µs on the test machine, for a reason not found: the core
//! then parks with a 2 ms timeout on every call; 20 ms and 200 ms did not show it.)

use std::future::{Future, poll_fn};
use std::io;
use std::os::fd::BorrowedFd;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::Duration;

use crate::driver::Driver;
use crate::driver::ops::net::PollAdd;
use crate::driver::shared_fd::SharedFd;

/// How long a call waits on its worker before it watches the worker's pid.
pub(crate) const WATCH_AFTER: Duration = Duration::from_millis(20);

/// Longest pause between two status checks when pidfds are missing.
pub(crate) const MAX_PAUSE: Duration = Duration::from_millis(50);

/// Resolves when `pid`, an unreaped child of this process, has exited (or is no longer
/// our child, which can only mean someone else reaped it), watching from [`WATCH_AFTER`]
/// on. Does not reap it. `pidfd` is the worker's pidfd; the poll uses a duplicate, closed
/// when this ends. Without one, the status is checked every few ms.
///
/// # Cancel safety
///
/// Dropping it cancels the poll; the duplicate closes when the poll's CQE is in.
pub(crate) async fn exited(driver: &Rc<Driver>, pid: u32, pidfd: Option<BorrowedFd<'_>>) {
    crate::time::sleep(WATCH_AFTER).await;
    if let Some(pidfd) = pidfd.and_then(|fd| fd.try_clone_to_owned().ok()) {
        let pidfd = SharedFd::new(pidfd);
        loop {
            let poll = PollAdd {
                fd: pidfd.clone(),
                events: libc::POLLIN as u32,
            };
            match driver.submit(poll).await {
                Ok(_) => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // Not expected; the status checks below still work.
                Err(_) => break,
            }
        }
    }
    let mut pause = Duration::from_millis(1);
    loop {
        match crate::sys::process::has_exited(pid) {
            Ok(false) => {}
            // ECHILD: not our unreaped child any more.
            Ok(true) | Err(_) => return,
        }
        crate::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }
}

/// Runs `exchange` to the end while `exited` watches the worker; if the worker exits
/// first, shuts `fd` down (see the module docs) and lets `exchange` finish. Returns its
/// output and whether the worker was seen to exit.
///
/// # Cancel safety
///
/// As `exchange`'s: dropping the future drops both.
pub(crate) async fn until_exit<F, E>(exchange: F, exited: E, fd: &SharedFd) -> (F::Output, bool)
where
    F: Future,
    E: Future<Output = ()>,
{
    let mut exchange = pin!(exchange);
    let mut exited = pin!(exited);
    let mut dead = false;
    poll_fn(|cx| {
        if let Poll::Ready(out) = exchange.as_mut().poll(cx) {
            return Poll::Ready((out, dead));
        }
        if !dead && exited.as_mut().poll(cx).is_ready() {
            dead = true;
            // Errors cannot matter: the fd is open (we hold it) and a socket.
            let _ = crate::sys::socket::shutdown(fd.borrow(), libc::SHUT_RDWR);
            // The shutdown completes the pending op through the ring, which wakes us.
        }
        Poll::Pending
    })
    .await
}
