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
//! - senders (when full): a `send` that finds no room joins the FIFO line of waiting
//!   senders (`send_wait`: its waker, in arrival order), sets `send_waiting`, fences, and
//!   pushes again if it is at the head of the line. Only the head pushes; the others wait
//!   their turn. The receiver, after each pop, fences and, if `send_waiting` is set, wakes
//!   the head (one lock, one wake; none if the head was woken and has not run yet). A
//!   sender that leaves the line (it pushed, its future was dropped, or the channel
//!   closed) while it was the head wakes the new head if the queue has room: so every
//!   freed slot reaches a waiting sender (a popped slot wakes the head; a head that leaves
//!   with room left passes the turn on), and a line forms only behind a full queue.
//!
//! Fairness: while any `send` waits, [`Sender::try_send`] and new `send`s do not push
//! (`try_send` answers `Full`; a new `send` joins the back of the line), so a waiting
//! `send` is overtaken at most by pushes already under way when it joined, never for
//! ever. Messages from one sender stay in order.
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
//! | `send_wait`    | senders (join, leave, own waker), receiver (take the head's waker) | under its mutex |
//! | `send_waiting` | whoever holds `send_wait`'s lock (true iff the line is not empty) | the receiver after each pop, `try_send`, a new `send` |
//! | `senders`      | `Sender::clone` / `drop`          | the last `drop`             |

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use concurrent_queue::{ConcurrentQueue, PopError, PushError};
use std::collections::VecDeque;

use slab::Slab;

use super::error::{SendError, TryRecvError, TrySendError};
use crate::loom::{Arc, AtomicBool, AtomicUsize, Lock, Ordering, fence};

struct Chan<T> {
    queue: ConcurrentQueue<T>,
    capacity: usize,
    senders: AtomicUsize,
    recv_waiting: AtomicBool,
    recv_waker: Lock<Option<Waker>>,
    /// True while the line of waiting senders is not empty.
    send_waiting: AtomicBool,
    send_wait: Lock<SendLine>,
}

/// The waiting senders, in arrival order.
#[derive(Default)]
struct SendLine {
    /// Each waiting sender's entry: its waker, taken when it is woken.
    wakers: Slab<Option<Waker>>,
    /// Entry keys in arrival order; the front is the head, the one sender that may push.
    order: VecDeque<usize>,
}

impl SendLine {
    fn is_head(&self, key: usize) -> bool {
        self.order.front() == Some(&key)
    }

    fn take_head_waker(&mut self) -> Option<Waker> {
        let head = *self.order.front()?;
        self.wakers.get_mut(head).and_then(Option::take)
    }
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

    /// After a successful pop: the freed slot goes to the head of the line, if any.
    fn popped(&self) {
        fence(Ordering::SeqCst);
        if self.send_waiting.load(Ordering::Relaxed) {
            let waker = self.send_wait.lock().take_head_waker();
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Wakes every waiting sender (the channel closed).
    fn wake_all_senders(&self) {
        let wakers: Vec<Waker> = {
            let mut line = self.send_wait.lock();
            line.wakers
                .iter_mut()
                .filter_map(|(_, w)| w.take())
                .collect()
        };
        for w in wakers {
            w.wake();
        }
    }

    /// Joins the line (entry `key`, created at the back if `None`) or refreshes this
    /// sender's waker, and sets `send_waiting`. True if this sender is the head.
    fn wait_in_line(&self, key: &mut Option<usize>, waker: &Waker) -> bool {
        let mut line = self.send_wait.lock();
        match key.and_then(|k| line.wakers.get_mut(k)) {
            Some(Some(w)) if w.will_wake(waker) => {}
            Some(slot) => *slot = Some(waker.clone()),
            None => {
                let k = line.wakers.insert(Some(waker.clone()));
                line.order.push_back(k);
                *key = Some(k);
            }
        }
        self.send_waiting.store(true, Ordering::SeqCst);
        key.is_some_and(|k| line.is_head(k))
    }

    /// Leaves the line. A head that leaves while the queue has room wakes the next head,
    /// so the room it did not take (or a wake it got and did not use) is not lost.
    fn leave_line(&self, key: usize) {
        let waker = {
            let mut line = self.send_wait.lock();
            if line.wakers.try_remove(key).is_none() {
                return;
            }
            let was_head = line.is_head(key);
            if was_head {
                line.order.pop_front();
            } else {
                line.order.retain(|&k| k != key);
            }
            self.send_waiting
                .store(!line.order.is_empty(), Ordering::SeqCst);
            if was_head && !self.queue.is_full() {
                line.take_head_waker()
            } else {
                None
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

/// Creates a channel holding at most `capacity` messages (0 is taken as 1), for sending
/// values between cores (or any threads).
///
/// [`Sender`]s can be cloned and moved to any core; the [`Receiver`] is single and can be
/// moved too. `send` waits while the channel is full (backpressure: memory is bounded by
/// `capacity`), `recv` waits while it is empty. Messages from one sender arrive in the
/// order they were sent. Waiting `send`s are served first come, first served: each slot
/// the receiver frees goes to the longest-waiting `send`, and no `try_send` or later
/// `send` overtakes a `send` that waits.
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
        senders: AtomicUsize::new(1),
        recv_waiting: AtomicBool::new(false),
        recv_waker: Lock::new(None),
        send_waiting: AtomicBool::new(false),
        send_wait: Lock::new(SendLine::default()),
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
    /// A `send` that has to wait takes its place in a first-come, first-served line: every
    /// message the receiver takes frees a slot for the `send` at the head of the line, and
    /// while any `send` waits, [`try_send`](Sender::try_send) and later `send`s queue
    /// behind it instead of taking the room.
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

    /// Sends `value` if there is room now and no [`send`](Sender::send) is waiting for room
    /// (a waiting `send` goes first, so it is never overtaken for ever).
    ///
    /// # Errors
    ///
    /// [`TrySendError::Full`] (no room, or `send`s waiting for room) or
    /// [`TrySendError::Closed`] (receiver dropped), with the value.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        if self.chan.send_waiting.load(Ordering::SeqCst) {
            if self.chan.queue.is_closed() {
                return Err(TrySendError::Closed(value));
            }
            return Err(TrySendError::Full(value));
        }
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
        let chan = this.chan;
        // Fast path: not in the line and nobody waiting ahead.
        if this.key.is_none() && !chan.send_waiting.load(Ordering::SeqCst) {
            match chan.queue.push(value) {
                Ok(()) => {
                    chan.pushed();
                    return Poll::Ready(Ok(()));
                }
                Err(PushError::Closed(v)) => return Poll::Ready(Err(SendError(v))),
                Err(PushError::Full(v)) => value = v,
            }
        }
        // In the line: refresh the waker (or join at the back), then push if at the head.
        let head = chan.wait_in_line(&mut this.key, cx.waker());
        fence(Ordering::SeqCst);
        let result = if head {
            match chan.queue.push(value) {
                Ok(()) => {
                    chan.pushed();
                    Ok(())
                }
                Err(PushError::Closed(v)) => Err(SendError(v)),
                Err(PushError::Full(v)) => {
                    this.value = Some(v);
                    return Poll::Pending;
                }
            }
        } else if chan.queue.is_closed() {
            Err(SendError(value))
        } else {
            this.value = Some(value);
            return Poll::Pending;
        };
        if let Some(key) = this.key.take() {
            chan.leave_line(key);
        }
        Poll::Ready(result)
    }
}

impl<T> Drop for SendFuture<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.chan.leave_line(key);
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
        self.chan.wake_all_senders();
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
