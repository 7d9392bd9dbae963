use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::Stream;

/// Consuming helpers for any [`Stream`] (the `async for` side of asyncio's async
/// iteration): `while let Some(x) = stream.next().await { ... }`.
pub trait StreamExt: Stream {
    /// The next item, or `None` at the end (asyncio's `anext`).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe for streams whose `poll_next` is (every ringcore stream): dropping the
    /// future loses no item.
    fn next(&mut self) -> Next<'_, Self>
    where
        Self: Unpin,
    {
        Next { stream: self }
    }

    /// Collects every item into a collection (asyncio's `[x async for x in s]`).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future drops the items collected so far.
    fn collect<C>(self) -> impl Future<Output = C>
    where
        Self: Sized,
        C: Default + Extend<Self::Item>,
    {
        async move {
            let mut stream = std::pin::pin!(self);
            let mut out = C::default();
            while let Some(item) = std::future::poll_fn(|cx| stream.as_mut().poll_next(cx)).await {
                out.extend(Some(item));
            }
            out
        }
    }

    /// Maps every item through `f`.
    fn map<T, F>(self, f: F) -> Map<Self, F>
    where
        Self: Sized,
        F: FnMut(Self::Item) -> T,
    {
        Map { stream: self, f }
    }

    /// Ends the stream after at most `n` items.
    fn take(self, n: usize) -> Take<Self>
    where
        Self: Sized,
    {
        Take {
            stream: self,
            left: n,
        }
    }
}

impl<S: Stream + ?Sized> StreamExt for S {}

/// The future of [`StreamExt::next`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Next<'a, S: ?Sized> {
    stream: &'a mut S,
}

impl<S: Stream + Unpin + ?Sized> Future for Next<'_, S> {
    type Output = Option<S::Item>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut *self.stream).poll_next(cx)
    }
}

pin_project_lite::pin_project! {
    /// The stream of [`StreamExt::map`].
    #[must_use = "streams do nothing unless polled"]
    #[derive(Debug)]
    pub struct Map<S, F> {
        #[pin]
        stream: S,
        f: F,
    }
}

impl<S: Stream, T, F: FnMut(S::Item) -> T> Stream for Map<S, F> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.project();
        this.stream.poll_next(cx).map(|o| o.map(this.f))
    }
}

pin_project_lite::pin_project! {
    /// The stream of [`StreamExt::take`].
    #[must_use = "streams do nothing unless polled"]
    #[derive(Debug)]
    pub struct Take<S> {
        #[pin]
        stream: S,
        left: usize,
    }
}

impl<S: Stream> Stream for Take<S> {
    type Item = S::Item;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        if *this.left == 0 {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(this.stream.poll_next(cx));
        match item {
            Some(v) => {
                *this.left -= 1;
                Poll::Ready(Some(v))
            }
            None => {
                *this.left = 0;
                Poll::Ready(None)
            }
        }
    }
}
