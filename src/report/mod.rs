//! The capability report: what this machine's kernel lets ringcore do, which driver
//! [`Builder::build`](crate::Builder::build) would choose and why, and which fast paths
//! are active as a result.
//!
//! [`probe()`] builds a [`Report`] without a runtime; [`Runtime::report`](crate::Runtime::report)
//! adds what a running runtime chose ([`RuntimeReport`]). A report prints as aligned text
//! (`Display`) or as JSON ([`Report::to_json`]); `cargo run --release --example doctor`
//! prints it (`-- --json` for JSON).
//!
//! Everything in it is probed, never inferred from the kernel's version (docs/style.md,
//! habit 13): setup flags by setting up a small ring with each, opcodes with
//! IORING_REGISTER_PROBE, features from the ring's parameters, registrations by
//! registering and unregistering. A probe that cannot run (io_uring denied, a syscall
//! failing) makes its items unknown (`supported: None`) with the errno in `detail`; the
//! report never panics.
//!
//! # JSON
//!
//! [`Report::to_json`] writes the fields of [`Report`] under their Rust names:
//! `ringcore_version`, `kernel` (`release`, `machine`, `error`), `io_uring` (`available`,
//! `cause`, `reason`, `io_uring_disabled`, `setup_error`, `enter_error`, `probe_error`),
//! `driver` (`driver`, `reason`, `env`, `setup_mode`), `setup_flags`, `features`,
//! `opcodes`, `registrations`, `multishot` (lists of [`Check`]: `name`, `supported`,
//! `ringcore`, `detail`), `limits` ([`Limits`]), `fast_paths` (lists of [`FastPath`]:
//! `name`, `active`, `detail`) and `runtime` (`null` from [`probe()`]). Drivers are written
//! `"io_uring"` or `"epoll"`, `null` where `build` would fail.

mod probe;
mod text;

use serde::Serialize;

use crate::DriverKind;

pub use probe::probe;
pub(crate) use probe::{feature_paths, mode_paths};

/// A capability report; see the [module docs](self). Built by [`probe()`] or
/// [`Runtime::report`](crate::Runtime::report).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// This crate's version, e.g. "0.1.0".
    pub ringcore_version: String,
    /// The running kernel, from uname(2).
    pub kernel: Kernel,
    /// Whether io_uring can be used, and why not.
    pub io_uring: IoUringStatus,
    /// The driver [`Builder::build`](crate::Builder::build) with the default settings would
    /// choose now, and why.
    pub driver: DriverChoice,
    /// IORING_SETUP_* flags, each probed by setting up an 8-entry ring with it.
    pub setup_flags: Vec<Check>,
    /// IORING_FEAT_* bits of the ring's parameters.
    pub features: Vec<Check>,
    /// IORING_OP_* opcodes, from IORING_REGISTER_PROBE.
    pub opcodes: Vec<Check>,
    /// io_uring_register(2) operations, probed by registering and unregistering:
    /// provided-buffer rings (and IOU_PBUF_RING_INC), the sparse registered-file table.
    pub registrations: Vec<Check>,
    /// Multishot forms of ACCEPT and RECV, probed by arming each on a throwaway socket.
    pub multishot: Vec<Check>,
    /// Resource limits and ringcore's default sizes.
    pub limits: Limits,
    /// The ringcore fast paths a runtime built now with the default settings would use.
    pub fast_paths: Vec<FastPath>,
    /// What a running runtime chose: `Some` from [`Runtime::report`](crate::Runtime::report),
    /// `None` from [`probe()`].
    pub runtime: Option<RuntimeReport>,
}

impl Report {
    /// The report as pretty-printed JSON (the field names are listed in the
    /// [module docs](self)).
    pub fn to_json(&self) -> String {
        // Serializing these plain structs (strings, numbers, options, vectors) cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The [`Check`] named `name` (e.g. "IORING_OP_READ", "IORING_SETUP_SQPOLL") in any of
    /// the lists.
    pub fn check(&self, name: &str) -> Option<&Check> {
        [
            &self.setup_flags,
            &self.features,
            &self.opcodes,
            &self.registrations,
            &self.multishot,
        ]
        .into_iter()
        .flatten()
        .find(|c| c.name == name)
    }
}

/// The running kernel, from uname(2): shown, never parsed to decide anything.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Kernel {
    /// The release, e.g. "6.8.0-45-generic" (`None` if uname failed).
    pub release: Option<String>,
    /// The machine, e.g. "x86_64".
    pub machine: Option<String>,
    /// uname(2)'s errno, if it failed.
    pub error: Option<String>,
}

