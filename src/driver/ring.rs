//! The narrow interface the driver uses to talk to a ring: push an SQE, enter the kernel,
//! take CQEs. The real implementation wraps `io_uring::IoUring`; unit tests put a fake
//! behind the same trait to inject errors, short results and late completions.

use std::io;
use std::time::Duration;

use io_uring::{IoUring, squeue, types};

use super::readiness::ReadinessRing;

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

/// A direction of I/O on an fd: which readiness a transfer waits for.
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

    /// The readiness backend's side of the ring (src/driver/readiness.rs): a readiness ring
    /// (epoll), which performs SQEs in user space, can also wait for an fd's readiness
    /// without one. `None` (the default) for io_uring and the fake ring.
    fn readiness(&mut self) -> Option<&mut dyn ReadinessRing> {
        None
    }

    /// An fd that polls readable (poll(2), epoll) while the ring has something for the
    /// driver: CQEs to reap (the io_uring fd), or readiness events and finished pool jobs
    /// (a readiness ring's epoll fd). A core that sleeps in another reactor (tokio's, with
    /// the `tokio-context` feature) waits for it there. `None` (the default, a fake ring):
    /// there is none.
    fn park_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }

    /// When the ring next needs to be entered even if its [`park_fd`](Ring::park_fd) stays
    /// quiet: a readiness ring's own timers (a connect retried after EAGAIN, a stalled pool
    /// job's rescue). A core that sleeps in another reactor must wake by then. `None` (the
    /// default, io_uring): the kernel needs no such visit.
    fn next_deadline(&self) -> Option<std::time::Instant> {
        None
    }

    /// True while the kernel holds completions in its overflow backlog because the CQ was
    /// full (IORING_SQ_CQ_OVERFLOW), for telemetry. `false` (the default): a ring whose
    /// completions cannot overflow (a readiness ring, the fake ring).
    fn cq_overflow(&mut self) -> bool {
        false
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

    fn cq_overflow(&mut self) -> bool {
        self.ring.submission().cq_overflow()
    }

    fn park_fd(&self) -> Option<std::os::fd::RawFd> {
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
