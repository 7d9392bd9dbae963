//! Driver unit tests against a fake ring (docs/style.md, habit 11): CQEs, errors and short results
//! are injected by hand, and buffers count their drops to prove that a buffer outlives its
//! dropped future until its CQE arrives.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::IntoRawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, squeue};

use super::lifecycle::{decode, decode_cancel};
use super::ops::fs::Open;
use super::ops::rw::Read;
use super::ring::{Cqe, Ring, SqFull, Wait};
use super::shared_fd::SharedFd;
use super::{Driver, Op};
use crate::buf::{IoBuf, IoBufMut};
use crate::sys::uring::Features;

mod faults;
mod multishot;

use faults::Faults;

#[derive(Default)]
struct FakeState {
    capacity: usize,
    /// SQEs pushed and not yet "submitted" by enter: (user_data, opcode).
    queued: VecDeque<(u64, u32)>,
    /// SQEs the kernel took.
    submitted: Vec<(u64, u32)>,
    /// Completions the next reap returns.
    ready: VecDeque<Cqe>,
    /// Errors the next enter calls return, in order (then Ok).
    enter_errors: VecDeque<i32>,
    enters: usize,
    /// On enter, complete every submitted non-cancel SQE with this result.
    auto_complete: Option<i32>,
    /// When set, the ring behaves as a faulty kernel instead (see `Faults`).
    faults: Option<Faults>,
}

#[derive(Clone)]
struct FakeRing(Rc<RefCell<FakeState>>);

impl FakeRing {
    fn new(capacity: usize) -> Self {
        FakeRing(Rc::new(RefCell::new(FakeState {
            capacity,
            ..Default::default()
        })))
    }

    fn complete(&self, user_data: u64, result: i32) {
        self.0.borrow_mut().ready.push_back(Cqe {
            user_data,
            result,
            flags: 0,
            buf_offset: 0,
        });
    }

    fn pushed(&self) -> Vec<(u64, u32)> {
        let st = self.0.borrow();
        st.submitted
            .iter()
            .chain(st.queued.iter())
            .copied()
            .collect()
    }

    fn last_op_user_data(&self) -> u64 {
        self.pushed()
            .into_iter()
            .rev()
            .find(|(ud, _)| decode_cancel(*ud).is_none())
            .map(|(ud, _)| ud)
            .unwrap()
    }
}

impl Ring for FakeRing {
    unsafe fn push(&mut self, sqe: &squeue::Entry) -> Result<(), SqFull> {
        let mut st = self.0.borrow_mut();
        if st.queued.len() >= st.capacity {
            return Err(SqFull);
        }
        st.queued.push_back((sqe.get_user_data(), sqe.get_opcode()));
        if let Some(f) = &mut st.faults {
            f.push(sqe);
        }
        Ok(())
    }

    fn enter(&mut self, _wait: Wait) -> io::Result<usize> {
        let mut st = self.0.borrow_mut();
        st.enters += 1;
        if st.faults.is_some() {
            return faults::enter(&mut st);
        }
        if let Some(errno) = st.enter_errors.pop_front() {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let n = st.queued.len();
        let taken: Vec<_> = st.queued.drain(..).collect();
        if let Some(res) = st.auto_complete {
            for (ud, op) in &taken {
                if decode_cancel(*ud).is_none() && *op != opcode::AsyncCancel::CODE as u32 {
                    st.ready.push_back(Cqe {
                        user_data: *ud,
                        result: res,
                        flags: 0,
                        buf_offset: 0,
                    });
                }
            }
        }
        st.submitted.extend(taken);
        Ok(n)
    }

    fn reap(&mut self, out: &mut Vec<Cqe>) {
        let st = &mut *self.0.borrow_mut();
        let n = match &mut st.faults {
            // Hand out only some of the ready CQEs: the rest come with a later reap.
            Some(f) if f.delay > 0 => f.below(st.ready.len() as u64 + 1) as usize,
            _ => st.ready.len(),
        };
        for cqe in st.ready.drain(..n) {
            if let Some(f) = &mut st.faults {
                f.reaped(&cqe);
            }
            out.push(cqe);
        }
    }

    fn queued(&mut self) -> usize {
        self.0.borrow().queued.len()
    }

    fn needs_enter(&mut self) -> bool {
        false
    }
}

/// A buffer that counts its drops.
struct CountedBuf {
    data: Vec<u8>,
    drops: Rc<Cell<usize>>,
}

impl Drop for CountedBuf {
    fn drop(&mut self) {
        faults::assert_not_kernel_owned(self.data.as_ptr());
        self.drops.set(self.drops.get() + 1);
    }
}

// SAFETY: delegates to the inner Vec, whose heap memory is stable.
unsafe impl IoBuf for CountedBuf {
    fn stable_ptr(&self) -> *const u8 {
        self.data.stable_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.data.bytes_init()
    }
    fn bytes_total(&self) -> usize {
        self.data.bytes_total()
    }
}

// SAFETY: delegates to the inner Vec.
unsafe impl IoBufMut for CountedBuf {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.data.stable_mut_ptr()
    }
    unsafe fn set_init(&mut self, pos: usize) {
        // SAFETY: forwarded contract.
        unsafe { self.data.set_init(pos) }
    }
}

