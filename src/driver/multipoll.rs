//! Multishot readiness polls: one IORING_OP_POLL_ADD with IORING_POLL_ADD_MULTI (Linux
//! 5.13) that stays armed and answers every wake-up of the fd's wait queue with a CQE, so a
//! stream of readiness events costs one SQE instead of one per wait (the poll-based socket
//! path, `net::PollIo`, waits for `POLLIN` this way).
//!
//! They live beside the op slots, not in them (multishot receives and accepts, which also
//! yield many CQEs per SQE, do live in slots), because a registration outlives its polls:
//! the kernel ends a multishot poll whenever it likes (a CQE without IORING_CQE_F_MORE),
//! and the owner's next wait re-arms it under the same registration, where an op slot is
//! freed at its final CQE. And its CQEs are folded into one readiness mask (end-of-stream,
//! hang-up and error bits sticky) rather than queued one by one as a stream's are. The
//! registry keeps, per registration, the fd, the events asked, the readiness seen since
//! its owner last cleared it, an error the poll ended with, the owner's waker, and
//! whether the kernel still has the poll armed. The SQE points at no memory; the
//! entry holds a `SharedFd` clone so the descriptor is not closed (and its number not
//! reused) while the kernel polls it. Releasing an armed registration queues an
//! ASYNC_CANCEL and frees the entry at the poll's final CQE.
//!
//! `user_data`: the low half is [`MULTIPOLL_INDEX`] (or [`MULTIPOLL_CANCEL_INDEX`] for the
//! cancels), in the driver's reserved index range; the high half packs the entry's slab
//! key (24 bits) and an 8-bit generation, so a CQE for a freed and reused entry is
//! ignored. Kernels without multishot poll answer the first arm with `EINVAL`; the
//! registry then refuses new registrations and the caller falls back to one-shot polls.

use std::io;
use std::task::{Context, Poll, Waker};

use io_uring::{cqueue, opcode, types};
use slab::Slab;

use super::lifecycle::RESERVED_BASE;
use super::ring::Cqe;
use super::shared_fd::SharedFd;
use super::{Driver, Inner};

/// Low half of a multishot poll's `user_data`.
pub(super) const MULTIPOLL_INDEX: u32 = RESERVED_BASE + 1;
/// Low half of the `user_data` of an ASYNC_CANCEL aimed at a multishot poll.
pub(super) const MULTIPOLL_CANCEL_INDEX: u32 = RESERVED_BASE + 2;
/// Events that, once reported, stay reported: end-of-stream (the peer's FIN, POLLRDHUP),
/// hang-up and error are states, not edges, and the kernel reports them once. Clearing them
/// after a read that did not drain the socket to its end would lose the end-of-stream.
const STICKY: u32 = (libc::POLLRDHUP | libc::POLLHUP | libc::POLLERR) as u32;
/// Entries per core (the key's 24 bits).
const MAX_ENTRIES: usize = 1 << 24;

/// A registration's handle: its slab key and generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MultiPollKey {
    key: u32,
    generation: u8,
}

impl MultiPollKey {
    fn user_data(self, index: u32) -> u64 {
        let high = (self.key << 8) | u32::from(self.generation);
        (u64::from(high) << 32) | u64::from(index)
    }

    fn from_user_data(user_data: u64) -> Self {
        let high = (user_data >> 32) as u32;
        Self {
            key: high >> 8,
            generation: high as u8,
        }
    }
}

struct Entry {
    fd: SharedFd,
    events: u32,
    generation: u8,
    /// Events reported since the owner last cleared them.
    ready: u32,
    /// An error the poll ended with (not the cancel).
    error: Option<io::Error>,
    /// The kernel holds a live multishot poll for this entry.
    armed: bool,
    waker: Option<Waker>,
    /// The owner let go; freed at the poll's final CQE.
    released: bool,
}

/// The per-driver set of multishot polls; see the module docs.
#[derive(Default)]
pub(super) struct Registry {
    entries: Slab<Entry>,
    generation: u8,
    /// The kernel refused IORING_POLL_ADD_MULTI (before 5.13).
    unsupported: bool,
}

/// True for the `user_data` of a multishot poll or of a cancel aimed at one.
pub(super) fn owns(user_data: u64) -> bool {
    let index = user_data as u32;
    index == MULTIPOLL_INDEX || index == MULTIPOLL_CANCEL_INDEX
}

impl Inner {
    /// A CQE whose `user_data` [`owns`] says is ours.
    pub(super) fn complete_multipoll(&mut self, cqe: Cqe) {
        if cqe.user_data as u32 == MULTIPOLL_CANCEL_INDEX {
            // The cancel's own answer: the poll's final CQE does the bookkeeping.
            return;
        }
        let id = MultiPollKey::from_user_data(cqe.user_data);
        let reg = &mut self.multipoll;
        let Some(entry) = reg
            .entries
            .get_mut(id.key as usize)
            .filter(|e| e.generation == id.generation)
        else {
            self.stats.stale_cqes += 1;
            return;
        };
        let more = cqueue::more(cqe.flags);
        if !more {
            entry.armed = false;
        }
        match cqe.result {
            r if r >= 0 => entry.ready |= r as u32,
            r if -r == libc::ECANCELED => {}
            r if -r == libc::EINVAL && !more => {
                // No multishot poll in this kernel: the owner falls back to one-shot polls.
                reg.unsupported = true;
                entry.error = Some(io::Error::from_raw_os_error(libc::EINVAL));
            }
            r => entry.error = Some(io::Error::from_raw_os_error(-r)),
        }
        if entry.released {
            if !more {
                reg.entries.remove(id.key as usize);
            }
            return;
        }
        if let Some(w) = entry.waker.take() {
            self.to_wake.push(w);
        }
    }

