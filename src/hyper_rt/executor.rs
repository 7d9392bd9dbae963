//! [`LocalExecutor`]: hyper's `Executor` spawning `!Send` futures on the current core.

use std::future::Future;

/// A `hyper::rt::Executor` that spawns each future as a detached task on the current core
/// ([`ringcore::spawn`](crate::spawn)). The futures need not be `Send`: HTTP/2 connections
/// over ringcore sockets are not.
///
/// # Panics
///
/// `execute` panics if called outside a ringcore runtime (hyper calls it from the
/// connection future, which runs on a core).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExecutor;

impl<F> hyper::rt::Executor<F> for LocalExecutor
where
    F: Future + 'static,
    F::Output: 'static,
{
    fn execute(&self, future: F) {
        drop(crate::spawn(future));
    }
}
