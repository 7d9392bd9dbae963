use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// A stream of the futures' outputs in the order they finish (asyncio's
/// `as_completed(aws)`).
///
/// All futures run concurrently on the task that polls the stream; each output is
/// yielded as soon as its future completes. The stream ends after the last one.
/// Consume it with [`StreamExt::next`](crate::stream::StreamExt::next).
///
/// # Cancel safety
///
/// Dropping the stream drops the futures not finished yet; dropping a `next()` future
/// loses nothing (an output is taken from its future only when returned).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringcore::future::as_completed;
/// use ringcore::stream::StreamExt;
///
/// ringcore::block_on(async {
///     let mut done = as_completed([30u64, 10, 20].map(|ms| async move {
///         ringcore::time::sleep(Duration::from_millis(ms)).await;
///         ms
///     }));
///     let mut order = Vec::new();
///     while let Some(ms) = done.next().await {
///         order.push(ms);
///     }
///     assert_eq!(order, [10, 20, 30]);
/// });
/// ```
pub fn as_completed<I>(futures: I) -> AsCompleted<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let pending: Vec<_> = futures.into_iter().map(|f| Some(Box::pin(f))).collect();
    AsCompleted {
        left: pending.len(),
        pending,
    }
}

/// The stream of [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F> {
    pending: Vec<Option<Pin<Box<F>>>>,
    left: usize,
}

impl<F> AsCompleted<F> {
    /// Futures not finished yet.
    pub fn remaining(&self) -> usize {
        self.left
    }
}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = self.get_mut();
        if this.left == 0 {
            return Poll::Ready(None);
        }
        for slot in this.pending.iter_mut() {
            if let Some(f) = slot
                && let Poll::Ready(v) = f.as_mut().poll(cx)
            {
                *slot = None;
                this.left -= 1;
                if this.left == 0 {
                    this.pending.clear();
                }
                return Poll::Ready(Some(v));
            }
        }
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<F> std::fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.left)
            .finish()
    }
}
