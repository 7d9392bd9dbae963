//! The multishot lifecycle (lifecycle.rs, second diagram) against the fake ring: CQEs with
//! IORING_CQE_F_MORE queue in the slot, a dropped stream hands queued and later CQEs to
//! the op's late rule, and the resources live until the final CQE.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use super::super::lifecycle::decode_cancel;
use super::super::multi_op::{MultiOp, MultishotCode};
use super::super::ring::Cqe;
use super::{CountedBuf, FakeRing, counted, driver};

/// IORING_CQE_F_MORE (io_uring.h): more CQEs follow for this SQE.
const MORE: u32 = 1 << 1;

/// A multishot op that records what reaches its late rule, and owns a counted buffer.
struct Probe {
    _buf: CountedBuf,
    late: Rc<RefCell<Vec<(i32, bool)>>>,
    ended: Rc<Cell<bool>>,
}

// SAFETY: the SQE points at no memory.
unsafe impl MultishotCode for Probe {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(-1), 1).multi(true).build()
    }

    fn late_cqe(&mut self, cqe: Cqe) {
        self.late
            .borrow_mut()
            .push((cqe.result, io_uring::cqueue::more(cqe.flags)));
    }

    fn ended(self) {
        self.ended.set(true);
    }
}

struct Setup {
    driver: Rc<super::Driver>,
    ring: FakeRing,
    drops: Rc<Cell<usize>>,
    late: Rc<RefCell<Vec<(i32, bool)>>>,
    ended: Rc<Cell<bool>>,
    op: MultiOp<Probe>,
    ud: u64,
}

fn setup() -> Setup {
    let (driver, ring) = driver(8);
    let drops = Rc::new(Cell::new(0));
    let late = Rc::new(RefCell::new(Vec::new()));
    let ended = Rc::new(Cell::new(false));
    let op = driver.submit_multishot(Probe {
        _buf: counted(&drops),
        late: late.clone(),
        ended: ended.clone(),
    });
    driver.flush();
    let ud = ring.last_op_user_data();
    Setup {
        driver,
        ring,
        drops,
        late,
        ended,
        op,
        ud,
    }
}

fn cqe(ring: &FakeRing, user_data: u64, result: i32, flags: u32) {
    ring.0.borrow_mut().ready.push_back(Cqe {
        user_data,
        result,
        flags,
        buf_offset: 0,
    });
}

