//! `CancellationToken`: a stop signal that any core (any thread) may raise and any task on
//! any core may wait for.
//!
//! State: one `cancelled` flag (false → true, never back) and the wakers of the tasks that
//! wait, in a slab behind a lock. The handshake (no lost wake):
//!
//! - `cancel`: sets `cancelled` (SeqCst), then takes every waker under the lock and wakes
//!   them outside it.
//! - a waiting `Cancelled` future: returns at once if the flag is set; else, under the lock,
//!   stores (or refreshes) its waker and reads the flag again before it returns `Pending`.
//!   A `cancel` that set the flag before that read is seen; one that sets it after takes
//!   the lock after the waker is stored, and wakes it.
//!
//! | field       | written by                         | read by                     |
//! |-------------|------------------------------------|-----------------------------|
//! | `cancelled` | `cancel` (once)                    | anyone                      |
//! | `waiters`   | waiting futures (own entry), `cancel` (takes all) | under its lock |

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use slab::Slab;

use crate::loom::{Arc, AtomicBool, Lock, Ordering};

struct Inner {
    cancelled: AtomicBool,
    waiters: Lock<Slab<Waker>>,
}

/// A stop signal shared by every core: [`cancel`](CancellationToken::cancel) it from any
/// thread, and every task waiting in [`cancelled`](CancellationToken::cancelled) (on any
/// core) wakes; later waits return at once. The shape of tokio-util's `CancellationToken`
/// (without child tokens), and asyncio's `Event` used as a shutdown flag across threads.
///
/// It is `Clone + Send + Sync`: clone it into each core's task (through
/// [`run_on_each_core`](crate::run_on_each_core), [`spawn_on`](crate::spawn_on) or a
/// closure) and keep one to cancel with. Cancelling is idempotent.
///
/// # Examples
///
/// Stopping a loop on every core:
///
/// ```
/// use std::time::Duration;
/// use ringcore::sync::CancellationToken;
///
/// let rt = ringcore::Runtime::builder().cores(2).build()?;
/// let stop = CancellationToken::new();
/// let ticks = rt.block_on(async {
///     let s = stop.clone();
///     let workers = ringcore::run_on_each_core(move |_core| {
///         let stop = s.clone();
///         move || async move {
///             let mut ticks = 0u32;
///             // One tick a millisecond until the stop, which also ends a tick's sleep.
///             while !stop.is_cancelled() {
///                 let tick = ringcore::time::sleep(Duration::from_millis(1));
///                 ringcore::future::race(tick, stop.cancelled()).await;
///                 ticks += 1;
///             }
///             ticks
///         }
///     });
///     ringcore::time::sleep(Duration::from_millis(20)).await;
///     stop.cancel();
///     workers.await
/// });
/// assert_eq!(ticks.len(), 2);
/// # Ok::<(), ringcore::BuildError>(())
/// ```
#[derive(Clone)]
pub struct CancellationToken {
    inner: Arc<Inner>,
}

impl Default for CancellationToken {
    fn default() -> Self {
        Self::new()
    }
}

impl CancellationToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                cancelled: AtomicBool::new(false),
                waiters: Lock::new(Slab::new()),
            }),
        }
    }

    /// Cancels the token: every task waiting in [`cancelled`](CancellationToken::cancelled)
    /// is woken, on whatever core it runs, and every later wait returns at once. Calling it
    /// again does nothing.
    pub fn cancel(&self) {
        if self.inner.cancelled.swap(true, Ordering::SeqCst) {
            return;
        }
        let wakers: Vec<Waker> = self.inner.waiters.lock().drain().collect();
        for w in wakers {
            w.wake();
        }
    }

    /// True once [`cancel`](CancellationToken::cancel) was called (on any clone).
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Waits until the token is cancelled (at once if it already is).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future only removes its waker; the token is unchanged.
    pub fn cancelled(&self) -> Cancelled<'_> {
        Cancelled {
            inner: &self.inner,
            key: None,
        }
    }

    /// As [`cancelled`](CancellationToken::cancelled), owning a clone of the token, so the
    /// future is `'static` (to spawn it, or to keep it in a struct).
    ///
    /// # Cancel safety
    ///
    /// As [`cancelled`](CancellationToken::cancelled).
    pub fn cancelled_owned(self) -> CancelledOwned {
        CancelledOwned {
            inner: self.inner,
            key: None,
        }
    }
}

impl std::fmt::Debug for CancellationToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancellationToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl Inner {
    /// The wait's poll: see the module docs for the handshake.
    fn poll_cancelled(&self, key: &mut Option<usize>, cx: &mut Context<'_>) -> Poll<()> {
        if self.cancelled.load(Ordering::SeqCst) {
            self.forget(key);
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.lock();
        match key.and_then(|k| waiters.get_mut(k)) {
            Some(w) if w.will_wake(cx.waker()) => {}
            Some(w) => *w = cx.waker().clone(),
            None => *key = Some(waiters.insert(cx.waker().clone())),
        }
        if self.cancelled.load(Ordering::SeqCst) {
            // Set before we stored the waker: `cancel` may have drained already.
            if let Some(k) = key.take() {
                waiters.try_remove(k);
            }
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Removes a waiter's entry, if it still has one (`cancel` drains every entry).
    fn forget(&self, key: &mut Option<usize>) {
        if let Some(k) = key.take() {
            self.waiters.lock().try_remove(k);
        }
    }
}

/// The future of [`CancellationToken::cancelled`].
#[must_use = "futures do nothing unless awaited"]
pub struct Cancelled<'a> {
    inner: &'a Inner,
    key: Option<usize>,
}

impl Future for Cancelled<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.inner.poll_cancelled(&mut this.key, cx)
    }
}

impl Drop for Cancelled<'_> {
    fn drop(&mut self) {
        self.inner.forget(&mut self.key);
    }
}

impl std::fmt::Debug for Cancelled<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancelled").finish_non_exhaustive()
    }
}

/// The future of [`CancellationToken::cancelled_owned`].
#[must_use = "futures do nothing unless awaited"]
pub struct CancelledOwned {
    inner: Arc<Inner>,
    key: Option<usize>,
}

impl Future for CancelledOwned {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        this.inner.poll_cancelled(&mut this.key, cx)
    }
}

impl Drop for CancelledOwned {
    fn drop(&mut self) {
        self.inner.forget(&mut self.key);
    }
}

impl std::fmt::Debug for CancelledOwned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelledOwned").finish_non_exhaustive()
    }
}
