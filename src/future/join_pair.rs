//! `join` and `join3`: two or three futures of different types run to the end together,
//! as named futures (the function form of [`join!`](crate::join)).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::maybe_done::{MaybeDone, output};

/// Runs `a` and `b` concurrently on the current task and returns both outputs (asyncio's
/// `gather(a, b)`); the futures may have different types and need not be `'static`.
///
/// Each wake-up polls both futures that are still running (the one finished keeps its
/// output). For more than three futures, or in an `async` block, [`join!`](crate::join)
/// does the same without a named type.
///
/// # Cancel safety
///
/// Dropping the returned [`Join`] drops both futures (and an output already kept); each
/// is as cancel-safe as its own `# Cancel safety` says.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringcore::future::join;
/// use ringcore::time::{sleep, timeout};
///
/// ringcore::block_on(async {
///     let name = String::from("ring");
///     let greet = async { format!("hello, {name}") }; // borrows a local
///     let slow = timeout(Duration::from_secs(5), sleep(Duration::from_millis(1)));
///     let (greeting, timed) = join(greet, slow).await;
///     assert_eq!(greeting, "hello, ring");
///     assert!(timed.is_ok());
/// });
/// ```
#[doc(alias = "gather")]
pub fn join<A: Future, B: Future>(a: A, b: B) -> Join<A, B> {
    Join {
        a: MaybeDone::new(a),
        b: MaybeDone::new(b),
    }
}

/// Like [`join`], for three futures: returns `(a_output, b_output, c_output)`.
///
/// # Cancel safety
///
/// As [`join`].
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let out = ringcore::future::join3(async { 1 }, async { "two" }, async { 3.0 }).await;
///     assert_eq!(out, (1, "two", 3.0));
/// });
/// ```
pub fn join3<A: Future, B: Future, C: Future>(a: A, b: B, c: C) -> Join3<A, B, C> {
    Join3 {
        a: MaybeDone::new(a),
        b: MaybeDone::new(b),
        c: MaybeDone::new(c),
    }
}

pin_project_lite::pin_project! {
    /// The future of [`join`]: resolves to `(A::Output, B::Output)`.
    #[must_use = "futures do nothing unless polled"]
    pub struct Join<A: Future, B: Future> {
        #[pin]
        a: MaybeDone<A>,
        #[pin]
        b: MaybeDone<B>,
    }
}

pin_project_lite::pin_project! {
    /// The future of [`join3`]: resolves to `(A::Output, B::Output, C::Output)`.
    #[must_use = "futures do nothing unless polled"]
    pub struct Join3<A: Future, B: Future, C: Future> {
        #[pin]
        a: MaybeDone<A>,
        #[pin]
        b: MaybeDone<B>,
        #[pin]
        c: MaybeDone<C>,
    }
}

impl<A: Future, B: Future> Future for Join<A, B> {
    type Output = (A::Output, B::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let a = this.a.as_mut().poll_done(cx);
        let b = this.b.as_mut().poll_done(cx);
        if !(a && b) {
            return Poll::Pending;
        }
        Poll::Ready((output(this.a.take()), output(this.b.take())))
    }
}

impl<A: Future, B: Future, C: Future> Future for Join3<A, B, C> {
    type Output = (A::Output, B::Output, C::Output);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let a = this.a.as_mut().poll_done(cx);
        let b = this.b.as_mut().poll_done(cx);
        let c = this.c.as_mut().poll_done(cx);
        if !(a && b && c) {
            return Poll::Pending;
        }
        Poll::Ready((
            output(this.a.take()),
            output(this.b.take()),
            output(this.c.take()),
        ))
    }
}

impl<A: Future, B: Future> std::fmt::Debug for Join<A, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Join")
            .field("a", &self.a)
            .field("b", &self.b)
            .finish()
    }
}

impl<A: Future, B: Future, C: Future> std::fmt::Debug for Join3<A, B, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Join3")
            .field("a", &self.a)
            .field("b", &self.b)
            .field("c", &self.c)
            .finish()
    }
}