fn next(op: &mut MultiOp<Probe>) -> std::task::Poll<Option<Cqe>> {
    op.poll_next(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

#[test]
fn cqes_queue_in_the_slot_and_the_final_one_frees_it() {
    let mut s = setup();
    assert!(next(&mut s.op).is_pending());
    cqe(&s.ring, s.ud, 1, MORE);
    cqe(&s.ring, s.ud, 2, MORE);
    cqe(&s.ring, s.ud, 3, 0);
    s.driver.flush();
    let results: Vec<i32> = (0..3)
        .map(|_| match next(&mut s.op) {
            std::task::Poll::Ready(Some(c)) => c.result,
            other => panic!("expected a CQE, got {other:?}"),
        })
        .collect();
    assert_eq!(results, [1, 2, 3]);
    assert!(matches!(next(&mut s.op), std::task::Poll::Ready(None)));
    assert_eq!(s.driver.in_flight(), 0, "the slot outlived the final CQE");
    // A CQE after the final one is stale.
    cqe(&s.ring, s.ud, 4, 0);
    s.driver.flush();
    assert_eq!(s.driver.stats().stale_cqes, 1);
    assert!(s.op.into_data().is_some());
    assert_eq!(s.drops.get(), 1);
    assert!(s.late.borrow().is_empty() && !s.ended.get());
}

#[test]
fn a_dropped_stream_hands_queued_and_later_cqes_to_its_late_rule_and_frees_at_the_final_one() {
    let mut s = setup();
    cqe(&s.ring, s.ud, 1, MORE);
    cqe(&s.ring, s.ud, 2, MORE);
    cqe(&s.ring, s.ud, 3, MORE);
    s.driver.flush();
    assert!(matches!(next(&mut s.op), std::task::Poll::Ready(Some(c)) if c.result == 1));
    drop(s.op);
    // The two CQEs the stream had not taken went to the late rule at the drop.
    assert_eq!(*s.late.borrow(), [(2, true), (3, true)]);
    assert_eq!(s.drops.get(), 0, "freed while the kernel holds the op");
    assert_eq!(s.driver.in_flight(), 1);
    s.driver.flush();
    let cancels = s
        .ring
        .pushed()
        .iter()
        .filter(|(ud, _)| decode_cancel(*ud).is_some())
        .count();
    assert_eq!(cancels, 1, "no ASYNC_CANCEL for the dropped stream");
    cqe(&s.ring, s.ud, 4, MORE);
    s.driver.flush();
    s.driver.dispatch();
    assert_eq!(s.late.borrow().last(), Some(&(4, true)));
    assert_eq!(s.drops.get(), 0);
    cqe(&s.ring, s.ud, -libc::ECANCELED, 0);
    s.driver.flush();
    s.driver.dispatch();
    assert_eq!(s.late.borrow().last(), Some(&(-libc::ECANCELED, false)));
    assert!(s.ended.get(), "the final CQE did not settle the op");
    assert_eq!(s.drops.get(), 1);
    assert_eq!(s.driver.in_flight(), 0);
}

#[test]
fn a_stream_dropped_after_its_final_cqe_arrived_frees_at_once_without_a_cancel() {
    let s = setup();
    cqe(&s.ring, s.ud, 1, MORE);
    cqe(&s.ring, s.ud, 0, 0);
    s.driver.flush();
    drop(s.op);
    assert_eq!(*s.late.borrow(), [(1, true), (0, false)]);
    assert!(s.ended.get());
    assert_eq!(s.drops.get(), 1);
    assert_eq!(s.driver.in_flight(), 0);
    s.driver.flush();
    assert!(
        s.ring
            .pushed()
            .iter()
            .all(|(ud, _)| decode_cancel(*ud).is_none()),
        "a cancel was sent for an op the kernel no longer holds"
    );
}

#[test]
fn a_missed_cancel_of_a_dropped_stream_is_resent_until_the_final_cqe() {
    let s = setup();
    drop(s.op);
    s.driver.flush();
    let cancel_ud = s
        .ring
        .pushed()
        .iter()
        .rev()
        .find(|(ud, _)| decode_cancel(*ud).is_some())
        .unwrap()
        .0;
    // Not found, and a CQE with F_MORE in the same batch: the op is still armed.
    cqe(&s.ring, cancel_ud, -libc::ENOENT, 0);
    cqe(&s.ring, s.ud, 7, MORE);
    s.driver.flush();
    s.driver.flush();
    assert_eq!(
        s.driver.stats().cancels_resent,
        1,
        "the miss was not re-sent"
    );
    cqe(&s.ring, s.ud, -libc::ECANCELED, 0);
    s.driver.flush();
    s.driver.dispatch();
    assert_eq!(s.drops.get(), 1);
    assert_eq!(s.driver.in_flight(), 0);
}

#[test]
fn the_default_pool_cap_is_16_mib_of_buffers_as_a_power_of_two_and_never_below_the_first_count() {
    use crate::driver::resources::default_pool_max;
    assert_eq!(default_pool_max(32, 16 * 1024), 1024);
    assert_eq!(default_pool_max(512, 4096), 4096);
    assert_eq!(default_pool_max(8, 1024), 16384);
    // 16 MiB / 3000 bytes = 5592 buffers: the power of two below.
    assert_eq!(default_pool_max(8, 3000), 4096);
    assert_eq!(default_pool_max(4096, 16 * 1024), 4096);
    assert_eq!(default_pool_max(1, 64), 1 << 15);
    assert_eq!(default_pool_max(1, u32::MAX), 1);
}
