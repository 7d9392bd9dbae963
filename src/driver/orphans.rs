//! What orphaned receives and accepts leave behind: the per-socket [`Stash`] that makes
//! "dropping this future loses no data" true. (Not an opcode family: the receive and
//! accept ops of src/driver/ops/ fill it.)
//!
//! A receive (or accept) whose future is dropped while its SQE is in the kernel is
//! cancelled, but the kernel may complete it anyway: the data was already being copied, or
//! the cancel raced the completion (docs/architecture.md, "Late CQEs"). Its CQE then
//! carries bytes (or a connection) that nobody waits for. Such an op is an *orphan*. The
//! rules, kept by this type and by `net::socket::Socket`:
//!
//! 1. When an op's future is dropped in flight, [`Stash::orphaned`] counts it (through
//!    `OpCode::orphaned`, before the driver queues the cancel).
//! 2. When the orphan's CQE arrives (`late_cqe`), whatever it produced — bytes, a datagram
//!    and its source, an accepted fd, or an error other than `ECANCELED` — is appended to
//!    the stash, the count drops, and tasks waiting for the count to reach zero are woken.
//! 3. A new receive (or accept) on the socket first waits until no orphan is in flight
//!    ([`Stash::poll_settled`]), then takes from the stash, and only when the stash is empty
//!    issues a new op. So data comes back in the order the kernel delivered it, and no
//!    second receive races an orphan for the same bytes.
//!
//! Every clone of a socket (its read and write halves) shares one `Rc<Stash>`; the ops hold
//! a clone, so bytes that arrive after the socket was dropped are freed with the last
//! clone, and an accepted fd is closed then (never leaked).
//!
//! Single-threaded by construction (`Rc`, `Cell`, `RefCell`): a socket and its ops live on
//! one core.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::io;
use std::os::fd::OwnedFd;
use std::task::{Context, Poll, Waker};

use crate::sys::socket::SockAddr;

/// One thing an orphaned op produced.
pub(crate) enum Stashed {
    /// Bytes from a receive (for a datagram socket: one whole datagram), with the
    /// sender's address when the op was a recvmsg.
    Data {
        bytes: Vec<u8>,
        /// Bytes of `bytes` already handed out (stream sockets only).
        taken: usize,
        from: Option<SockAddr>,
    },
    /// A connection accepted by an orphaned accept.
    Accepted(OwnedFd, SockAddr),
    /// An error an orphaned receive saw (e.g. `ECONNRESET`); reported by the next read.
    Error(io::Error),
}

/// The stash of one socket; see the module docs.
#[derive(Default)]
pub(crate) struct Stash {
    /// Receives or accepts dropped while in flight whose CQE has not arrived.
    orphans: Cell<u32>,
    items: RefCell<VecDeque<Stashed>>,
    /// Tasks waiting for `orphans` to reach zero.
    waiters: RefCell<Vec<Waker>>,
}

impl std::fmt::Debug for Stash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stash")
            .field("orphans", &self.orphans.get())
            .field("items", &self.items.borrow().len())
            .finish()
    }
}

impl Stash {
    /// An op on this socket was dropped in flight (rule 1).
    pub(crate) fn orphaned(&self) {
        self.orphans.set(self.orphans.get() + 1);
    }

    /// An orphan's CQE arrived and produced `item`, if anything (rule 2).
    pub(crate) fn settle(&self, item: Option<Stashed>) {
        if let Some(item) = item {
            self.items.borrow_mut().push_back(item);
        }
        let left = self.orphans.get().saturating_sub(1);
        self.orphans.set(left);
        if left == 0 {
            let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
            for w in waiters {
                w.wake();
            }
        }
    }

    /// Keeps `item` without settling an orphan: a multishot op's non-final late CQE (its
    /// final CQE settles). Wakes nobody, so it may run while the driver is borrowed.
    pub(crate) fn keep(&self, item: Option<Stashed>) {
        if let Some(item) = item {
            self.items.borrow_mut().push_back(item);
        }
    }

