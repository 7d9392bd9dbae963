//! asyncio's `Queue`, `LifoQueue` and `PriorityQueue`, for tasks of one core.
//!
//! Two semaphores carry the waiting: `items` holds one permit per item no getter has
//! claimed, `slots` (bounded queues only) one per free place. A getter handed an item
//! permit pops in the same poll that observes it; a getter dropped before that gives the
//! permit back, so the item goes to the next getter (no item is lost to a cancelled
//! waiter). Putters likewise.

use std::cell::{Cell, RefCell};
use std::collections::{BinaryHeap, VecDeque};
use std::marker::PhantomData;

use super::event::Event;
use super::semaphore::{Semaphore, TryAcquireError};

/// The order a [`Queue`] hands items out in. Implemented by [`Fifo`], [`Lifo`] and
/// [`Priority`]; sealed.
pub trait Order<T>: private::Sealed {
    /// The buffer holding the items.
    #[doc(hidden)]
    type Buf: Default;
    #[doc(hidden)]
    fn push(buf: &mut Self::Buf, item: T);
    #[doc(hidden)]
    fn pop(buf: &mut Self::Buf) -> Option<T>;
    #[doc(hidden)]
    fn len(buf: &Self::Buf) -> usize;
}

mod private {
    pub trait Sealed {}
    impl Sealed for super::Fifo {}
    impl Sealed for super::Lifo {}
    impl Sealed for super::Priority {}
}

/// First in, first out (asyncio's `Queue`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Fifo;
/// Last in, first out (asyncio's `LifoQueue`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Lifo;
/// Smallest item first (asyncio's `PriorityQueue`; wrap items in
/// `std::cmp::Reverse` for largest first). Equal items come out in no set order.
#[derive(Debug, Clone, Copy, Default)]
pub struct Priority;

impl<T> Order<T> for Fifo {
    type Buf = VecDeque<T>;
    fn push(buf: &mut VecDeque<T>, item: T) {
        buf.push_back(item);
    }
    fn pop(buf: &mut VecDeque<T>) -> Option<T> {
        buf.pop_front()
    }
    fn len(buf: &VecDeque<T>) -> usize {
        buf.len()
    }
}

impl<T> Order<T> for Lifo {
    type Buf = Vec<T>;
    fn push(buf: &mut Vec<T>, item: T) {
        buf.push(item);
    }
    fn pop(buf: &mut Vec<T>) -> Option<T> {
        buf.pop()
    }
    fn len(buf: &Vec<T>) -> usize {
        buf.len()
    }
}

impl<T: Ord> Order<T> for Priority {
    type Buf = BinaryHeap<std::cmp::Reverse<T>>;
    fn push(buf: &mut Self::Buf, item: T) {
        buf.push(std::cmp::Reverse(item));
    }
    fn pop(buf: &mut Self::Buf) -> Option<T> {
        buf.pop().map(|r| r.0)
    }
    fn len(buf: &Self::Buf) -> usize {
        buf.len()
    }
}

/// A LIFO queue (asyncio's `LifoQueue`).
pub type LifoQueue<T> = Queue<T, Lifo>;
/// A min-priority queue (asyncio's `PriorityQueue`).
pub type PriorityQueue<T> = Queue<T, Priority>;

/// The queue was shut down ([`Queue::shutdown`]; asyncio's `QueueShutDown`). For `put`,
/// carries the item back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("queue shut down")]
pub struct ShutDown<T = ()>(pub T);

/// Why [`Queue::try_put`] failed; carries the item back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryPutError<T> {
    /// The queue is at capacity (asyncio's `QueueFull`).
    #[error("queue full")]
    Full(T),
    /// The queue was shut down.
    #[error("queue shut down")]
    ShutDown(T),
}

/// Why [`Queue::try_get`] returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryGetError {
    /// No item now (asyncio's `QueueEmpty`).
    #[error("queue empty")]
    Empty,
    /// The queue was shut down and is empty.
    #[error("queue shut down")]
    ShutDown,
}

/// [`Queue::task_done`] was called more often than items were put (asyncio raises
/// `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("task_done() called too many times")]
pub struct TaskDoneError;

/// An async queue for tasks of one core (asyncio's `asyncio.Queue`).
///
/// `O` picks the order: [`Fifo`] (default), [`Lifo`] ([`LifoQueue`]) or [`Priority`]
/// ([`PriorityQueue`]). Bounded queues make `put` wait for room; getters and putters are
/// served in FIFO order. [`task_done`](Queue::task_done) and [`join`](Queue::join) track
/// processed items as in asyncio, and [`shutdown`](Queue::shutdown) as in Python 3.13.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use ringcore::sync::Queue;
///
/// ringcore::block_on(async {
///     let q = Rc::new(Queue::<u32>::bounded(2));
///     let worker = {
///         let q = q.clone();
///         ringcore::spawn(async move {
///             let mut sum = 0;
///             while let Ok(n) = q.get().await {
///                 sum += n;
///                 q.task_done().unwrap();
///             }
///             sum
///         })
///     };
///     for n in 1..=10 {
///         q.put(n).await.unwrap();
///     }
///     q.join().await; // every item processed
///     q.shutdown();
///     assert_eq!(worker.await.unwrap(), 55);
/// });
/// ```
pub struct Queue<T, O: Order<T> = Fifo> {
    buf: RefCell<O::Buf>,
    items: Semaphore,
    slots: Option<Semaphore>,
    capacity: Option<usize>,
    unfinished: Cell<usize>,
    all_done: Event,
    shut: Cell<bool>,
    _order: PhantomData<O>,
}

