//! [`RingTimer`]: hyper's `Timer` on [`ringcore::time`](crate::time), with the
//! thread-checked `Send` wrapper its sleeps need.

use std::future::Future;
use std::mem::ManuallyDrop;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// A `hyper::rt::Timer` on [`ringcore::time`](crate::time): `sleep`, `sleep_until` and an
/// in-place `reset`. Give it to hyper's builders (`.timer(RingTimer)`) to get header-read
/// timeouts, keep-alive timeouts and HTTP/2 keep-alive pings.
///
/// hyper requires its sleeps to be `Send + Sync`, and ringcore's timers belong to one
/// core. The sleep this timer returns remembers the thread that made it: polling it on any
/// other thread panics, and dropping it on another thread leaks the timer entry instead of
/// touching the core's timers. hyper polls and drops them inside the connection future,
/// which (over ringcore I/O) never leaves its core, so neither happens in practice.
///
/// # Panics
///
/// The sleeps panic if polled outside a ringcore runtime, or on a thread other than the
/// one that created them.
#[derive(Clone, Copy, Debug, Default)]
pub struct RingTimer;

impl hyper::rt::Timer for RingTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(RingSleep::new(crate::time::sleep(duration)))
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(RingSleep::new(crate::time::sleep_until(deadline)))
    }

    fn reset(&self, sleep: &mut Pin<Box<dyn hyper::rt::Sleep>>, new_deadline: Instant) {
        match sleep.as_mut().downcast_mut_pin::<RingSleep>() {
            Some(mut ours) => ours.as_mut().reset(new_deadline),
            None => *sleep = self.sleep_until(new_deadline),
        }
    }
}

thread_local! {
    static THREAD_MARK: u8 = const { 0 };
}

/// An address unique to the calling thread while it lives.
fn thread_mark() -> usize {
    THREAD_MARK.with(|m| m as *const u8 as usize)
}

/// A ringcore [`Sleep`](crate::time::Sleep) that may cross threads but is only used on
/// the one that made it.
struct RingSleep {
    owner: usize,
    sleep: ManuallyDrop<crate::time::Sleep>,
}

impl RingSleep {
    fn new(sleep: crate::time::Sleep) -> Self {
        RingSleep {
            owner: thread_mark(),
            sleep: ManuallyDrop::new(sleep),
        }
    }

    fn check_thread(&self) {
        assert!(
            thread_mark() == self.owner,
            "ringcore::hyper_rt::RingTimer: a sleep was used on a thread other than the \
             core that created it"
        );
    }

    fn reset(self: Pin<&mut Self>, deadline: Instant) {
        let this = self.get_mut();
        this.check_thread();
        this.sleep.reset(deadline);
    }
}

// SAFETY: the inner `Sleep` (which holds an `Rc` to its core's timers) is touched only
// on the thread that created it: `poll` and `reset` check the thread first and panic on
// any other, `Drop` leaks it on any other, and `&RingSleep` gives no access to it at all.
// Moving the wrapper between threads therefore never moves a use of the `Rc`.
unsafe impl Send for RingSleep {}
// SAFETY: a shared reference exposes nothing (every method takes `Pin<&mut Self>`).
unsafe impl Sync for RingSleep {}

impl Future for RingSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        this.check_thread();
        // `Sleep` is `Unpin`.
        Pin::new(&mut *this.sleep).poll(cx)
    }
}

impl hyper::rt::Sleep for RingSleep {}

impl Drop for RingSleep {
    fn drop(&mut self) {
        if thread_mark() == self.owner {
            // SAFETY: dropped once, here, and never used again.
            unsafe { ManuallyDrop::drop(&mut self.sleep) };
        }
        // On another thread: leak it (its `Rc` must not be touched here).
    }
}
