//! `SharedFd`: a file descriptor shared by its owner (a `File`) and every op in flight on it.
//!
//! Each op that names the fd holds a clone, so the fd stays open until the last op's CQE
//! has been reaped (docs/hazards.md, H7: close never races an in-flight op). Dropping the last
//! clone closes the fd synchronously; `close` instead waits for the other clones to go and
//! closes through the ring, reporting close's error. Either way the readiness rings of the
//! thread are told the number is released first (`epoll::fd_released`, H20).

use std::cell::Cell;
use std::future::poll_fn;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Poll, Waker};

/// A reference-counted fd; see the module docs.
#[derive(Clone)]
pub(crate) struct SharedFd {
    inner: Rc<Inner>,
}

struct Inner {
    fd: OwnedFd,
    /// The task waiting in `close` for the other clones to drop.
    closer: Cell<Option<Waker>>,
}

impl SharedFd {
    pub(crate) fn new(fd: OwnedFd) -> Self {
        Self {
            inner: Rc::new(Inner {
                fd,
                closer: Cell::new(None),
            }),
        }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.inner.fd.as_raw_fd()
    }

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
        // out): readiness rings must not trust what they knew of its number (H20).
        super::epoll::fd_released(self.raw());
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
            // rings forget its number first (docs/hazards.md, H20).
            1 => super::epoll::fd_released(self.raw()),
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
