//! The syscalls of the capability report (`crate::report`): uname(2), getrlimit(2), and
//! throwaway rings set up with chosen flags, entered once and asked for their opcodes
//! (io_uring_setup(2), io_uring_enter(2), io_uring_register(2) REGISTER_PROBE).
//!
//! Nothing here decides a feature from the kernel's version: the release string is only
//! shown (docs/style.md, habit 13). Every call returns the kernel's errno as an
//! `io::Error`; none panics.

use std::ffi::CStr;
use std::io;

use io_uring::IoUring;

/// What uname(2) says about the running kernel, for display only.
#[derive(Debug, Clone)]
pub(crate) struct Uname {
    /// `release`, e.g. "6.8.0-45-generic".
    pub(crate) release: String,
    /// `machine`, e.g. "x86_64".
    pub(crate) machine: String,
}

/// uname(2).
pub(crate) fn uname() -> io::Result<Uname> {
    // SAFETY: utsname is plain data (arrays of c_char); all zeroes is a valid value.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: uname writes into the struct we own, which lives across the call.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let field = |chars: &[libc::c_char]| {
        // SAFETY: the kernel NUL-terminates every utsname field within its array, and the
        // array was zeroed before the call, so a NUL lies within `chars`.
        unsafe { CStr::from_ptr(chars.as_ptr()) }
            .to_string_lossy()
            .into_owned()
    };
    Ok(Uname {
        release: field(&uts.release),
        machine: field(&uts.machine),
    })
}

/// A resource limit's soft and hard values in the resource's unit; `None` is unlimited
/// (RLIM_INFINITY).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    pub(crate) soft: Option<u64>,
    pub(crate) hard: Option<u64>,
}

/// A resource limit the report shows.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Resource {
    /// RLIMIT_NOFILE, in file descriptors.
    Nofile,
    /// RLIMIT_MEMLOCK, in bytes.
    Memlock,
}

/// getrlimit(2) of `resource`.
pub(crate) fn rlimit(resource: Resource) -> io::Result<Limit> {
    let resource = match resource {
        Resource::Nofile => libc::RLIMIT_NOFILE,
        Resource::Memlock => libc::RLIMIT_MEMLOCK,
    };
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the rlimit struct we own.
    if unsafe { libc::getrlimit(resource, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let value = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v);
    Ok(Limit {
        soft: value(lim.rlim_cur),
        hard: value(lim.rlim_max),
    })
}

/// Optional setup flags of a probe ring (io_uring_setup(2)).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flags {
    pub(crate) single_issuer: bool,
    pub(crate) defer_taskrun: bool,
    pub(crate) coop_taskrun: bool,
    pub(crate) taskrun_flag: bool,
    /// IORING_SETUP_CQSIZE (twice the SQ, as ringcore sets up) and IORING_SETUP_CLAMP.
    pub(crate) cqsize_clamp: bool,
    /// IORING_SETUP_SQPOLL with this idle time in milliseconds.
    pub(crate) sqpoll_idle_ms: Option<u32>,
}

/// Sets up a ring of `entries` SQEs with `flags` and nothing else; the ring is closed when
/// dropped. The kernel's errno on refusal: EINVAL (an unknown or invalid flag combination),
/// EPERM (seccomp, `kernel.io_uring_disabled`, SQPOLL without the privilege it needs on old
/// kernels), ENOSYS (no io_uring), ENOMEM (RLIMIT_MEMLOCK).
pub(crate) fn ring(entries: u32, flags: Flags) -> io::Result<IoUring> {
    let mut builder = IoUring::builder();
    if flags.single_issuer {
        builder.setup_single_issuer();
    }
    if flags.defer_taskrun {
        builder.setup_defer_taskrun();
    }
    if flags.coop_taskrun {
        builder.setup_coop_taskrun();
    }
    if flags.taskrun_flag {
        builder.setup_taskrun_flag();
    }
    if flags.cqsize_clamp {
        builder
            .setup_cqsize(entries.saturating_mul(2))
            .setup_clamp();
    }
    if let Some(idle) = flags.sqpoll_idle_ms {
        builder.setup_sqpoll(idle);
    }
    builder.build(entries)
}

/// io_uring_enter(2) submitting and waiting for nothing: fails where a seccomp profile
/// allows io_uring_setup but denies io_uring_enter.
pub(crate) fn enter_nothing(ring: &IoUring) -> io::Result<()> {
    ring.submitter().submit().map(drop)
}

/// IORING_REGISTER_PROBE: which opcodes the kernel knows.
pub(crate) fn opcodes(ring: &IoUring) -> io::Result<io_uring::Probe> {
    let mut probe = io_uring::Probe::new();
    ring.submitter().register_probe(&mut probe)?;
    Ok(probe)
}

/// How a multishot op fared on a probe ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Multishot {
    /// The kernel armed it (its final CQE was the cancel's `-ECANCELED`).
    Armed,
    /// The kernel refused it with this errno at once (`EINVAL`: no such flag).
    Refused(i32),
}

/// Arms a multishot IORING_OP_ACCEPT (IORING_ACCEPT_MULTISHOT, Linux 5.19) on a loopback
/// listener no one connects to, cancels it and waits (at most a second) for its final CQE.
pub(crate) fn multishot_accept(ring: &mut IoUring) -> io::Result<Multishot> {
    use std::os::fd::AsRawFd;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let sqe = io_uring::opcode::AcceptMulti::new(io_uring::types::Fd(listener.as_raw_fd())).build();
    // SAFETY: the op refers to the listener's fd only, which lives until this function
    // returns; `arm_and_cancel` waits for the op's final CQE, and on a timeout the ring
    // (dropped by the caller after this returns) holds its own reference to the file.
    unsafe { arm_and_cancel(ring, sqe) }
}

