//! `probe()`: builds a [`Report`] by asking the kernel, item by item.

use io_uring::opcode;

use super::{Check, FastPath, IoUringStatus, Kernel, Limit, Limits, Report, Usage, errno_text};
use crate::runtime::report as choice;
use crate::sys::probe::{self as sys, Flags, Multishot, Resource};
use crate::sys::uring::Features;
use crate::{DriverKind, SetupMode};

/// SQ entries of the throwaway rings that probe flags and opcodes.
const PROBE_ENTRIES: u32 = 8;

/// Probes this machine: the kernel, io_uring's availability and the precise reason where
/// it is unavailable, the driver [`Builder::build`](crate::Builder::build) with the default
/// settings would choose now (honouring `RINGCORE_DRIVER`), every setup flag, feature,
/// opcode, registration and multishot form ringcore uses or could use, the limits, and the
/// fast paths that would be active.
///
/// Needs no runtime and may be called anywhere, also inside one. It sets up a handful of
/// small rings (one of them with IORING_SETUP_SQPOLL, which starts a kernel thread for as
/// long as the ring lives) and closes them before returning; it takes a few milliseconds,
/// up to a second per multishot probe if the kernel never answers.
///
/// Never panics: a probe that fails reports its items as unknown with the errno.
///
/// # Examples
///
/// ```
/// let report = ringcore::report::probe();
/// if report.io_uring.available {
///     assert_eq!(report.check("IORING_OP_READ").unwrap().supported, Some(true));
/// } else {
///     println!("no io_uring: {}", report.io_uring.reason.as_deref().unwrap_or("?"));
/// }
/// println!("{report}");
/// ```
pub fn probe() -> Report {
    let (entries, files) = choice::defaults();
    let attempt = choice::attempt_uring(entries);
    let driver = choice::decide(&attempt);
    let limits = limits(entries, files);

    // A plain ring, entered once: the raw facts behind availability, and the ring the
    // flag-independent probes run on (those that need no io_uring_enter run even where
    // entering is denied).
    let (plain, setup_error, enter_error) = match sys::ring(PROBE_ENTRIES, Flags::default()) {
        Ok(ring) => {
            let entered = sys::enter_nothing(&ring).err().map(|e| errno_text(&e));
            (Some(ring), None, entered)
        }
        Err(e) => (None, Some(errno_text(&e)), None),
    };
    // Why the probes on a ring could not run, for the unknowns.
    let no_ring = setup_error
        .as_ref()
        .map(|e| format!("io_uring_setup: {e}"))
        .unwrap_or_default();
    let no_enter = match &enter_error {
        Some(e) => format!("io_uring_enter: {e}"),
        None => no_ring.clone(),
    };

    let opcodes_probe = plain.as_ref().map(sys::opcodes);
    let probe_error = match &opcodes_probe {
        Some(Err(e)) => Some(errno_text(e)),
        _ => None,
    };
    let (cause, reason) = match &attempt {
        Ok(_) => (None, None),
        Err(e) => {
            let (cause, reason) = choice::cause(e);
            (Some(cause), Some(reason))
        }
    };
    let io_uring = IoUringStatus {
        available: attempt.is_ok(),
        cause,
        reason,
        io_uring_disabled: crate::sys::fd::read_sysctl("/proc/sys/kernel/io_uring_disabled"),
        setup_error,
        enter_error,
        probe_error,
    };

    let setup_flags = setup_flags(plain.is_some(), &no_ring);
    let features = features(plain.as_ref(), &no_ring);
    let opcodes = match &opcodes_probe {
        Some(Ok(p)) => OPCODES
            .iter()
            .map(|&(name, code, usage)| Check::new(name, Some(p.is_supported(code)), usage))
            .collect(),
        Some(Err(e)) => unknown(
            OPCODES,
            &format!("IORING_REGISTER_PROBE: {}", errno_text(e)),
        ),
        None => unknown(OPCODES, &no_ring),
    };

    // Registrations on the ring `build` would get (its features were probed by
    // sys::uring::setup, as the driver's are).
    let (registrations, fixed) = match &attempt {
        Ok(setup) => {
            let f = setup.features;
            let inc = "IOU_PBUF_RING_INC (incremental buffer consumption)";
            let slots = files.min(
                crate::sys::fd::nofile_soft_limit()
                    .try_into()
                    .unwrap_or(u32::MAX),
            );
            let fixed = if slots == 0 {
                Err("0 slots (RLIMIT_NOFILE)".to_owned())
            } else {
                crate::sys::uring::register_files_sparse(&setup.ring, slots)
                    .map(|()| slots)
                    .map_err(|e| errno_text(&e))
            };
            let regs = vec![
                Check::new("IORING_REGISTER_PBUF_RING", Some(f.buf_ring), Usage::Used),
                Check::new(inc, Some(f.buf_ring_inc), Usage::Used),
                Check::new(
                    "IORING_REGISTER_FILES2 (sparse table)",
                    Some(fixed.is_ok()),
                    Usage::Used,
                )
                .detail(match &fixed {
                    Ok(n) => Some(format!("{n} slots")),
                    Err(e) => Some(e.clone()),
                }),
            ];
            (regs, Some(fixed))
        }
        Err(_) => {
            let why = format!("not probed: {}", io_uring.reason.as_deref().unwrap_or("?"));
            let names = [
                "IORING_REGISTER_PBUF_RING",
                "IOU_PBUF_RING_INC (incremental buffer consumption)",
                "IORING_REGISTER_FILES2 (sparse table)",
            ];
            let regs = names
                .iter()
                .map(|name| Check::new(name, None, Usage::Used).detail(Some(why.clone())))
                .collect();
            (regs, None)
        }
    };
    let multishot = multishot(plain.filter(|_| io_uring.enter_error.is_none()), &no_enter);

    let mut fast_paths = Vec::new();
    match (&attempt, driver.driver) {
        (Ok(setup), Some(DriverKind::IoUring)) => {
            fast_paths.extend(mode_paths(DriverKind::IoUring, Some(setup.mode)));
            fast_paths.extend(feature_paths(DriverKind::IoUring, setup.features));
            fast_paths.push(match fixed {
                Some(Ok(n)) => FastPath::new(
                    "registered_files",
                    true,
                    format!("a sparse table of {n} slots; busy sockets use IOSQE_FIXED_FILE"),
                ),
                Some(Err(e)) => FastPath::new("registered_files", false, e),
                None => FastPath::new("registered_files", false, "not probed"),
            });
        }
        (_, Some(kind)) => {
            fast_paths.extend(mode_paths(kind, None));
            fast_paths.extend(feature_paths(kind, Features::emulated()));
        }
        (_, None) => {}
    }

    let kernel = match crate::sys::probe::uname() {
        Ok(u) => Kernel {
            release: Some(u.release),
            machine: Some(u.machine),
            error: None,
        },
        Err(e) => Kernel {
            release: None,
            machine: None,
            error: Some(errno_text(&e)),
        },
    };
    // `attempt`'s ring closes here, after the registrations above.
    drop(attempt);
    Report {
        ringcore_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel,
        io_uring,
        driver,
        setup_flags,
        features,
        opcodes,
        registrations,
        multishot,
        limits,
        fast_paths,
        runtime: None,
    }
}

