//! `select`, `race` and `select_all`: wait for the first of several futures and drop the
//! rest (asyncio's `wait(..., return_when=FIRST_COMPLETED)`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// One of two values: which branch of [`select`] finished first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Either<A, B> {
    /// The first future finished first.
    Left(A),
    /// The second future finished first.
    Right(B),
}

/// Waits for the first of two futures and drops the other (asyncio's
/// `wait({a, b}, return_when=FIRST_COMPLETED)` followed by cancelling the pending one).
///
/// If both are ready in the same poll, `a` wins (the first future is polled first).
///
/// # Cancel safety
///
/// The losing future is dropped when the winner's value is returned; use only futures
/// whose drop loses nothing you need (see each future's own `# Cancel safety`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringcore::future::{Either, select};
/// use ringcore::time::sleep;
///
/// ringcore::block_on(async {
///     let fast = async { sleep(Duration::from_millis(1)).await; "fast" };
///     let slow = async { sleep(Duration::from_secs(10)).await; 0 };
///     assert_eq!(select(fast, slow).await, Either::Left("fast"));
/// });
/// ```
pub async fn select<A: Future, B: Future>(a: A, b: B) -> Either<A::Output, B::Output> {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(Either::Left(v));
        }
        b.as_mut().poll(cx).map(Either::Right)
    })
    .await
}

/// Waits for the first of two futures with the same output and drops the other.
///
/// # Cancel safety
///
/// As [`select`].
pub async fn race<T, A, B>(a: A, b: B) -> T
where
    A: Future<Output = T>,
    B: Future<Output = T>,
{
    match select(a, b).await {
        Either::Left(v) | Either::Right(v) => v,
    }
}

/// Waits for the first of many futures; returns its output, its index, and the futures
/// still pending (in input order minus the winner), which keep their progress and may be
/// awaited again (asyncio's `wait(..., return_when=FIRST_COMPLETED)`).
///
/// With no futures, the returned future never completes.
///
/// # Cancel safety
///
/// Dropping the returned future drops all the futures.
///
/// # Examples
///
/// ```
/// use ringcore::future::select_all;
///
/// ringcore::block_on(async {
///     let futs: Vec<_> = (0..3u64)
///         .map(|n| Box::pin(async move {
///             ringcore::time::sleep(std::time::Duration::from_millis(30 - 10 * n)).await;
///             n
///         }))
///         .collect();
///     let (first, index, rest) = select_all(futs).await;
///     assert_eq!((first, index, rest.len()), (2, 2, 2));
/// });
/// ```
pub fn select_all<I>(futures: I) -> SelectAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future + Unpin,
{
    SelectAll {
        futures: futures.into_iter().collect(),
    }
}

/// The future of [`select_all`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct SelectAll<F> {
    futures: Vec<F>,
}

impl<F: Future + Unpin> Future for SelectAll<F> {
    type Output = (F::Output, usize, Vec<F>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let ready =
            self.futures
                .iter_mut()
                .enumerate()
                .find_map(|(i, f)| match Pin::new(f).poll(cx) {
                    Poll::Ready(v) => Some((i, v)),
                    Poll::Pending => None,
                });
        match ready {
            Some((i, v)) => {
                let mut rest = std::mem::take(&mut self.futures);
                drop(rest.remove(i));
                Poll::Ready((v, i, rest))
            }
            None => Poll::Pending,
        }
    }
}