/// Why io_uring cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Cause {
    /// io_uring_setup(2) answered EPERM with the sysctl unset: a seccomp profile (or an
    /// LSM).
    Seccomp,
    /// io_uring_setup(2) answered EPERM and `kernel.io_uring_disabled` is 1 or 2.
    Sysctl,
    /// io_uring_setup(2) worked but io_uring_enter(2) failed (a seccomp profile that
    /// allows setup only).
    EnterDenied,
    /// io_uring_setup(2) does not exist (ENOSYS).
    Enosys,
    /// io_uring_setup(2) answered ENOMEM: RLIMIT_MEMLOCK is too low.
    Memlock,
    /// The kernel lacks IORING_FEAT_NODROP or IORING_FEAT_EXT_ARG.
    MissingFeature,
    /// Another errno.
    Other,
}

/// Whether io_uring can be used by ringcore.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct IoUringStatus {
    /// True if a ring of the default size sets up, can be entered and has the features
    /// ringcore requires.
    pub available: bool,
    /// Why not, where not available.
    pub cause: Option<Cause>,
    /// Why not, in words, e.g. "io_uring_setup returned EPERM (seccomp)".
    pub reason: Option<String>,
    /// The `kernel.io_uring_disabled` sysctl (0 allowed, 1 only `kernel.io_uring_group`,
    /// 2 nobody); `None` where /proc/sys/kernel/io_uring_disabled does not exist (kernels
    /// before 6.6) or cannot be read.
    pub io_uring_disabled: Option<i64>,
    /// io_uring_setup(2)'s error on a plain 8-entry ring, e.g. "EPERM (Operation not
    /// permitted)".
    pub setup_error: Option<String>,
    /// io_uring_enter(2)'s error on that ring, if it set up.
    pub enter_error: Option<String>,
    /// IORING_REGISTER_PROBE's error, if the ring set up and the probe failed (then the
    /// opcodes are unknown).
    pub probe_error: Option<String>,
}

/// Which driver a runtime would run (or runs) and why.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct DriverChoice {
    /// [`DriverKind::IoUring`] or [`DriverKind::Epoll`]; `None` where `build` would fail
    /// (`RINGCORE_DRIVER=uring` with io_uring refused, an invalid `RINGCORE_DRIVER`).
    #[serde(serialize_with = "driver_name")]
    pub driver: Option<DriverKind>,
    /// Why, e.g. "io_uring setup succeeded (DeferTaskrun)", "io_uring_setup returned
    /// EPERM (seccomp)", "forced by RINGCORE_DRIVER=epoll".
    pub reason: String,
    /// The value of `RINGCORE_DRIVER`, if set (it overrides the builder).
    pub env: Option<String>,
    /// The io_uring setup mode ([`SetupMode`](crate::SetupMode) as text), on io_uring.
    pub setup_mode: Option<String>,
}

impl DriverChoice {
    /// The choice on one line: `io_uring (REASON)`, `epoll: REASON`, or `none: REASON`
    /// where `build` would fail.
    pub fn summary(&self) -> String {
        match self.driver {
            Some(DriverKind::IoUring) => format!("io_uring ({})", self.reason),
            Some(_) => format!("epoll: {}", self.reason),
            None => format!("none: {}", self.reason),
        }
    }
}

/// "io_uring" or "epoll" for a resolved driver.
pub(crate) fn driver_str(kind: DriverKind) -> &'static str {
    match kind {
        DriverKind::Epoll => "epoll",
        _ => "io_uring",
    }
}

fn driver_name<S: serde::Serializer>(kind: &Option<DriverKind>, s: S) -> Result<S::Ok, S::Error> {
    match kind {
        Some(k) => s.serialize_str(driver_str(*k)),
        None => s.serialize_none(),
    }
}

/// How ringcore relates to a kernel capability.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Usage {
    /// ringcore does not run on io_uring without it (it falls back to epoll).
    Required,
    /// Used where the kernel has it, with a slower path where it does not.
    Used,
    /// Used only when asked for (a `Builder` option).
    OptIn,
    /// Not used by ringcore today; shown for what could be.
    NotUsed,
}

/// One probed kernel capability.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Check {
    /// The kernel's name, e.g. "IORING_OP_READ", "IORING_SETUP_DEFER_TASKRUN",
    /// "IORING_FEAT_NODROP", "IOU_PBUF_RING_INC".
    pub name: String,
    /// `Some(true)`: supported; `Some(false)`: refused (the errno is in `detail`);
    /// `None`: unknown, the probe could not run (why is in `detail`).
    pub supported: Option<bool>,
    /// How ringcore uses it.
    pub ringcore: Usage,
    /// The errno or explanation, e.g. "EINVAL (Invalid argument)"; `None` when supported.
    pub detail: Option<String>,
}