/// Every listed item unknown, for `why`.
fn unknown(items: &[(&str, u8, Usage)], why: &str) -> Vec<Check> {
    items
        .iter()
        .map(|&(name, _, usage)| Check::new(name, None, usage).detail(Some(why.to_owned())))
        .collect()
}

fn limits(ring_entries: u32, registered_files: u32) -> Limits {
    let limit = |r| match sys::rlimit(r) {
        Ok(l) => Limit {
            soft: l.soft,
            hard: l.hard,
            error: None,
        },
        Err(e) => Limit {
            soft: None,
            hard: None,
            error: Some(errno_text(&e)),
        },
    };
    Limits {
        nofile: limit(Resource::Nofile),
        memlock_bytes: limit(Resource::Memlock),
        ring_entries,
        cq_entries: ring_entries.saturating_mul(2),
        registered_files,
    }
}

/// Each setup flag, tried alone (with the flags it needs) on an 8-entry ring.
fn setup_flags(io_uring_works: bool, no_ring: &str) -> Vec<Check> {
    let none = Flags::default();
    let cases: [(&str, Usage, Flags); 7] = [
        (
            "IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP",
            Usage::Used,
            Flags {
                cqsize_clamp: true,
                ..none
            },
        ),
        (
            "IORING_SETUP_SINGLE_ISSUER",
            Usage::Used,
            Flags {
                single_issuer: true,
                ..none
            },
        ),
        (
            "IORING_SETUP_DEFER_TASKRUN",
            Usage::Used,
            Flags {
                single_issuer: true,
                defer_taskrun: true,
                ..none
            },
        ),
        (
            "IORING_SETUP_COOP_TASKRUN",
            Usage::Used,
            Flags {
                coop_taskrun: true,
                ..none
            },
        ),
        (
            "IORING_SETUP_TASKRUN_FLAG",
            Usage::Used,
            Flags {
                coop_taskrun: true,
                taskrun_flag: true,
                ..none
            },
        ),
        (
            "IORING_SETUP_SQPOLL",
            Usage::OptIn,
            Flags {
                sqpoll_idle_ms: Some(10),
                ..none
            },
        ),
        (
            "IORING_SETUP_SQPOLL | IORING_SETUP_COOP_TASKRUN",
            Usage::OptIn,
            Flags {
                sqpoll_idle_ms: Some(10),
                coop_taskrun: true,
                taskrun_flag: true,
                ..none
            },
        ),
    ];
    cases
        .into_iter()
        .map(|(name, usage, flags)| {
            if !io_uring_works {
                return Check::new(name, None, usage).detail(Some(no_ring.to_owned()));
            }
            match sys::ring(PROBE_ENTRIES, flags) {
                Ok(_) => Check::new(name, Some(true), usage),
                Err(e) => Check::new(name, Some(false), usage).detail(Some(errno_text(&e))),
            }
        })
        .collect()
}

