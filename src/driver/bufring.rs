//! The per-core pool of receive buffers: a provided-buffer ring (IORING_REGISTER_PBUF_RING,
//! io_uring_register_buf_ring(3), Linux 5.19) from which the kernel picks a buffer when data
//! arrives for a multishot receive, so an idle connection holds no buffer.
//!
//! Memory: one page-aligned array of `entries` ring entries (16 bytes each: address,
//! length, buffer id; the ring's tail lives in the first entry's reserved field) and one
//! allocation of `entries * size` bytes of buffers. Buffer `bid` is bytes
//! `bid * size .. (bid + 1) * size`.
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

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::cell::Cell;
use std::io;
use std::ptr::NonNull;
use std::rc::Rc;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::types::BufRingEntry;

/// The buffer group id of the pool (one pool per ring).
pub(crate) const POOL_BGID: u16 = 0;

/// A registered provided-buffer ring and its buffers; see the module docs.
pub(crate) struct BufRing {
    ring: NonNull<BufRingEntry>,
    ring_layout: Layout,
    bufs: NonNull<u8>,
    bufs_layout: Layout,
    entries: u16,
    size: u32,
    /// The next tail value to publish (wraps at 2^16, as the kernel's does).
    tail: Cell<u16>,
    /// Buffers named by a CQE and not yet republished.
    out: Cell<u32>,
    /// Multishot receives ended by `ENOBUFS` (the pool was empty).
    exhausted: Cell<u64>,
}

impl BufRing {
    /// Allocates `entries` (a power of two, at most 32768) buffers of `size` bytes and
    /// publishes them all; the caller registers [`ring_addr`](BufRing::ring_addr) next.
    pub(crate) fn new(entries: u16, size: u32) -> io::Result<Rc<BufRing>> {
        if !entries.is_power_of_two() || entries > 1 << 15 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a receive buffer pool needs a power-of-two count up to 32768 and a \
                     non-zero size (got {entries} buffers of {size} bytes)"
                ),
            ));
        }
        let invalid = |_| io::Error::from(io::ErrorKind::InvalidInput);
        let ring_bytes = (usize::from(entries) * size_of::<BufRingEntry>()).max(4096);
        let ring_layout = Layout::from_size_align(ring_bytes, 4096).map_err(invalid)?;
        let bufs_bytes = usize::from(entries) * size as usize;
        let bufs_layout = Layout::from_size_align(bufs_bytes, 64).map_err(invalid)?;
        // SAFETY: both layouts have non-zero sizes.
        let (ring, bufs) = unsafe { (alloc_zeroed(ring_layout), alloc_zeroed(bufs_layout)) };
        let (Some(ring), Some(bufs)) = (NonNull::new(ring.cast()), NonNull::new(bufs)) else {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        let pool = BufRing {
            ring,
            ring_layout,
            bufs,
            bufs_layout,
            entries,
            size,
            tail: Cell::new(0),
            out: Cell::new(entries.into()),
            exhausted: Cell::new(0),
        };
        for bid in 0..entries {
            pool.publish(bid);
        }
        Ok(Rc::new(pool))
    }

    /// The address to register (IORING_REGISTER_PBUF_RING's `ring_addr`).
    pub(crate) fn ring_addr(&self) -> u64 {
        self.ring.as_ptr() as u64
    }

    /// Ring entries (= buffers).
    pub(crate) fn entries(&self) -> u16 {
        self.entries
    }

    /// Bytes per buffer.
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

    /// A CQE named buffer `bid` holding `len` bytes: it is out of the ring until the
    /// returned handle is dropped.
    ///
    /// # Safety
    ///
    /// `bid` comes from a CQE of a receive that selected from this pool
    /// (IORING_CQE_F_BUFFER), and that CQE is taken once, so no other handle to `bid`
    /// exists.
    pub(crate) unsafe fn take(self: &Rc<Self>, bid: u16, len: u32) -> PoolBuf {
        debug_assert!(bid < self.entries && len <= self.size);
        self.out.set(self.out.get() + 1);
        PoolBuf {
            pool: self.clone(),
            bid,
            len: len.min(self.size),
        }
    }

    /// Copies buffer `bid`'s first `len` bytes out and republishes it (for late CQEs,
    /// whose bytes go to the stash).
    ///
    /// # Safety
    ///
    /// As [`take`](BufRing::take).
    pub(crate) unsafe fn copy_out(self: &Rc<Self>, bid: u16, len: u32) -> Vec<u8> {
        // SAFETY: forwarded; the handle republishes the buffer when dropped at the end.
        let buf = unsafe { self.take(bid, len) };
        buf.as_slice().to_vec()
    }

    fn buf_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: bid < entries, so the offset is inside the buffers' allocation.
        unsafe {
            self.bufs
                .as_ptr()
                .add(usize::from(bid) * self.size as usize)
        }
    }

    /// Writes buffer `bid` at the tail and publishes the new tail.
    fn publish(&self, bid: u16) {
        let tail = self.tail.get();
        let index = usize::from(tail & (self.entries - 1));
        // SAFETY: `index < entries`, inside the ring's allocation. The kernel reads entries
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
        // SAFETY: allocated in `new` with these layouts; the last `Rc` is gone, so no
        // handle points into the buffers, and the driver drops its clone only after the
        // ring was unregistered (or leaks it), so the kernel no longer refers to them.
        unsafe {
            dealloc(self.ring.as_ptr().cast(), self.ring_layout);
            dealloc(self.bufs.as_ptr(), self.bufs_layout);
        }
    }
}

impl std::fmt::Debug for BufRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BufRing")
            .field("entries", &self.entries)
            .field("size", &self.size)
            .field("out", &self.out.get())
            .finish()
    }
}

/// One pool buffer a receive CQE filled; republished when dropped.
pub(crate) struct PoolBuf {
    pool: Rc<BufRing>,
    bid: u16,
    len: u32,
}

impl PoolBuf {
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: the buffer is out of the ring (the kernel wrote `len` bytes and will not
        // touch it until `publish`), inside the pool's allocation, kept alive by `pool`.
        unsafe { std::slice::from_raw_parts(self.pool.buf_ptr(self.bid), self.len as usize) }
    }

    pub(crate) fn as_ptr(&self) -> *const u8 {
        self.pool.buf_ptr(self.bid)
    }

    pub(crate) fn len(&self) -> usize {
        self.len as usize
    }

    pub(crate) fn capacity(&self) -> usize {
        self.pool.buf_size()
    }
}

impl Drop for PoolBuf {
    fn drop(&mut self) {
        self.pool.publish(self.bid);
    }
}

/// Splits a receive CQE's flags into the buffer id it names, if any.
pub(crate) fn selected(flags: u32) -> Option<u16> {
    io_uring::cqueue::buffer_select(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_published_taken_and_republished() {
        let pool = BufRing::new(4, 64).unwrap();
        assert_eq!(pool.out(), 0);
        // SAFETY: test: no kernel; bids 1 and 2 are taken once each.
        let (a, b) = unsafe { (pool.take(1, 10), pool.take(2, 64)) };
        assert_eq!((a.len(), b.len(), pool.out()), (10, 64, 2));
        drop(a);
        drop(b);
        assert_eq!(pool.out(), 0);
        assert_eq!(pool.tail.get(), 6);
        assert!(BufRing::new(3, 64).is_err());
        assert!(BufRing::new(4, 0).is_err());
    }
}
