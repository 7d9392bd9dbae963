//! The life of one op's slot, and the `user_data` that names it.
//!
//! ```text
//!              push SQE                        CQE
//!   (none) ─────────────▶ Submitted ───────────────────────────▶ Completed(cqe)
//!                          │     │                                  ▲   │   │
//!           poll: Pending  │     │ future dropped          CQE:     │   │   │ future dropped:
//!                          ▼     │ (cancel queued)         wake     │   │   │ late_cqe at once
//!                 ┌──▶ Waiting ──┼──────────────────────────────────┘   │   ▼
//!  re-poll with   └─── (waker)   │                                      │ (vacant)
//!  another waker         │       ▼                                      │
//!                        └──▶ Cancelled(data) ── CQE: late_cqe ──▶ (vacant)
//!               future dropped   │  ▲                                   │ poll: the future
//!               (cancel queued)  └──┘ cancel answered ENOENT/EALREADY:  ▼ takes the CQE
//!                                     re-sent on a later tick        (vacant)
//! ```
//!
//! | state             | event                                  | next                              |
//! |-------------------|----------------------------------------|-----------------------------------|
//! | (none)            | SQE pushed                             | Submitted                         |
//! | Submitted         | polled, no CQE yet                     | Waiting(waker)                    |
//! | Waiting(w)        | polled with a waker `w` would not wake  | Waiting(new waker)                |
//! | Submitted/Waiting | CQE                                    | Completed(cqe); Waiting wakes `w` |
//! | Submitted/Waiting | future dropped                         | Cancelled(data); ASYNC_CANCEL     |
//! | Completed(cqe)    | polled                                 | vacant; the future resolves       |
//! | Completed(cqe)    | future dropped                         | vacant; `late_cqe` runs at once   |
//! | Cancelled(data)   | CQE                                    | vacant; `late_cqe` runs           |
//! | Cancelled(data)   | its cancel answered ENOENT or EALREADY | Cancelled; cancel re-sent later   |
//!
//! Nothing leaves Completed for Cancelled: a dropped future whose CQE is in hand needs no
//! cancel.
//!
//! Multishot ops (a multishot receive or accept, `driver::multi_op`) get many CQEs for one
//! SQE: every CQE but the last carries IORING_CQE_F_MORE. Their slot starts in `Streaming`
//! and stays there while the kernel holds the op:
//!
//! ```text
//!              push SQE                  CQE with F_MORE: queued, waker woken
//!   (none) ─────────────▶ Streaming ◀──┐
//!                          │   │  │    └──────────┘     final CQE (no F_MORE): queued,
//!        stream dropped:   │   │  └──────────────────▶ Streaming(ended)
//!        queued CQEs go to │   │ poll: takes the next        │ poll takes the final CQE,
//!        `late_more`, then │   │ queued CQE                  │ or the stream is dropped
//!        ASYNC_CANCEL      ▼   ▼                             ▼ (queued CQEs to the orphan)
//!                 Cancelled(data) ── CQE with F_MORE: late_more, stays ──┐   (vacant)
//!                          │  ▲                                          │
//!                          │  └──────────────────────────────────────────┘
//!                          └── final CQE: late_cqe ──▶ (vacant)
//! ```
//!
//! | state               | event                                 | next                                   |
//! |---------------------|---------------------------------------|----------------------------------------|
//! | (none)              | multishot SQE pushed                  | Streaming                              |
//! | Streaming           | CQE with F_MORE                       | Streaming, CQE queued, waker woken     |
//! | Streaming           | final CQE                             | Streaming(ended), CQE queued, woken    |
//! | Streaming           | polled                                | takes the oldest queued CQE, or parks  |
//! | Streaming(ended)    | final CQE taken by a poll             | vacant                                 |
//! | Streaming           | stream dropped                        | queued CQEs to `late_more`; Cancelled; ASYNC_CANCEL |
//! | Streaming(ended)    | stream dropped                        | vacant; queued CQEs to the orphan      |
//! | Cancelled(data)     | CQE with F_MORE                       | Cancelled; `late_more` runs at once    |
//! | Cancelled(data)     | final CQE                             | vacant; `late_cqe` runs                |
//!
//! `late_more` runs while the driver is borrowed, so it only copies bytes to the stash and
//! republishes pool buffers (or stashes an accepted fd); it never wakes a task. The cancel
//! rules (re-sent on a miss) are the same as for single-shot ops; the op's resources stay in
//! the slot until its *final* CQE.
//!
//! A *detached* op (a send queue's send, src/net/send_queue.rs) has no future: its slot
//! starts in `Detached(continuation)`, the continuation owns what the SQE points to, and
//! the CQE frees the slot and runs the continuation from `dispatch` (which may start the
//! next detached op). Nothing cancels it but the driver's shutdown, which cancels every op
//! in the kernel and, if it has to give up, leaks the continuation with the rest.
//!
//! | state               | event                                 | next                                   |
//! |---------------------|---------------------------------------|----------------------------------------|
//! | (none)              | detached SQE pushed                   | Detached(continuation)                 |
//! | Detached(c)         | CQE                                   | vacant; `c.on_cqe` runs in `dispatch`  |
//!
//! Who touches what: the op's future owns the resources (`Op::data`) in `Submitted`,
//! `Waiting` and `Completed`; from `Cancelled` on they belong to the slot and only the
//! driver, on the CQE, may free them. A slot is freed only when its final CQE has been seen,
//! so the kernel never writes into freed memory (docs/architecture.md, invariant 1).
//!
//! `user_data` packs the slab index (low 32 bits) with a generation (high 32 bits) drawn
//! from a per-driver counter; a CQE whose generation does not match its slot is stale and is
//! counted and ignored (invariant 2). Op indices stay below [`MAX_OP_INDEX`]. An
//! ASYNC_CANCEL's own `user_data` is its target's with `CANCEL_TAG` set in the index, so the
//! driver knows which op a cancel's answer (`-ENOENT`, `-EALREADY`) is about. Indices from
//! `RESERVED_BASE` up name the driver's own SQEs (the wake-up read).