/// The IORING_FEAT_* bits of the plain ring's parameters.
fn features(ring: Option<&io_uring::IoUring>, no_ring: &str) -> Vec<Check> {
    type Bit = fn(&io_uring::Parameters) -> bool;
    let bits: [(&str, Usage, Bit); 16] = [
        ("IORING_FEAT_NODROP", Usage::Required, |p| {
            p.is_feature_nodrop()
        }),
        ("IORING_FEAT_EXT_ARG", Usage::Required, |p| {
            p.is_feature_ext_arg()
        }),
        ("IORING_FEAT_FAST_POLL", Usage::Used, |p| {
            p.is_feature_fast_poll()
        }),
        ("IORING_FEAT_SUBMIT_STABLE", Usage::Used, |p| {
            p.is_feature_submit_stable()
        }),
        ("IORING_FEAT_SINGLE_MMAP", Usage::Used, |p| {
            p.is_feature_single_mmap()
        }),
        ("IORING_FEAT_RW_CUR_POS", Usage::NotUsed, |p| {
            p.is_feature_rw_cur_pos()
        }),
        ("IORING_FEAT_CUR_PERSONALITY", Usage::NotUsed, |p| {
            p.is_feature_cur_personality()
        }),
        ("IORING_FEAT_POLL_32BITS", Usage::NotUsed, |p| {
            p.is_feature_poll_32bits()
        }),
        ("IORING_FEAT_SQPOLL_NONFIXED", Usage::OptIn, |p| {
            p.is_feature_sqpoll_nonfixed()
        }),
        ("IORING_FEAT_NATIVE_WORKERS", Usage::NotUsed, |p| {
            p.is_feature_native_workers()
        }),
        ("IORING_FEAT_RSRC_TAGS", Usage::NotUsed, |p| {
            p.is_feature_resource_tagging()
        }),
        ("IORING_FEAT_CQE_SKIP", Usage::NotUsed, |p| {
            p.is_feature_skip_cqe_on_success()
        }),
        ("IORING_FEAT_LINKED_FILE", Usage::NotUsed, |p| {
            p.is_feature_linked_file()
        }),
        ("IORING_FEAT_RECVSEND_BUNDLE", Usage::NotUsed, |p| {
            p.is_feature_recvsend_bundle()
        }),
        ("IORING_FEAT_MIN_TIMEOUT", Usage::NotUsed, |p| {
            p.is_feature_min_timeout()
        }),
        ("IORING_FEAT_NO_IOWAIT", Usage::NotUsed, |p| {
            p.is_feature_no_iowait()
        }),
    ];
    bits.into_iter()
        .map(|(name, usage, bit)| match ring {
            Some(r) => Check::new(name, Some(bit(r.params())), usage),
            None => Check::new(name, None, usage).detail(Some(no_ring.to_owned())),
        })
        .collect()
}

