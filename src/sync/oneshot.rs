//! A one-value channel between tasks of one core (an asyncio `Future` you resolve by hand:
//! `fut = loop.create_future()`, `fut.set_result(v)`, `await fut`).
//!
//! # Examples
//!
//! ```
//! use ringcore::sync::oneshot;
//!
//! ringcore::block_on(async {
//!     let (tx, rx) = oneshot::channel();
//!     ringcore::spawn(async move { tx.send(7).unwrap() });
//!     assert_eq!(rx.await, Ok(7));
//! });
//! ```

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

struct Inner<T> {
    value: Option<T>,
    rx_waker: Option<Waker>,
    tx_waker: Option<Waker>,
    tx_gone: bool,
    rx_gone: bool,
}

/// Makes a sender and a receiver for one value.
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let inner = Rc::new(RefCell::new(Inner {
        value: None,
        rx_waker: None,
        tx_waker: None,
        tx_gone: false,
        rx_gone: false,
    }));
    (
        Sender {
            inner: inner.clone(),
        },
        Receiver { inner },
    )
}

/// The sending half; [`send`](Sender::send) consumes it.
pub struct Sender<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

/// The receiving half: a future of the value.
///
/// Resolves to `Ok(value)`, or to [`RecvError`] if the sender was dropped without sending
/// (asyncio: a future cancelled by its producer).
///
/// # Cancel safety
///
/// Dropping the receiver drops a value that was sent and not received.
pub struct Receiver<T> {
    inner: Rc<RefCell<Inner<T>>>,
}

/// The sender was dropped without sending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("oneshot sender dropped without sending")]
pub struct RecvError;

/// Why [`Receiver::try_recv`] returned no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing sent yet.
    #[error("no value sent yet")]
    Empty,
    /// The sender was dropped without sending.
    #[error("oneshot sender dropped without sending")]
    Closed,
}

impl<T> Sender<T> {
    /// Sends the value and wakes the receiver.
    ///
    /// # Errors
    ///
    /// Gives `value` back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            if inner.rx_gone {
                return Err(value);
            }
            inner.value = Some(value);
            inner.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// True if the receiver was dropped (nobody wants the value any more).
    pub fn is_closed(&self) -> bool {
        self.inner.borrow().rx_gone
    }

    /// Waits until the receiver is dropped (to stop work nobody waits for).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn closed(&self) {
        std::future::poll_fn(|cx| {
            let mut inner = self.inner.borrow_mut();
            if inner.rx_gone {
                Poll::Ready(())
            } else {
                inner.tx_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waker = {
            let mut inner = self.inner.borrow_mut();
            inner.tx_gone = true;
            inner.rx_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> Receiver<T> {
    /// Takes the value if it was sent.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if not sent yet, [`TryRecvError::Closed`] if it never will be.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        let mut inner = self.inner.borrow_mut();
        match inner.value.take() {
            Some(v) => Ok(v),
            None if inner.tx_gone => Err(TryRecvError::Closed),
            None => Err(TryRecvError::Empty),
        }
    }
}

impl<T> Future for Receiver<T> {
    type Output = Result<T, RecvError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.inner.borrow_mut();
        if let Some(v) = inner.value.take() {
            return Poll::Ready(Ok(v));
        }
        if inner.tx_gone {
            return Poll::Ready(Err(RecvError));
        }
        inner.rx_waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (waker, value) = {
            let mut inner = self.inner.borrow_mut();
            inner.rx_gone = true;
            (inner.tx_waker.take(), inner.value.take())
        };
        drop(value);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender").finish_non_exhaustive()
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver").finish_non_exhaustive()
    }
}
