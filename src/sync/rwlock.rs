//! `RwLock`: a fair, core-local reader-writer lock.

use std::cell::{Ref, RefCell, RefMut};
use std::ops::{Deref, DerefMut};

use super::semaphore::{MAX_PERMITS, Semaphore, SemaphorePermit};

/// A reader-writer lock for tasks of one core: many readers or one writer.
///
/// Fair (FIFO): a writer waiting for the lock stops new readers from jumping ahead of
/// it, so writers do not starve. asyncio has no reader-writer lock; this is tokio's
/// `RwLock` on one core.
///
/// # Examples
///
/// ```
/// use ringcore::sync::RwLock;
///
/// ringcore::block_on(async {
///     let lock = RwLock::new(vec![1, 2]);
///     {
///         let a = lock.read().await;
///         let b = lock.read().await;
///         assert_eq!(a.len() + b.len(), 4);
///     }
///     lock.write().await.push(3);
///     assert_eq!(*lock.read().await, [1, 2, 3]);
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    sem: Semaphore,
    value: RefCell<T>,
}

/// Shared access to an [`RwLock`]'s value.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    value: Ref<'a, T>,
    _permit: SemaphorePermit<'a>,
}

/// Exclusive access to an [`RwLock`]'s value.
#[must_use = "dropping the guard releases the lock at once"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    value: RefMut<'a, T>,
    _permit: SemaphorePermit<'a>,
}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            sem: Semaphore::new(MAX_PERMITS),
            value: RefCell::new(value),
        }
    }

    /// The protected value.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for shared access (FIFO behind queued writers).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a dropped future leaves the queue and passes on anything handed to it.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        let permit = loop {
            if let Ok(p) = self.sem.acquire().await {
                break p;
            }
        };
        RwLockReadGuard {
            value: self.value.borrow(),
            _permit: permit,
        }
    }

    /// Waits for exclusive access (FIFO).
    ///
    /// # Cancel safety
    ///
    /// As [`read`](Self::read).
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        let permit = loop {
            if let Ok(p) = self.sem.acquire_many(MAX_PERMITS).await {
                break p;
            }
        };
        RwLockWriteGuard {
            value: self.value.borrow_mut(),
            _permit: permit,
        }
    }

    /// Shared access now, if no writer holds or awaits the lock.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        let permit = self.sem.try_acquire().ok()?;
        Some(RwLockReadGuard {
            value: self.value.borrow(),
            _permit: permit,
        })
    }

    /// Exclusive access now, if nobody holds or awaits the lock.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        let permit = self.sem.try_acquire_many(MAX_PERMITS).ok()?;
        Some(RwLockWriteGuard {
            value: self.value.borrow_mut(),
            _permit: permit,
        })
    }

    /// The value, through a unique borrow (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.value
    }
}

impl<T: ?Sized> std::fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RwLock").finish_non_exhaustive()
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}
