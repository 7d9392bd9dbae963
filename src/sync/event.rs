//! `Event`: a core-local flag tasks can wait for (asyncio's `Event`).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::wait_list::{WaitList, wake_all};

/// A flag tasks can wait for (asyncio's `asyncio.Event`).
///
/// [`set`](Event::set) wakes every waiting task (oldest first) and lets later waiters
/// through at once until [`clear`](Event::clear). As in asyncio, a task waiting when the
/// event was set returns even if the event is cleared again before the task runs.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use ringcore::sync::Event;
///
/// ringcore::block_on(async {
///     let ready = Rc::new(Event::new());
///     let r = ready.clone();
///     let waiter = ringcore::spawn(async move { r.wait().await; "went" });
///     ready.set();
///     assert_eq!(waiter.await.unwrap(), "went");
/// });
/// ```
#[derive(Default)]
pub struct Event {
    state: RefCell<State>,
}

#[derive(Default)]
struct State {
    set: bool,
    /// Bumped by every `set` that changes the flag; a waiter registered under an older
    /// generation has been released.
    generation: u64,
    waiters: WaitList,
}

impl Event {
    /// An event that is not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter, oldest first.
    pub fn set(&self) {
        let woken = {
            let mut st = self.state.borrow_mut();
            if st.set {
                return;
            }
            st.set = true;
            st.generation += 1;
            st.waiters.take_all()
        };
        wake_all(woken);
    }

    /// Clears the flag; later `wait`s block until the next `set`.
    pub fn clear(&self) {
        self.state.borrow_mut().set = false;
    }

    /// True if the flag is set.
    pub fn is_set(&self) -> bool {
        self.state.borrow().set
    }

    /// Waits until the flag is set (returns at once if it is).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped `wait` leaves the queue; nothing is consumed.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            slot: None,
        }
    }
}

impl std::fmt::Debug for Event {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Event")
            .field("set", &st.set)
            .field("waiters", &st.waiters.len())
            .finish()
    }
}

/// The future of [`Event::wait`].
#[must_use = "futures do nothing unless polled"]
pub struct Wait<'a> {
    event: &'a Event,
    /// `(seq, generation)` once queued.
    slot: Option<(u64, u64)>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let mut st = this.event.state.borrow_mut();
        match this.slot {
            _ if st.set => {}
            Some((_, generation)) if generation != st.generation => {}
            Some((seq, _)) => {
                if !st.waiters.update(seq, cx.waker()) {
                    let seq = st.waiters.push(cx.waker());
                    this.slot = Some((seq, st.generation));
                }
                return Poll::Pending;
            }
            None => {
                let seq = st.waiters.push(cx.waker());
                this.slot = Some((seq, st.generation));
                return Poll::Pending;
            }
        }
        if let Some((seq, _)) = this.slot.take() {
            st.waiters.remove(seq);
        }
        Poll::Ready(())
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some((seq, _)) = self.slot.take() {
            self.event.state.borrow_mut().waiters.remove(seq);
        }
    }
}

impl std::fmt::Debug for Wait<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wait")
            .field("queued", &self.slot.is_some())
            .finish()
    }
}
