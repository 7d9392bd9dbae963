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
//! - [`future`]: `join_all` (`gather`), `try_join_all`, `select`, `as_completed`, `retry`;
//! - [`sync`]: core-local `Mutex`, `RwLock`, `Semaphore`, `Event`, `Notify`, `Barrier`,
//!   `Queue`, `oneshot`;
//! - [`stream`]: async iteration (`generate`, `unfold`, `StreamExt`);
//! - [`debug`]: `current_task`, `all_tasks`, slow-poll reports, per-core metrics;
//! - thread-per-core: [`Builder::cores`], [`Runtime::run_on_all`], [`current_core`],
//!   [`submit_to`] and [`spawn_on`] (run work on another core), [`channel`] (bounded
//!   cross-core channels);
//! - [`time`]: `sleep`, `timeout` (asyncio's `wait_for`), `interval`;
//! - [`fs`]: files and directories through the ring; `fs::PollFile` for the tokio and
//!   futures I/O traits;
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
//!   for CPU-bound jobs in worker processes.
//!
//! docs/asyncio.md maps each asyncio feature to its ringcore form.

mod driver;
mod executor;
mod loom;
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
pub mod net;
pub mod offload;
pub mod signal;
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
pub use channel::{CoreJoinHandle, SubmitError, spawn_on, submit_to};
pub use driver::DriverStats;
pub use executor::task::{JoinError, JoinHandle, TaskId};
pub use runtime::{
    BuildError, Builder, CoreId, CoreMetrics, DRIVER_ENV, DriverKind, Runtime, SetupMode, block_on,
    current_core, num_cores, spawn, spawn_named, yield_now,
};

/// The examples of docs/asyncio.md, run as doc tests so the mapping stays true.
#[cfg(doctest)]
#[doc = include_str!("../docs/asyncio.md")]
pub struct AsyncioGuide;
