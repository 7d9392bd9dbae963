//! The per-core pool of receive buffers: a provided-buffer ring (IORING_REGISTER_PBUF_RING,
//! io_uring_register_buf_ring(3), Linux 5.19) from which the kernel picks a buffer when data
//! arrives for a multishot receive, so an idle connection holds no buffer.
//!
//! Memory: one page-aligned array of `ring_entries` ring entries (16 bytes each: address,
//! length, buffer id; the ring's tail lives in the first entry's reserved field), sized for
//! the most buffers the pool may grow to, and the buffers themselves, `size` bytes each, in
//! chunks (one allocation per chunk). The pool starts with one chunk of `n` buffers; a
//! receive that finds it empty (`ENOBUFS`) doubles it ([`BufRing::grow`]) until it has
//! `ring_entries` buffers, so chunk 0 holds buffers `0..n` and chunk `k >= 1` holds
//! `n * 2^(k-1) .. n * 2^k`. A grown pool does not shrink: its buffers stay allocated (and,
//! once the kernel has written into them, resident) until the pool is freed.
//!
//! States of one buffer:
//!
//! ```text
//!   published (in the ring; the kernel may pick it)
//!       │ a receive CQE names it (IORING_CQE_F_BUFFER, bid in the flags' high half)
//!       ▼
//!   out (a `PoolBuf` owns it; the kernel will not touch it)
//!       │ the `PoolBuf` is dropped (or a late CQE's bytes were copied to the stash)
//!       ▼
//!   published again (written at the tail, tail stored with Release)
//! ```
//!
//! Who touches what: user space writes entries at the tail and the tail itself; the kernel
//! reads entries up to the tail and owns their buffers until it posts the CQE naming them.
//! `out` counts buffers named by a CQE and not yet republished (tests check it returns to
//! zero). The pool is freed only when the last `Rc` goes: the driver keeps one until its
//! shutdown has drained every op and unregistered the ring (and leaks it if the kernel
//! never answered), each `PoolBuf` keeps one, so neither the kernel nor a user ever sees
//! freed memory (docs/architecture.md, invariant 1).
//!
//! Receive streams at a pool empty at its cap with every fallback slot taken park here
//! (docs/hazards.md, H22). States of one parked stream and of its wake:
//!
//! ```text
//!   parked (a ticket in `waiters`, FIFO; nothing armed, its data left in the socket)
//!       │ `rouse` pops it and wakes it: `woken` += 1
//!       ▼
//!   woken (out of line; its `PoolWait` still names the ticket)
//!       │ it runs (`PoolWait::poll`): re-arms holding its `PoolWake`, or takes a free
//!       │ slot, or parks again; or it is dropped
//!       ▼
//!   settled (`woken` -= 1, then `rouse`): at its re-armed receive's first completion,
//!   whatever it is (a buffer, end of stream, an error, ENOBUFS), or at once otherwise
//! ```
//!
//! The wake rule (`rouse`): while streams are parked and fewer wakes are out (`woken`)
//! than the pool can serve (`units`: free slots, plus the buffers in the ring once an
//! eighth of a capped pool is back), wake the longest-waiting stream. It runs wherever
//! `units` grows (a buffer republished, a slot freed, the pool grown) and wherever a wake is
//! settled, so a wake a stream did not use goes to the next in line, and no stream stays
//! parked while the pool could serve it with no woken stream on its way to it. A stream
//! parks only when `units` is 0. Inside the driver's borrow no task may be woken, so a
//! buffer republished there (`copy_out`) owes the rule, which `dispatch` applies. Only this
//! core's tasks touch the pool (it is `Rc`, not shared between threads).

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::task::{Poll, Waker};

use io_uring::types::BufRingEntry;

/// The buffer group id of the pool (one pool per ring).
pub(crate) const POOL_BGID: u16 = 0;

/// The most bytes one plain receive of a receive stream takes (16 KiB, or the pool's buffer
/// size if larger): the plain path serves a pool that is empty at its cap, and a kernel
/// without multishot receive.
pub(crate) const PLAIN_RECV_BYTES: usize = 16 * 1024;

