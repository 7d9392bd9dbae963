//! `timeout` (asyncio's `wait_for`): run a future with a time limit, dropping it on expiry.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{Sleep, sleep_until};

/// The error of a [`timeout`] whose deadline passed first.
///
/// It converts into an [`io::Error`] of kind [`io::ErrorKind::TimedOut`], so `?` works on
/// a `timeout(..).await` inside a function returning `io::Result`:
///
/// ```
/// use std::io;
/// use std::time::Duration;
/// use ringcore::time::{sleep, timeout};
///
/// async fn slow_call() -> io::Result<u32> {
///     let n = timeout(Duration::from_millis(5), async {
///         sleep(Duration::from_secs(60)).await;
///         1
///     })
///     .await?; // Elapsed -> io::Error
///     Ok(n)
/// }
///
/// let err = ringcore::block_on(slow_call()).unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::TimedOut);
/// assert!(err.to_string().contains("ringcore::time::timeout"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("deadline has elapsed")]
pub struct Elapsed(());

impl From<Elapsed> for io::Error {
    /// An error of kind [`io::ErrorKind::TimedOut`] whose message says that a
    /// [`timeout`]'s deadline passed and its future was dropped.
    fn from(_: Elapsed) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            "timed out: the deadline of a ringcore::time::timeout passed before its future \
             completed, and the future was dropped",
        )
    }
}

/// Runs `future` with a time limit (asyncio's `wait_for`).
///
/// Resolves to `Ok(output)` if `future` completes within `duration`, else to
/// `Err(Elapsed)`. On expiry the inner future is dropped at once, which cancels it: an
/// in-flight I/O op is cancelled in the kernel (its buffer is kept until the kernel lets
/// go), exactly as `asyncio.wait_for` cancels its awaitable. The inner future is polled
/// before the deadline is checked, so a future that is ready wins a tie.
///
/// # Panics
///
/// If the future is polled outside a ringcore runtime.
///
/// # Cancel safety
///
/// Dropping the `Timeout` drops the inner future; it is as cancel-safe as that future.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringcore::time::{sleep, timeout};
///
/// ringcore::block_on(async {
///     let slow = timeout(Duration::from_millis(10), sleep(Duration::from_secs(60))).await;
///     assert!(slow.is_err());
///     let fast = timeout(Duration::from_secs(60), async { 7 }).await;
///     assert_eq!(fast, Ok(7));
/// });
/// ```
pub fn timeout<F: Future>(duration: Duration, future: F) -> Timeout<F> {
    timeout_at(super::sleep::deadline_after(duration), future)
}

/// Like [`timeout`], with an absolute deadline.
///
/// # Panics
///
/// If the future is polled outside a ringcore runtime.
///
/// # Cancel safety
///
/// As [`timeout`].
pub fn timeout_at<F: Future>(deadline: Instant, future: F) -> Timeout<F> {
    Timeout {
        future: Some(future),
        sleep: sleep_until(deadline),
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`timeout`].
    #[derive(Debug)]
    pub struct Timeout<F> {
        #[pin]
        future: Option<F>,
        sleep: Sleep,
    }
}

impl<F> Timeout<F> {
    /// The inner future, until it completes or the deadline drops it.
    pub fn get_ref(&self) -> Option<&F> {
        self.future.as_ref()
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let Some(future) = this.future.as_mut().as_pin_mut() else {
            panic!("ringcore: Timeout polled after completion");
        };
        if let Poll::Ready(v) = future.poll(cx) {
            this.future.set(None);
            return Poll::Ready(Ok(v));
        }
        match Pin::new(this.sleep).poll(cx) {
            Poll::Ready(()) => {
                // asyncio.wait_for semantics: cancel the inner future now.
                this.future.set(None);
                Poll::Ready(Err(Elapsed(())))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
