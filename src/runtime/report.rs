//! The runtime's side of the capability report (`crate::report`): the driver choice
//! `Builder::build` makes, replayed without building a core; the reason a fallback to
//! epoll recorded; and [`Runtime::report`].
//!
//! The replay uses the crate's own pieces: `DriverKind::from_env` (RINGCORE_DRIVER),
//! `sys::uring::setup` (the flag fallbacks), `BuildError::from_setup_error` (sysctl,
//! seccomp, ENOSYS, memlock) and `driver_kind::falls_back`. Only the two required-feature
//! checks of `Builder::uring_driver` are repeated here, since that method also builds a
//! driver.

use std::time::Duration;

use super::{BuildError, CoreId, DRIVER_ENV, DriverKind, Runtime, SetupMode};
use crate::driver::build as driver_kind;
use crate::report::{Cause, CoreReport, DriverChoice, Report, RuntimeReport};
use crate::sys;
use crate::sys::uring::{Features, Setup};

/// `Builder::new()`'s ring entries and registered-file slots.
pub(crate) fn defaults() -> (u32, u32) {
    super::builder::defaults()
}

/// Sets up a ring of `entries` SQEs as `Builder::build` does with the default settings
/// (the fastest flags the kernel accepts, no SQPOLL) and checks the features ringcore
/// requires; the error is the `BuildError` `build` would see.
pub(crate) fn attempt_uring(entries: u32) -> Result<Setup, BuildError> {
    let setup =
        sys::uring::setup(entries, None, None, cfg!(feature = "tokio-context")).map_err(|e| {
            BuildError::from_setup_error(
                e,
                sys::fd::read_sysctl("/proc/sys/kernel/io_uring_disabled"),
                sys::fd::memlock_limit(),
                entries,
            )
        })?;
    let params = setup.ring.params();
    if !params.is_feature_nodrop() {
        return Err(BuildError::MissingFeature {
            feature: "IORING_FEAT_NODROP",
        });
    }
    if !params.is_feature_ext_arg() {
        return Err(BuildError::MissingFeature {
            feature: "IORING_FEAT_EXT_ARG",
        });
    }
    Ok(setup)
}

/// What a refusal means, in a few words: "io_uring_setup returned EPERM (seccomp)".
pub(crate) fn cause(err: &BuildError) -> (Cause, String) {
    match err {
        BuildError::Denied(_) => (
            Cause::Seccomp,
            "io_uring_setup returned EPERM (seccomp)".to_owned(),
        ),
        BuildError::Disabled { value } => (
            Cause::Sysctl,
            format!("io_uring_setup returned EPERM (kernel.io_uring_disabled = {value})"),
        ),
        BuildError::EnterDenied(e) => (
            Cause::EnterDenied,
            format!(
                "io_uring_enter returned {} (seccomp)",
                crate::report::errno_name(e)
            ),
        ),
        BuildError::Unsupported(_) => (
            Cause::Enosys,
            "io_uring_setup returned ENOSYS (this kernel has no io_uring)".to_owned(),
        ),
        BuildError::Memlock { limit, .. } => (
            Cause::Memlock,
            format!("io_uring_setup returned ENOMEM (RLIMIT_MEMLOCK {limit})"),
        ),
        BuildError::MissingFeature { feature } => {
            (Cause::MissingFeature, format!("the kernel lacks {feature}"))
        }
        other => (Cause::Other, other.to_string()),
    }
}

