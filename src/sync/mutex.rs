//! `Mutex`: a fair, core-local async lock around a value (asyncio's `Lock`).

use std::cell::{RefCell, RefMut};
use std::ops::{Deref, DerefMut};

use super::semaphore::{Semaphore, SemaphorePermit};

/// An async mutual-exclusion lock for tasks of one core (asyncio's `asyncio.Lock`, with
/// the protected value inside as Rust's `Mutex<T>`).
///
/// Fair: tasks get the lock in the order they asked for it (asyncio's `Lock` is FIFO as
/// well). Hold the guard across `.await` freely; other tasks of the core queue up behind
/// it. It is `!Send` and needs no atomics: share it with `Rc`.
///
/// # Examples
///
/// ```
/// use std::rc::Rc;
/// use ringcore::sync::Mutex;
///
/// ringcore::block_on(async {
///     let count = Rc::new(Mutex::new(0u32));
///     let tasks: Vec<_> = (0..10)
///         .map(|_| {
///             let count = count.clone();
///             ringcore::spawn(async move { *count.lock().await += 1 })
///         })
///         .collect();
///     for t in tasks {
///         t.await.unwrap();
///     }
///     assert_eq!(*count.lock().await, 10);
/// });
/// ```
#[doc(alias = "Lock")]
pub struct Mutex<T: ?Sized> {
    sem: Semaphore,
    value: RefCell<T>,
}

/// Holds a [`Mutex`] locked; unlocks it when dropped.
#[must_use = "dropping the guard unlocks the mutex at once"]
pub struct MutexGuard<'a, T: ?Sized> {
    // Field order matters: the borrow ends before the permit goes to the next waiter.
    value: RefMut<'a, T>,
    _permit: SemaphorePermit<'a>,
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            sem: Semaphore::new(1),
            value: RefCell::new(value),
        }
    }

    /// The protected value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock (FIFO) and returns its guard.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped `lock()` future leaves the queue; if the lock had already
    /// been handed to it, it passes to the next waiter.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        // The inner semaphore is never closed, so acquiring cannot fail.
        let permit = loop {
            if let Ok(p) = self.sem.acquire().await {
                break p;
            }
        };
        MutexGuard {
            value: self.value.borrow_mut(),
            _permit: permit,
        }
    }

    /// Takes the lock if it is free and nobody is queued.
    ///
    /// # Errors
    ///
    /// [`TryLockError`] if it is held or awaited by another task.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        let permit = self.sem.try_acquire().map_err(|_| TryLockError(()))?;
        Ok(MutexGuard {
            value: self.value.borrow_mut(),
            _permit: permit,
        })
    }

    /// True if some task holds the lock (asyncio's `Lock.locked()`).
    pub fn is_locked(&self) -> bool {
        self.sem.available_permits() == 0
    }

    /// The value, through a unique borrow of the mutex (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// The mutex is held (or awaited) by another task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("mutex is locked")]
pub struct TryLockError(());

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mutex")
            .field("locked", &self.is_locked())
            .finish_non_exhaustive()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Self::new(T::default())
    }
}
