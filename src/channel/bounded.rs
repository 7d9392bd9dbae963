//! The bounded cross-core channel: many senders, one receiver.
//!
//! Messages sit in a lock-free bounded ring (`concurrent_queue`, the Vyukov array queue).
//! Around it, two wait handshakes, each a Dekker pair (store own flag, `SeqCst` fence,
//! read the other side's state), so neither side can miss the other:
//!
//! - receiver: stores its waker, sets `recv_waiting`, fences, pops again. A sender pushes,
//!   fences, and if `recv_waiting` is set, clears it (`swap`) and wakes the stored waker.
//!   Only the sender that clears the flag wakes, so a burst of sends wakes the receiver
//!   once; the receiver drains everything before it sets the flag again.
//! - senders (when full): store a waker in `send_wakers`, set `send_waiting`, fence, push
//!   again. The receiver, after each pop, fences and, if `send_waiting` is set *and* the
//!   queue has drained to `low_water` (half the capacity), takes and wakes every stored
//!   waker. Waiting senders so wake once per half-capacity of room, not once per message
//!   (hysteresis). A receiver that keeps receiving always crosses `low_water` while a
//!   sender waits, so no sender waits forever on a draining channel.
//!
//! Closing: the last `Sender` dropped closes the queue and wakes the receiver, which then
//! takes what is left and gets `None`. Dropping the `Receiver` closes the queue, wakes every
//! waiting sender (their `send` returns the value in a [`SendError`]) and drops the
//! messages still queued.
//!
//! | field          | written by                        | read by                     |
//! |----------------|-----------------------------------|-----------------------------|
//! | `queue`        | senders (push), receiver (pop)    | both                        |
//! | `recv_waker`   | receiver (store), senders (take)  | under its mutex             |
//! | `recv_waiting` | receiver (set/clear), senders (clear) | senders after each push |
//! | `send_wakers`  | senders (own entry), receiver (take wakers) | under its mutex   |
//! | `send_waiting` | whoever holds `send_wakers`' lock | the receiver after each pop |
//! | `senders`      | `Sender::clone` / `drop`          | the last `drop`             |

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use concurrent_queue::{ConcurrentQueue, PopError, PushError};
use slab::Slab;

use super::error::{SendError, TryRecvError, TrySendError};
use crate::loom::{Arc, AtomicBool, AtomicUsize, Lock, Ordering, fence};

struct Chan<T> {
    queue: ConcurrentQueue<T>,
    capacity: usize,
    /// Waiting senders are woken once the queue holds at most this many messages.
    low_water: usize,
    senders: AtomicUsize,
    recv_waiting: AtomicBool,
    recv_waker: Lock<Option<Waker>>,
    /// True while some entry of `send_wakers` holds a waker.
    send_waiting: AtomicBool,
    send_wakers: Lock<Slab<Option<Waker>>>,
}

impl<T> Chan<T> {
    /// After a successful push: wakes the receiver if it waits.
    fn pushed(&self) {
        fence(Ordering::SeqCst);
        if self.recv_waiting.load(Ordering::Relaxed)
            && self.recv_waiting.swap(false, Ordering::AcqRel)
        {
            self.wake_receiver();
        }
    }

