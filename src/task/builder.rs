//! `task::Builder`: configure a task (its name) before spawning it.

use std::future::Future;
use std::panic::Location;

use crate::JoinHandle;

/// Configures a task before spawning it (tokio's `task::Builder`).
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let h = ringcore::task::Builder::new().name("fetch").spawn(async { 1 });
///     assert_eq!(h.await.unwrap(), 1);
/// });
/// ```
#[derive(Debug, Default, Clone)]
pub struct Builder {
    name: Option<Box<str>>,
}

impl Builder {
    /// A builder for an unnamed task.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the task (asyncio's `create_task(coro, name=...)`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into().into_boxed_str());
        self
    }

    /// Spawns the task on the current core; see [`spawn`](crate::spawn).
    ///
    /// # Panics
    ///
    /// If called outside a ringcore runtime.
    #[track_caller]
    pub fn spawn<F>(self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        crate::runtime::spawn_with(future, self.name, Location::caller())
    }
}
