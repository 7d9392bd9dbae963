//! A core-local counting semaphore with FIFO hand-off (asyncio's `Semaphore`).
//!
//! State (all behind one `RefCell`, touched only on the owning thread):
//!
//! | field        | meaning                                                                |
//! |--------------|------------------------------------------------------------------------|
//! | `permits`    | permits nobody holds and no waiter has been handed                     |
//! | `waiters`    | waiting acquirers, oldest first, each `(seq, permits wanted, waker)`   |
//! | `next_seq`   | sequence number of the next waiter; `waiters` is sorted by it          |
//! | `closed_from`| set by `close`: waiters with `seq >= closed_from` were refused         |
//!
//! Permits are *handed* to waiters at release time, strictly from the front: a release
//! pops every front waiter it can satisfy, takes its permits out of `permits` and wakes
//! it. A waiter that finds itself no longer in `waiters` therefore owns its permits (or
//! was refused by `close`). If its future is dropped before it observes them, its `Drop`
//! releases them again, so they pass to the next waiter: a cancelled waiter never
//! swallows a wake-up.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// The most permits a semaphore can hold (`usize::MAX >> 3`, as tokio's).
pub const MAX_PERMITS: usize = usize::MAX >> 3;

/// The semaphore was closed ([`Semaphore::close`]); no permit was acquired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("semaphore closed")]
pub struct AcquireError(());

/// Why [`Semaphore::try_acquire`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    #[error("semaphore closed")]
    Closed,
    /// Not enough permits are free now (or other tasks are already waiting for them).
    #[error("no permits available")]
    NoPermits,
}

struct Waiter {
    seq: u64,
    wanted: usize,
    waker: Waker,
}

struct State {
    permits: usize,
    waiters: VecDeque<Waiter>,
    next_seq: u64,
    closed_from: Option<u64>,
}

impl State {
    fn find(&self, seq: u64) -> Result<usize, usize> {
        self.waiters.binary_search_by_key(&seq, |w| w.seq)
    }

    /// Hands permits to the front waiter if it can be satisfied; returns its waker.
    fn grant_one(&mut self) -> Option<Waker> {
        let front = self.waiters.front()?;
        if front.wanted > self.permits {
            return None;
        }
        self.permits -= front.wanted;
        self.waiters.pop_front().map(|w| w.waker)
    }
}

/// A counting semaphore for tasks of one core (asyncio's `asyncio.Semaphore`, tokio's
/// `Semaphore`).
///
/// Waiters are served in FIFO order: a large request at the front blocks smaller ones
/// behind it, so nobody starves. `acquire` returns a [`SemaphorePermit`] that gives its
/// permits back when dropped (asyncio's `async with sem:`).
///
/// The semaphore is `!Send` and needs no atomics: share it with `Rc`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use ringcore::sync::Semaphore;
///
/// ringcore::block_on(async {
///     let sem = Rc::new(Semaphore::new(2));
///     let p1 = sem.acquire().await.unwrap();
///     let _p2 = sem.acquire().await.unwrap();
///     assert!(sem.try_acquire().is_err());
///     drop(p1);
///     assert!(sem.try_acquire().is_ok());
/// });
/// ```
pub struct Semaphore {
    state: RefCell<State>,
}

impl Semaphore {
    /// A semaphore with `permits` free permits (clamped to [`MAX_PERMITS`]).
    pub fn new(permits: usize) -> Self {
        Self {
            state: RefCell::new(State {
                permits: permits.min(MAX_PERMITS),
                waiters: VecDeque::new(),
                next_seq: 0,
                closed_from: None,
            }),
        }
    }

    /// Permits free right now.
    pub fn available_permits(&self) -> usize {
        self.state.borrow().permits
    }

    /// True if no permit is free (asyncio's `Semaphore.locked()`).
    pub fn locked(&self) -> bool {
        self.available_permits() == 0
    }