    fn wake_receiver(&self) {
        let waker = self.recv_waker.lock().take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// After a successful pop: wakes waiting senders once the queue has drained enough.
    fn popped(&self) {
        fence(Ordering::SeqCst);
        if self.send_waiting.load(Ordering::Relaxed) && self.queue.len() <= self.low_water {
            self.wake_senders();
        }
    }

    fn wake_senders(&self) {
        let wakers: Vec<Waker> = {
            let mut entries = self.send_wakers.lock();
            self.send_waiting.store(false, Ordering::Relaxed);
            entries.iter_mut().filter_map(|(_, w)| w.take()).collect()
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Stores a sender's waker (in entry `key`, created if `None`) and sets `send_waiting`.
    fn register_sender(&self, key: &mut Option<usize>, waker: &Waker) {
        let mut entries = self.send_wakers.lock();
        match key.and_then(|k| entries.get_mut(k)) {
            Some(Some(w)) if w.will_wake(waker) => {}
            Some(slot) => *slot = Some(waker.clone()),
            None => *key = Some(entries.insert(Some(waker.clone()))),
        }
        self.send_waiting.store(true, Ordering::SeqCst);
    }

    fn unregister_sender(&self, key: usize) {
        let mut entries = self.send_wakers.lock();
        if entries.try_remove(key).flatten().is_some() {
            let any = entries.iter().any(|(_, w)| w.is_some());
            self.send_waiting.store(any, Ordering::Relaxed);
        }
    }
}

/// Creates a channel holding at most `capacity` messages (0 is taken as 1), for sending
/// values between cores (or any threads).
///
/// [`Sender`]s can be cloned and moved to any core; the [`Receiver`] is single and can be
/// moved too. `send` waits while the channel is full (backpressure: memory is bounded by
/// `capacity`), `recv` waits while it is empty. Messages from one sender arrive in the
/// order they were sent.
///
/// # Examples
///
/// ```
/// use ringcore::CoreId;
///
/// let rt = ringcore::Runtime::builder().cores(2).build()?;
/// let (tx, mut rx) = ringcore::channel::channel::<u64>(64);
/// let sum = rt.block_on(async move {
///     ringcore::spawn_on(CoreId::new(1), move || async move {
///         for i in 1..=100 {
///             tx.send(i).await.unwrap();
///         }
///     });
///     let mut sum = 0;
///     while let Some(i) = rx.recv().await {
///         sum += i;
///     }
///     sum
/// });
/// assert_eq!(sum, 5050);
/// # Ok::<(), ringcore::BuildError>(())
/// ```
pub fn channel<T: std::marker::Send>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    let capacity = capacity.max(1);
    let chan = Arc::new(Chan {
        queue: ConcurrentQueue::bounded(capacity),
        capacity,
        low_water: capacity / 2,
        senders: AtomicUsize::new(1),
        recv_waiting: AtomicBool::new(false),
        recv_waker: Lock::new(None),
        send_waiting: AtomicBool::new(false),
        send_wakers: Lock::new(Slab::new()),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// The sending half of a [`channel`]; clone it for more senders.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Sender<T> {
    /// Sends `value`, waiting while the channel is full.
    ///
    /// # Errors
    ///
    /// [`SendError`] with the value if the receiver was dropped (before or while waiting).
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped before it completes, the value was not sent and is dropped
    /// with the future; nothing is sent twice and no other message is affected. Use
    /// [`try_send`](Sender::try_send) to keep the value when there is no room.
    pub fn send(&self, value: T) -> SendFuture<'_, T> {
        SendFuture {
            chan: &self.chan,
            value: Some(value),
            key: None,
        }
    }

    /// Sends `value` if there is room now.
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] or [`TrySendError::Closed`] (receiver dropped), with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        match self.chan.queue.push(value) {
            Ok(()) => {
                self.chan.pushed();
                Ok(())
            }
            Err(PushError::Full(v)) => Err(TrySendError::Full(v)),
            Err(PushError::Closed(v)) => Err(TrySendError::Closed(v)),
        }
    }

    /// True once the receiver was dropped.
    pub fn is_closed(&self) -> bool {
        self.chan.queue.is_closed()
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// True if no message is queued now.
    pub fn is_empty(&self) -> bool {
        self.chan.queue.is_empty()
    }

    /// The most messages the channel holds.
    pub fn capacity(&self) -> usize {
        self.chan.capacity
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        self.chan.senders.fetch_add(1, Ordering::Relaxed);
        Sender {
            chan: self.chan.clone(),
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        if self.chan.senders.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.chan.queue.close();
            self.chan.recv_waiting.store(false, Ordering::Relaxed);
            self.chan.wake_receiver();
        }
    }
}

impl<T> std::fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("len", &self.len())
            .field("capacity", &self.chan.capacity)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future of [`Sender::send`].
#[must_use = "futures do nothing unless awaited"]
pub struct SendFuture<'a, T> {
    chan: &'a Chan<T>,
    value: Option<T>,
    /// This future's entry in `send_wakers`, while it has one.
    key: Option<usize>,
}

impl<T> Unpin for SendFuture<'_, T> {}

impl<T> Future for SendFuture<'_, T> {
    type Output = Result<(), SendError<T>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(mut value) = this.value.take() else {
            // Polled after completion.
            return Poll::Ready(Ok(()));
        };
        let mut registered = false;
        let result = loop {
            match this.chan.queue.push(value) {
                Ok(()) => {
                    this.chan.pushed();
                    break Ok(());
                }
                Err(PushError::Closed(v)) => break Err(SendError(v)),
                Err(PushError::Full(v)) if registered => {
                    this.value = Some(v);
                    return Poll::Pending;
                }
                Err(PushError::Full(v)) => {
                    this.chan.register_sender(&mut this.key, cx.waker());
                    fence(Ordering::SeqCst);
                    registered = true;
                    value = v;
                }
            }
        };
        if let Some(key) = this.key.take() {
            this.chan.unregister_sender(key);
        }
        Poll::Ready(result)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.chan.unregister_sender(key);
        }
    }
}