/// Buffer group id of the multishot-receive probe's buffer ring.
const MULTISHOT_BGID: u16 = u16::MAX - 1;

/// Arms a multishot IORING_OP_RECV (IORING_RECV_MULTISHOT, Linux 6.0) on one end of a
/// Unix socket pair with nothing to read, with a one-buffer provided-buffer ring, cancels
/// it and waits (at most a second) for its final CQE. Errors: registering the buffer ring
/// failed (EINVAL without IORING_REGISTER_PBUF_RING), or the wait did.
pub(crate) fn multishot_recv(ring: &mut IoUring) -> io::Result<Multishot> {
    use std::os::fd::AsRawFd;
    let (a, _b) = std::os::unix::net::UnixStream::pair()?;
    // One page: the ring's one 16-byte entry and, after it, the 64-byte buffer it names.
    let layout = std::alloc::Layout::from_size_align(4096, 4096).expect("page layout");
    // SAFETY: the layout has a non-zero size.
    let mem = unsafe { std::alloc::alloc_zeroed(layout) };
    if mem.is_null() {
        return Err(io::Error::from_raw_os_error(libc::ENOMEM));
    }
    let entries = mem.cast::<io_uring::types::BufRingEntry>();
    // SAFETY: `mem` is a zeroed page, aligned for and large enough to hold entry 0, which
    // nothing else refers to yet; the tail shares entry 0's last two bytes (the kernel's
    // io_uring_buf_ring layout), written after the entry.
    unsafe {
        let entry = &mut *entries;
        entry.set_addr(mem.add(1024) as u64);
        entry.set_len(64);
        entry.set_bid(0);
        *io_uring::types::BufRingEntry::tail(entries).cast_mut() = 1;
    }
    // SAFETY: `mem` is a page-aligned ring of one entry (one is a power of two), alive
    // until the dealloc below, which runs only once the ring is unregistered.
    let registered = unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(mem as u64, 1, MULTISHOT_BGID, 0)
    };
    if let Err(e) = registered {
        // SAFETY: allocated above with this layout; the kernel never took it.
        unsafe { std::alloc::dealloc(mem, layout) };
        return Err(e);
    }
    let sqe = io_uring::opcode::RecvMulti::new(io_uring::types::Fd(a.as_raw_fd()), MULTISHOT_BGID)
        .build();
    // SAFETY: the op refers to `a`'s fd and to the buffer group registered above; both
    // outlive the op's final CQE, which `arm_and_cancel` waits for (on a timeout the page is
    // leaked below rather than freed).
    let res = unsafe { arm_and_cancel(ring, sqe) };
    let freed = res.is_ok() && ring.submitter().unregister_buf_ring(MULTISHOT_BGID).is_ok();
    if freed {
        // SAFETY: allocated above with this layout; the op is over and the ring is
        // unregistered, so the kernel no longer refers to it.
        unsafe { std::alloc::dealloc(mem, layout) };
    }
    // Otherwise the page is leaked (4 KiB, once): the kernel may still refer to it.
    res
}

/// Pushes `sqe` (user data 1) and an ASYNC_CANCEL of it (user data 2), and waits, at most
/// a second, for the op's final CQE and the cancel's. `Armed` if the op's first CQE was
/// `-ECANCELED`, `Refused(errno)` if it was another error.
///
/// # Safety
///
/// Whatever `sqe` refers to (fds, buffer groups) must stay valid until this returns `Ok`;
/// after an `Err` (a timeout), until the ring is dropped.
unsafe fn arm_and_cancel(
    ring: &mut IoUring,
    sqe: io_uring::squeue::Entry,
) -> io::Result<Multishot> {
    const OP: u64 = 1;
    const CANCEL: u64 = 2;
    let cancel = io_uring::opcode::AsyncCancel::new(OP)
        .build()
        .user_data(CANCEL);
    let full = || io::Error::other("the probe ring's SQ is full");
    // SAFETY: the caller keeps what `sqe` refers to valid (see # Safety); the cancel
    // refers to nothing but a user data value.
    unsafe { ring.submission().push(&sqe.user_data(OP)) }.map_err(|_| full())?;
    ring.submit()?;
    // SAFETY: as above.
    unsafe { ring.submission().push(&cancel) }.map_err(|_| full())?;
    let ts = io_uring::types::Timespec::new().nsec(100_000_000);
    let args = io_uring::types::SubmitArgs::new().timespec(&ts);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
    let (mut first, mut op_done, mut cancel_done) = (None, false, false);
    while !(op_done && cancel_done) {
        if std::time::Instant::now() > deadline {
            return Err(io::Error::from_raw_os_error(libc::ETIME));
        }
        match ring.submitter().submit_with_args(1, &args) {
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ETIME | libc::EINTR | libc::EBUSY)
                ) => {}
            Err(e) => return Err(e),
        }
        for cqe in ring.completion() {
            match cqe.user_data() {
                OP => {
                    first.get_or_insert(cqe.result());
                    op_done |= !io_uring::cqueue::more(cqe.flags());
                }
                CANCEL => cancel_done = true,
                _ => {}
            }
        }
    }
    Ok(match first {
        Some(res) if res == -libc::ECANCELED || res >= 0 => Multishot::Armed,
        Some(res) => Multishot::Refused(-res),
        None => Multishot::Armed,
    })
}
