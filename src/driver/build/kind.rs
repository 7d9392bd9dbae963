//! Choosing the driver: io_uring where the kernel lets us, the epoll readiness driver
//! where it does not (docs/architecture.md, "The readiness driver").

use std::sync::atomic::{AtomicBool, Ordering};

use super::BuildError;

/// Which driver (reactor) each core runs, set with
/// [`Builder::driver`](crate::Builder::driver) and reported by
/// [`Runtime::driver_kind`](crate::Runtime::driver_kind).
///
/// Both drivers run the same ops with the same results, errors and `# Cancel safety`
/// promises; they differ in cost. The environment variable `RINGCORE_DRIVER`
/// (`auto`, `uring` or `io_uring`, `epoll`) overrides the builder's choice, for tests and
/// operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DriverKind {
    /// io_uring if the kernel allows it, else epoll (the default). The fallback happens
    /// when ring setup is refused: EPERM (a seccomp profile such as Docker's default one),
    /// ENOSYS (no io_uring), the `kernel.io_uring_disabled` sysctl, RLIMIT_MEMLOCK, a
    /// denied io_uring_enter(2), or a kernel missing a feature ringcore needs
    /// (IORING_FEAT_NODROP, IORING_FEAT_EXT_ARG). The reason is logged once per process
    /// at `warn` level through the [`log`](https://docs.rs/log) crate, target
    /// `ringcore::driver`.
    #[default]
    Auto,
    /// io_uring only: a refused setup is a [`BuildError`].
    IoUring,
    /// The readiness driver: epoll(7) for sockets, pipes, eventfds and signalfds, and a
    /// per-core blocking pool for file I/O that misses the page cache. Needs no io_uring.
    Epoll,
}

/// The environment variable that overrides [`Builder::driver`](crate::Builder::driver).
pub const DRIVER_ENV: &str = "RINGCORE_DRIVER";

impl DriverKind {
    /// The name `RINGCORE_DRIVER` takes: `auto`, `uring`, `epoll`.
    pub fn as_str(self) -> &'static str {
        match self {
            DriverKind::Auto => "auto",
            DriverKind::IoUring => "uring",
            DriverKind::Epoll => "epoll",
        }
    }

    /// `RINGCORE_DRIVER`'s value, if set.
    ///
    /// # Errors
    ///
    /// [`BuildError::InvalidConfig`] for a value other than `auto`, `uring`, `io_uring`
    /// or `epoll` (case-insensitive); an empty value counts as unset.
    pub(crate) fn from_env() -> Result<Option<DriverKind>, BuildError> {
        let Some(value) = std::env::var_os(DRIVER_ENV) else {
            return Ok(None);
        };
        let value = value.to_string_lossy().to_ascii_lowercase();
        Ok(Some(match value.as_str() {
            "" => return Ok(None),
            "auto" => DriverKind::Auto,
            "uring" | "io_uring" | "iouring" => DriverKind::IoUring,
            "epoll" => DriverKind::Epoll,
            other => {
                return Err(BuildError::InvalidConfig(format!(
                    "{DRIVER_ENV} must be auto, uring or epoll, got {other:?}"
                )));
            }
        }))
    }
}

impl std::fmt::Display for DriverKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether `Auto` gives up on io_uring after `err` and runs the readiness driver: the
/// kernel refused io_uring, as opposed to a bad configuration or a transient failure.
pub(crate) fn falls_back(err: &BuildError) -> bool {
    matches!(
        err,
        BuildError::Disabled { .. }
            | BuildError::Denied(_)
            | BuildError::EnterDenied(_)
            | BuildError::Unsupported(_)
            | BuildError::Memlock { .. }
            | BuildError::MissingFeature { .. }
    )
}

/// Logs, once per process, why io_uring is not used (each runtime keeps its own reason:
/// `build::Built::fallback`).
pub(crate) fn log_fallback(err: &BuildError) {
    static LOGGED: AtomicBool = AtomicBool::new(false);
    if !LOGGED.swap(true, Ordering::Relaxed) {
        log::warn!(
            target: "ringcore::driver",
            "io_uring is unavailable, running on the epoll readiness driver: {err} (run `cargo run --example doctor` or call ringcore::report::probe() for details)"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static RECORDS: AtomicUsize = AtomicUsize::new(0);

    struct Counting;

    impl log::Log for Counting {
        fn enabled(&self, m: &log::Metadata<'_>) -> bool {
            m.target() == "ringcore::driver"
        }

        fn log(&self, r: &log::Record<'_>) {
            if self.enabled(r.metadata()) && r.args().to_string().contains("EPERM") {
                RECORDS.fetch_add(1, Ordering::SeqCst);
            }
        }

        fn flush(&self) {}
    }

    #[test]
    fn refusals_fall_back_and_are_logged_once() {
        let denied = BuildError::Denied(std::io::Error::from_raw_os_error(libc::EPERM));
        assert!(falls_back(&denied));
        assert!(falls_back(&BuildError::Disabled { value: 2 }));
        assert!(!falls_back(&BuildError::InvalidConfig("cores".into())));
        let einval = BuildError::Io(std::io::Error::from_raw_os_error(libc::EINVAL));
        assert!(!falls_back(&einval));

        static LOGGER: Counting = Counting;
        log::set_logger(&LOGGER).expect("no other unit test installs a logger");
        log::set_max_level(log::LevelFilter::Warn);
        log_fallback(&denied);
        log_fallback(&denied);
        assert_eq!(RECORDS.load(Ordering::SeqCst), 1, "logged once per process");
    }

    #[test]
    fn names_round_trip() {
        for kind in [DriverKind::Auto, DriverKind::IoUring, DriverKind::Epoll] {
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(DriverKind::default(), DriverKind::Auto);
    }
}
