//! What the driver registers with or tunes on its ring beyond the op slab
//! ([`RingResources`], `Inner::resources`): the per-core receive buffer pool
//! (src/driver/bufring.rs), created and registered on first use; the registered-file
//! table (src/driver/fixed.rs), given at build time; the SEND_ZC threshold; and which
//! multishot ops the kernel refused (`EINVAL` on the first CQE; the callers then take
//! their plain paths for the rest of the core's life).

use std::rc::Rc;

use super::bufring::{BufRing, POOL_BGID};
use super::fixed::FixedFiles;
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

/// What the driver registers with or tunes on its ring; see the module docs.
pub(super) struct RingResources {
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

impl Default for RingResources {
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
        if let Some(pool) = self.resources.pool.take()
            && self.ring.unregister_buf_ring(POOL_BGID).is_err()
        {
            // Still registered: the kernel may refer to it until the ring is closed.
            std::mem::forget(pool);
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
        let f = &inner.resources;
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
                inner.resources.pool_failed = true;
                return None;
            }
        };
        let flags = if incremental {
            crate::sys::uring::IOU_PBUF_RING_INC
        } else {
            0
        };
        // SAFETY: the ring entries and buffers are owned by `pool`, which the driver keeps
        // (`resources.pool`) until `release_pool` unregisters it, or leaks.
        let res = unsafe {
            inner
                .ring
                .register_buf_ring(pool.ring_addr(), pool.ring_entries(), POOL_BGID, flags)
        };
        if res.is_err() {
            inner.resources.pool_failed = true;
            return None;
        }
        inner.resources.pool = Some(pool.clone());
        Some(pool)
    }

    /// Sets the receive pool's shape: `buffers` buffers of `size` bytes at first, growing
    /// to at most `max_buffers` (before its first use; later calls do nothing).
    pub(crate) fn set_recv_pool(&self, buffers: u16, max_buffers: u16, size: u32) {
        let mut inner = self.inner.borrow_mut();
        if inner.resources.pool.is_none() {
            inner.resources.config = (buffers, max_buffers, size);
        }
    }

    /// Gives the driver the ring's registered-file table (see `driver::fixed`).
    pub(crate) fn set_fixed_files(&self, table: FixedFiles) {
        self.inner.borrow_mut().resources.fixed = Some(Rc::new(table));
    }

    /// Sends of at least this many bytes use IORING_OP_SEND_ZC (None: never).
    pub(crate) fn set_send_zc_from(&self, bytes: Option<usize>) {
        self.inner.borrow_mut().resources.send_zc_from = bytes;
    }

    /// Should a send of `len` bytes go out with IORING_OP_SEND_ZC?
    #[inline]
    pub(crate) fn use_send_zc(&self, len: usize) -> bool {
        let inner = self.inner.borrow();
        inner.features.send_zc && inner.resources.send_zc_from.is_some_and(|from| len >= from)
    }

    /// Counts one send that went out with IORING_OP_SEND_ZC.
    pub(crate) fn count_zerocopy_send(&self) {
        self.inner.borrow_mut().stats.zerocopy_sends += 1;
    }

    /// May a multishot op of `kind` be tried (probed, and not refused since)?
    pub(crate) fn multishot_ok(&self, kind: Kind) -> bool {
        let inner = self.inner.borrow();
        match kind {
            Kind::Recv => inner.features.buf_ring && !inner.resources.recv_refused,
            Kind::Accept => inner.features.accept_multishot && !inner.resources.accept_refused,
        }
    }

    /// The kernel answered a multishot op of `kind` with `EINVAL`: use the plain path.
    pub(crate) fn multishot_refused(&self, kind: Kind) {
        let mut inner = self.inner.borrow_mut();
        match kind {
            Kind::Recv => inner.resources.recv_refused = true,
            Kind::Accept => inner.resources.accept_refused = true,
        }
    }
}
