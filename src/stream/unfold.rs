//! `unfold`: a stream built from a state and an async step function.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// A stream built from a state and an async step function: `f(state)` returns
/// `Some((item, next_state))` or `None` to end.
///
/// # Examples
///
/// ```
/// use ringcore::stream::{StreamExt, unfold};
///
/// ringcore::block_on(async {
///     let countdown = unfold(3u32, |n| async move { (n > 0).then(|| (n, n - 1)) });
///     let v: Vec<u32> = countdown.collect().await;
///     assert_eq!(v, [3, 2, 1]);
/// });
/// ```
pub fn unfold<S, F, Fut, T>(state: S, f: F) -> Unfold<S, F, Fut>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Option<(T, S)>>,
{
    Unfold {
        state: Some(state),
        f,
        fut: None,
    }
}

/// The stream of [`unfold`].
#[must_use = "streams do nothing unless polled"]
pub struct Unfold<S, F, Fut> {
    state: Option<S>,
    f: F,
    fut: Option<Pin<Box<Fut>>>,
}

impl<S, F, Fut, T> Stream for Unfold<S, F, Fut>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Option<(T, S)>>,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if let Some(state) = this.state.take() {
            this.fut = Some(Box::pin((this.f)(state)));
        }
        let Some(fut) = this.fut.as_mut() else {
            return Poll::Ready(None);
        };
        let out = std::task::ready!(fut.as_mut().poll(cx));
        this.fut = None;
        match out {
            Some((item, next)) => {
                this.state = Some(next);
                Poll::Ready(Some(item))
            }
            None => Poll::Ready(None),
        }
    }
}

// Never pin-projected: the state and closure are moved freely and the step future is boxed.
impl<S, F, Fut> Unpin for Unfold<S, F, Fut> {}

impl<S, F, Fut> std::fmt::Debug for Unfold<S, F, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Unfold")
            .field("done", &(self.state.is_none() && self.fut.is_none()))
            .finish()
    }
}
