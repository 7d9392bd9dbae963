//! `as_completed`: a stream of futures' outputs in the order they finish (asyncio's
//! `as_completed`), all polled by the current task.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

use super::children::Children;

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
    AsCompleted {
        children: Children::new(futures),
    }
}

/// The stream of [`as_completed`].
#[must_use = "streams do nothing unless polled"]
pub struct AsCompleted<F> {
    children: Children<F>,
}

impl<F: Future> AsCompleted<F> {
    /// Futures not finished yet.
    pub fn remaining(&self) -> usize {
        self.children.left()
    }
}

// Never pin-projected: the futures are boxed.
impl<F> Unpin for AsCompleted<F> {}

impl<F: Future> Stream for AsCompleted<F> {
    type Item = F::Output;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        self.get_mut()
            .children
            .poll_next(cx)
            .map(|o| o.map(|(_, v)| v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.children.left();
        (left, Some(left))
    }
}

impl<F: Future> std::fmt::Debug for AsCompleted<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsCompleted")
            .field("remaining", &self.children.left())
            .finish()
    }
}