/// The driver `Builder::build` with the default settings would choose, given the outcome
/// of `attempt_uring`.
pub(crate) fn decide(attempt: &Result<Setup, BuildError>) -> DriverChoice {
    let env = std::env::var(DRIVER_ENV).ok().filter(|v| !v.is_empty());
    let (driver, reason) = match DriverKind::from_env() {
        Err(e) => (None, e.to_string()),
        Ok(Some(DriverKind::Epoll)) => (
            Some(DriverKind::Epoll),
            format!("forced by {DRIVER_ENV}=epoll"),
        ),
        Ok(Some(DriverKind::IoUring)) => match attempt {
            Ok(setup) => (
                Some(DriverKind::IoUring),
                format!("forced by {DRIVER_ENV}=uring; setup mode {:?}", setup.mode),
            ),
            Err(e) => (
                None,
                format!("forced by {DRIVER_ENV}=uring, and Builder::build fails: {e}"),
            ),
        },
        Ok(Some(DriverKind::Auto) | None) => match attempt {
            Ok(setup) => (
                Some(DriverKind::IoUring),
                format!("io_uring setup succeeded; setup mode {:?}", setup.mode),
            ),
            Err(e) if driver_kind::falls_back(e) => (Some(DriverKind::Epoll), cause(e).1),
            Err(e) => (None, format!("Builder::build fails: {e}")),
        },
    };
    DriverChoice {
        setup_mode: match (driver, attempt) {
            (Some(DriverKind::IoUring), Ok(setup)) => Some(format!("{:?}", setup.mode)),
            _ => None,
        },
        driver,
        reason,
        env,
    }
}

/// How long `Runtime::report` waits for each core's answer.
const CORE_ANSWER: Duration = Duration::from_secs(1);

impl Runtime {
    /// The capability report of [`report::probe`](crate::report::probe), plus what this
    /// runtime chose: its driver and why (`runtime.driver`: "forced by
    /// RINGCORE_DRIVER=epoll", the recorded io_uring refusal such as "io_uring_setup
    /// returned EPERM (seccomp)", or Builder::driver), and each core's active fast paths.
    ///
    /// Blocks the calling thread until every core has answered, or for at most a second
    /// per core (a core that does not answer in time, e.g. one whose task never yields,
    /// gets `error` set and no fast paths). May be called from inside this runtime's tasks
    /// as well as from outside.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = ringcore::Runtime::new()?;
    /// let report = rt.report();
    /// let runtime = report.runtime.as_ref().unwrap();
    /// assert_eq!(runtime.driver.driver, Some(rt.driver_kind()));
    /// println!("{report}");
    /// # Ok::<(), ringcore::BuildError>(())
    /// ```
    pub fn report(&self) -> Report {
        let mut report = crate::report::probe();
        let kind = self.driver_kind();
        let env_kind = DriverKind::from_env().ok().flatten();
        let mode = self
            .mode
            .map_or_else(|| "none".to_owned(), |m| format!("{m:?}"));
        let reason =
            match kind {
                DriverKind::Epoll if env_kind == Some(DriverKind::Epoll) => {
                    format!("forced by {DRIVER_ENV}=epoll")
                }
                DriverKind::Epoll => self.core.fallback.clone().unwrap_or_else(|| {
                    "asked for with Builder::driver(DriverKind::Epoll)".to_owned()
                }),
                _ if env_kind == Some(DriverKind::IoUring) => {
                    format!("forced by {DRIVER_ENV}=uring; setup mode {mode}")
                }
                _ => format!("io_uring setup succeeded; setup mode {mode}"),
            };
        let driver = DriverChoice {
            driver: Some(kind),
            reason,
            env: report.driver.env.clone(),
            setup_mode: self.mode.map(|m| format!("{m:?}")),
        };
        let cores = self.core_setups();
        let cores = cores
            .into_iter()
            .enumerate()
            .map(|(i, setup)| match setup {
                Ok(setup) => {
                    let mut paths = Vec::new();
                    paths.extend(crate::report::mode_paths(kind, setup.mode));
                    paths.extend(crate::report::feature_paths(kind, setup.features));
                    CoreReport {
                        core: i,
                        setup_mode: setup.mode.map(|m| format!("{m:?}")),
                        registered_file_slots: setup.file_slots,
                        fast_paths: paths,
                        error: None,
                    }
                }
                Err(e) => CoreReport {
                    core: i,
                    setup_mode: None,
                    registered_file_slots: None,
                    fast_paths: Vec::new(),
                    error: Some(e),
                },
            })
            .collect();
        report.runtime = Some(RuntimeReport {
            driver,
            cores,
            not_reported: vec![
                "the Builder options that switch fast paths on or off (send_zerocopy_from, \
                 inline_reads_per_tick, sqpoll's idle time, recv_buffer_pool)"
                    .to_owned(),
            ],
        });
        report
    }

