//! `BuildError`: why a runtime could not be built (io_uring refused, bad configuration),
//! with what to do about it.

use std::io;

/// Why a runtime could not be built. Each variant says what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The `kernel.io_uring_disabled` sysctl forbids io_uring for this process.
    #[error(
        "io_uring is disabled by the kernel.io_uring_disabled sysctl (value {value}); \
         run `sysctl -w kernel.io_uring_disabled=0` as root (or, for value 1, add this \
         user to the group in kernel.io_uring_group)"
    )]
    Disabled {
        /// The sysctl's value: 1 (only `io_uring_group` members) or 2 (nobody).
        value: i64,
    },
    /// io_uring_setup(2) returned EPERM: a seccomp profile (Docker's and Podman's default
    /// ones, some CI sandboxes) or an LSM blocks io_uring.
    #[error(
        "io_uring_setup was denied (EPERM), most likely by a seccomp profile: allow the \
         io_uring_setup, io_uring_enter and io_uring_register syscalls (for Docker: \
         --security-opt seccomp=<profile allowing them>)"
    )]
    Denied(#[source] io::Error),
    /// io_uring_setup(2) worked but io_uring_enter(2) on the new ring failed (EPERM under a
    /// seccomp profile that allows setup and denies enter): no op could ever run, so the
    /// runtime refuses to start rather than spin.
    #[error(
        "io_uring_enter was refused ({0}), most likely by a seccomp profile that allows \
         io_uring_setup but not io_uring_enter: allow io_uring_setup, io_uring_enter and \
         io_uring_register"
    )]
    EnterDenied(#[source] io::Error),
    /// io_uring_setup(2) does not exist: the kernel is older than 5.1 or was built without
    /// CONFIG_IO_URING.
    #[error(
        "this kernel has no io_uring (ENOSYS): ringcore needs Linux 5.11 or newer built \
         with CONFIG_IO_URING"
    )]
    Unsupported(#[source] io::Error),
    /// The ring's memory could not be locked: RLIMIT_MEMLOCK is too low (kernels before
    /// 5.12 charge rings to it).
    #[error(
        "io_uring_setup failed with ENOMEM: RLIMIT_MEMLOCK ({limit}) is too low for a ring \
         of {entries} entries; raise it (`ulimit -l`, LimitMEMLOCK= in systemd, \
         --ulimit memlock= in Docker) or ask for fewer entries with Builder::ring_entries"
    )]
    Memlock {
        /// The soft limit, or "unlimited".
        limit: String,
        /// The ring size that was asked for.
        entries: u32,
        /// The errno.
        #[source]
        source: io::Error,
    },
    /// The kernel has io_uring but lacks a feature ringcore depends on.
    #[error("this kernel's io_uring lacks {feature}: ringcore needs Linux 5.11 or newer")]
    MissingFeature {
        /// The missing IORING_FEAT_* name.
        feature: &'static str,
    },
    /// A Builder option is out of range.
    #[error("invalid runtime configuration: {0}")]
    InvalidConfig(String),
    /// [`Builder::pin`](crate::Builder::pin) is on and a core's thread could not be pinned to
    /// its CPU (an offline CPU, a cpuset that changed): turn pinning off or fix the cpuset.
    #[error(
        "cannot pin ringcore core {core} to CPU {cpu}: {source}; use Builder::pin(false) to run unpinned"
    )]
    Pin {
        /// The core (index) whose thread was being pinned.
        core: usize,
        /// The CPU it was to be pinned to.
        cpu: usize,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// Another I/O error while setting up the ring or its eventfd.
    #[error("cannot set up the io_uring runtime: {0}")]
    Io(#[source] io::Error),
}

impl BuildError {
    /// Interprets an io_uring_setup(2) error, given the `kernel.io_uring_disabled` sysctl
    /// (if readable) and the soft RLIMIT_MEMLOCK in bytes (`None`: unlimited).
    pub(crate) fn from_setup_error(
        err: io::Error,
        disabled_sysctl: Option<i64>,
        memlock: Option<u64>,
        entries: u32,
    ) -> Self {
        if err
            .get_ref()
            .is_some_and(|e| e.is::<crate::sys::uring::EnterError>())
        {
            let inner = err
                .into_inner()
                .and_then(|e| e.downcast::<crate::sys::uring::EnterError>().ok());
            let errno = inner.map_or_else(|| io::Error::other("unknown"), |e| e.0);
            return BuildError::EnterDenied(errno);
        }
        match err.raw_os_error() {
            Some(libc::EPERM) => match disabled_sysctl {
                Some(value) if value > 0 => BuildError::Disabled { value },
                _ => BuildError::Denied(err),
            },
            Some(libc::ENOSYS) => BuildError::Unsupported(err),
            Some(libc::ENOMEM) => BuildError::Memlock {
                limit: memlock.map_or_else(|| "unlimited".to_owned(), |b| format!("{b} bytes")),
                entries,
                source: err,
            },
            _ => BuildError::Io(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(errno: i32) -> io::Error {
        io::Error::from_raw_os_error(errno)
    }

    #[test]
    fn eperm_with_the_sysctl_set_names_the_sysctl() {
        let e = BuildError::from_setup_error(err(libc::EPERM), Some(2), None, 256);
        assert!(matches!(e, BuildError::Disabled { value: 2 }));
        assert!(e.to_string().contains("kernel.io_uring_disabled"));
    }

    #[test]
    fn eperm_without_the_sysctl_points_at_seccomp() {
        for sysctl in [None, Some(0)] {
            let e = BuildError::from_setup_error(err(libc::EPERM), sysctl, None, 256);
            assert!(matches!(e, BuildError::Denied(_)), "{e:?}");
            assert!(e.to_string().contains("seccomp"));
        }
    }

    #[test]
    fn enosys_says_the_kernel_lacks_io_uring() {
        let e = BuildError::from_setup_error(err(libc::ENOSYS), None, None, 256);
        assert!(matches!(e, BuildError::Unsupported(_)));
        assert!(e.to_string().contains("5.11"));
    }

    #[test]
    fn enomem_names_the_memlock_limit_and_the_fix() {
        let e = BuildError::from_setup_error(err(libc::ENOMEM), None, Some(65536), 4096);
        let msg = e.to_string();
        assert!(matches!(e, BuildError::Memlock { entries: 4096, .. }));
        assert!(
            msg.contains("65536 bytes") && msg.contains("ulimit -l"),
            "{msg}"
        );
    }

    #[test]
    fn other_errors_stay_io_errors() {
        let e = BuildError::from_setup_error(err(libc::EFAULT), None, None, 256);
        assert!(matches!(e, BuildError::Io(_)));
    }
}
