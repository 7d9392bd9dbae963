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
/// If called outside a ringcore runtime.
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
#[track_caller]
pub fn sleep(duration: Duration) -> Sleep {
    sleep_until(deadline_after(duration))
}

/// Waits until `deadline`. A deadline in the past completes on first poll.
///
/// # Panics
///
/// If called outside a ringcore runtime.
///
/// # Cancel safety
///
/// Dropping the future unregisters the timer.
#[track_caller]
pub fn sleep_until(deadline: Instant) -> Sleep {
    Sleep {
        timers: context::timers(),
        deadline,
        key: None,
    }
}

pub(crate) fn deadline_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(duration)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365 * 30))
}

/// The future returned by [`sleep`] and [`sleep_until`].
pub struct Sleep {
    timers: Rc<Timers>,
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
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later); the sleep completes at the new one.
    pub fn reset(&mut self, deadline: Instant) {
        if let Some(key) = self.key.take() {
            self.timers.remove(key);
        }
        self.deadline = deadline;
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if Instant::now() >= this.deadline {
            if let Some(key) = this.key.take() {
                this.timers.remove(key);
            }
            return Poll::Ready(());
        }
        match this.key {
            Some(key) if this.timers.update(key, cx.waker()) => {}
            // Not registered yet, or fired early relative to our clock read: (re)register.
            _ => this.key = Some(this.timers.insert(this.deadline, cx.waker().clone())),
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.timers.remove(key);
        }
    }
}

impl std::fmt::Debug for Sleep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sleep")
            .field("deadline", &self.deadline)
            .finish()
    }
}