/// A registered provided-buffer ring and its buffers; see the module docs.
pub(crate) struct BufRing {
    ring: NonNull<BufRingEntry>,
    ring_layout: Layout,
    /// Ring entries: the most buffers the pool may hold (a power of two).
    ring_entries: u16,
    /// Chunk `k`'s buffers (see the module docs); null until allocated.
    chunks: Box<[Cell<*mut u8>]>,
    /// log2 of the first chunk's buffers.
    chunk_shift: u32,
    /// Buffers allocated so far (the first count times a power of two, at most
    /// `ring_entries`).
    buffers: Cell<u16>,
    size: u32,
    /// The next tail value to publish (wraps at 2^16, as the kernel's does).
    tail: Cell<u16>,
    /// Buffers named by a CQE and not yet republished.
    out: Cell<u32>,
    /// Multishot receives ended by `ENOBUFS` (the pool was empty).
    exhausted: Cell<u64>,
    /// Times a receive stream parked (the pool empty at its cap, every fallback slot
    /// taken).
    parks: Cell<u64>,
    /// Receive streams waiting for a buffer or a fallback slot, by ticket (FIFO).
    waiters: RefCell<BTreeMap<u64, Waker>>,
    next_ticket: Cell<u64>,
    /// Wakes handed out and not settled yet: streams taken out of line and woken that have
    /// not yet taken a slot, seen their re-armed receive's first completion, parked again
    /// or gone away (each holds its wake as a [`PoolWake`] once it runs).
    woken: Cell<u32>,
    /// A buffer was republished while the driver was borrowed
    /// ([`copy_out`](BufRing::copy_out)), where no task may be woken: the driver applies
    /// the wake rule in `dispatch`.
    owed: Cell<bool>,
    /// Plain fallback receives in flight ([`FallbackSlot`]s), and the most allowed.
    fallbacks: Cell<u32>,
    max_fallbacks: u32,
    /// Registered with IOU_PBUF_RING_INC: the kernel fills a buffer by parts, one receive
    /// after another, and says IORING_CQE_F_BUF_MORE while it keeps the buffer.
    incremental: bool,
    /// Per buffer id (`ring_entries` of them): see [`BufState`]. One array, so a CQE's
    /// bookkeeping is one bounds check and one cache line.
    state: Box<[BufState]>,
}

/// What the pool knows of one buffer. A buffer goes back into the ring once the kernel is
/// done with it and no handle is left.
#[derive(Default)]
struct BufState {
    /// Where the kernel writes next in it: its bytes consumed so far (only ever non-zero
    /// when the pool is `incremental`).
    consumed: Cell<u32>,
    /// The handles alive on it plus CQEs reaped for it and not yet taken.
    refs: Cell<u32>,
    /// The kernel is done with it (a CQE without BUF_MORE was reaped).
    done: Cell<bool>,
}