    /// Each core's setup (probed features, ring setup mode, registered-file table), in
    /// core order: core 0's read here, the others' asked for with a job on each core.
    fn core_setups(&self) -> Vec<Result<CoreSetup, String>> {
        let mut out = vec![Ok(CoreSetup::of(&self.core))];
        let waits: Vec<_> = (1..self.peers.len())
            .map(|i| {
                let (tx, rx) = std::sync::mpsc::channel();
                let sent = self.peers.send_job(CoreId::new(i), move || {
                    let _ = tx.send(super::context::with(CoreSetup::of));
                });
                (sent, rx)
            })
            .collect();
        for (sent, rx) in waits {
            out.push(match rx.recv_timeout(CORE_ANSWER) {
                Ok(setup) => Ok(setup),
                Err(_) if !sent => Err("no such core".to_owned()),
                Err(_) => Err(format!(
                    "the core did not answer within {CORE_ANSWER:?} (busy or shut down)"
                )),
            });
        }
        out
    }
}

/// What one core set up, as `Runtime::report` shows it.
struct CoreSetup {
    features: Features,
    mode: Option<SetupMode>,
    file_slots: Option<u32>,
}

impl CoreSetup {
    fn of(core: &super::core::Core) -> CoreSetup {
        CoreSetup {
            features: core.driver.features(),
            mode: core.setup_mode,
            file_slots: core.driver.registered_file_slots(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    fn errno(n: i32) -> io::Error {
        io::Error::from_raw_os_error(n)
    }

    #[test]
    fn each_refusal_names_its_syscall_errno_and_cause() {
        let cases = [
            (
                BuildError::Denied(errno(libc::EPERM)),
                Cause::Seccomp,
                "io_uring_setup returned EPERM (seccomp)",
            ),
            (
                BuildError::Disabled { value: 2 },
                Cause::Sysctl,
                "io_uring_setup returned EPERM (kernel.io_uring_disabled = 2)",
            ),
            (
                BuildError::EnterDenied(errno(libc::EPERM)),
                Cause::EnterDenied,
                "io_uring_enter returned EPERM (seccomp)",
            ),
            (
                BuildError::Unsupported(errno(libc::ENOSYS)),
                Cause::Enosys,
                "io_uring_setup returned ENOSYS (this kernel has no io_uring)",
            ),
            (
                BuildError::from_setup_error(errno(libc::ENOMEM), None, Some(65536), 256),
                Cause::Memlock,
                "io_uring_setup returned ENOMEM (RLIMIT_MEMLOCK 65536 bytes)",
            ),
            (
                BuildError::MissingFeature {
                    feature: "IORING_FEAT_EXT_ARG",
                },
                Cause::MissingFeature,
                "the kernel lacks IORING_FEAT_EXT_ARG",
            ),
        ];
        for (err, want_cause, want_text) in cases {
            assert_eq!(cause(&err), (want_cause, want_text.to_owned()));
        }
    }

    #[test]
    fn a_refusal_chooses_epoll_unless_the_env_forces_a_driver() {
        let choice = decide(&Err(BuildError::Denied(errno(libc::EPERM))));
        match DriverKind::from_env() {
            Ok(None | Some(DriverKind::Auto)) => {
                assert_eq!(choice.driver, Some(DriverKind::Epoll));
                assert_eq!(choice.reason, "io_uring_setup returned EPERM (seccomp)");
            }
            Ok(Some(DriverKind::Epoll)) => {
                assert_eq!(choice.driver, Some(DriverKind::Epoll));
                assert_eq!(choice.reason, "forced by RINGCORE_DRIVER=epoll");
            }
            Ok(Some(DriverKind::IoUring)) | Err(_) => assert_eq!(choice.driver, None),
        }
        // A configuration error is no fallback: `build` would fail.
        let invalid = decide(&Err(BuildError::Io(errno(libc::EFAULT))));
        if matches!(DriverKind::from_env(), Ok(None | Some(DriverKind::Auto))) {
            assert_eq!(invalid.driver, None, "{invalid:?}");
        }
    }
}