impl<T, O: Order<T>> Queue<T, O> {
    /// A queue holding at most `capacity` items; `put` waits when it is full. A capacity
    /// of 0 means unbounded, as asyncio's `maxsize=0`.
    pub fn bounded(capacity: usize) -> Self {
        let slots = (capacity > 0).then(|| Semaphore::new(capacity));
        let all_done = Event::new();
        all_done.set();
        Self {
            buf: RefCell::default(),
            items: Semaphore::new(0),
            slots,
            capacity: (capacity > 0).then_some(capacity),
            unfinished: Cell::new(0),
            all_done,
            shut: Cell::new(false),
            _order: PhantomData,
        }
    }

    /// A queue with no size limit.
    pub fn unbounded() -> Self {
        Self::bounded(0)
    }

    /// Items in the queue (asyncio's `qsize()`).
    #[doc(alias = "qsize")]
    pub fn len(&self) -> usize {
        O::len(&self.buf.borrow())
    }

    /// True if the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// True if a bounded queue is at capacity.
    pub fn is_full(&self) -> bool {
        self.capacity.is_some_and(|c| self.len() >= c)
    }

    /// The capacity (`None` for unbounded; asyncio's `maxsize`).
    pub fn capacity(&self) -> Option<usize> {
        self.capacity
    }

    /// Puts an item, waiting for room if the queue is bounded and full.
    ///
    /// # Errors
    ///
    /// [`ShutDown`] with the item if the queue is (or gets) shut down.
    ///
    /// # Cancel safety
    ///
    /// If the future is dropped while waiting for room, the item is dropped with it and
    /// not put; a free slot handed to it passes to the next putter.
    pub async fn put(&self, item: T) -> Result<(), ShutDown<T>> {
        if let Some(slots) = &self.slots {
            match slots.acquire().await {
                Ok(p) => p.forget(),
                Err(_) => return Err(ShutDown(item)),
            }
        }
        if self.shut.get() {
            return Err(ShutDown(item));
        }
        self.push(item);
        Ok(())
    }

    /// Puts an item now (asyncio's `put_nowait`).
    ///
    /// # Errors
    ///
    /// [`TryPutError::Full`] or [`TryPutError::ShutDown`], with the item.
    #[doc(alias = "put_nowait")]
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        if self.shut.get() {
            return Err(TryPutError::ShutDown(item));
        }
        if let Some(slots) = &self.slots {
            match slots.try_acquire() {
                Ok(p) => p.forget(),
                Err(TryAcquireError::Closed) => return Err(TryPutError::ShutDown(item)),
                Err(TryAcquireError::NoPermits) => return Err(TryPutError::Full(item)),
            }
        }
        self.push(item);
        Ok(())
    }

    fn push(&self, item: T) {
        O::push(&mut self.buf.borrow_mut(), item);
        self.unfinished.set(self.unfinished.get() + 1);
        self.all_done.clear();
        self.items.add_permits(1);
    }

    /// Removes and returns an item, waiting until one is there.
    ///
    /// # Errors
    ///
    /// [`ShutDown`] once the queue is shut down and empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an item is taken only in the poll that returns it; an item reserved
    /// for a dropped `get` goes to the next getter.
    pub async fn get(&self) -> Result<T, ShutDown> {
        match self.items.acquire().await {
            Ok(p) => p.forget(),
            Err(_) => return Err(ShutDown(())),
        }
        self.pop().ok_or(ShutDown(()))
    }

    /// Removes and returns an item now (asyncio's `get_nowait`).
    ///
    /// # Errors
    ///
    /// [`TryGetError::Empty`], or [`TryGetError::ShutDown`] once shut down and empty.
    #[doc(alias = "get_nowait")]
    pub fn try_get(&self) -> Result<T, TryGetError> {
        match self.items.try_acquire() {
            Ok(p) => p.forget(),
            Err(TryAcquireError::Closed) => return Err(TryGetError::ShutDown),
            Err(TryAcquireError::NoPermits) => return Err(TryGetError::Empty),
        }
        self.pop().ok_or(TryGetError::Empty)
    }

    fn pop(&self) -> Option<T> {
        let item = O::pop(&mut self.buf.borrow_mut());
        if let Some(slots) = &self.slots {
            slots.add_permits(1);
        }
        if self.shut.get() && self.is_empty() {
            self.items.close();
        }
        item
    }

    /// Marks one item taken with `get` as processed (asyncio's `task_done()`). When every
    /// item put has been marked, [`join`](Queue::join) returns.
    ///
    /// # Errors
    ///
    /// [`TaskDoneError`] if called more times than items were put.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        let n = self.unfinished.get();
        if n == 0 {
            return Err(TaskDoneError);
        }
        self.unfinished.set(n - 1);
        if n == 1 {
            self.all_done.set();
        }
        Ok(())
    }

    /// Waits until every item put has been marked done with `task_done`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe.
    pub async fn join(&self) {
        self.all_done.wait().await
    }

    /// Shuts the queue down (Python 3.13's `Queue.shutdown()`): `put` fails from now on,
    /// waiting putters fail, and `get` fails once the queue is empty, so consumers drain
    /// what is left and then stop.
    pub fn shutdown(&self) {
        self.shut.set(true);
        if let Some(slots) = &self.slots {
            slots.close();
        }
        if self.is_empty() {
            self.items.close();
        }
    }

    /// True once [`shutdown`](Queue::shutdown) was called.
    pub fn is_shut_down(&self) -> bool {
        self.shut.get()
    }
}

impl<T, O: Order<T>> std::fmt::Debug for Queue<T, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .field("unfinished", &self.unfinished.get())
            .finish()
    }
}
