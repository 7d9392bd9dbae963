//! `SharedFd`: a file descriptor shared by its owner (a `File`) and every op in flight on it.
//!
//! Each op that names the fd holds a clone, so the fd stays open until the last op's CQE
//! has been reaped (docs/hazards.md, H7: close never races an in-flight op). Dropping the last
//! clone closes the fd synchronously; `close` instead waits for the other clones to go and
//! closes through the ring, reporting close's error. Either way the number is announced as
//! released first, to every [`ReleasedFds`] subscribed on the thread (H20).
//!
//! **The release hook.** A backend that keeps state per fd number (the readiness ring's
//! epoll registrations) subscribes a [`ReleasedFds`] list at start-up; every release on
//! the thread appends the number to each list, and the backend forgets those numbers
//! before its next look at an fd, so a number reused by a new file starts afresh. The
//! subscription is a thread-local list of lists: this module names no backend, and costs
//! one thread-local look per release when none is subscribed.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};

use io_uring::squeue;

use super::fixed::{FixedFiles, REGISTER_AFTER};

/// The lists subscribed on this thread (one per backend that keeps per-number state; a
/// thread may build runtimes one after another).
type Subscribers = Vec<Rc<RefCell<Vec<RawFd>>>>;

thread_local! {
    static RELEASED: RefCell<Subscribers> = const { RefCell::new(Vec::new()) };
}

/// The fd numbers this thread's `SharedFd`s released since the subscriber last looked;
/// see the module docs. Dropping it ends the subscription.
#[derive(Debug)]
pub(crate) struct ReleasedFds {
    list: Rc<RefCell<Vec<RawFd>>>,
}

impl ReleasedFds {
    /// Subscribes a new, empty list on this thread.
    pub(crate) fn subscribe() -> Self {
        let list = Rc::new(RefCell::new(Vec::new()));
        RELEASED.with(|subs| subs.borrow_mut().push(list.clone()));
        Self { list }
    }

    /// True when no number was released since the last `take`.
    pub(crate) fn is_empty(&self) -> bool {
        self.list.borrow().is_empty()
    }

    /// The numbers released since the last `take`, oldest first.
    pub(crate) fn take(&self) -> Vec<RawFd> {
        std::mem::take(&mut *self.list.borrow_mut())
    }
}

impl Drop for ReleasedFds {
    fn drop(&mut self) {
        let mine = &self.list;
        let _ = RELEASED.try_with(|subs| subs.borrow_mut().retain(|l| !Rc::ptr_eq(l, mine)));
    }
}

/// The file at number `fd` is leaving ringcore's hands (closed, or handed to the caller
/// as an `OwnedFd`): every subscribed list on this thread gets the number
/// (docs/hazards.md, H20).
fn fd_released(fd: RawFd) {
    let _ = RELEASED.try_with(|subs| {
        if let Ok(subs) = subs.try_borrow() {
            for list in subs.iter() {
                list.borrow_mut().push(fd);
            }
        }
    });
}

/// A reference-counted fd; see the module docs.
#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

struct Inner {
    fd: OwnedFd,
    /// The task waiting in `close` for the other clones to drop.
    closer: Cell<Option<Waker>>,
    /// Where the fd stands with the core's registered-file table (`driver::fixed`).
    fixed: Cell<Fixed>,
    /// The table holding the fd's slot, while `fixed` is `Slot`.
    table: Cell<Option<Rc<FixedFiles>>>,
}

/// A fd's standing with the registered-file table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fixed {
    /// Never registered (not a socket, or the table had no room or refused).
    Never,
    /// A socket that has had this many ops (it asks for a slot at `REGISTER_AFTER`).
    Counting(u8),
    /// Registered in this slot.
    Slot(u32),
}

impl SharedFd {
    /// A fd whose ops always name it by number (files, pidfds).
    pub(crate) fn new(fd: OwnedFd) -> Self {
        Self::with(fd, Fixed::Never)
    }