impl<T> std::fmt::Debug for SendFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendFuture")
            .field("done", &self.value.is_none())
            .finish()
    }
}

/// The receiving half of a [`channel`].
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

impl<T> Receiver<T> {
    /// Receives the next message, waiting while the channel is empty. `None` once every
    /// sender was dropped and every message was received.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a message is taken from the channel only in the poll that returns it,
    /// so a dropped `recv` never loses one.
    pub fn recv(&mut self) -> RecvFuture<'_, T> {
        RecvFuture { chan: &self.chan }
    }

    /// Receives a message if one is queued now.
    ///
    /// # Errors
    ///
    /// [`TryRecvError::Empty`] if none is queued; [`TryRecvError::Closed`] if none is
    /// queued and every sender was dropped.
    pub fn try_recv(&mut self) -> Result<T, TryRecvError> {
        match self.chan.queue.pop() {
            Ok(v) => {
                self.chan.popped();
                Ok(v)
            }
            Err(PopError::Empty) => Err(TryRecvError::Empty),
            Err(PopError::Closed) => Err(TryRecvError::Closed),
        }
    }

    /// Messages queued now.
    pub fn len(&self) -> usize {
        self.chan.queue.len()
    }

    /// True if no message is queued now.
    pub fn is_empty(&self) -> bool {
        self.chan.queue.is_empty()
    }

    /// The most messages the channel holds.
    pub fn capacity(&self) -> usize {
        self.chan.capacity
    }

    /// True once every sender was dropped (messages may still be queued).
    pub fn is_closed(&self) -> bool {
        self.chan.queue.is_closed()
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.chan.queue.close();
        self.chan.wake_senders();
        // Drop what is still queued now, on this thread, rather than with the last sender.
        while self.chan.queue.pop().is_ok() {}
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("len", &self.len())
            .field("capacity", &self.chan.capacity)
            .field("closed", &self.is_closed())
            .finish()
    }
}

/// The future of [`Receiver::recv`].
#[must_use = "futures do nothing unless awaited"]
pub struct RecvFuture<'a, T> {
    chan: &'a Chan<T>,
}

impl<T> Future for RecvFuture<'_, T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let chan = self.chan;
        let mut registered = false;
        loop {
            match chan.queue.pop() {
                Ok(v) => {
                    if registered {
                        chan.recv_waiting.store(false, Ordering::Relaxed);
                    }
                    chan.popped();
                    return Poll::Ready(Some(v));
                }
                Err(PopError::Closed) => return Poll::Ready(None),
                Err(PopError::Empty) if registered => return Poll::Pending,
                Err(PopError::Empty) => {
                    {
                        let mut slot = chan.recv_waker.lock();
                        match &*slot {
                            Some(w) if w.will_wake(cx.waker()) => {}
                            _ => *slot = Some(cx.waker().clone()),
                        }
                    }
                    chan.recv_waiting.store(true, Ordering::SeqCst);
                    fence(Ordering::SeqCst);
                    registered = true;
                }
            }
        }
    }
}

impl<T> std::fmt::Debug for RecvFuture<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvFuture").finish_non_exhaustive()
    }
}
