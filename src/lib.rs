//! ringcore: an io_uring-based, thread-per-core async runtime for Linux.
//!
//! Each core runs its own executor driven by its own io_uring. Tasks never leave the core
//! they were spawned on, so they need not be `Send`. File I/O goes through the ring with
//! ownership-passing buffers: a read takes a buffer and gives it back with the result, so
//! the kernel never writes into memory the program has freed, even when the future is
//! dropped mid-flight.
//!
//! # Example
//!
//! ```
//! use ringcore::fs::File;
//!
//! ringcore::block_on(async {
//!     let dir = tempfile::tempdir().unwrap();
//!     let path = dir.path().join("hello.txt");
//!     ringcore::fs::write(&path, b"hello, ring" as &'static [u8]).await?;
//!
//!     let file = File::open(&path).await?;
//!     let (res, buf) = file.read_at(Vec::with_capacity(64), 0).await;
//!     assert_eq!(&buf[..res?], b"hello, ring");
//!     file.close().await?;
//!     Ok::<(), std::io::Error>(())
//! })
//! .unwrap();
//! ```
//!
//! # Kernel requirements
//!
//! Linux 5.11 or newer (IORING_FEAT_NODROP and IORING_FEAT_EXT_ARG); 6.1 or newer for the
//! fastest setup (IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN). Where io_uring
//! is unavailable (seccomp, `kernel.io_uring_disabled`, RLIMIT_MEMLOCK, an old kernel), the
//! runtime runs on an epoll readiness driver with the same API and guarantees
//! ([`DriverKind::Auto`]); with [`DriverKind::IoUring`], [`Builder::build`] returns a
//! [`BuildError`] that says why and what to do instead.
//!
//! # Map of the crate
//!
//! - [`block_on`], [`spawn`], [`JoinHandle`], [`yield_now`], [`Runtime`]: running tasks;
//!   `#[ringcore::main]` and `#[ringcore::test]` (feature `macros`, on by default) to run an
//!   `async fn main` or test on a runtime;
//! - [`task`]: named tasks, [`task::JoinSet`] (asyncio's `TaskGroup`);
//! - [`future`]: `join_all` (`gather`), `try_join_all`, `select`, `as_completed`, `retry`,
//!   `join`; the macros [`join!`], [`try_join!`] and [`select!`] for futures of different
//!   types;
//! - [`sync`]: core-local `Mutex`, `RwLock`, `Semaphore`, `Event`, `Notify`, `Barrier`,
//!   `Queue`, `oneshot`;
//! - [`stream`]: async iteration (`generate`, `unfold`, `StreamExt`);
//! - [`debug`]: `current_task`, `all_tasks`, slow-poll reports, per-core metrics;
//! - [`report`]: what the kernel lets ringcore do and which driver it chose (the `doctor`
//!   example prints it);
//! - thread-per-core: [`Builder::cores`], [`Runtime::run_on_all`], [`current_core`],
//!   [`submit_to`] and [`spawn_on`] (run work on another core), [`channel`] (bounded
//!   cross-core channels);
//! - [`time`]: `sleep`, `timeout` (asyncio's `wait_for`), `interval`;
//! - [`fs`]: files and directories through the ring, `fs::read_dir` listings on the
//!   blocking pool; `fs::PollFile` for the tokio and futures I/O traits;
//! - [`net`]: TCP, UDP and Unix sockets through the ring; [`net::PollIo`]
//!   (`into_poll_io()`) for the tokio and futures I/O traits;
//! - `hyper_rt` (feature `hyper`): hyper 1.x's I/O, executor and timer on ringcore, and a
//!   per-core HTTP client;
//! - feature `tokio-context`: a tokio runtime and `LocalSet` on every core, so
//!   `tokio::spawn`, `tokio::net`, `tokio::time` and the crates built on them work inside
//!   ringcore tasks ([`Builder::tokio_context`]); [`task::spawn_pinned`] runs core-local
//!   work from a `Send` context;
//! - [`signal`]: `ctrl_c`, a future that completes on SIGINT;
//! - [`io`]: `BufReader` (`read_line`, `lines`) and `BufWriter` over sockets and files;
//! - [`buf`]: the buffer traits I/O calls take;
//! - [`offload`]: `spawn_blocking` for calls that would block the core, and `ProcessPool`
//!   for CPU-bound jobs in worker processes;
//! - `sim` (feature `sim`): deterministic simulation of the unmodified program on simulated
//!   hosts (virtual clock, seeded scheduler, simulated disk and network, crashes), one seed
//!   replaying a run.
//!
//! The [`guide`] (docs/asyncio.md) maps each asyncio feature to its ringcore form.

