//! Work that must not run on a core: blocking calls and CPU bursts.
//!
//! - [`spawn_blocking`] runs a closure on the runtime's bounded thread pool (asyncio's
//!   `loop.run_in_executor(None, f)`); the result comes back through the owning core's ring,
//!   so the core keeps running other tasks meanwhile.
//! - [`ProcessPool`] runs registered [`Jobs`] in worker processes (asyncio's
//!   `run_in_executor(ProcessPoolExecutor(), f, *args)`), for CPU-bound work that should
//!   use other CPUs without sharing memory, or that might crash; see [`process`].

pub mod process;

pub use crate::runtime::blocking::spawn_blocking;
pub use process::{Jobs, PoolError, ProcessPool, ProcessPoolBuilder, init_worker};
