//! Multishot ops: one SQE, a stream of CQEs (IORING_CQE_F_MORE on all but the last), for
//! multishot receive (IORING_RECV_MULTISHOT with a provided-buffer ring, Linux 6.0) and
//! multishot accept (IORING_ACCEPT_MULTISHOT, 5.19).
//!
//! A multishot op lives in an ordinary op slot, in the `Streaming` state of
//! src/driver/lifecycle.rs (the second diagram there), so it shares the slab's generation
//! check, its cancels (re-sent on a miss) and shutdown's drain with single-shot ops. Its
//! handle is [`MultiOp`]: `poll_next` takes the queued CQEs one by one; the CQE without
//! F_MORE is the last. Dropping a `MultiOp` whose op the kernel still holds hands its
//! queued CQEs to the op's [`MultishotCode::late_cqe`], moves the op into the slot
//! (`Cancelled`) and queues an ASYNC_CANCEL; the op's resources are freed at the final CQE.
//!
//! This module also holds what the driver knows about these fast paths: the per-core
//! receive buffer pool (src/driver/bufring.rs), created and registered on first use, and
//! whether the kernel refused a multishot receive or accept (`EINVAL` on the first CQE; the
//! callers then take their plain paths for the rest of the core's life).

use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use io_uring::squeue;

use super::bufring::{BufRing, POOL_BGID};
use super::fixed::FixedFiles;
use super::lifecycle::{self, Lifecycle, MAX_OP_INDEX, Slot, Stream};
use super::op::Orphan;
use super::ring::Cqe;
use super::shared_fd::SharedFd;
use super::{Driver, Inner};

/// Default receive pool: 32 buffers of 16 KiB (512 KiB per core, allocated on the first
/// receive stream), doubling on demand. 16 KiB rather than 4 KiB: a 16 KiB message is one
/// CQE and one send instead of four, which at 1,000 to 10,000 connections echoing 16 KiB
/// took messages per server CPU-second from 0.5x to 1.04x to 1.08x of tokio's at a third
/// of the memory (docs/benchmarks.md, "Multishot receive at many connections").
pub(crate) const DEFAULT_POOL: (u16, u32) = (32, 16 * 1024);

/// The bytes a receive pool may grow to by default: 16 MiB per core (1,024 buffers of 16
/// KiB for the default pool).
pub(crate) const DEFAULT_POOL_MAX_BYTES: usize = 16 << 20;

/// The most buffers a pool of `buffers` buffers of `bytes` bytes grows to by default: as
/// many as fit in [`DEFAULT_POOL_MAX_BYTES`] (a power of two), at least `buffers`, at most
/// the ring's 32,768 entries.
pub(crate) fn default_pool_max(buffers: u16, bytes: u32) -> u16 {
    let fit = (DEFAULT_POOL_MAX_BYTES / (bytes.max(1) as usize)).clamp(1, 1 << 15);
    // The largest power of two not above `fit` (fit >= 1).
    let fit = 1usize << (usize::BITS - 1 - fit.leading_zeros());
    (fit as u16).max(buffers)
}

/// The smallest send that goes out with IORING_OP_SEND_ZC by default: none. It pays from
/// 128 KiB on loopback, but a zero-copy write completes only once the peer has read (or
/// acknowledged) the bytes, which can deadlock peers that both write before reading; see
/// `Builder::send_zerocopy_from` and docs/benchmarks.md, "io_uring fast paths".
pub(crate) const DEFAULT_SEND_ZC_FROM: Option<usize> = None;

/// A multishot op's resources, SQE and late-CQE rule.
///
/// # Safety
///
/// As [`OpCode`](super::OpCode): every pointer in the SQE points into memory owned by
/// `self` (or by a pool `self` keeps alive) that stays valid and in place while `self` is
/// alive; the driver keeps `self` until the op's final CQE.
pub(crate) unsafe trait MultishotCode: 'static {
    /// Builds the SQE (without `user_data`).
    fn sqe(&mut self) -> squeue::Entry;

    /// The socket the SQE names by fd, if it may name it by fixed-file slot instead
    /// (see `driver::fixed`). The default: none.
    fn fixed_file(&self) -> Option<&SharedFd> {
        None
    }

    /// The stream was dropped while the kernel held the op (before its cancel is queued).
    fn orphaned(&mut self) {}

    /// A CQE that nobody will take (its stream was dropped), final or not. Runs while the
    /// driver is borrowed: it must not call into the driver or wake a task (copy bytes into
    /// the stash, republish pool buffers, keep accepted fds).
    fn late_cqe(&mut self, cqe: Cqe);

    /// After the final CQE's `late_cqe`, outside the driver's borrow: settle the socket's
    /// stash (wakes the next read).
    fn ended(self)
    where
        Self: Sized,
    {
    }
}