// On docs.rs (Cargo.toml [package.metadata.docs.rs]: all features, --cfg docsrs, nightly
// rustdoc) items behind a feature say which one; off docs.rs the attribute is not there.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod coop;
mod driver;
mod executor;
mod loom;
mod pool;
mod runtime;
mod sys;

pub mod buf;
pub mod channel;
pub mod debug;
pub mod fs;
pub mod future;
#[cfg(feature = "hyper")]
pub mod hyper_rt;
pub mod io;
pub mod metrics;
pub mod net;
pub mod offload;
pub mod report;
pub mod signal;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
pub mod stream;
pub mod sync;
pub mod task;
pub mod time;

/// `#[ringcore::main]`: runs an `async fn main` on a ringcore runtime (feature `macros`,
/// on by default).
#[cfg(feature = "macros")]
pub use ringcore_macros::main;
/// `#[ringcore::test]`: a `#[test]` whose `async fn` runs on a ringcore runtime of its own
/// (feature `macros`, on by default).
#[cfg(feature = "macros")]
pub use ringcore_macros::test;

pub use buf::{BufResult, IoBuf, IoBufMut};
pub use channel::{CoreJoinHandle, SubmitError, run_on_each_core, spawn_on, submit_to};
pub use driver::DriverStats;
pub use executor::task::{JoinError, JoinHandle, TaskId};
pub use runtime::{
    BuildError, Builder, CoreId, CoreMetrics, DRIVER_ENV, DriverKind, Runtime, SetupMode, block_on,
    current_core, num_cores, spawn, spawn_named, yield_now,
};

/// The README's Rust examples, compiled as doc tests so they stay true (its web examples
/// need the `hyper` feature).
#[cfg(all(doctest, feature = "hyper"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeExamples;

// docs/asyncio.md as a module, so docs.rs shows the mapping; its examples run as doc tests
// from here (and only from here), so the mapping stays true.
#[doc = include_str!("../docs/asyncio.md")]
pub mod guide {}

/// Support of the attribute macros; not a public API.
#[doc(hidden)]
pub mod __private {
    /// The outputs of `#[ringcore::main(every_core)]`'s body on each core, in core order.
    #[derive(Debug)]
    pub struct EveryCore<T>(Vec<T>);

    impl<T> FromIterator<T> for EveryCore<T> {
        fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
            Self(iter.into_iter().collect())
        }
    }

    impl<T: EveryCoreOutput> EveryCore<T> {
        /// The one output of the generated `main`.
        pub fn into_output(self) -> T {
            T::merge(self.0)
        }
    }

    /// How the outputs of every core become `main`'s: `()` stays `()`; for a `Result`, the
    /// first error in core order, else core 0's value.
    #[diagnostic::on_unimplemented(
        message = "`#[ringcore::main(every_core)]` needs a body that returns `()` or a `Result`, not `{Self}`"
    )]
    pub trait EveryCoreOutput: Sized {
        /// Merges the outputs, given in core order (at least one).
        fn merge(outputs: Vec<Self>) -> Self;
    }

    impl EveryCoreOutput for () {
        fn merge(_: Vec<Self>) -> Self {}
    }

    impl<T, E> EveryCoreOutput for Result<T, E> {
        fn merge(outputs: Vec<Self>) -> Self {
            let mut first = None;
            for out in outputs {
                match out {
                    Err(e) => return Err(e),
                    Ok(v) if first.is_none() => first = Some(v),
                    Ok(_) => {}
                }
            }
            match first {
                Some(v) => Ok(v),
                None => unreachable!("ringcore: a runtime has at least one core"),
            }
        }
    }
}
