//! io_uring setup and probing (io_uring_setup(2), io_uring_register(2) REGISTER_PROBE).
//!
//! Setup tries the fastest flags first and falls back only when the kernel answers
//! `EINVAL` (it does not know a flag):
//!
//! 1. `SINGLE_ISSUER | DEFER_TASKRUN | TASKRUN_FLAG` (6.1+): completions run only when the
//!    owning thread enters the ring, no inter-processor interrupts;
//! 2. `COOP_TASKRUN | TASKRUN_FLAG` (5.19+);
//! 3. no flags.
//!
//! Every other errno ends setup and is turned into a typed error by
//! `driver::build::BuildError::from_setup_error`.

use std::io;

use io_uring::{IoUring, opcode};

/// Which setup flags the kernel accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupMode {
    /// IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN.
    DeferTaskrun,
    /// IORING_SETUP_COOP_TASKRUN.
    CoopTaskrun,
    /// No optional flags.
    Plain,
}

/// Opcodes that have a slower fallback when the kernel lacks them.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Features {
    /// IORING_OP_FTRUNCATE (6.9).
    pub(crate) ftruncate: bool,
    /// IORING_OP_SOCKET (5.19); without it sockets are created with socket(2).
    pub(crate) socket: bool,
    /// IORING_REGISTER_PBUF_RING (5.19), probed by registering a one-entry ring: receive
    /// streams use a provided-buffer ring and multishot IORING_OP_RECV (6.0; a kernel
    /// between the two answers the first multishot receive with `EINVAL`, and the stream
    /// falls back). Without it, receive streams issue one plain receive per item.
    pub(crate) buf_ring: bool,
    /// IOU_PBUF_RING_INC (6.12), probed by registering a one-entry ring with the flag: the
    /// kernel consumes a pool buffer incrementally, so several receives share one buffer
    /// (each CQE says where its bytes start, IORING_CQE_F_BUF_MORE while the kernel keeps
    /// the buffer). Without it, each receive takes a whole buffer.
    pub(crate) buf_ring_inc: bool,
    /// IORING_OP_ACCEPT is supported, so multishot accept (IORING_ACCEPT_MULTISHOT, 5.19)
    /// is tried; a kernel without the flag answers `EINVAL` and `Incoming` falls back to
    /// one accept per connection.
    pub(crate) accept_multishot: bool,
    /// IORING_OP_SEND_ZC (6.0): large sends may go out without a copy (opt-in, see
    /// `Builder::send_zerocopy_from`).
    pub(crate) send_zc: bool,
    /// The ring was set up with IORING_SETUP_SQPOLL (`Builder::sqpoll`): a kernel thread
    /// takes SQEs off the SQ, so submitting needs no io_uring_enter(2) while it is awake.
    pub(crate) sqpoll: bool,
}

impl Features {
    /// What the readiness driver (src/driver/epoll/) runs in user space: ftruncate(2) and
    /// socket(2) calls for the FTRUNCATE and SOCKET SQEs.
    pub(crate) fn emulated() -> Self {
        Self {
            ftruncate: true,
            socket: true,
            ..Self::default()
        }
    }
}

/// A ring that was set up, with what the kernel said about it.
pub(crate) struct Setup {
    pub(crate) ring: IoUring,
    pub(crate) mode: SetupMode,
    pub(crate) features: Features,
}

/// Sets up a ring with `entries` SQEs and `2 * entries` CQEs, trying the flag sets above in
/// order (or only `only`'s, with no fallback). Checks the features the driver depends on
/// (NODROP, EXT_ARG).
///
/// With `sqpoll` (the kernel thread's idle time before it sleeps), every flag set is
/// first tried with IORING_SETUP_SQPOLL added (DEFER_TASKRUN excludes it; Linux 6.18
/// refuses COOP_TASKRUN with it too, as the capability report shows, so there the first to
/// succeed is the plain ring); if the kernel refuses SQPOLL with every set (EINVAL,
/// or EPERM where a policy denies it), the ring is set up without it and
/// `Features::sqpoll` is false. (Linux 6.18 refuses COOP_TASKRUN with SQPOLL too, so
/// there the SQPOLL ring has no taskrun flags.)
///
/// With `no_defer` (the tokio context: its cores sleep in epoll on the ring fd, which
/// deferred completions do not wake), the DEFER_TASKRUN set is never tried.
pub(crate) fn setup(
    entries: u32,
    only: Option<SetupMode>,
    sqpoll: Option<std::time::Duration>,
    no_defer: bool,
) -> io::Result<Setup> {
    if let Some(idle) = sqpoll {
        let idle_ms = u32::try_from(idle.as_millis()).unwrap_or(u32::MAX).max(1);
        match setup_with(entries, only, Some(idle_ms), no_defer) {
            Ok(setup) => return Ok(setup),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EPERM)) => {}
            Err(e) => return Err(e),
        }
    }
    setup_with(entries, only, None, no_defer)
}