fn driver(capacity: usize) -> (Rc<Driver>, FakeRing) {
    let ring = FakeRing::new(capacity);
    let driver = Rc::new(Driver::new(Box::new(ring.clone()), Features::default()));
    (driver, ring)
}

fn test_fd() -> SharedFd {
    SharedFd::new(crate::sys::fd::eventfd().unwrap())
}

fn counted(drops: &Rc<Cell<usize>>) -> CountedBuf {
    CountedBuf {
        data: Vec::with_capacity(16),
        drops: drops.clone(),
    }
}

fn read_op(driver: &Rc<Driver>, drops: &Rc<Cell<usize>>) -> Op<Read<CountedBuf>> {
    driver.submit(Read {
        fd: test_fd(),
        buf: counted(drops),
        offset: 0,
    })
}

fn poll_once<F: Future + Unpin>(f: &mut F) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn dropped_op_frees_its_buffer_only_after_the_cqe() {
    let (driver, ring) = driver(8);
    let drops = Rc::new(Cell::new(0));
    let mut op = read_op(&driver, &drops);
    assert!(poll_once(&mut op).is_pending());
    let ud = ring.last_op_user_data();
    drop(op);
    driver.flush();
    driver.dispatch();
    assert_eq!(
        drops.get(),
        0,
        "buffer freed while the kernel may still write it"
    );
    assert_eq!(driver.in_flight(), 1);
    assert!(
        ring.pushed()
            .iter()
            .any(|(u, op)| decode_cancel(*u).is_some() && *op == opcode::AsyncCancel::CODE as u32),
        "an ASYNC_CANCEL was queued"
    );
    ring.complete(ud, -libc::ECANCELED);
    driver.flush();
    driver.dispatch();
    assert_eq!(drops.get(), 1);
    assert_eq!(driver.in_flight(), 0);
}

#[test]
fn op_dropped_after_its_cqe_but_before_repoll_frees_at_once() {
    let (driver, ring) = driver(8);
    let drops = Rc::new(Cell::new(0));
    let mut op = read_op(&driver, &drops);
    assert!(poll_once(&mut op).is_pending());
    ring.complete(ring.last_op_user_data(), 5);
    driver.flush();
    driver.dispatch();
    drop(op);
    assert_eq!(drops.get(), 1);
    assert_eq!(driver.in_flight(), 0);
}

#[test]
fn cqe_with_a_stale_generation_is_ignored() {
    let (driver, ring) = driver(8);
    let drops = Rc::new(Cell::new(0));
    let mut first = read_op(&driver, &drops);
    let first_ud = ring.last_op_user_data();
    ring.complete(first_ud, 3);
    driver.flush();
    let Poll::Ready((res, _buf)) = poll_once(&mut first) else {
        panic!("first op should be complete");
    };
    assert_eq!(res.unwrap(), 3);

    // The slot is reused with a new generation.
    let mut second = read_op(&driver, &drops);
    let second_ud = ring.last_op_user_data();
    assert_eq!(decode(first_ud).0, decode(second_ud).0, "same slot");
    assert_ne!(first_ud, second_ud, "different generation");

    ring.complete(first_ud, 99); // a late duplicate for the old op
    driver.flush();
    assert_eq!(driver.stats().stale_cqes, 1);
    assert!(
        poll_once(&mut second).is_pending(),
        "stale CQE must not complete the new op"
    );

    ring.complete(second_ud, 7);
    driver.flush();
    let Poll::Ready((res, _)) = poll_once(&mut second) else {
        panic!("second op should be complete");
    };
    assert_eq!(res.unwrap(), 7);
}