impl Check {
    pub(crate) fn new(name: &str, supported: Option<bool>, ringcore: Usage) -> Self {
        Self {
            name: name.to_owned(),
            supported,
            ringcore,
            detail: None,
        }
    }

    pub(crate) fn detail(mut self, detail: Option<String>) -> Self {
        self.detail = detail;
        self
    }
}

/// One resource limit (getrlimit(2)); `None` values are unlimited.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Limit {
    /// The soft limit (`None`: unlimited or unknown, see `error`).
    pub soft: Option<u64>,
    /// The hard limit (`None`: unlimited or unknown, see `error`).
    pub hard: Option<u64>,
    /// getrlimit(2)'s errno, if it failed.
    pub error: Option<String>,
}

/// Resource limits and ringcore's defaults.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Limits {
    /// RLIMIT_NOFILE, in file descriptors (the registered-file table is cut to the soft
    /// limit).
    pub nofile: Limit,
    /// RLIMIT_MEMLOCK, in bytes (kernels before 5.12 charge rings to it).
    pub memlock_bytes: Limit,
    /// Default submission queue entries per core (`Builder::ring_entries`).
    pub ring_entries: u32,
    /// Default completion queue entries per core (twice the SQ).
    pub cq_entries: u32,
    /// Default registered-file slots per core (`Builder::registered_files`), before the
    /// cut to RLIMIT_NOFILE.
    pub registered_files: u32,
}

/// A ringcore fast path and whether it is active.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct FastPath {
    /// A short stable name, e.g. "defer_taskrun", "recv_buffer_ring", "multishot_accept",
    /// "send_zc_available".
    pub name: String,
    /// Whether it is (or would be) in use.
    pub active: bool,
    /// What it is, and why it is off where it is.
    pub detail: String,
}

impl FastPath {
    pub(crate) fn new(name: &str, active: bool, detail: impl Into<String>) -> Self {
        Self {
            name: name.to_owned(),
            active,
            detail: detail.into(),
        }
    }
}

/// What a running runtime chose, from [`Runtime::report`](crate::Runtime::report).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct RuntimeReport {
    /// The driver its cores run, and why.
    pub driver: DriverChoice,
    /// One entry per core, in core order.
    pub cores: Vec<CoreReport>,
    /// What the report cannot see of a running runtime (yet).
    pub not_reported: Vec<String>,
}

/// One core of a running runtime.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct CoreReport {
    /// The core's index.
    pub core: usize,
    /// The io_uring setup mode its ring got ("DeferTaskrun", "CoopTaskrun", "Plain",
    /// "Sqpoll"; each core sets up its own ring, so they may differ); `None` on the epoll
    /// driver or if it did not answer.
    pub setup_mode: Option<String>,
    /// The size of its registered-file table in slots; `None` where it has none (the epoll
    /// driver, `Builder::registered_files(0)`, a kernel that refused the table) or did not
    /// answer.
    pub registered_file_slots: Option<u32>,
    /// Its active fast paths (empty if it did not answer: see `error`).
    pub fast_paths: Vec<FastPath>,
    /// Why its fast paths are unknown (it did not answer within a second, or has shut
    /// down).
    pub error: Option<String>,
}

/// An errno's name ("EPERM"), or the error's text where it has no known errno.
pub(crate) fn errno_name(e: &std::io::Error) -> String {
    let text = errno_text(e);
    match e.raw_os_error() {
        Some(_) => text.split(" (").next().unwrap_or(&text).to_owned(),
        None => text,
    }
}

/// An errno as text: "EPERM (Operation not permitted)"; other errors as they display.
pub(crate) fn errno_text(e: &std::io::Error) -> String {
    let Some(n) = e.raw_os_error() else {
        return e.to_string();
    };
    let name = match n {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::ENXIO => "ENXIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EEXIST => "EEXIST",
        libc::EINVAL => "EINVAL",
        libc::ENFILE => "ENFILE",
        libc::EMFILE => "EMFILE",
        libc::ENOSYS => "ENOSYS",
        libc::EOPNOTSUPP => "EOPNOTSUPP",
        libc::ETIME => "ETIME",
        libc::ECANCELED => "ECANCELED",
        _ => return e.to_string(),
    };
    let text = e.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    format!("{name} ({text})")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errnos_are_named_and_explained() {
        let e = std::io::Error::from_raw_os_error(libc::EPERM);
        assert_eq!(errno_text(&e), "EPERM (Operation not permitted)");
        let other = std::io::Error::other("no ring");
        assert_eq!(errno_text(&other), "no ring");
    }
}