/// The orphan form of a multishot op.
struct Multi<T>(T);

impl<T: MultishotCode> Orphan for Multi<T> {
    fn late_cqe(mut self: Box<Self>, cqe: Cqe) {
        self.0.late_cqe(cqe);
        self.0.ended();
    }

    fn late_more(&mut self, cqe: Cqe) {
        self.0.late_cqe(cqe);
    }
}

/// The driver's fast-path state; see the module docs.
pub(super) struct FastPaths {
    /// The receive buffer pool, registered with the ring.
    pub(super) pool: Option<Rc<BufRing>>,
    /// Buffers, the most buffers it may grow to, and bytes per buffer of the pool to
    /// create.
    config: (u16, u16, u32),
    /// Creating or registering the pool failed: receive streams take the plain path.
    pool_failed: bool,
    /// The kernel answered a multishot receive with `EINVAL`.
    recv_refused: bool,
    /// The kernel answered a multishot accept with `EINVAL`.
    accept_refused: bool,
    /// Sends of at least this many bytes use IORING_OP_SEND_ZC (None: never).
    send_zc_from: Option<usize>,
    /// The ring's registered-file table (None: not registered, or a readiness ring).
    pub(super) fixed: Option<Rc<FixedFiles>>,
}

impl Default for FastPaths {
    fn default() -> Self {
        Self {
            pool: None,
            config: (
                DEFAULT_POOL.0,
                default_pool_max(DEFAULT_POOL.0, DEFAULT_POOL.1),
                DEFAULT_POOL.1,
            ),
            pool_failed: false,
            recv_refused: false,
            accept_refused: false,
            send_zc_from: DEFAULT_SEND_ZC_FROM,
            fixed: None,
        }
    }
}

impl Inner {
    /// Unregisters the pool once no op can select from it (end of shutdown) and drops the
    /// driver's reference (buffers users still hold keep it alive).
    pub(super) fn release_pool(&mut self) {
        if let Some(pool) = self.fast.pool.take() {
            if self.ring.unregister_buf_ring(POOL_BGID).is_err() {
                // Still registered: the kernel may refer to it until the ring is closed.
                std::mem::forget(pool);
            }
        }
    }
}

/// Which multishot op a caller asks about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Recv,
    Accept,
}

impl Driver {
    /// The receive pool, created and registered on first use; `None` when the kernel has
    /// no provided-buffer rings (or refused multishot receives), the pool could not be
    /// registered, or the driver is shut down: receive streams take their plain path.
    pub(crate) fn recv_pool(&self) -> Option<Rc<BufRing>> {
        let mut inner = self.inner.borrow_mut();
        let f = &inner.fast;
        if inner.shut_down || !inner.features.buf_ring || f.pool_failed || f.recv_refused {
            return None;
        }
        if let Some(pool) = &f.pool {
            return Some(pool.clone());
        }
        let (entries, max_entries, size) = f.config;
        let incremental = inner.features.buf_ring_inc;
        let pool = match BufRing::new(entries, max_entries, size, incremental) {
            Ok(pool) => pool,
            Err(_) => {
                inner.fast.pool_failed = true;
                return None;
            }
        };
        let flags = if incremental {
            crate::sys::uring::IOU_PBUF_RING_INC
        } else {
            0
        };
        // SAFETY: the ring entries and buffers are owned by `pool`, which the driver keeps
        // (`fast.pool`) until `release_pool` unregisters it, or leaks.
        let res = unsafe {
            inner
                .ring
                .register_buf_ring(pool.ring_addr(), pool.ring_entries(), POOL_BGID, flags)
        };
        if res.is_err() {
            inner.fast.pool_failed = true;
            return None;
        }
        inner.fast.pool = Some(pool.clone());
        Some(pool)
    }