impl BufRing {
    /// Allocates one chunk of `entries` buffers of `size` bytes and publishes them all, in
    /// a ring that can hold `max_entries` buffers; the caller registers
    /// [`ring_addr`](BufRing::ring_addr) with [`ring_entries`](BufRing::ring_entries)
    /// next.
    ///
    /// Errors: `InvalidInput` unless `entries` and `max_entries` are powers of two with
    /// `entries <= max_entries <= 32768` and `size` is not 0; `OutOfMemory` if an
    /// allocation fails.
    /// `incremental`: the caller registers the ring with IOU_PBUF_RING_INC.
    pub(crate) fn new(
        entries: u16,
        max_entries: u16,
        size: u32,
        incremental: bool,
    ) -> io::Result<Rc<BufRing>> {
        if !entries.is_power_of_two()
            || !max_entries.is_power_of_two()
            || entries > max_entries
            || max_entries > 1 << 15
            || size == 0
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a receive buffer pool needs power-of-two counts, the first at most the \
                     second, the second at most 32768, and a non-zero size (got {entries} \
                     growing to {max_entries} buffers of {size} bytes)"
                ),
            ));
        }
        let invalid = |_| io::Error::from(io::ErrorKind::InvalidInput);
        let ring_bytes = (usize::from(max_entries) * size_of::<BufRingEntry>()).max(4096);
        let ring_layout = Layout::from_size_align(ring_bytes, 4096).map_err(invalid)?;
        // The largest chunk (half the ring, or the whole first chunk) must have a layout.
        let largest = usize::from((max_entries / 2).max(entries)) * size as usize;
        Layout::from_size_align(largest, 64).map_err(invalid)?;
        // SAFETY: the layout has a non-zero size.
        let ring = unsafe { alloc_zeroed(ring_layout) };
        let Some(ring) = NonNull::new(ring.cast()) else {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        let chunks = (0..=(max_entries / entries).trailing_zeros())
            .map(|_| Cell::new(std::ptr::null_mut()))
            .collect();
        let pool = BufRing {
            ring,
            ring_layout,
            ring_entries: max_entries,
            chunks,
            chunk_shift: entries.trailing_zeros(),
            buffers: Cell::new(0),
            size,
            tail: Cell::new(0),
            out: Cell::new(0),
            exhausted: Cell::new(0),
            parks: Cell::new(0),
            waiters: RefCell::new(BTreeMap::new()),
            next_ticket: Cell::new(0),
            woken: Cell::new(0),
            owed: Cell::new(false),
            fallbacks: Cell::new(0),
            // Plain fallback receives in flight hold at most the pool's cap in bytes (at
            // least one receive), so a core's receive memory stays within twice the cap
            // plus what users hold. A quarter of the cap measured half the throughput at
            // 10,000 connections echoing 16 KiB, for 4 MiB less (docs/benchmarks.md).
            max_fallbacks: (u64::from(max_entries) * u64::from(size)
                / PLAIN_RECV_BYTES.max(size as usize) as u64)
                .clamp(1, u64::from(u32::MAX)) as u32,
            incremental,
            state: (0..max_entries).map(|_| BufState::default()).collect(),
        };
        if !pool.grow() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        Ok(Rc::new(pool))
    }

    /// Allocates the next chunk (the first, then as many buffers as the pool has, so the
    /// pool doubles) and publishes its buffers; false if the pool already holds
    /// `ring_entries` buffers or the allocation failed (the pool is unchanged then).
    pub(crate) fn grow(&self) -> bool {
        let have = self.buffers.get();
        if have >= self.ring_entries {
            return false;
        }
        let first = 1u16 << self.chunk_shift;
        // Chunk k holds `first` buffers for k = 0, else `have` (= first * 2^(k-1)).
        let (k, count) = if have == 0 {
            (0, first)
        } else {
            (
                (have >> self.chunk_shift).trailing_zeros() as usize + 1,
                have,
            )
        };
        let layout = self.chunk_layout(count);
        // SAFETY: the layout has a non-zero size (count and size are not 0).
        let chunk = unsafe { alloc_zeroed(layout) };
        if chunk.is_null() {
            return false;
        }
        self.chunks[k].set(chunk);
        // `have + count <= ring_entries <= 32768`: all are powers of two (or 0) and
        // `have < ring_entries`.
        self.buffers.set(have + count);
        // The new buffers count as out until `publish` hands each to the ring.
        self.out.set(self.out.get() + u32::from(count));
        for bid in have..have + count {
            self.publish(bid);
        }
        self.rouse();
        true
    }

    /// The layout of a chunk of `count` buffers (checked to exist in `new`: `count` is at
    /// most the largest chunk's).
    fn chunk_layout(&self, count: u16) -> Layout {
        Layout::from_size_align(usize::from(count) * self.size as usize, 64)
            .expect("checked in BufRing::new")
    }

    /// The chunk holding buffer `bid`, and `bid`'s index in it.
    #[inline]
    fn chunk_of(&self, bid: u16) -> (usize, usize) {
        let idx = bid >> self.chunk_shift;
        if idx == 0 {
            (0, usize::from(bid))
        } else {
            // idx in [2^(k-1), 2^k) for chunk k, which starts at first * 2^(k-1).
            let k = (u16::BITS - idx.leading_zeros()) as usize;
            let start = 1usize << (self.chunk_shift as usize + k - 1);
            (k, usize::from(bid) - start)
        }
    }

    /// The address to register (IORING_REGISTER_PBUF_RING's `ring_addr`).
    pub(crate) fn ring_addr(&self) -> u64 {
        self.ring.as_ptr() as u64
    }

    /// Ring entries: the most buffers the pool may grow to.
    pub(crate) fn ring_entries(&self) -> u16 {
        self.ring_entries
    }

    /// Buffers allocated so far (published or out).
    pub(crate) fn buffers(&self) -> u16 {
        self.buffers.get()
    }

    /// The driver reaped a CQE naming buffer `bid` (IORING_CQE_F_BUFFER) with `result` and
    /// `flags`; returns where the CQE's bytes start in the buffer. CQEs are reaped in the
    /// order the kernel filled the buffer, so the offset is the buffer's bytes consumed so
    /// far. The CQE holds a reference until its handle is taken and dropped. Unless the
    /// kernel keeps the buffer (IORING_CQE_F_BUF_MORE, incremental pools only), the buffer
    /// is out of the ring from now until it is republished. Counting at the reap, not at
    /// [`take`](BufRing::take), keeps [`available`](BufRing::available) true while the CQE
    /// waits in a stream's queue.
    pub(crate) fn note_selected(&self, bid: u16, result: i32, flags: u32) -> u32 {
        let Some(st) = self.state.get(usize::from(bid)) else {
            return 0;
        };
        let offset = st.consumed.get();
        st.refs.set(st.refs.get() + 1);
        if self.incremental && io_uring::cqueue::buffer_more(flags) {
            st.consumed
                .set(offset.saturating_add(result.max(0) as u32).min(self.size));
        } else {
            st.done.set(true);
            self.out.set(self.out.get() + 1);
        }
        offset
    }

    /// A reference to buffer `bid` (a handle or an untaken CQE) is gone: republish the
    /// buffer if the kernel is done with it and it was the last. True if it was
    /// republished.
    fn release(&self, bid: u16) -> bool {
        let st = &self.state[usize::from(bid)];
        let refs = st.refs.get().saturating_sub(1);
        st.refs.set(refs);
        if refs > 0 || !st.done.get() {
            return false;
        }
        st.done.set(false);
        st.consumed.set(0);
        self.publish(bid);
        true
    }

    /// Is the pool registered for incremental consumption (IOU_PBUF_RING_INC)?
    #[cfg(test)]
    pub(crate) fn is_incremental(&self) -> bool {
        self.incremental
    }

    /// Is the pool worth a multishot receive armed now: a buffer is in the ring, or, once
    /// the pool is at its cap, an eighth of its buffers are (so streams parked on an
    /// empty pool do not re-arm, and end with `ENOBUFS` again, for each buffer that comes
    /// back)?
    pub(crate) fn may_arm(&self) -> bool {
        let low_water = if self.buffers.get() < self.ring_entries {
            1
        } else {
            (u32::from(self.ring_entries) / 8).max(1)
        };
        self.available() >= low_water
    }

    /// Buffers in the ring now, for the kernel to pick (all but those named by reaped
    /// CQEs and not yet republished; the kernel may have picked some of these since, for
    /// CQEs not reaped yet).
    pub(crate) fn available(&self) -> u32 {
        u32::from(self.buffers.get()) - self.out.get()
    }

    /// Bytes per buffer.
    #[inline]
    pub(crate) fn buf_size(&self) -> usize {
        self.size as usize
    }

    /// Buffers named by a CQE and not yet returned.
    pub(crate) fn out(&self) -> u32 {
        self.out.get()
    }

    /// Multishot receives ended by `ENOBUFS`.
    pub(crate) fn exhausted(&self) -> u64 {
        self.exhausted.get()
    }

    pub(crate) fn note_exhausted(&self) {
        self.exhausted.set(self.exhausted.get() + 1);
    }

    /// A CQE named buffer `bid`, its `len` bytes starting at `offset`: the handle returned
    /// owns those bytes, and the buffer stays out of the ring until every handle on it is
    /// dropped and the kernel is done with it.
    ///
    /// # Safety
    ///
    /// `bid` and `offset` come from a CQE of a receive that selected from this pool
    /// (IORING_CQE_F_BUFFER), counted by [`note_selected`](BufRing::note_selected) when the
    /// driver reaped it (which gave `offset`), and that CQE is taken once, so no other
    /// handle covers these bytes and the kernel writes only past them.
    pub(crate) unsafe fn take(self: &Rc<Self>, bid: u16, offset: u32, len: u32) -> PoolBuf {
        debug_assert!(bid < self.buffers.get() && offset.saturating_add(len) <= self.size);
        let offset = offset.min(self.size);
        PoolBuf {
            pool: self.clone(),
            bid,
            offset,
            len: len.min(self.size - offset),
        }
    }

    /// Copies the bytes a late CQE names out (they go to the stash) and drops its
    /// reference, republishing the buffer if that was the last. Runs while the driver is
    /// borrowed, so it wakes no waiter: the wake rule is owed and applied by
    /// [`wake_owed`](BufRing::wake_owed).
    ///
    /// # Safety
    ///
    /// As [`take`](BufRing::take).
    pub(crate) unsafe fn copy_out(self: &Rc<Self>, bid: u16, offset: u32, len: u32) -> Vec<u8> {
        // SAFETY: forwarded.
        let buf = unsafe { self.take(bid, offset, len) };
        let bytes = buf.as_slice().to_vec();
        std::mem::forget(buf);
        if self.release(bid) && self.has_waiters() {
            self.owed.set(true);
        }
        bytes
    }

    /// Parks a receive stream until a buffer is republished or a fallback slot is freed:
    /// `ticket` is its place in line (kept across polls; a new one once it was woken).
    pub(crate) fn park(&self, ticket: &mut Option<u64>, waker: &Waker) {
        let mut waiters = self.waiters.borrow_mut();
        if let Some(w) = ticket.and_then(|t| waiters.get_mut(&t)) {
            if !w.will_wake(waker) {
                w.clone_from(waker);
            }
            return;
        }
        let t = self.next_ticket.get();
        self.next_ticket.set(t + 1);
        self.parks.set(self.parks.get() + 1);
        waiters.insert(t, waker.clone());
        *ticket = Some(t);
    }

    /// A parked stream goes away: forget its place in line. False if it had none any more
    /// (it was woken and had not acted on the wake yet: it must settle the wake, see
    /// [`settle_wake`](BufRing::settle_wake)).
    pub(crate) fn unpark(&self, ticket: u64) -> bool {
        self.waiters.borrow_mut().remove(&ticket).is_some()
    }

    /// Is the stream holding `ticket` still in line (not woken yet)?
    fn is_parked(&self, ticket: u64) -> bool {
        self.waiters.borrow().contains_key(&ticket)
    }

    /// Is any receive stream parked on the pool?
    fn has_waiters(&self) -> bool {
        !self.waiters.borrow().is_empty()
    }

    /// What the pool can serve now: free fallback slots, plus the buffers in the ring once
    /// a re-armed receive is worth it ([`may_arm`](BufRing::may_arm)). Zero exactly when
    /// a stream at the empty pool parks.
    pub(crate) fn units(&self) -> u32 {
        let slots = self.max_fallbacks.saturating_sub(self.fallbacks.get());
        let buffers = if self.may_arm() { self.available() } else { 0 };
        slots.saturating_add(buffers)
    }

    /// The wake rule (see the module docs): while streams are parked and fewer wakes are
    /// unsettled than the pool can serve, wake the longest-waiting stream. Called wherever
    /// what the pool can serve grows (a buffer republished, a slot freed, the pool grown)
    /// and wherever a wake is settled, so no stream stays parked while the pool could
    /// serve it and no woken stream is on its way to it.
    pub(crate) fn rouse(&self) {
        while self.woken.get() < self.units() {
            let first = self.waiters.borrow_mut().pop_first();
            let Some((_, waker)) = first else {
                return;
            };
            self.woken.set(self.woken.get() + 1);
            waker.wake();
        }
    }

    /// A woken stream is done with its wake: it took a slot, its re-armed receive
    /// completed (with a buffer or not), it parked again, or it went away. Applies the
    /// wake rule again, so a wake that was not used goes to the next stream in line.
    pub(crate) fn settle_wake(&self) {
        self.woken.set(self.woken.get().saturating_sub(1));
        self.rouse();
    }

    /// Applies the wake rule owed for buffers [`copy_out`](BufRing::copy_out) republished.
    /// Call with no borrow of the driver held.
    pub(crate) fn wake_owed(&self) {
        if self.owed.replace(false) {
            self.rouse();
        }
    }

    /// Is the wake rule owed (see [`wake_owed`](BufRing::wake_owed))?
    pub(crate) fn owes_wakes(&self) -> bool {
        self.owed.get()
    }

    /// A multishot receive ended with `ENOBUFS` (the pool was empty; data is waiting):
    /// re-arm if buffers came back since or the pool could double; else one plain receive
    /// in a free fallback slot; else the stream must wait in line (`Err`).
    pub(crate) fn after_enobufs(self: &Rc<Self>) -> Result<Resume, PoolWait> {
        self.note_exhausted();
        if self.may_arm() || self.grow() {
            Ok(Resume::Arm(None))
        } else if let Some(slot) = self.try_fallback() {
            Ok(Resume::Fallback(slot))
        } else {
            Err(PoolWait {
                pool: self.clone(),
                ticket: None,
            })
        }
    }

    /// A slot for one plain fallback receive while the pool is empty at its cap, if fewer
    /// than the pool's share of them are in flight; freeing it applies the wake rule.
    pub(crate) fn try_fallback(self: &Rc<Self>) -> Option<FallbackSlot> {
        if self.fallbacks.get() >= self.max_fallbacks {
            return None;
        }
        self.fallbacks.set(self.fallbacks.get() + 1);
        Some(FallbackSlot { pool: self.clone() })
    }

    /// The most plain fallback receives in flight at once.
    #[cfg(test)]
    pub(crate) fn max_fallbacks(&self) -> u32 {
        self.max_fallbacks
    }

    /// Times a receive stream parked on the pool (a wake that found nothing counts again).
    pub(crate) fn parks(&self) -> u64 {
        self.parks.get()
    }

    /// Receive streams parked on the pool.
    #[cfg(test)]
    pub(crate) fn parked(&self) -> usize {
        self.waiters.borrow().len()
    }

    /// Wakes handed out and not settled yet.
    #[cfg(test)]
    pub(crate) fn woken(&self) -> u32 {
        self.woken.get()
    }

    /// Plain fallback receives in flight.
    #[cfg(test)]
    pub(crate) fn fallbacks(&self) -> u32 {
        self.fallbacks.get()
    }

    #[inline]
    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        let (k, index) = self.chunk_of(bid);
        let chunk = self.chunks[k].get();
        debug_assert!(!chunk.is_null());
        // SAFETY: `bid < buffers`, so its chunk is allocated, and `index` is below that
        // chunk's buffer count, so the offset is inside the chunk's allocation.
        unsafe { chunk.add(index * self.size as usize) }
    }

    /// Writes buffer `bid` at the tail and publishes the new tail.
    fn publish(&self, bid: u16) {
        let tail = self.tail.get();
        let index = usize::from(tail & (self.ring_entries - 1));
        // SAFETY: `index < ring_entries`, inside the ring's allocation. The kernel reads entries
        // only below the published tail, so it does not read this one until the store
        // below; `bid`'s buffer is out (no CQE will name it twice).
        let entry = unsafe { &mut *self.ring.as_ptr().add(index) };
        entry.set_addr(self.buf_ptr(bid) as u64);
        entry.set_len(self.size);
        entry.set_bid(bid);
        let tail = tail.wrapping_add(1);
        self.tail.set(tail);
        // SAFETY: the tail is the reserved u16 of entry 0 (io_uring_buf_ring's layout),
        // aligned to 2, inside the ring's allocation; the kernel only reads it.
        // `AtomicU16::from_ptr` needs exclusive atomic access from this side, which the
        // single-threaded pool gives. Release orders the entry's writes before the tail.
        unsafe {
            let ptr = BufRingEntry::tail(self.ring.as_ptr()).cast_mut();
            AtomicU16::from_ptr(ptr).store(tail, Ordering::Release);
        }
        self.out.set(self.out.get() - 1);
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // Freeing is sound: allocated in `new` and `grow` with these layouts; the last `Rc` is gone,
        // so no handle points into the buffers, and the driver drops its clone only after
        // the ring was unregistered (or leaks it), so the kernel no longer refers to them.
        let first = 1u16 << self.chunk_shift;
        for (k, chunk) in self.chunks.iter().map(Cell::get).enumerate() {
            if !chunk.is_null() {
                let count = if k == 0 { first } else { first << (k - 1) };
                // SAFETY: as above; chunk k was allocated in `grow` with this layout.
                unsafe { dealloc(chunk, self.chunk_layout(count)) };
            }
        }
        // SAFETY: as above.
        unsafe { dealloc(self.ring.as_ptr().cast(), self.ring_layout) };
    }
}