fn setup_with(
    entries: u32,
    only: Option<SetupMode>,
    sqpoll: Option<u32>,
    no_defer: bool,
) -> io::Result<Setup> {
    let cq = entries.saturating_mul(2);
    type SetFlags = fn(&mut io_uring::Builder);
    let attempts: [(SetupMode, SetFlags); 3] = [
        (SetupMode::DeferTaskrun, |b| {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_taskrun_flag();
        }),
        (SetupMode::CoopTaskrun, |b| {
            b.setup_coop_taskrun().setup_taskrun_flag();
        }),
        (SetupMode::Plain, |_| {}),
    ];
    let mut last = None;
    for (mode, flags) in attempts {
        if only.is_some_and(|m| m != mode) || (no_defer && mode == SetupMode::DeferTaskrun) {
            continue;
        }
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq).setup_clamp();
        flags(&mut builder);
        if let Some(idle_ms) = sqpoll {
            builder.setup_sqpoll(idle_ms);
        }
        match builder.build(entries) {
            Ok(ring) => {
                // A ring that cannot be entered is no ring: a seccomp profile may allow
                // io_uring_setup and deny io_uring_enter. io_uring_enter(fd, 0, 0, 0)
                // submits and waits for nothing.
                ring.submitter().submit().map_err(EnterError)?;
                let mut features = probe(&ring);
                features.sqpoll = sqpoll.is_some();
                return Ok(Setup {
                    ring,
                    mode,
                    features,
                });
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
            Err(e) if sqpoll.is_some() && e.raw_os_error() == Some(libc::EPERM) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINVAL)))
}

/// io_uring_enter(2) failed on a ring that was just set up.
#[derive(Debug)]
pub(crate) struct EnterError(pub(crate) io::Error);

impl std::fmt::Display for EnterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "io_uring_enter failed on a new ring: {}", self.0)
    }
}

impl std::error::Error for EnterError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

impl From<EnterError> for io::Error {
    fn from(e: EnterError) -> io::Error {
        io::Error::other(e)
    }
}

fn probe(ring: &IoUring) -> Features {
    let mut probe = io_uring::Probe::new();
    if ring.submitter().register_probe(&mut probe).is_err() {
        return Features::default();
    }
    let buf_ring_inc = probe_buf_ring(ring, IOU_PBUF_RING_INC);
    Features {
        ftruncate: probe.is_supported(opcode::Ftruncate::CODE),
        socket: probe.is_supported(opcode::Socket::CODE),
        buf_ring: buf_ring_inc || probe_buf_ring(ring, 0),
        buf_ring_inc,
        accept_multishot: probe.is_supported(opcode::Accept::CODE),
        send_zc: probe.is_supported(opcode::SendZc::CODE),
        sqpoll: false,
    }
}

/// Buffer group id of the probe's throwaway ring (the driver's pool uses 0).
const PROBE_BGID: u16 = u16::MAX;

/// The io_uring_buf_reg flag for incrementally consumed buffers (io_uring_register_buf_ring(3),
/// Linux 6.12).
pub(crate) const IOU_PBUF_RING_INC: u16 = 2;

/// Registers and unregisters a one-entry provided-buffer ring with `flags`:
/// io_uring_register(2) has no probe for its own opcodes, and a kernel without
/// IORING_REGISTER_PBUF_RING (or without one of the flags) answers `EINVAL`.
fn probe_buf_ring(ring: &IoUring, flags: u16) -> bool {
    let layout = std::alloc::Layout::from_size_align(4096, 4096).expect("page layout");
    // SAFETY: the layout has a non-zero size.
    let mem = unsafe { std::alloc::alloc_zeroed(layout) };
    if mem.is_null() {
        return false;
    }
    // SAFETY: `mem` is a zeroed, page-aligned page (room for 256 entries of 16 bytes), alive
    // until the dealloc below, which runs after the ring is unregistered (or was never
    // registered).
    let ok = unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(mem as u64, 1, PROBE_BGID, flags)
    }
    .is_ok();
    let freed = !ok || ring.submitter().unregister_buf_ring(PROBE_BGID).is_ok();
    if freed {
        // SAFETY: allocated above with this layout; the kernel no longer refers to it.
        unsafe { std::alloc::dealloc(mem, layout) };
    }
    // Not unregistered: the kernel keeps the page pinned, so it is leaked (4 KiB, once).
    ok && freed
}

/// Registers a sparse table of `slots` empty fixed-file slots on `ring`
/// (IORING_REGISTER_FILES2 with IORING_RSRC_REGISTER_SPARSE, Linux 5.19;
/// io_uring_register_files_sparse(3)). Fails with EMFILE past RLIMIT_NOFILE, EINVAL on
/// kernels without sparse tables.
pub(crate) fn register_files_sparse(ring: &IoUring, slots: u32) -> io::Result<()> {
    ring.submitter().register_files_sparse(slots)
}

/// `struct io_uring_files_update` of the kernel's uapi header.
#[repr(C)]
struct FilesUpdate {
    offset: u32,
    resv: u32,
    fds: u64,
}

/// IORING_REGISTER_FILES_UPDATE (io_uring_register(2)).
const IORING_REGISTER_FILES_UPDATE: libc::c_uint = 6;

/// Puts `fd` (or, with -1, nothing) in slot `slot` of the fixed-file table of the ring
/// whose fd is `ring_fd` (IORING_REGISTER_FILES_UPDATE; io_uring_register_files_update(3)).
/// The table holds its own reference to the file, so the fd may close while the slot stays
/// filled. Errors: EBADF (`fd` is not open), ENXIO (no table), EINVAL (slot out of range).
pub(crate) fn update_fixed_file(
    ring_fd: std::os::fd::RawFd,
    slot: u32,
    fd: std::os::fd::RawFd,
) -> io::Result<()> {
    let fds = [fd];
    let up = FilesUpdate {
        offset: slot,
        resv: 0,
        fds: fds.as_ptr() as u64,
    };
    // SAFETY: `up` and the one-entry array it points to are live for the call, which only
    // reads them; `ring_fd` names a ring the caller knows is still open (FixedFiles checks).
    let n = unsafe {
        libc::syscall(
            libc::SYS_io_uring_register,
            ring_fd,
            IORING_REGISTER_FILES_UPDATE,
            &raw const up,
            1u32,
        )
    };
    match n {
        1 => Ok(()),
        n if n < 0 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::other(
            "io_uring_register: no fixed-file slot updated",
        )),
    }
}