    /// Ready once no orphan is in flight on this socket; otherwise registers the waker
    /// (rule 3).
    pub(crate) fn poll_settled(&self, cx: &mut Context<'_>) -> Poll<()> {
        if self.orphans.get() == 0 {
            return Poll::Ready(());
        }
        let mut waiters = self.waiters.borrow_mut();
        if !waiters.iter().any(|w| w.will_wake(cx.waker())) {
            waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Waits until no orphan is in flight.
    pub(crate) async fn settled(&self) {
        std::future::poll_fn(|cx| self.poll_settled(cx)).await
    }

    /// Orphans still in flight.
    #[cfg_attr(not(feature = "tokio-io"), allow(dead_code))]
    pub(crate) fn orphans(&self) -> u32 {
        self.orphans.get()
    }

    /// True if the stash holds nothing.
    pub(crate) fn is_empty(&self) -> bool {
        self.items.borrow().is_empty()
    }

    /// Takes stashed received data: for a stream (`datagram` false) up to `cap` bytes,
    /// keeping the rest for the next call; for a datagram socket one whole datagram,
    /// truncated to `cap` as recv(2) truncates. `write` gets the bytes to copy out (at most
    /// `cap`). Returns `None` when no data or error is stashed first in line, else the count
    /// (0 is end-of-stream, or an empty datagram) with the source address if the receive
    /// recorded one, or the stashed error.
    pub(crate) fn take_data(
        &self,
        cap: usize,
        datagram: bool,
        write: impl FnOnce(&[u8]),
    ) -> Option<io::Result<(usize, Option<SockAddr>)>> {
        let mut items = self.items.borrow_mut();
        match items.front_mut()? {
            Stashed::Data { bytes, taken, from } => {
                let rest = &bytes[*taken..];
                let n = rest.len().min(cap);
                write(&rest[..n]);
                let from = *from;
                *taken += n;
                if datagram || *taken == bytes.len() {
                    items.pop_front();
                }
                Some(Ok((n, from)))
            }
            Stashed::Error(_) => match items.pop_front() {
                Some(Stashed::Error(e)) => Some(Err(e)),
                _ => None,
            },
            Stashed::Accepted(..) => None,
        }
    }

    /// Takes the oldest connection accepted by an orphaned accept.
    pub(crate) fn take_accepted(&self) -> Option<(OwnedFd, SockAddr)> {
        let mut items = self.items.borrow_mut();
        match items.front() {
            Some(Stashed::Accepted(..)) => match items.pop_front() {
                Some(Stashed::Accepted(fd, addr)) => Some((fd, addr)),
                _ => None,
            },
            _ => None,
        }
    }
}

/// What a late receive CQE with `result` leaves in the stash: the `n` bytes it received
/// (read through `bytes`), or its error unless the error is the cancel itself.
pub(crate) fn received(
    result: io::Result<u32>,
    from: Option<SockAddr>,
    bytes: impl FnOnce(usize) -> Vec<u8>,
) -> Option<Stashed> {
    match result {
        Ok(n) => Some(Stashed::Data {
            bytes: bytes(n as usize),
            taken: 0,
            from,
        }),
        Err(e) if is_cancel(&e) => None,
        Err(e) => Some(Stashed::Error(e)),
    }
}

/// True for the errors that mean "the op was cancelled before it did anything".
pub(crate) fn is_cancel(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::ECANCELED) | Some(libc::EINTR) | Some(libc::EAGAIN)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(b: &[u8]) -> Option<Stashed> {
        received(Ok(b.len() as u32), None, |n| b[..n].to_vec())
    }

    #[test]
    fn stream_bytes_come_back_in_order_across_small_reads() {
        let s = Stash::default();
        s.orphaned();
        s.orphaned();
        s.settle(data(b"hello "));
        s.settle(data(b"world"));
        assert_eq!(s.orphans(), 0);
        let mut out = Vec::new();
        while let Some(Ok(_)) = s.take_data(4, false, |b| out.extend_from_slice(b)) {}
        assert_eq!(out, b"hello world");
        assert!(s.is_empty());
    }

    #[test]
    fn a_datagram_is_taken_whole_and_truncated() {
        let s = Stash::default();
        s.orphaned();
        s.settle(data(b"abcdef"));
        let mut out = Vec::new();
        let (n, _) = s
            .take_data(3, true, |b| out.extend_from_slice(b))
            .unwrap()
            .unwrap();
        assert_eq!((n, &out[..]), (3, &b"abc"[..]));
        assert!(s.take_data(3, true, |_| unreachable!()).is_none());
    }

    #[test]
    fn cancelled_results_leave_nothing_and_errors_are_kept() {
        let s = Stash::default();
        s.orphaned();
        s.settle(received(
            Err(io::Error::from_raw_os_error(libc::ECANCELED)),
            None,
            |_| unreachable!(),
        ));
        assert!(s.is_empty());
        s.orphaned();
        s.settle(received(
            Err(io::Error::from_raw_os_error(libc::ECONNRESET)),
            None,
            |_| unreachable!(),
        ));
        let Some(Err(err)) = s.take_data(1, false, |_| {}) else {
            panic!("the stashed error was not returned");
        };
        assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    }

    #[test]
    fn waiters_wake_when_the_last_orphan_settles() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        struct Count(AtomicUsize);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let s = Stash::default();
        s.orphaned();
        s.orphaned();
        assert!(s.poll_settled(&mut cx).is_pending());
        s.settle(None);
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
        s.settle(None);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(s.poll_settled(&mut cx).is_ready());
    }
}