impl std::fmt::Debug for BufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufRing")
            .field("buffers", &self.buffers.get())
            .field("ring_entries", &self.ring_entries)
            .field("size", &self.size)
            .field("out", &self.out.get())
            .field("incremental", &self.incremental)
            .finish()
    }
}

/// The bytes one receive CQE put in a pool buffer (all of the buffer's filled part, or,
/// in an incremental pool, one receive's part of it); its reference is dropped with it.
pub(crate) struct PoolBuf {
    pool: Rc<BufRing>,
    bid: u16,
    offset: u32,
    len: u32,
}

impl PoolBuf {
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: the kernel wrote these `len` bytes at `offset` and will not write them
        // again: it writes an incremental buffer only past what it consumed, and a
        // buffer goes back into the ring (`publish`) only once no handle is left on it.
        // They lie inside the pool's allocation, kept alive by `pool`.
        unsafe { std::slice::from_raw_parts(self.as_ptr(), self.len as usize) }
    }

    #[inline]
    pub(crate) fn as_ptr(&self) -> *const u8 {
        // SAFETY: `offset + len <= size` (`take`), so the pointer stays inside the buffer.
        unsafe { self.pool.buf_ptr(self.bid).add(self.offset as usize) }
    }

    /// The buffer id and where the bytes start in it.
    #[cfg(test)]
    pub(crate) fn place(&self) -> (u16, u32) {
        (self.bid, self.offset)
    }

    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    #[inline]
    pub(crate) fn capacity(&self) -> usize {
        self.pool.buf_size()
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        // Checked in this order so an uncongested pool pays one test per buffer.
        if self.pool.release(self.bid) && self.pool.has_waiters() {
            self.pool.rouse();
        }
    }
}

