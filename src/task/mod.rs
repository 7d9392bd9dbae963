//! Tasks: spawning (named or not), structured concurrency with [`JoinSet`]
//! (asyncio's `TaskGroup`), and handles.
//!
//! A task aborted with [`JoinHandle::abort`] (asyncio's `Task.cancel()`) has its future
//! dropped at its next turn and its handle resolves to [`JoinError::Cancelled`].

mod builder;
mod join_set;

pub use crate::executor::task::{JoinError, JoinHandle, TaskId};
pub use crate::runtime::submit::spawn_pinned;
pub use crate::runtime::{spawn, spawn_named, yield_now};
pub use builder::Builder;
pub use join_set::{GroupError, JoinSet, TaskGroup};