    /// Pushes the multishot POLL_ADD of entry `id`.
    fn arm_multipoll(&mut self, id: MultiPollKey) -> io::Result<()> {
        let entry = &self.multipoll.entries[id.key as usize];
        let sqe = opcode::PollAdd::new(types::Fd(entry.fd.raw()), entry.events)
            .multi(true)
            .build()
            .user_data(id.user_data(MULTIPOLL_INDEX));
        // SAFETY: a POLL_ADD SQE points at no memory; the fd stays open through the
        // entry's SharedFd until the poll's final CQE.
        unsafe { self.push(&sqe) }?;
        self.multipoll.entries[id.key as usize].armed = true;
        Ok(())
    }
}

impl Driver {
    /// Registers a multishot poll for `events` on `fd` (armed at the first wait). `None`
    /// when the kernel lacks multishot poll, the core has 2^24 registrations, or the
    /// driver is shut down: use one-shot polls then.
    pub(crate) fn multipoll_register(&self, fd: &SharedFd, events: u32) -> Option<MultiPollKey> {
        let mut inner = self.inner.borrow_mut();
        if inner.shut_down || inner.multipoll.unsupported {
            return None;
        }
        let reg = &mut inner.multipoll;
        let entry = reg.entries.vacant_entry();
        if entry.key() >= MAX_ENTRIES {
            return None;
        }
        reg.generation = reg.generation.wrapping_add(1);
        let id = MultiPollKey {
            key: entry.key() as u32,
            generation: reg.generation,
        };
        entry.insert(Entry {
            fd: fd.clone(),
            events,
            generation: id.generation,
            ready: 0,
            error: None,
            armed: false,
            waker: None,
            released: false,
        });
        Some(id)
    }

    /// Forgets the readiness seen so far (the caller is about to try the syscall that
    /// would consume it), except the sticky end-of-stream, hang-up and error.
    pub(crate) fn multipoll_clear(&self, id: MultiPollKey) {
        if let Some(e) = self
            .inner
            .borrow_mut()
            .multipoll
            .entries
            .get_mut(id.key as usize)
        {
            e.ready &= STICKY;
        }
    }

    /// `Ready(Ok(()))` if one of the entry's events (or an error/hang-up) was reported
    /// since the last [`multipoll_clear`](Driver::multipoll_clear); else arms the poll if
    /// the kernel does not hold it, keeps `cx`'s waker and returns `Pending`.
    ///
    /// `Ready(Err(EINVAL))` means this kernel has no multishot poll: fall back.
    pub(crate) fn multipoll_poll(
        &self,
        id: MultiPollKey,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let mut inner = self.inner.borrow_mut();
        if inner.shut_down {
            return Poll::Ready(Err(super::shut_down_error()));
        }
        let Some(e) = inner.multipoll.entries.get_mut(id.key as usize) else {
            return Poll::Ready(Err(io::Error::other("ringcore: unknown multishot poll")));
        };
        if let Some(err) = e.error.take() {
            return Poll::Ready(Err(err));
        }
        if e.ready & (e.events | STICKY) != 0 {
            e.ready &= STICKY;
            return Poll::Ready(Ok(()));
        }
        match &e.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => e.waker = Some(cx.waker().clone()),
        }
        if !e.armed {
            inner.arm_multipoll(id)?;
        }
        Poll::Pending
    }

    /// The owner is gone: cancels the poll if armed (the entry is freed at its final
    /// CQE), else frees the entry now.
    pub(crate) fn multipoll_release(&self, id: MultiPollKey) {
        let mut inner = self.inner.borrow_mut();
        let Some(e) = inner.multipoll.entries.get_mut(id.key as usize) else {
            return;
        };
        if !e.armed {
            let e = inner.multipoll.entries.remove(id.key as usize);
            drop(inner);
            drop(e);
            return;
        }
        e.released = true;
        e.waker = None;
        let cancel = opcode::AsyncCancel::new(id.user_data(MULTIPOLL_INDEX))
            .build()
            .user_data(id.user_data(MULTIPOLL_CANCEL_INDEX));
        // SAFETY: an ASYNC_CANCEL SQE points at no memory. If the push fails (the ring is
        // shut down) the poll ends when the ring is closed.
        let _ = unsafe { inner.push(&cancel) };
    }
}

#[cfg(test)]
impl Driver {
    /// Pretends the kernel lacks multishot poll (new registrations are refused).
    pub(crate) fn multipoll_disable(&self) {
        self.inner.borrow_mut().multipoll.unsupported = true;
    }

    /// Live registrations, and how many of them the kernel holds armed.
    pub(crate) fn multipoll_counts(&self) -> (usize, usize) {
        let inner = self.inner.borrow();
        let entries = &inner.multipoll.entries;
        (
            entries.len(),
            entries.iter().filter(|(_, e)| e.armed).count(),
        )
    }
}
