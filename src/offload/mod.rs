//! Work that must not run on a core: blocking calls and CPU bursts.
//!
//! [`spawn_blocking`] runs a closure on the runtime's bounded thread pool (asyncio's
//! `loop.run_in_executor(None, f)`); the result comes back through the owning core's ring,
//! so the core keeps running other tasks meanwhile.

mod blocking;

pub(crate) use blocking::BlockingPool;
pub use blocking::spawn_blocking;