    /// Sets the receive pool's shape: `buffers` buffers of `size` bytes at first, growing
    /// to at most `max_buffers` (before its first use; later calls do nothing).
    pub(crate) fn set_recv_pool(&self, buffers: u16, max_buffers: u16, size: u32) {
        let mut inner = self.inner.borrow_mut();
        if inner.fast.pool.is_none() {
            inner.fast.config = (buffers, max_buffers, size);
        }
    }

    /// Gives the driver the ring's registered-file table (see `driver::fixed`).
    pub(crate) fn set_fixed_files(&self, table: FixedFiles) {
        self.inner.borrow_mut().fast.fixed = Some(Rc::new(table));
    }

    /// Sends of at least this many bytes use IORING_OP_SEND_ZC (None: never).
    pub(crate) fn set_send_zc_from(&self, bytes: Option<usize>) {
        self.inner.borrow_mut().fast.send_zc_from = bytes;
    }

    /// Should a send of `len` bytes go out with IORING_OP_SEND_ZC?
    pub(crate) fn use_send_zc(&self, len: usize) -> bool {
        let inner = self.inner.borrow();
        inner.features.send_zc && inner.fast.send_zc_from.is_some_and(|from| len >= from)
    }

    /// Counts one send that went out with IORING_OP_SEND_ZC.
    pub(crate) fn count_zerocopy_send(&self) {
        self.inner.borrow_mut().stats.zerocopy_sends += 1;
    }

    /// May a multishot op of `kind` be tried (probed, and not refused since)?
    pub(crate) fn multishot_ok(&self, kind: Kind) -> bool {
        let inner = self.inner.borrow();
        match kind {
            Kind::Recv => inner.features.buf_ring && !inner.fast.recv_refused,
            Kind::Accept => inner.features.accept_multishot && !inner.fast.accept_refused,
        }
    }

    /// The kernel answered a multishot op of `kind` with `EINVAL`: use the plain path.
    pub(crate) fn multishot_refused(&self, kind: Kind) {
        let mut inner = self.inner.borrow_mut();
        match kind {
            Kind::Recv => inner.fast.recv_refused = true,
            Kind::Accept => inner.fast.accept_refused = true,
        }
    }

    /// Queues a multishot op's SQE and returns its stream of CQEs.
    pub(crate) fn submit_multishot<T: MultishotCode>(self: &Rc<Self>, mut data: T) -> MultiOp<T> {
        let mut inner = self.inner.borrow_mut();
        let failed = |driver: &Rc<Driver>, data, err| MultiOp {
            driver: driver.clone(),
            slot: None,
            data: Some(data),
            early: Some(err),
        };
        if inner.shut_down {
            drop(inner);
            return failed(self, data, super::shut_down_error());
        }
        inner.generation = inner.generation.wrapping_add(1);
        let generation = inner.generation;
        let entry = inner.slots.vacant_entry();
        let index = entry.key();
        if index >= MAX_OP_INDEX as usize {
            drop(inner);
            let err = io::Error::other("ringcore: too many ops in flight on one core");
            return failed(self, data, err);
        }
        entry.insert(Slot {
            generation,
            state: Lifecycle::Streaming(Box::default()),
            cancels: 0,
        });
        let mut sqe = data.sqe();
        if let (Some(table), Some(fd)) = (&inner.fast.fixed, data.fixed_file()) {
            fd.fixed_sqe(table, &mut sqe);
        }
        let sqe = sqe.user_data(lifecycle::encode(index, generation));
        // SAFETY: `data` owns what the SQE points to (MultishotCode's contract) and moves
        // into the returned MultiOp; if that is dropped while the kernel holds the op,
        // `data` moves into the slot and is freed only at the final CQE.
        match unsafe { inner.push(&sqe) } {
            Ok(()) => {
                inner.stats.ops_submitted += 1;
                drop(inner);
                MultiOp {
                    driver: self.clone(),
                    slot: Some((index, generation)),
                    data: Some(data),
                    early: None,
                }
            }
            Err(e) => {
                inner.slots.remove(index);
                drop(inner);
                failed(self, data, e)
            }
        }
    }