    /// A socket's fd: after `REGISTER_AFTER` ops it may move into the core's
    /// registered-file table (see `driver::fixed`).
    pub(crate) fn new_socket(fd: OwnedFd) -> Self {
        Self::with(fd, Fixed::Counting(0))
    }

    fn with(fd: OwnedFd, fixed: Fixed) -> Self {
        Self {
            inner: Rc::new(Inner {
                fd,
                closer: Cell::new(None),
                fixed: Cell::new(fixed),
                table: Cell::new(None),
            }),
        }
    }

    /// Makes `sqe`, which names this fd by number, name its fixed-file slot instead when
    /// it has one; counts the op and takes a slot from `table` at the `REGISTER_AFTER`th.
    /// Called by the driver for each SQE of an op whose `fixed_file` is this fd.
    #[inline]
    pub(crate) fn fixed_sqe(&self, table: &Rc<FixedFiles>, sqe: &mut squeue::Entry) {
        let slot = match self.inner.fixed.get() {
            Fixed::Slot(slot) => slot,
            Fixed::Never => return,
            Fixed::Counting(n) if n + 1 < REGISTER_AFTER => {
                self.inner.fixed.set(Fixed::Counting(n + 1));
                return;
            }
            Fixed::Counting(_) => match table.register(self.raw()) {
                Some(slot) => {
                    self.inner.fixed.set(Fixed::Slot(slot));
                    self.inner.table.set(Some(table.clone()));
                    slot
                }
                None => {
                    self.inner.fixed.set(Fixed::Never);
                    return;
                }
            },
        };
        crate::sys::sqe::use_fixed_file(sqe, slot);
    }

    /// Empties the fd's fixed-file slot, if it has one, so that closing the fd closes the
    /// file (the table holds a reference of its own).
    fn unregister(&self) {
        if let Fixed::Slot(slot) = self.inner.fixed.get() {
            self.inner.fixed.set(Fixed::Never);
            if let Some(table) = self.inner.table.take() {
                table.release(slot);
            }
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd.as_raw_fd()
    }

    #[inline]
    pub(crate) fn borrow(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.inner.fd.as_fd()
    }

    /// Waits until this is the only clone (every op on the fd has completed), then gives
    /// up ownership of the fd so the caller can close it through the ring.
    pub(crate) async fn into_sole_owner(self) -> Option<OwnedFd> {
        poll_fn(|cx| {
            if Rc::strong_count(&self.inner) == 1 {
                Poll::Ready(())
            } else {
                self.inner.closer.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await;
        // The fd leaves the SharedFd's hands (to be closed through the ring, or handed
        // out): subscribed backends must not trust what they knew of its number (H20), and
        // the registered-file table lets go of the file.
        fd_released(self.raw());
        self.unregister();
        let this = std::mem::ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so reading the Rc out of it moves
        // the one reference rather than duplicating it. (SharedFd's Drop would only wake a
        // closer, and we are the closer.)
        let inner = unsafe { std::ptr::read(&this.inner) };
        // `None` is unreachable (the count was 1 and nothing ran since); if it happened,
        // the other holder would still own and close the fd.
        Rc::try_unwrap(inner).ok().map(|inner| inner.fd)
    }
}

impl Drop for SharedFd {
    fn drop(&mut self) {
        match Rc::strong_count(&self.inner) {
            // The last clone: the fd closes when `inner` drops, after this. Readiness
            // rings forget its number first (docs/hazards.md, H20), and the
            // registered-file table lets go of the file, so the close closes it.
            1 => {
                fd_released(self.raw());
                self.unregister();
            }
            // The clone that leaves exactly one other behind wakes a waiting `close`.
            2 => {
                if let Some(w) = self.inner.closer.take() {
                    w.wake();
                }
            }
            _ => {}
        }
    }
}

impl std::fmt::Debug for SharedFd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedFd").field(&self.raw()).finish()
    }
}
