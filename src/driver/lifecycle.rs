//! The life of one op's slot, and the `user_data` that names it.
//!
//! ```text
//!            push SQE                 poll (Pending)
//!   (none) ───────────▶ Submitted ─────────────────▶ Waiting(waker)
//!                          │   \                         │
//!                     CQE  │    \ future dropped         │ CQE: wake
//!                          ▼     ▼                       ▼
//!                    Completed   Cancelled(data) ◀── Completed(cqe)
//!                          │          │   future dropped before re-poll:
//!         poll: take cqe,  │          │   data sees the CQE now (late_cqe)
//!         free slot        ▼          ▼ CQE: data sees it (late_cqe), slot freed
//!                       (vacant)   (vacant)
//! ```
//!
//! Who touches what: the op's future owns the resources (`Op::data`) in `Submitted`,
//! `Waiting` and `Completed`; from `Cancelled` on they belong to the slot and only the
//! driver, on the CQE, may free them. A slot is freed only when its final CQE has been seen,
//! so the kernel never writes into freed memory (DESIGN invariant 1).
//!
//! `user_data` packs the slab index (low 32 bits) with a generation (high 32 bits) drawn
//! from a per-driver counter; a CQE whose generation does not match its slot is stale and is
//! counted and ignored (invariant 2). Indices from `RESERVED_BASE` up name the driver's own
//! SQEs (cancel requests, the wake-up read).

use std::task::Waker;

use super::op::Orphan;
use super::ring::Cqe;

/// `user_data` of IORING_OP_ASYNC_CANCEL requests: their CQEs are ignored.
pub(crate) const CANCEL_USER_DATA: u64 = u64::MAX;
/// `user_data` of the eventfd read that wakes a parked ring.
pub(crate) const WAKE_USER_DATA: u64 = u64::MAX - 1;
/// Slab indices at or above this value are never used for ops.
pub(crate) const RESERVED_BASE: u32 = u32::MAX - 16;

/// Packs a slot index and generation into `user_data`.
pub(crate) fn encode(index: usize, generation: u32) -> u64 {
    (u64::from(generation) << 32) | index as u64
}

/// Splits `user_data` back into (index, generation).
pub(crate) fn decode(user_data: u64) -> (usize, u32) {
    ((user_data & 0xFFFF_FFFF) as usize, (user_data >> 32) as u32)
}

/// One op's slot in the driver's slab.
pub(crate) struct Slot {
    pub(crate) generation: u32,
    pub(crate) state: Lifecycle,
}

/// Where an op is in its life; see the module docs.
pub(crate) enum Lifecycle {
    /// The SQE is pushed; the future has not been polled since.
    Submitted,
    /// The future is parked on this waker.
    Waiting(Waker),
    /// The CQE arrived; the future has not taken it yet.
    Completed(Cqe),
    /// The future was dropped; the slot keeps its resources until the CQE.
    Cancelled(Box<dyn Orphan>),
}