    /// The next queued CQE of a live multishot op, or `Pending` (waker kept).
    fn poll_multi(&self, index: usize, generation: u32, cx: &mut Context<'_>) -> Poll<Cqe> {
        let mut inner = self.inner.borrow_mut();
        let Some(slot) = inner.live_slot(index, generation) else {
            // Cannot happen: the slot is freed only here (final CQE) or by `drop_multi`.
            return Poll::Ready(Cqe {
                user_data: 0,
                result: -libc::ECANCELED,
                flags: 0,
                buf_offset: 0,
            });
        };
        let Lifecycle::Streaming(stream) = &mut slot.state else {
            return Poll::Ready(Cqe {
                user_data: 0,
                result: -libc::ECANCELED,
                flags: 0,
                buf_offset: 0,
            });
        };
        match stream.cqes.pop_front() {
            Some(cqe) => {
                if stream.ended && stream.cqes.is_empty() {
                    inner.slots.remove(index);
                }
                Poll::Ready(cqe)
            }
            None => {
                match &stream.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => stream.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// A live multishot op's stream was dropped: its queued CQEs go to the orphan; if the
    /// kernel still holds the op, the orphan waits in the slot for the final CQE.
    fn drop_multi(&self, index: usize, generation: u32, mut data: Box<dyn Orphan>) {
        let mut inner = self.inner.borrow_mut();
        inner.stats.ops_cancelled += 1;
        let Some(slot) = inner.live_slot(index, generation) else {
            return;
        };
        let Lifecycle::Streaming(stream) = std::mem::replace(&mut slot.state, Lifecycle::Submitted)
        else {
            return;
        };
        let Stream {
            mut cqes, ended, ..
        } = *stream;
        if ended {
            inner.slots.remove(index);
            drop(inner);
            let last = cqes.pop_back();
            for cqe in cqes {
                data.late_more(cqe);
            }
            if let Some(last) = last {
                data.late_cqe(last);
            }
            return;
        }
        for cqe in cqes {
            // Inside the borrow, as in `complete`: late_more never re-enters the driver.
            data.late_more(cqe);
        }
        slot.state = Lifecycle::Cancelled(data);
        if !inner.shut_down {
            inner.send_cancel(index, generation);
        }
    }
}

/// The stream of CQEs of one multishot op; see the module docs.
pub(crate) struct MultiOp<T: MultishotCode> {
    driver: Rc<Driver>,
    /// `None` once the final CQE was taken, or if the SQE never reached the ring.
    slot: Option<(usize, u32)>,
    data: Option<T>,
    /// Why the op never reached the ring (returned once as a final CQE).
    early: Option<io::Error>,
}

impl<T: MultishotCode> MultiOp<T> {
    /// The next CQE: `Ready(Some(cqe))` (the last one lacks IORING_CQE_F_MORE), then
    /// `Ready(None)`.
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Cqe>> {
        if let Some(err) = self.early.take() {
            return Poll::Ready(Some(Cqe {
                user_data: 0,
                result: -err.raw_os_error().unwrap_or(libc::EIO),
                flags: 0,
                buf_offset: 0,
            }));
        }
        let Some((index, generation)) = self.slot else {
            return Poll::Ready(None);
        };
        match self.driver.poll_multi(index, generation, cx) {
            Poll::Ready(cqe) => {
                if !io_uring::cqueue::more(cqe.flags) {
                    self.slot = None;
                }
                Poll::Ready(Some(cqe))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// The op's resources.
    pub(crate) fn data(&self) -> Option<&T> {
        self.data.as_ref()
    }

    /// The op's resources back, once its final CQE was taken (or it never reached the
    /// ring); `None` while the kernel may still hold the op.
    pub(crate) fn into_data(mut self) -> Option<T> {
        if self.slot.is_some() {
            return None;
        }
        self.data.take()
    }
}

impl<T: MultishotCode> Drop for MultiOp<T> {
    fn drop(&mut self) {
        if let (Some((index, generation)), Some(mut data)) = (self.slot.take(), self.data.take()) {
            data.orphaned();
            self.driver
                .drop_multi(index, generation, Box::new(Multi(data)));
        }
    }
}

impl<T: MultishotCode> std::fmt::Debug for MultiOp<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiOp")
            .field("slot", &self.slot)
            .field("op", &std::any::type_name::<T>())
            .finish()
    }
}
