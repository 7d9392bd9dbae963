//! Building a core's driver from a [`DriverConfig`]: the backend choice (io_uring where
//! the kernel lets us, the epoll readiness driver where it does not, or where asked;
//! src/driver/build/kind.rs), the ring's setup and the features it must have, its
//! registered-file table, and the driver's settings (inline budget, receive pool, SEND_ZC
//! threshold), with their validation. The runtime's `Builder` fills the config; what the
//! kernel refused comes back as a [`BuildError`] (src/driver/build/error.rs) that says
//! what to do.

mod error;
mod kind;

pub use error::BuildError;
pub use kind::{DRIVER_ENV, DriverKind};
pub(crate) use kind::{falls_back, log_fallback};

use std::time::Duration;

use super::epoll::EpollRing;
use super::fixed::FixedFiles;
use super::resources::default_pool_max;
use super::ring::Uring;
use crate::driver::Driver;
use crate::sys;
use crate::sys::uring::SetupMode;

/// What a core's driver is built from (the runtime `Builder`'s settings).
#[derive(Debug, Clone)]
pub(crate) struct DriverConfig {
    /// The backend asked for (after `RINGCORE_DRIVER`).
    pub(crate) kind: DriverKind,
    /// SQ entries (1..=32768; the builder validated it).
    pub(crate) ring_entries: u32,
    pub(crate) setup_mode: Option<SetupMode>,
    /// SQPOLL's idle time, if SQPOLL is asked for.
    pub(crate) sqpoll: Option<Duration>,
    /// Registered-file slots (0: no table).
    pub(crate) registered_files: u32,
    /// The readiness driver's storage pool: its bound and idle timeout.
    pub(crate) blocking_threads: usize,
    pub(crate) blocking_idle_timeout: Duration,
    pub(crate) inline_per_tick: u32,
    /// Receive pool: (buffers, bytes per buffer), and the most buffers it may grow to.
    pub(crate) recv_pool: (u16, u32),
    pub(crate) recv_pool_max: Option<u16>,
    pub(crate) send_zc_from: Option<usize>,
    /// Never set the ring up with DEFER_TASKRUN (the tokio context: its cores sleep in
    /// epoll on the ring fd, which deferred completions do not wake).
    pub(crate) no_defer: bool,
}

/// What `build` made: the driver, io_uring's setup mode (`None` on the epoll driver), the
/// backend it runs on, and the io_uring refusal that made `DriverKind::Auto` fall back to
/// epoll (`None` where it did not).
pub(crate) struct Built {
    pub(crate) driver: Driver,
    pub(crate) mode: Option<SetupMode>,
    pub(crate) kind: DriverKind,
    pub(crate) fallback: Option<BuildError>,
}

/// Builds the driver `config` asks for.
pub(crate) fn build(config: &DriverConfig) -> Result<Built, BuildError> {
    let mut fallback = None;
    let (driver, mode, kind) = match config.kind {
        DriverKind::Epoll => (config.epoll()?, None, DriverKind::Epoll),
        DriverKind::IoUring => {
            let (driver, mode) = config.uring()?;
            (driver, Some(mode), DriverKind::IoUring)
        }
        DriverKind::Auto => match config.uring() {
            Ok((driver, mode)) => (driver, Some(mode), DriverKind::IoUring),
            Err(e) if falls_back(&e) => {
                log_fallback(&e);
                fallback = Some(e);
                (config.epoll()?, None, DriverKind::Epoll)
            }
            Err(e) => return Err(e),
        },
    };
    driver.set_inline_per_tick(config.inline_per_tick);
    let (buffers, bytes) = config.recv_pool;
    if !buffers.is_power_of_two() || buffers > 1 << 15 || bytes == 0 {
        return Err(BuildError::InvalidConfig(format!(
            "recv_buffer_pool({buffers}, {bytes}): buffers must be a power of two up to \
             32768 and bytes between 1 and 4 GiB"
        )));
    }
    let max_buffers = config
        .recv_pool_max
        .unwrap_or_else(|| default_pool_max(buffers, bytes));
    if !max_buffers.is_power_of_two() || max_buffers < buffers || max_buffers > 1 << 15 {
        return Err(BuildError::InvalidConfig(format!(
            "recv_buffer_pool_max({max_buffers}): must be a power of two, at least the \
             pool's {buffers} buffers and at most 32768"
        )));
    }
    driver.set_recv_pool(buffers, max_buffers, bytes);
    driver.set_send_zc_from(config.send_zc_from);
    Ok(Built {
        driver,
        mode,
        kind,
        fallback,
    })
}

impl DriverConfig {
    /// An io_uring driver, or the kernel's refusal as a typed error.
    fn uring(&self) -> Result<(Driver, SetupMode), BuildError> {
        if self.no_defer && self.setup_mode == Some(SetupMode::DeferTaskrun) {
            return Err(BuildError::InvalidConfig(
                "setup_mode(DeferTaskrun) cannot run with the tokio context (its deferred \
                 completions do not wake a core sleeping in tokio's reactor); use \
                 tokio_context(false) or another mode"
                    .into(),
            ));
        }
        let setup = sys::uring::setup(
            self.ring_entries,
            self.setup_mode,
            self.sqpoll,
            self.no_defer,
        );
        let setup = setup.map_err(|e| {
            BuildError::from_setup_error(
                e,
                sys::fd::read_sysctl("/proc/sys/kernel/io_uring_disabled"),
                sys::fd::memlock_limit(),
                self.ring_entries,
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
        let fixed = self.registered_files_table(&setup.ring);
        let driver = Driver::new(Box::new(Uring::new(setup.ring)), setup.features);
        if let Some(table) = fixed {
            driver.set_fixed_files(table);
        }
        Ok((driver, setup.mode))
    }

    /// Registers the core's sparse fixed-file table (`registered_files`, cut to the soft
    /// RLIMIT_NOFILE); `None` when disabled or refused.
    fn registered_files_table(&self, ring: &io_uring::IoUring) -> Option<FixedFiles> {
        use std::os::fd::AsRawFd;
        let slots = self
            .registered_files
            .min(sys::fd::nofile_soft_limit().try_into().unwrap_or(u32::MAX));
        if slots == 0 {
            return None;
        }
        sys::uring::register_files_sparse(ring, slots).ok()?;
        Some(FixedFiles::new(ring.as_raw_fd(), slots))
    }

    /// A readiness (epoll) driver with its own blocking pool for file I/O, sized as the
    /// core's `spawn_blocking` pool.
    fn epoll(&self) -> Result<Driver, BuildError> {
        let ring = EpollRing::new(
            self.ring_entries,
            self.blocking_threads,
            self.blocking_idle_timeout,
        )
        .map_err(BuildError::Io)?;
        Ok(Driver::new(
            Box::new(ring),
            sys::uring::Features::emulated(),
        ))
    }
}