#[test]
fn submit_error_after_push_does_not_free_the_ops_data() {
    let (driver, ring) = driver(8);
    let drops = Rc::new(Cell::new(0));
    let mut op = read_op(&driver, &drops);
    let ud = ring.last_op_user_data();
    ring.0.borrow_mut().enter_errors.push_back(libc::EIO);
    driver.flush(); // enter fails: the SQE stays queued and owned
    assert_eq!(driver.stats().enter_errors, 1);
    assert!(poll_once(&mut op).is_pending());
    drop(op);
    driver.flush();
    driver.dispatch();
    assert_eq!(drops.get(), 0, "data freed after a failed submit");
    ring.complete(ud, -libc::ECANCELED);
    driver.flush();
    driver.dispatch();
    assert_eq!(drops.get(), 1);
}

#[test]
fn eintr_eagain_ebusy_from_enter_are_retried_or_absorbed() {
    let (driver, ring) = driver(8);
    let drops = Rc::new(Cell::new(0));
    let mut op = read_op(&driver, &drops);
    let ud = ring.last_op_user_data();
    for errno in [libc::EINTR, libc::EAGAIN, libc::EBUSY] {
        ring.0.borrow_mut().enter_errors.push_back(errno);
        driver.flush();
    }
    // EINTR on a non-waiting enter is retried at once, so the SQE went out.
    assert_eq!(driver.stats().enter_errors, 0);
    driver.flush();
    ring.complete(ud, 4);
    driver.flush();
    let Poll::Ready((res, _)) = poll_once(&mut op) else {
        panic!("op should complete");
    };
    assert_eq!(res.unwrap(), 4);
}

#[test]
fn a_full_sq_is_flushed_never_a_panic() {
    let (driver, ring) = driver(2);
    let drops = Rc::new(Cell::new(0));
    let ops: Vec<_> = (0..100).map(|_| read_op(&driver, &drops)).collect();
    assert!(driver.stats().sq_full_flushes >= 49);
    assert_eq!(ring.pushed().len(), 100);
    for (ud, _) in ring.pushed() {
        ring.complete(ud, 0);
    }
    driver.flush();
    for mut op in ops {
        assert!(matches!(poll_once(&mut op), Poll::Ready((Ok(0), _))));
    }
    assert_eq!(driver.in_flight(), 0);
    assert_eq!(drops.get(), 100);
}

#[test]
fn cancelled_open_closes_the_fd_its_late_cqe_carries() {
    let (driver, ring) = driver(8);
    let mut op = driver.submit(Open {
        path: c"/dev/null".into(),
        flags: libc::O_RDONLY,
        mode: 0,
    });
    assert!(poll_once(&mut op).is_pending());
    let ud = ring.last_op_user_data();
    drop(op);
    // The "kernel" opened a file anyway: hand it the read end of a pipe. Once that end is
    // closed, writing to the other end fails with EPIPE (race-free, unlike probing the fd
    // number, which a parallel test may reuse).
    let (reader, writer) = std::io::pipe().unwrap();
    ring.complete(ud, reader.into_raw_fd());
    driver.flush();
    driver.dispatch();
    let err = std::io::Write::write(&mut &writer, b"x").unwrap_err();
    assert_eq!(
        err.kind(),
        io::ErrorKind::BrokenPipe,
        "the orphaned fd must be closed"
    );
}

#[test]
fn shutdown_cancels_and_drains_before_freeing() {
    let (driver, ring) = driver(32);
    let drops = Rc::new(Cell::new(0));
    let mut live = read_op(&driver, &drops);
    assert!(poll_once(&mut live).is_pending());
    for _ in 0..10 {
        let mut op = read_op(&driver, &drops);
        assert!(poll_once(&mut op).is_pending());
        drop(op);
    }
    assert_eq!(drops.get(), 0);
    ring.0.borrow_mut().auto_complete = Some(-libc::ECANCELED);
    driver.shutdown();
    assert_eq!(drops.get(), 10, "cancelled ops freed after their CQEs");
    // The live op completed with the cancellation and still owns its buffer.
    let Poll::Ready((res, _buf)) = poll_once(&mut live) else {
        panic!("live op should have its CQE");
    };
    assert_eq!(res.unwrap_err().raw_os_error(), Some(libc::ECANCELED));
    assert_eq!(driver.in_flight(), 0);
    // Ops after shutdown fail without reaching the ring.
    let before = ring.pushed().len();
    let mut late = read_op(&driver, &drops);
    assert!(matches!(poll_once(&mut late), Poll::Ready((Err(_), _))));
    assert_eq!(ring.pushed().len(), before);
}

