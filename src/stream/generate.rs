//! `generate`: a stream written as an async block that yields items (asyncio's async
//! generator).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures_core::Stream;

/// A stream written as an async block that yields items (asyncio's async generator,
/// `async def gen(): ... yield x`).
///
/// `body` gets a [`Yielder`]; each `y.yield_item(x).await` hands `x` to the consumer and
/// suspends the body until the next item is asked for. The stream ends when the body
/// returns. The body runs inside the consumer's task: nothing is spawned.
///
/// # Examples
///
/// ```
/// use ringcore::stream::{StreamExt, generate};
///
/// ringcore::block_on(async {
///     let squares = generate(|y| async move {
///         for n in 1..=3u32 {
///             y.yield_item(n * n).await;
///         }
///     });
///     let v: Vec<u32> = squares.collect().await;
///     assert_eq!(v, [1, 4, 9]);
/// });
/// ```
pub fn generate<T, F, Fut>(body: F) -> Generate<T, Fut>
where
    F: FnOnce(Yielder<T>) -> Fut,
    Fut: Future<Output = ()>,
{
    let slot = Rc::new(Cell::new(None));
    let fut = body(Yielder { slot: slot.clone() });
    Generate {
        slot,
        fut: Some(Box::pin(fut)),
    }
}

/// Hands items from a [`generate`] body to its consumer.
pub struct Yielder<T> {
    slot: Rc<Cell<Option<T>>>,
}

impl<T> Yielder<T> {
    /// Yields `item` to the consumer; completes when the consumer asks for the next one.
    ///
    /// # Cancel safety
    ///
    /// If the stream is dropped, the body is dropped at this point with it.
    pub async fn yield_item(&self, item: T) {
        self.slot.set(Some(item));
        let mut yielded = false;
        std::future::poll_fn(|_| {
            if yielded {
                Poll::Ready(())
            } else {
                // The consumer's poll_next returns the item and polls us again next time.
                yielded = true;
                Poll::Pending
            }
        })
        .await
    }
}

impl<T> std::fmt::Debug for Yielder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Yielder").finish_non_exhaustive()
    }
}

/// The stream of [`generate`].
#[must_use = "streams do nothing unless polled"]
pub struct Generate<T, Fut> {
    slot: Rc<Cell<Option<T>>>,
    fut: Option<Pin<Box<Fut>>>,
}

impl<T, Fut: Future<Output = ()>> Stream for Generate<T, Fut> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        let Some(fut) = this.fut.as_mut() else {
            return Poll::Ready(None);
        };
        let done = fut.as_mut().poll(cx).is_ready();
        if let Some(item) = this.slot.take() {
            return Poll::Ready(Some(item));
        }
        if done {
            this.fut = None;
            return Poll::Ready(None);
        }
        Poll::Pending
    }
}

// The body future is boxed and the slot is shared through an Rc: nothing is pinned in place.
impl<T, Fut> Unpin for Generate<T, Fut> {}

impl<T, Fut> std::fmt::Debug for Generate<T, Fut> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generate")
            .field("done", &self.fut.is_none())
            .finish()
    }
}
