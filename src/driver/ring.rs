//! The narrow interface the driver uses to talk to a ring: push an SQE, enter the kernel,
//! take CQEs. The real implementation wraps `io_uring::IoUring`; unit tests put a fake
//! behind the same trait to inject errors, short results and late completions.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use io_uring::{IoUring, squeue, types};

/// One completion, copied out of the CQ ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cqe {
    /// The `user_data` of the SQE this completes.
    pub(crate) user_data: u64,
    /// `res`: a count or fd on success, `-errno` on failure.
    pub(crate) result: i32,
    /// `IORING_CQE_F_*` flags.
    pub(crate) flags: u32,
    /// For a CQE naming a buffer of the receive pool: where its bytes start in that
    /// buffer (non-zero only for a pool the kernel consumes incrementally, where one
    /// buffer holds several receives). Set by the driver when it reaps the CQE.
    pub(crate) buf_offset: u32,
}

/// How long `Ring::enter` may block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Submit queued SQEs and run pending completions, never block.
    No,
    /// Block until at least one CQE is ready, or the timeout (if any) passes.
    One(Option<Duration>),
}

/// The submission queue has no free entry; flush it with `enter` and push again.
#[derive(Debug)]
pub(crate) struct SqFull;

/// A direction of I/O on an fd, for a readiness ring's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Receives, reads, accepts.
    Read,
    /// Sends, writes, connects.
    Write,
}

/// What the driver needs from a ring.
pub(crate) trait Ring {
    /// Queues an SQE in user space; nothing reaches the kernel until `enter`.
    ///
    /// # Safety
    ///
    /// Every buffer, path or struct the SQE points to must stay valid and unmoved until the
    /// CQE carrying the SQE's `user_data` is taken by `reap`, whatever later calls return.
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> Result<(), SqFull>;

    /// Submits queued SQEs (io_uring_enter(2)) and optionally waits. Returns the number of
    /// SQEs the kernel consumed. A timed-out wait is `Ok`.
    fn enter(&mut self, wait: Wait) -> io::Result<usize>;

    /// Moves every ready CQE into `out`.
    fn reap(&mut self, out: &mut Vec<Cqe>);

    /// SQEs queued in user space and not yet consumed by the kernel.
    fn queued(&mut self) -> usize;

    /// The kernel asked to be entered (pending task work or CQ overflow backlog) even with
    /// nothing to submit.
    fn needs_enter(&mut self) -> bool;

    /// Registers a provided-buffer ring of `entries` entries at `addr` as buffer group
    /// `bgid` (IORING_REGISTER_PBUF_RING, io_uring_register_buf_ring(3)), with `flags`
    /// (`IOU_PBUF_RING_INC` or 0). Rings without
    /// provided buffers (the fake ring, a readiness backend) keep the default, `EINVAL`,
    /// and receive streams take their plain path.
    ///
    /// # Safety
    ///
    /// The `entries * 16` bytes at `addr` (page-aligned) and every buffer later published
    /// in them stay valid until [`unregister_buf_ring`](Ring::unregister_buf_ring) succeeds
    /// or the ring is dropped.
    unsafe fn register_buf_ring(
        &mut self,
        addr: u64,
        entries: u16,
        bgid: u16,
        flags: u16,
    ) -> io::Result<()> {
        let _ = (addr, entries, bgid, flags);
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    }

    /// Unregisters buffer group `bgid` (IORING_UNREGISTER_PBUF_RING).
    fn unregister_buf_ring(&mut self, bgid: u16) -> io::Result<()> {
        let _ = bgid;
        Err(io::Error::from_raw_os_error(libc::EINVAL))
    }

    /// A readiness ring (epoll), which performs SQEs in user space and can wait for an
    /// fd's readiness without one; false (the default) for io_uring.
    fn is_readiness(&self) -> bool {
        false
    }

    /// Readiness rings only: the caller's own non-blocking syscall in `dir` on `fd`, asked
    /// for `want` bytes, returned `res` (a count, or `-errno`). EAGAIN, or a stream
    /// socket's receive or send that moved fewer than `want` bytes, marks the direction
    /// not ready, so the next op waits for an event before trying. The default does
    /// nothing.
    fn note_attempt(&mut self, fd: RawFd, dir: Direction, res: i32, want: usize) {
        let _ = (fd, dir, res, want);
    }