/// Multishot ACCEPT and RECV, armed and cancelled on the plain ring.
fn multishot(ring: Option<io_uring::IoUring>, no_ring: &str) -> Vec<Check> {
    const ACCEPT: &str = "IORING_ACCEPT_MULTISHOT";
    const RECV: &str = "IORING_RECV_MULTISHOT (with a provided-buffer ring)";
    let Some(mut ring) = ring else {
        let why = Some(no_ring.to_owned());
        return vec![
            Check::new(ACCEPT, None, Usage::Used).detail(why.clone()),
            Check::new(RECV, None, Usage::Used).detail(why),
        ];
    };
    let check = |name, res: std::io::Result<Multishot>| match res {
        Ok(Multishot::Armed) => Check::new(name, Some(true), Usage::Used),
        Ok(Multishot::Refused(errno)) => Check::new(name, Some(false), Usage::Used)
            .detail(Some(errno_text(&std::io::Error::from_raw_os_error(errno)))),
        Err(e) => Check::new(name, None, Usage::Used).detail(Some(errno_text(&e))),
    };
    vec![
        check(ACCEPT, sys::multishot_accept(&mut ring)),
        check(RECV, sys::multishot_recv(&mut ring)),
    ]
}

/// The fast paths a setup mode gives.
pub(crate) fn mode_paths(kind: DriverKind, mode: Option<SetupMode>) -> Vec<FastPath> {
    let uring = kind != DriverKind::Epoll;
    vec![
        FastPath::new(
            "defer_taskrun",
            uring && mode == Some(SetupMode::DeferTaskrun),
            "SINGLE_ISSUER | DEFER_TASKRUN: completions run only when the core enters the \
             ring, no inter-processor interrupts",
        ),
        FastPath::new(
            "coop_taskrun",
            uring && mode == Some(SetupMode::CoopTaskrun),
            "COOP_TASKRUN: the fallback where DEFER_TASKRUN is refused",
        ),
    ]
}

/// The fast paths a core's probed `Features` give.
pub(crate) fn feature_paths(kind: DriverKind, f: Features) -> Vec<FastPath> {
    if kind == DriverKind::Epoll {
        let off = "off: the epoll readiness driver";
        return [
            "recv_buffer_ring",
            "recv_buffer_ring_incremental",
            "multishot_accept",
            "send_zc_available",
            "socket_op",
            "ftruncate_op",
            "sqpoll",
        ]
        .into_iter()
        .map(|name| FastPath::new(name, false, off))
        .collect();
    }
    vec![
        FastPath::new(
            "recv_buffer_ring",
            f.buf_ring,
            "receive streams use a provided-buffer ring and multishot RECV",
        ),
        FastPath::new(
            "recv_buffer_ring_incremental",
            f.buf_ring_inc,
            "IOU_PBUF_RING_INC: several receives share one pool buffer",
        ),
        FastPath::new(
            "multishot_accept",
            f.accept_multishot,
            "Incoming arms one multishot ACCEPT (EINVAL falls back to one per connection)",
        ),
        FastPath::new(
            "send_zc_available",
            f.send_zc,
            "SEND_ZC can carry large TCP writes; used only when opted in with \
             Builder::send_zerocopy_from, which the report cannot see",
        ),
        FastPath::new(
            "socket_op",
            f.socket,
            "sockets created through the ring (IORING_OP_SOCKET), else socket(2)",
        ),
        FastPath::new(
            "ftruncate_op",
            f.ftruncate,
            "set_len through the ring (IORING_OP_FTRUNCATE), else the blocking pool",
        ),
        FastPath::new(
            "sqpoll",
            f.sqpoll,
            "a kernel thread polls the SQ (opt-in: Builder::sqpoll)",
        ),
    ]
}