/// The right to one plain fallback receive while the pool is empty at its cap (see
/// [`BufRing::try_fallback`]); dropping it frees the slot and applies the wake rule.
pub(crate) struct FallbackSlot {
    pool: Rc<BufRing>,
}

impl Drop for FallbackSlot {
    fn drop(&mut self) {
        self.pool.fallbacks.set(self.pool.fallbacks.get() - 1);
        self.pool.rouse();
    }
}

/// What a receive stream at the empty pool does next ([`BufRing::after_enobufs`],
/// [`PoolWait::poll`]).
pub(crate) enum Resume {
    /// Re-arm the multishot receive. A stream that was woken holds its wake until that
    /// receive's first completion (whatever it is), then drops it.
    Arm(Option<PoolWake>),
    /// One plain receive in this fallback slot.
    Fallback(FallbackSlot),
}

/// A woken stream's wake, held until it is used or given up; dropping it settles the wake
/// ([`BufRing::settle_wake`]), so a wake a stream did not use (end of stream, an error,
/// no buffer taken, the stream dropped) goes to the next stream in line.
pub(crate) struct PoolWake {
    pool: Rc<BufRing>,
}

impl Drop for PoolWake {
    fn drop(&mut self) {
        self.pool.settle_wake();
    }
}

/// A receive stream's place in line on its pool. Dropping it gives the place up; a stream
/// dropped after it was woken and before it ran settles its wake, which goes to the next
/// in line.
pub(crate) struct PoolWait {
    pool: Rc<BufRing>,
    ticket: Option<u64>,
}

