//! `CatchPanic`: polls a future with panics caught, so a panic becomes an `Err(Panicked)`
//! output. `future::join_all_settled` and the runtime's cross-core jobs (`submit_to`,
//! `spawn_on`, `run_on_all`) use it; it lives here, below both.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::panic_message;

/// A future that panicked inside
/// [`join_all_settled`](crate::future::join_all_settled) (or a job's future, inside the
/// runtime).
#[derive(thiserror::Error)]
#[error("future panicked: {}", self.message().unwrap_or("<non-string payload>"))]
pub struct Panicked(pub Box<dyn std::any::Any + Send + 'static>);

impl Panicked {
    /// The panic message, if the payload is a string.
    pub fn message(&self) -> Option<&str> {
        panic_message(&*self.0)
    }
}

impl std::fmt::Debug for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Panicked").field(&self.message()).finish()
    }
}

pin_project_lite::pin_project! {
    /// A future whose panic becomes an `Err(Panicked)` output; see
    /// [`join_all_settled`](crate::future::join_all_settled).
    /// The runtime uses it too, for the futures of `submit_to`, `spawn_on` and
    /// `run_on_all`.
    #[must_use = "futures do nothing unless polled"]
    pub struct CatchPanic<F> {
        #[pin]
        future: F,
    }
}

impl<F> CatchPanic<F> {
    /// Wraps `future` so that a panic while polling it becomes `Err(Panicked)`.
    pub(crate) fn new(future: F) -> Self {
        Self { future }
    }
}

impl<F: Future> Future for CatchPanic<F> {
    type Output = Result<F::Output, Panicked>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(Panicked(payload))),
        }
    }
}

impl<F> std::fmt::Debug for CatchPanic<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CatchPanic").finish_non_exhaustive()
    }
}