/// (name, opcode, how ringcore uses it), in the kernel's order.
const OPCODES: &[(&str, u8, Usage)] = &[
    ("IORING_OP_NOP", opcode::Nop::CODE, Usage::Used),
    ("IORING_OP_READV", opcode::Readv::CODE, Usage::NotUsed),
    ("IORING_OP_WRITEV", opcode::Writev::CODE, Usage::NotUsed),
    ("IORING_OP_FSYNC", opcode::Fsync::CODE, Usage::Used),
    (
        "IORING_OP_READ_FIXED",
        opcode::ReadFixed::CODE,
        Usage::NotUsed,
    ),
    (
        "IORING_OP_WRITE_FIXED",
        opcode::WriteFixed::CODE,
        Usage::NotUsed,
    ),
    ("IORING_OP_POLL_ADD", opcode::PollAdd::CODE, Usage::Used),
    ("IORING_OP_SENDMSG", opcode::SendMsg::CODE, Usage::Used),
    ("IORING_OP_RECVMSG", opcode::RecvMsg::CODE, Usage::Used),
    ("IORING_OP_TIMEOUT", opcode::Timeout::CODE, Usage::NotUsed),
    ("IORING_OP_ACCEPT", opcode::Accept::CODE, Usage::Used),
    (
        "IORING_OP_ASYNC_CANCEL",
        opcode::AsyncCancel::CODE,
        Usage::Used,
    ),
    (
        "IORING_OP_LINK_TIMEOUT",
        opcode::LinkTimeout::CODE,
        Usage::NotUsed,
    ),
    ("IORING_OP_CONNECT", opcode::Connect::CODE, Usage::Used),
    ("IORING_OP_FALLOCATE", opcode::Fallocate::CODE, Usage::Used),
    ("IORING_OP_OPENAT", opcode::OpenAt::CODE, Usage::Used),
    ("IORING_OP_CLOSE", opcode::Close::CODE, Usage::Used),
    ("IORING_OP_STATX", opcode::Statx::CODE, Usage::Used),
    ("IORING_OP_READ", opcode::Read::CODE, Usage::Used),
    ("IORING_OP_WRITE", opcode::Write::CODE, Usage::Used),
    ("IORING_OP_SEND", opcode::Send::CODE, Usage::Used),
    ("IORING_OP_RECV", opcode::Recv::CODE, Usage::Used),
    ("IORING_OP_SPLICE", opcode::Splice::CODE, Usage::NotUsed),
    (
        "IORING_OP_PROVIDE_BUFFERS",
        opcode::ProvideBuffers::CODE,
        Usage::NotUsed,
    ),
    ("IORING_OP_SHUTDOWN", opcode::Shutdown::CODE, Usage::NotUsed),
    ("IORING_OP_RENAMEAT", opcode::RenameAt::CODE, Usage::Used),
    ("IORING_OP_UNLINKAT", opcode::UnlinkAt::CODE, Usage::Used),
    ("IORING_OP_MKDIRAT", opcode::MkDirAt::CODE, Usage::Used),
    (
        "IORING_OP_MSG_RING",
        opcode::MsgRingData::CODE,
        Usage::NotUsed,
    ),
    ("IORING_OP_SOCKET", opcode::Socket::CODE, Usage::Used),
    ("IORING_OP_SEND_ZC", opcode::SendZc::CODE, Usage::OptIn),
    (
        "IORING_OP_SENDMSG_ZC",
        opcode::SendMsgZc::CODE,
        Usage::NotUsed,
    ),
    (
        "IORING_OP_READ_MULTISHOT",
        opcode::ReadMulti::CODE,
        Usage::NotUsed,
    ),
    ("IORING_OP_WAITID", opcode::WaitId::CODE, Usage::NotUsed),
    (
        "IORING_OP_FUTEX_WAIT",
        opcode::FutexWait::CODE,
        Usage::NotUsed,
    ),
    (
        "IORING_OP_FUTEX_WAKE",
        opcode::FutexWake::CODE,
        Usage::NotUsed,
    ),
    (
        "IORING_OP_FUTEX_WAITV",
        opcode::FutexWaitV::CODE,
        Usage::NotUsed,
    ),
    (
        "IORING_OP_FIXED_FD_INSTALL",
        opcode::FixedFdInstall::CODE,
        Usage::NotUsed,
    ),
    ("IORING_OP_FTRUNCATE", opcode::Ftruncate::CODE, Usage::Used),
    ("IORING_OP_BIND", opcode::Bind::CODE, Usage::NotUsed),
    ("IORING_OP_LISTEN", opcode::Listen::CODE, Usage::NotUsed),
    ("IORING_OP_RECV_ZC", opcode::RecvZc::CODE, Usage::NotUsed),
    (
        "IORING_OP_EPOLL_WAIT",
        opcode::EpollWait::CODE,
        Usage::NotUsed,
    ),
    ("IORING_OP_PIPE", opcode::Pipe::CODE, Usage::NotUsed),
];