    /// Readiness rings only: waits, without an op, until a non-blocking syscall in `dir`
    /// on `fd` may succeed. `Ready(Ok(()))` at once unless the ring knows the fd is not
    /// ready that way (or ops wait ahead); otherwise keeps `cx`'s waker in the fd's state
    /// (registering the fd with epoll at its first wait) and returns `Pending`; the next
    /// event for `dir` moves the waker to [`take_woken`](Ring::take_woken).
    /// `Ready(Err(e))`: the fd cannot be waited on (epoll_ctl refused it: EPERM, EBADF).
    /// `None` on a completion ring (the default).
    fn poll_ready(
        &mut self,
        fd: RawFd,
        dir: Direction,
        cx: &mut std::task::Context<'_>,
    ) -> Option<std::task::Poll<io::Result<()>>> {
        let _ = (fd, dir, cx);
        None
    }

    /// Moves the wakers of [`poll_ready`](Ring::poll_ready) waits that became ready into
    /// `out` (all of them, ready or not, with `all`: the driver is shutting down). The
    /// driver wakes them with no borrow held. The default has none.
    fn take_woken(&mut self, out: &mut Vec<std::task::Waker>, all: bool) {
        let _ = (out, all);
    }

    /// An fd that polls readable (poll(2), epoll) while the ring has something for the
    /// driver: CQEs to reap (the io_uring fd), or readiness events and finished pool jobs
    /// (a readiness ring's epoll fd). A core that sleeps in another reactor (tokio's, with
    /// the `tokio-context` feature) waits for it there. `None` (the default, a fake ring):
    /// there is none.
    fn park_fd(&self) -> Option<RawFd> {
        None
    }
}

/// The real ring.
pub(crate) struct Uring {
    ring: IoUring,
}

impl Uring {
    pub(crate) fn new(ring: IoUring) -> Self {
        Self { ring }
    }
}

impl Ring for Uring {
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> Result<(), SqFull> {
        let mut sq = self.ring.submission();
        // SAFETY: the caller guarantees what the SQE points to outlives its CQE.
        unsafe { sq.push(sqe) }.map_err(|_| SqFull)
    }

    fn enter(&mut self, wait: Wait) -> io::Result<usize> {
        let submitter = self.ring.submitter();
        let res = match wait {
            Wait::No => submitter.submit(),
            Wait::One(None) => submitter.submit_and_wait(1),
            Wait::One(Some(d)) => {
                let ts = types::Timespec::from(d);
                let args = types::SubmitArgs::new().timespec(&ts);
                submitter.submit_with_args(1, &args)
            }
        };
        match res {
            Err(e) if e.raw_os_error() == Some(libc::ETIME) => Ok(0),
            other => other,
        }
    }

    fn reap(&mut self, out: &mut Vec<Cqe>) {
        let cq = self.ring.completion();
        out.extend(cq.map(|c| Cqe {
            user_data: c.user_data(),
            result: c.result(),
            flags: c.flags(),
            buf_offset: 0,
        }));
    }

    fn queued(&mut self) -> usize {
        self.ring.submission().len()
    }

    fn needs_enter(&mut self) -> bool {
        let sq = self.ring.submission();
        sq.taskrun() || sq.cq_overflow()
    }

    fn park_fd(&self) -> Option<RawFd> {
        use std::os::fd::AsRawFd;
        Some(self.ring.as_raw_fd())
    }

    unsafe fn register_buf_ring(
        &mut self,
        addr: u64,
        entries: u16,
        bgid: u16,
        flags: u16,
    ) -> io::Result<()> {
        // SAFETY: forwarded from the caller.
        unsafe {
            self.ring
                .submitter()
                .register_buf_ring_with_flags(addr, entries, bgid, flags)
        }
    }

    fn unregister_buf_ring(&mut self, bgid: u16) -> io::Result<()> {
        self.ring.submitter().unregister_buf_ring(bgid)
    }
}
