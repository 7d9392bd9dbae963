//! Synchronisation between tasks of one core: asyncio's `Lock`, `Event`, `Semaphore`,
//! `Barrier`, `Queue`, plus `RwLock`, `Notify` and `oneshot`.
//!
//! Every primitive here but [`CancellationToken`] is core-local (`!Send`, built on
//! `Rc`/`Cell`/`RefCell`, no atomics): share one between tasks of a core with `Rc`. For
//! messages between cores use the cross-core channels; to stop work on every core, a
//! [`CancellationToken`] (`Send + Sync`).
//!
//! Common rules, as in asyncio and tokio:
//!
//! - **FIFO**: waiters are woken in the order they started waiting.
//! - **Cancel safety**: dropping a waiting future (an aborted task, a `timeout`, a losing
//!   `select` branch) leaves the queue; a permit, lock or item that had been handed to it
//!   and not yet observed passes to the next waiter. Nothing is lost.

mod barrier;
mod cancel;
mod event;
mod mutex;
mod notify;
pub mod oneshot;
mod queue;
mod rwlock;
mod semaphore;
mod wait_list;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult};
pub use cancel::{CancellationToken, Cancelled, CancelledOwned};
pub use event::{Event, Wait};
pub use mutex::{Mutex, MutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use queue::{
    Fifo, Lifo, LifoQueue, Order, Priority, PriorityQueue, Queue, ShutDown, TaskDoneError,
    TryGetError, TryPutError,
};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{
    Acquire, AcquireError, MAX_PERMITS, OwnedSemaphorePermit, Semaphore, SemaphorePermit,
    TryAcquireError,
};