    /// Waits for one permit.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed before a permit is handed over.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future gives up its place in the queue; permits handed
    /// to it but not yet observed go to the next waiter.
    pub fn acquire(&self) -> Acquire<'_> {
        self.acquire_many(1)
    }

    /// Waits for `n` permits at once (FIFO: it holds its place in the queue).
    ///
    /// A request for more than [`MAX_PERMITS`] is clamped to it.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed first.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Self::acquire).
    pub fn acquire_many(&self, n: usize) -> Acquire<'_> {
        Acquire {
            sem: self,
            wanted: n.min(MAX_PERMITS),
            state: WaitState::Idle,
        }
    }

    /// Takes one permit if one is free and nobody is queued ahead.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are free and nobody is queued ahead.
    ///
    /// # Errors
    ///
    /// [`TryAcquireError::NoPermits`] or [`TryAcquireError::Closed`].
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_take(n)?;
        Ok(SemaphorePermit { sem: self, n })
    }

    fn try_take(&self, n: usize) -> Result<(), TryAcquireError> {
        let mut st = self.state.borrow_mut();
        if st.closed_from.is_some() {
            return Err(TryAcquireError::Closed);
        }
        if !st.waiters.is_empty() || st.permits < n {
            return Err(TryAcquireError::NoPermits);
        }
        st.permits -= n;
        Ok(())
    }

    /// Waits for one permit, holding the semaphore through an `Rc` so the permit can
    /// move into a spawned task.
    ///
    /// # Errors
    ///
    /// [`AcquireError`] if the semaphore is closed first.
    ///
    /// # Cancel safety
    ///
    /// As [`acquire`](Self::acquire).
    pub async fn acquire_owned(self: Rc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many(1).await?.forget();
        Ok(OwnedSemaphorePermit { sem: self, n: 1 })
    }

    /// Takes one permit now, through an `Rc`.
    ///
    /// # Errors
    ///
    /// As [`try_acquire`](Self::try_acquire).
    pub fn try_acquire_owned(self: Rc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_take(1)?;
        Ok(OwnedSemaphorePermit { sem: self, n: 1 })
    }

    /// Adds `n` permits (asyncio's `release()` without a matching acquire), handing them
    /// to waiters in FIFO order. The total is capped at [`MAX_PERMITS`].
    pub fn add_permits(&self, n: usize) {
        {
            let mut st = self.state.borrow_mut();
            st.permits = st.permits.saturating_add(n).min(MAX_PERMITS);
        }
        self.wake_granted();
    }

    fn wake_granted(&self) {
        loop {
            // The borrow ends before the wake: a waker may run arbitrary code.
            let Some(waker) = self.state.borrow_mut().grant_one() else {
                return;
            };
            waker.wake();
        }
    }

    /// Closes the semaphore: every waiter and every later `acquire` fails with
    /// [`AcquireError`]. Permits already held stay valid.
    pub fn close(&self) {
        let waiters = {
            let mut st = self.state.borrow_mut();
            if st.closed_from.is_none() {
                let from = st.waiters.front().map_or(st.next_seq, |w| w.seq);
                st.closed_from = Some(from);
            }
            std::mem::take(&mut st.waiters)
        };
        for w in waiters {
            w.waker.wake();
        }
    }

    /// True once [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed_from.is_some()
    }

    pub(crate) fn poll_acquire(
        &self,
        wanted: usize,
        state: &mut WaitState,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), AcquireError>> {
        let mut st = self.state.borrow_mut();
        match *state {
            WaitState::Idle => {
                if st.closed_from.is_some() {
                    *state = WaitState::Done;
                    return Poll::Ready(Err(AcquireError(())));
                }
                if st.waiters.is_empty() && st.permits >= wanted {
                    st.permits -= wanted;
                    *state = WaitState::Done;
                    return Poll::Ready(Ok(()));
                }
                let seq = st.next_seq;
                st.next_seq += 1;
                st.waiters.push_back(Waiter {
                    seq,
                    wanted,
                    waker: cx.waker().clone(),
                });
                *state = WaitState::Waiting(seq);
                Poll::Pending
            }
            WaitState::Waiting(seq) => match st.find(seq) {
                Ok(i) => {
                    let w = &mut st.waiters[i];
                    if !w.waker.will_wake(cx.waker()) {
                        w.waker = cx.waker().clone();
                    }
                    Poll::Pending
                }
                Err(_) => {
                    *state = WaitState::Done;
                    if st.closed_from.is_some_and(|from| seq >= from) {
                        Poll::Ready(Err(AcquireError(())))
                    } else {
                        Poll::Ready(Ok(()))
                    }
                }
            },
            WaitState::Done => Poll::Ready(Err(AcquireError(()))),
        }
    }

    /// Undoes a pending acquire whose future is dropped.
    pub(crate) fn cancel_acquire(&self, wanted: usize, state: &mut WaitState) {
        let WaitState::Waiting(seq) = std::mem::replace(state, WaitState::Done) else {
            return;
        };
        let refused = {
            let mut st = self.state.borrow_mut();
            match st.find(seq) {
                Ok(i) => {
                    // Still queued: leave the queue. Waiters behind it may now fit.
                    st.waiters.remove(i);
                    None
                }
                Err(_) => Some(st.closed_from.is_some_and(|from| seq >= from)),
            }
        };
        match refused {
            // Handed permits it never observed: pass them on.
            Some(false) => self.add_permits(wanted),
            _ => self.wake_granted(),
        }
    }

    pub(crate) fn release(&self, n: usize) {
        self.add_permits(n);
    }
}

impl std::fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let st = self.state.borrow();
        f.debug_struct("Semaphore")
            .field("permits", &st.permits)
            .field("waiters", &st.waiters.len())
            .field("closed", &st.closed_from.is_some())
            .finish()
    }
}

/// Where a waiting future stands in a wait queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitState {
    Idle,
    Waiting(u64),
    Done,
}

/// The future of [`Semaphore::acquire`] and [`Semaphore::acquire_many`].
#[must_use = "futures do nothing unless polled"]
#[derive(Debug)]
pub struct Acquire<'a> {
    sem: &'a Semaphore,
    wanted: usize,
    state: WaitState,
}

impl<'a> Future for Acquire<'a> {
    type Output = Result<SemaphorePermit<'a>, AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.sem
            .poll_acquire(this.wanted, &mut this.state, cx)
            .map_ok(|()| SemaphorePermit {
                sem: this.sem,
                n: this.wanted,
            })
    }
}

impl Drop for Acquire<'_> {
    fn drop(&mut self) {
        self.sem.cancel_acquire(self.wanted, &mut self.state);
    }
}

/// Permits borrowed from a [`Semaphore`]; dropping it gives them back.
#[must_use = "dropping the permit releases it at once"]
#[derive(Debug)]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    n: usize,
}

impl SemaphorePermit<'_> {
    /// Keeps the permits out of the semaphore for good (they are not returned on drop).
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.release(self.n);
        }
    }
}

/// Permits of an `Rc<Semaphore>`; dropping it gives them back.
#[must_use = "dropping the permit releases it at once"]
#[derive(Debug)]
pub struct OwnedSemaphorePermit {
    sem: Rc<Semaphore>,
    n: usize,
}

impl OwnedSemaphorePermit {
    /// Keeps the permits out of the semaphore for good.
    pub fn forget(mut self) {
        self.n = 0;
    }

    /// How many permits this holds.
    pub fn num_permits(&self) -> usize {
        self.n
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        if self.n > 0 {
            self.sem.release(self.n);
        }
    }
}