use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Waker;

use super::op::{Continuation, Orphan};
use super::ring::Cqe;

/// `user_data` of the eventfd read that wakes a parked ring.
pub(crate) const WAKE_USER_DATA: u64 = u64::MAX - 1;
/// Slab indices at or above this value name the driver's own SQEs.
pub(crate) const RESERVED_BASE: u32 = u32::MAX - 16;
/// Set in the index half of an ASYNC_CANCEL's `user_data`.
pub(crate) const CANCEL_TAG: u32 = 1 << 31;
/// Op indices stay below this, so a tagged index never reaches `RESERVED_BASE`.
pub(crate) const MAX_OP_INDEX: u32 = RESERVED_BASE - CANCEL_TAG;

/// The `user_data` of an ASYNC_CANCEL aimed at the op in slot `index` of `generation`.
pub(crate) fn encode_cancel(index: usize, generation: u32) -> u64 {
    encode(index | CANCEL_TAG as usize, generation)
}

/// If `user_data` is an ASYNC_CANCEL's, the (index, generation) of the op it targets.
pub(crate) fn decode_cancel(user_data: u64) -> Option<(usize, u32)> {
    let (index, generation) = decode(user_data);
    let tagged = index as u32 & CANCEL_TAG != 0 && (index as u32) < RESERVED_BASE;
    tagged.then_some((index & !(CANCEL_TAG as usize), generation))
}

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
    /// ASYNC_CANCELs sent for this op (0 until its future is dropped in flight).
    pub(crate) cancels: u32,
}

/// Where an op is in its life; see the module docs.
pub(crate) enum Lifecycle {
    /// The SQE is pushed; the future has not been polled since.
    Submitted,
    /// The future is parked on this waker.
    Waiting(Waker),
    /// The CQE arrived; the future has not taken it yet.
    Completed(Cqe),
    /// The future was dropped; the slot keeps its resources until the (final) CQE.
    Cancelled(Box<dyn Orphan>),
    /// A multishot op whose stream is alive: CQEs wait here until it takes them.
    Streaming(Box<Stream>),
    /// An op no future waits for (`Driver::submit_detached`): its CQE goes to the
    /// continuation, which owns what the SQE points to.
    Detached(Rc<dyn Continuation>),
}

/// The CQEs of a live multishot op that its stream has not taken yet.
#[derive(Default)]
pub(crate) struct Stream {
    pub(crate) cqes: VecDeque<Cqe>,
    pub(crate) waker: Option<Waker>,
    /// The final CQE (without IORING_CQE_F_MORE) has arrived.
    pub(crate) ended: bool,
}

impl Lifecycle {
    /// The kernel may still post a CQE for this slot.
    pub(crate) fn in_kernel(&self) -> bool {
        match self {
            Lifecycle::Completed(_) => false,
            Lifecycle::Streaming(s) => !s.ended,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_user_data_names_its_target_and_never_an_op() {
        for (index, generation) in [(0, 0), (7, 9), (MAX_OP_INDEX as usize - 1, u32::MAX)] {
            let cancel = encode_cancel(index, generation);
            assert_eq!(decode_cancel(cancel), Some((index, generation)));
            assert_ne!(cancel, encode(index, generation));
            assert_eq!(decode_cancel(encode(index, generation)), None);
        }
        assert_eq!(decode_cancel(WAKE_USER_DATA), None);
    }
}