impl PoolWait {
    /// Polls the wait: re-arm once the pool is worth it, else take a free fallback slot,
    /// else park (keeping the place in line across polls; a new place once woken). A
    /// stream that was woken and re-arms gets its wake back in [`Resume::Arm`]; one that
    /// takes a slot or parks again settles it here.
    pub(crate) fn poll(&mut self, waker: &Waker) -> Poll<Resume> {
        let pool = self.pool.clone();
        // Out of line with the ticket still held: woken, and the wake is ours to settle.
        let wake = match self.ticket {
            Some(t) if !pool.is_parked(t) => {
                self.ticket = None;
                Some(PoolWake { pool: pool.clone() })
            }
            _ => None,
        };
        if pool.may_arm() {
            self.leave();
            return Poll::Ready(Resume::Arm(wake));
        }
        if let Some(slot) = pool.try_fallback() {
            self.leave();
            drop(wake);
            return Poll::Ready(Resume::Fallback(slot));
        }
        // Nothing to serve (so settling wakes no one): park.
        drop(wake);
        pool.park(&mut self.ticket, waker);
        Poll::Pending
    }

    /// Leaves the line (not woken: the place is still there).
    fn leave(&mut self) {
        if let Some(t) = self.ticket.take() {
            self.pool.unpark(t);
        }
    }
}

impl Drop for PoolWait {
    fn drop(&mut self) {
        if let Some(t) = self.ticket
            && !self.pool.unpark(t)
        {
            self.pool.settle_wake();
        }
    }
}

/// Splits a receive CQE's flags into the buffer id it names, if any.
pub(crate) fn selected(flags: u32) -> Option<u16> {
    io_uring::cqueue::buffer_select(flags)
}

#[cfg(test)]
mod tests;
