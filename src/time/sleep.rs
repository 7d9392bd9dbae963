//! `sleep` and `sleep_until`: futures that complete at a deadline on the core's timer.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use super::{TimerKey, Timers};
use crate::runtime::context;

/// Waits until `duration` has elapsed (asyncio's `asyncio.sleep`).
///
/// The future completes no earlier than `duration` after this call. Durations too large to
/// represent as an `Instant` sleep "forever" (about 30 years).
///
/// # Panics
///
/// If the future is polled outside a ringcore runtime (creating it anywhere is fine).
///
/// # Cancel safety
///
/// Dropping the future unregisters the timer; nothing else happens.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
///
/// ringcore::block_on(async {
///     let start = Instant::now();
///     ringcore::time::sleep(Duration::from_millis(10)).await;
///     assert!(start.elapsed() >= Duration::from_millis(10));
/// });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// Waits until `deadline`. A deadline in the past completes on first poll.
///
/// # Panics
///
/// If the future is polled outside a ringcore runtime.
///
/// # Cancel safety
///
/// Dropping the future unregisters the timer.
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        timers: None,
        deadline,
        key: None,
    }
}

pub(crate) fn deadline_after(duration: Duration) -> Instant {
    let now = super::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The future returned by [`sleep`] and [`sleep_until`].
pub struct Sleep {
    /// The core's timers, bound at the first poll that registers a timer.
    timers: Option<Rc<Timers>>,
    deadline: Instant,
    key: Option<TimerKey>,
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        super::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later); the sleep completes at the new one.
    pub fn reset(&mut self, deadline: Instant) {
        self.unregister();
        self.deadline = deadline;
    }

    fn unregister(&mut self) {
        if let (Some(key), Some(timers)) = (self.key.take(), &self.timers) {
            timers.remove(key);
        }
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if super::now() >= this.deadline {
            this.unregister();
            return Poll::Ready(());
        }
        let timers = this.timers.get_or_insert_with(context::timers);
        match this.key {
            Some(key) if timers.update(key, cx.waker()) => {}
            // Not registered yet, or fired early relative to our clock read: (re)register.
            _ => this.key = Some(timers.insert(this.deadline, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        self.unregister();
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}
