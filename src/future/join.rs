//! `join_all`, `try_join_all` and `join_all_settled` (asyncio's `gather`, with and without
//! `return_exceptions`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::children::Children;
pub use crate::executor::task::{CatchPanic, Panicked};

/// Runs all `futures` concurrently on the current task and returns their outputs in
/// input order (asyncio's `gather(*aws)`).
///
/// Every future runs to completion; none is cancelled. The futures are polled by the
/// calling task (no task is spawned), so they need not be `'static`; each future has its
/// own waker, so a wake-up polls only the future that was woken. To run futures as
/// separate tasks, spawn them and `join_all` the [`JoinHandle`](crate::JoinHandle)s.
///
/// # Cancel safety
///
/// Dropping the returned future drops every future not finished yet.
///
/// # Examples
///
/// ```
/// use ringcore::future::join_all;
///
/// ringcore::block_on(async {
///     let out = join_all((1..=3).map(|n| async move { n * 10 })).await;
///     assert_eq!(out, [10, 20, 30]);
/// });
/// ```
#[doc(alias = "gather")]
pub fn join_all<I>(futures: I) -> JoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future,
{
    let children = Children::new(futures);
    JoinAll {
        outputs: (0..children.len()).map(|_| None).collect(),
        children,
    }
}

/// The future of [`join_all`].
#[must_use = "futures do nothing unless polled"]
pub struct JoinAll<F: Future> {
    children: Children<F>,
    outputs: Vec<Option<F::Output>>,
}

// Never pin-projected: the futures are boxed and outputs are moved freely.
impl<F: Future> Unpin for JoinAll<F> {}

impl<F: Future> Future for JoinAll<F> {
    type Output = Vec<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match this.children.poll_next(cx) {
                Poll::Ready(Some((i, v))) => this.outputs[i] = Some(v),
                Poll::Ready(None) => {
                    return Poll::Ready(this.outputs.drain(..).flatten().collect());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<F: Future> std::fmt::Debug for JoinAll<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinAll")
            .field("pending", &self.children.left())
            .finish()
    }
}

/// Runs all `futures` concurrently; returns all their values in input order, or the
/// first error as soon as it happens (asyncio's `TaskGroup` semantics for plain
/// awaitables).
///
/// # Errors
///
/// The first `Err` any future returns (in completion order). At that moment every other
/// future is dropped (cancelled): their `Drop` impls run before this returns.
///
/// # Cancel safety
///
/// Dropping the returned future drops every future not finished yet.
///
/// # Examples
///
/// ```
/// use ringcore::future::try_join_all;
///
/// ringcore::block_on(async {
///     let ok = try_join_all((1..=2).map(|n| async move { Ok::<_, &str>(n) })).await;
///     assert_eq!(ok, Ok(vec![1, 2]));
/// });
/// ```
pub fn try_join_all<I, T, E>(futures: I) -> TryJoinAll<I::Item>
where
    I: IntoIterator,
    I::Item: Future<Output = Result<T, E>>,
{
    TryJoinAll {
        inner: join_all(futures),
    }
}

/// The future of [`try_join_all`].
#[must_use = "futures do nothing unless polled"]
pub struct TryJoinAll<F: Future> {
    inner: JoinAll<F>,
}

impl<F, T, E> Future for TryJoinAll<F>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut self.get_mut().inner;
        loop {
            match this.children.poll_next(cx) {
                Poll::Ready(Some((_, Err(e)))) => {
                    // Fail fast: cancel everything still running.
                    this.children.clear();
                    this.outputs.clear();
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Some((i, ok))) => this.outputs[i] = Some(ok),
                Poll::Ready(None) => {
                    let all = this.outputs.drain(..).flatten();
                    return Poll::Ready(all.collect());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<F: Future> std::fmt::Debug for TryJoinAll<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TryJoinAll")
            .field("inner", &self.inner)
            .finish()
    }
}

/// Runs all `futures` to the end, whatever happens to the others, and returns every
/// outcome in input order (asyncio's `gather(*aws, return_exceptions=True)`).
///
/// A future that panics becomes `Err(Panicked)` and the others keep running; errors a
/// future returns as values stay inside its `Ok` output. Nothing is cancelled.
///
/// # Cancel safety
///
/// Dropping the returned future drops every future not finished yet.
///
/// # Examples
///
/// ```
/// use ringcore::future::join_all_settled;
///
/// ringcore::block_on(async {
///     let futs: Vec<std::pin::Pin<Box<dyn Future<Output = i32>>>> =
///         vec![Box::pin(async { 1 }), Box::pin(async { panic!("bad") })];
///     let out = join_all_settled(futs).await;
///     assert_eq!(*out[0].as_ref().unwrap(), 1);
///     assert_eq!(out[1].as_ref().unwrap_err().message(), Some("bad"));
/// });
/// ```
#[doc(alias = "return_exceptions")]
pub fn join_all_settled<I>(futures: I) -> JoinAll<CatchPanic<I::Item>>
where
    I: IntoIterator,
    I::Item: Future,
{
    join_all(futures.into_iter().map(CatchPanic::new))
}
