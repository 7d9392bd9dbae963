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
//! `runtime::BuildError::from_setup_error`.

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
}

impl Features {
    /// What the readiness driver (src/driver/epoll/) runs in user space: ftruncate(2) and
    /// socket(2) calls for the FTRUNCATE and SOCKET SQEs.
    #[allow(clippy::needless_update)] // optional opcodes added later stay off here
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
pub(crate) fn setup(entries: u32, only: Option<SetupMode>) -> io::Result<Setup> {
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
        if only.is_some_and(|m| m != mode) {
            continue;
        }
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq).setup_clamp();
        flags(&mut builder);
        match builder.build(entries) {
            Ok(ring) => {
                // A ring that cannot be entered is no ring: a seccomp profile may allow
                // io_uring_setup and deny io_uring_enter. io_uring_enter(fd, 0, 0, 0)
                // submits and waits for nothing.
                ring.submitter().submit().map_err(EnterError)?;
                let features = probe(&ring);
                return Ok(Setup {
                    ring,
                    mode,
                    features,
                });
            }
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = Some(e),
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
    Features {
        ftruncate: probe.is_supported(opcode::Ftruncate::CODE),
        socket: probe.is_supported(opcode::Socket::CODE),
    }
}
