//! `Notify`: wake one waiting task or all of them, core-local (asyncio's `Condition`
//! without the lock).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::wait_list::{WaitList, wake_all};

/// Wakes one waiting task, or all of them (tokio's `Notify`; asyncio's `Condition`
/// without the lock).
///
/// [`notify_one`](Notify::notify_one) wakes the oldest waiter; with no waiter it stores
/// one permit, so the next [`notified`](Notify::notified) returns at once (no lost
/// wake-up). [`notify_waiters`](Notify::notify_waiters) wakes everyone waiting now and
/// stores nothing. A waiter picked by `notify_one` that is dropped before it sees the
/// notification passes it to the next waiter.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use ringcore::sync::Notify;
///
/// ringcore::block_on(async {
///     let n = Rc::new(Notify::new());
///     n.notify_one(); // stored
///     n.notified().await; // returns at once
/// });
/// ```
#[derive(Default)]
pub struct Notify {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    permit: bool,
    waiters: WaitList,
    /// Waiters picked by `notify_one` that have not seen it yet.
    picked: Vec<u64>,
}

impl Notify {
    /// A `Notify` with no stored permit.
    pub fn new() -> Self {
        Self::default()
    }

    /// Wakes the oldest waiter, or stores a permit for the next one if nobody waits.
    pub fn notify_one(&self) {
        let waker = {
            let mut st = self.state.borrow_mut();
            match st.waiters.pop_front() {
                Some((seq, w)) => {
                    st.picked.push(seq);
                    w
                }
                None => {
                    st.permit = true;
                    return;
                }
            }
        };
        waker.wake();
    }

    /// Wakes every task waiting now; stores no permit.
    pub fn notify_waiters(&self) {
        let woken = self.state.borrow_mut().waiters.take_all();
        wake_all(woken);
    }

    /// Waits for a notification.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped future leaves the queue; a `notify_one` it had been picked
    /// for goes to the next waiter (or is stored).
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            slot: None,
            done: false,
        }
    }
}

impl std::fmt::Debug for Notify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Notify")
            .field("permit", &st.permit)
            .field("waiters", &st.waiters.len())
            .finish()
    }
}

/// The future of [`Notify::notified`].
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    slot: Option<u64>,
    done: bool,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        let mut st = this.notify.state.borrow_mut();
        match this.slot {
            None => {
                if std::mem::take(&mut st.permit) {
                    this.done = true;
                    return Poll::Ready(());
                }
                this.slot = Some(st.waiters.push(cx.waker()));
                Poll::Pending
            }
            Some(seq) => {
                if st.waiters.update(seq, cx.waker()) {
                    return Poll::Pending;
                }
                st.picked.retain(|&s| s != seq);
                this.slot = None;
                this.done = true;
                Poll::Ready(())
            }
        }
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(seq) = self.slot.take() else {
            return;
        };
        let forward = {
            let mut st = self.notify.state.borrow_mut();
            if st.waiters.remove(seq) {
                false
            } else if let Some(i) = st.picked.iter().position(|&s| s == seq) {
                st.picked.swap_remove(i);
                true
            } else {
                false
            }
        };
        if forward {
            self.notify.notify_one();
        }
    }
}

impl std::fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notified")
            .field("done", &self.done)
            .finish()
    }
}