#[test]
fn op_sqe_carries_the_generation_tagged_user_data() {
    let (driver, ring) = driver(8);
    let drops = Rc::new(Cell::new(0));
    let op = read_op(&driver, &drops);
    let (index, generation) = decode(ring.last_op_user_data());
    assert_eq!(index, 0);
    assert_eq!(generation, 1);
    drop(op);
    ring.0.borrow_mut().auto_complete = Some(-libc::ECANCELED);
}

/// Counts its wakes.
struct WakeCount(std::sync::atomic::AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

fn wake_count() -> (std::sync::Arc<WakeCount>, Waker) {
    let count = std::sync::Arc::new(WakeCount(std::sync::atomic::AtomicUsize::new(0)));
    let waker = Waker::from(count.clone());
    (count, waker)
}

/// An op polled by one task and then re-polled with another waker (it moved, or a `select`
/// re-polled it from a new context) must wake the new waker on its CQE, not the old one.
#[test]
fn repoll_with_a_different_waker_wakes_the_new_one() {
    use std::sync::atomic::Ordering::SeqCst;
    let (driver, ring) = driver(8);
    let drops = Rc::new(Cell::new(0));
    let mut op = read_op(&driver, &drops);
    let (first, first_waker) = wake_count();
    let (second, second_waker) = wake_count();
    assert!(
        Pin::new(&mut op)
            .poll(&mut Context::from_waker(&first_waker))
            .is_pending()
    );
    driver.flush();
    assert!(
        Pin::new(&mut op)
            .poll(&mut Context::from_waker(&second_waker))
            .is_pending()
    );
    ring.complete(ring.last_op_user_data(), 3);
    driver.flush();
    driver.dispatch();
    assert_eq!(first.0.load(SeqCst), 0, "the replaced waker was woken");
    assert_eq!(second.0.load(SeqCst), 1, "the new waker was not woken");
    let Poll::Ready((res, _)) = poll_once(&mut op) else {
        panic!("completed op still pending");
    };
    assert_eq!(res.unwrap(), 3);
}

/// A cancel the kernel answers ENOENT while its op has no CQE is sent again on a later
/// tick, until the op's CQE arrives; then it stops.
#[test]
fn a_missed_cancel_is_resent_until_the_op_completes() {
    let (driver, ring) = driver(8);
    let drops = Rc::new(Cell::new(0));
    let op = read_op(&driver, &drops);
    driver.flush();
    let target = ring.last_op_user_data();
    drop(op);
    driver.flush();
    let cancels = |ring: &FakeRing| {
        ring.pushed()
            .iter()
            .filter(|(ud, _)| super::lifecycle::decode_cancel(*ud).is_some())
            .count()
    };
    assert_eq!(cancels(&ring), 1);
    let cancel_ud = ring
        .pushed()
        .iter()
        .rev()
        .find(|(ud, _)| super::lifecycle::decode_cancel(*ud).is_some())
        .unwrap()
        .0;
    // The kernel did not find it; the op itself has not completed.
    ring.complete(cancel_ud, -libc::ENOENT);
    driver.flush();
    assert_eq!(driver.stats().cancels_missed, 1);
    driver.flush();
    assert_eq!(cancels(&ring), 2, "the missed cancel was not sent again");
    assert_eq!(driver.stats().cancels_resent, 1);
    // This time the op's CQE comes in the same batch as the miss: no third cancel.
    let cancel_ud = ring.pushed().last().unwrap().0;
    ring.complete(cancel_ud, -libc::ENOENT);
    ring.complete(target, 5);
    driver.flush();
    driver.dispatch();
    driver.flush();
    driver.flush();
    assert_eq!(cancels(&ring), 2, "a cancel was sent for a completed op");
    assert_eq!(drops.get(), 1);
    assert_eq!(driver.in_flight(), 0);
}
