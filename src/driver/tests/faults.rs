//! A faulty "kernel" behind the fake ring (docs/hazards.md, H1, H9), and the tests that run the
//! driver and `fs::File` against it.
//!
//! With `FakeState::faults` set, the fake ring performs reads, writes and closes for real
//! (pread/pwrite/close on the fd, buffer, length and offset of the SQE), but:
//!
//! - `enter` fails with EAGAIN, EBUSY or EINTR at random, taking no SQE;
//! - every read and write is truncated to a random shorter count (at least one byte);
//! - completions are delayed: an op may stay "in the kernel" over several enters, and a
//!   reap may hand out only some of the ready CQEs;
//! - ASYNC_CANCEL cuts an op still in the kernel short with ECANCELED.
//!
//! It also checks the driver's side of the contract: no op gets a second CQE, and every
//! op pushed gets its CQE in the end (`assert_each_op_completed_once`).

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use io_uring::{opcode, squeue};

use super::{CountedBuf, FakeRing, FakeState, driver};
use crate::driver::Driver;
use crate::driver::lifecycle::decode_cancel;
use crate::driver::ops::rw::Read;
use crate::driver::ring::Cqe;
use crate::fs::File;

/// The faulty kernel's state; see the module docs.
#[derive(Default)]
pub(super) struct Faults {
    rng: u64,
    /// Chance in 256 that an `enter` fails with EAGAIN, EBUSY or EINTR.
    enter_error: u64,
    /// Chance in 256 that an op in the kernel is left for a later `enter`; when non-zero,
    /// reaps also return only a random prefix of the ready CQEs.
    pub(super) delay: u64,
    /// Truncate reads and writes to a random count.
    truncate: bool,
    /// Raw SQEs pushed and not yet taken, in push order (parallel to `FakeState::queued`).
    raw: VecDeque<[u8; 64]>,
    /// SQEs the kernel took and has not completed.
    in_kernel: Vec<[u8; 64]>,
    /// CQEs posted per op `user_data`.
    cqes: HashMap<u64, u32>,
    /// Buffer address of each read or write pushed whose CQE has not been reaped.
    buffers: HashMap<u64, u64>,
    injected_errors: u64,
    truncated: u64,
    delayed: u64,
}

thread_local! {
    /// Addresses of buffers the faulty kernel may still write or read (pushed, CQE not
    /// reaped yet), checked by `CountedBuf`'s Drop.
    static KERNEL_OWNED: std::cell::RefCell<std::collections::HashSet<u64>> =
        std::cell::RefCell::default();
}

/// Panics if the buffer at `addr` is still owned by the faulty kernel (docs/hazards.md, H1).
pub(super) fn assert_not_kernel_owned(addr: *const u8) {
    let owned = KERNEL_OWNED.with(|k| k.borrow().contains(&(addr as u64)));
    assert!(!owned, "buffer freed while the kernel may still use it");
}

impl Faults {
    fn new(seed: u64, enter_error: u64, delay: u64, truncate: bool) -> Self {
        Self {
            rng: seed | 1,
            enter_error,
            delay,
            truncate,
            ..Default::default()
        }
    }

    /// A pseudo-random number below `n` (xorshift64*), so failures reproduce.
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) % n.max(1)
    }

    pub(super) fn push(&mut self, sqe: &squeue::Entry) {
        // SAFETY: `squeue::Entry` is `#[repr(C)]` around the 64-byte `io_uring_sqe`, so its
        // bytes are the SQE exactly as the kernel would read it.
        let raw = unsafe { std::mem::transmute_copy::<squeue::Entry, [u8; 64]>(sqe) };
        let parsed = RawSqe::parse(&raw);
        if parsed.opcode == opcode::Read::CODE || parsed.opcode == opcode::Write::CODE {
            self.buffers.insert(parsed.user_data, parsed.addr);
            KERNEL_OWNED.with(|k| k.borrow_mut().insert(parsed.addr));
        }
        self.raw.push_back(raw);
    }

    /// A CQE was handed to the driver: the op's buffer is the driver's again.
    pub(super) fn reaped(&mut self, cqe: &Cqe) {
        if let Some(addr) = self.buffers.remove(&cqe.user_data) {
            KERNEL_OWNED.with(|k| k.borrow_mut().remove(&addr));
        }
    }

    fn post(&mut self, ready: &mut VecDeque<Cqe>, user_data: u64, result: i32) {
        if decode_cancel(user_data).is_none() {
            let n = self.cqes.entry(user_data).or_default();
            *n += 1;
            assert_eq!(*n, 1, "op {user_data:#x} got a second CQE");
        }
        ready.push_back(Cqe {
            user_data,
            result,
            flags: 0,
            buf_offset: 0,
        });
    }

    /// Runs one read, write or close for real; other opcodes succeed with 0.
    fn execute(&mut self, sqe: &RawSqe) -> i32 {
        let read = sqe.opcode == opcode::Read::CODE;
        if read || sqe.opcode == opcode::Write::CODE {
            let mut len = sqe.len as usize;
            if self.truncate && len > 1 {
                let short = 1 + self.below(len as u64) as usize;
                if short < len {
                    self.truncated += 1;
                    len = short;
                }
            }
            let ptr = sqe.addr as *mut libc::c_void;
            // SAFETY: the driver promised (Ring::push) that the buffer the SQE points to
            // stays valid until this op's CQE is reaped, and the CQE is posted only after
            // this call. A broken promise is a use-after-free here, which is what this
            // ring exists to catch (under valgrind or ASan, or as corrupted data).
            let n = unsafe {
                if read {
                    libc::pread(sqe.fd, ptr, len, sqe.off as libc::off_t)
                } else {
                    libc::pwrite(sqe.fd, ptr, len, sqe.off as libc::off_t)
                }
            };
            return if n < 0 { -errno() } else { n as i32 };
        }
        if sqe.opcode == opcode::Close::CODE {
            // SAFETY: a Close op owns its raw fd (ops::fs::Close); closing it is its effect.
            return if unsafe { libc::close(sqe.fd) } < 0 {
                -errno()
            } else {
                0
            };
        }
        0
    }
}

fn errno() -> i32 {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// The fields of an `io_uring_sqe` the faulty kernel reads (see io_uring_enter(2)).
struct RawSqe {
    opcode: u8,
    fd: i32,
    off: u64,
    addr: u64,
    len: u32,
    user_data: u64,
}

impl RawSqe {
    fn parse(raw: &[u8; 64]) -> Self {
        let u32_at = |at: usize| u32::from_ne_bytes(raw[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_ne_bytes(raw[at..at + 8].try_into().unwrap());
        Self {
            opcode: raw[0],
            fd: u32_at(4) as i32,
            off: u64_at(8),
            addr: u64_at(16),
            len: u32_at(24),
            user_data: u64_at(32),
        }
    }
}

/// `Ring::enter` of the faulty kernel.
pub(super) fn enter(st: &mut FakeState) -> io::Result<usize> {
    let f = st.faults.as_mut().expect("faults set");
    if f.below(256) < f.enter_error {
        f.injected_errors += 1;
        let errno = [libc::EAGAIN, libc::EBUSY, libc::EINTR][f.below(3) as usize];
        return Err(io::Error::from_raw_os_error(errno));
    }
    let taken = st.queued.len();
    st.submitted.extend(st.queued.drain(..));
    let raw: Vec<_> = f.raw.drain(..).collect();
    f.in_kernel.extend(raw);
    let mut ops: Vec<RawSqe> = f.in_kernel.drain(..).map(|r| RawSqe::parse(&r)).collect();
    // Cancels first: they cut short the ops they name that are still in the kernel.
    for (cancel, cancel_user_data) in ops
        .iter()
        .filter(|s| s.opcode == opcode::AsyncCancel::CODE)
        .map(|s| (s.addr, s.user_data))
        .collect::<Vec<_>>()
    {
        let found = ops
            .iter()
            .position(|s| s.user_data == cancel && s.opcode != opcode::AsyncCancel::CODE);
        let res = match found {
            Some(i) => {
                let target = ops.remove(i);
                f.post(&mut st.ready, target.user_data, -libc::ECANCELED);
                0
            }
            None => -libc::ENOENT,
        };
        f.post(&mut st.ready, cancel_user_data, res);
    }
    for sqe in ops {
        if sqe.opcode == opcode::AsyncCancel::CODE {
            continue;
        }
        if f.below(256) < f.delay {
            f.delayed += 1;
            let mut raw = [0u8; 64];
            raw[0] = sqe.opcode;
            raw[4..8].copy_from_slice(&sqe.fd.to_ne_bytes());
            raw[8..16].copy_from_slice(&sqe.off.to_ne_bytes());
            raw[16..24].copy_from_slice(&sqe.addr.to_ne_bytes());
            raw[24..28].copy_from_slice(&sqe.len.to_ne_bytes());
            raw[32..40].copy_from_slice(&sqe.user_data.to_ne_bytes());
            f.in_kernel.push(raw);
            continue;
        }
        let res = f.execute(&sqe);
        f.post(&mut st.ready, sqe.user_data, res);
    }
    Ok(taken)
}

impl FakeRing {
    fn with_faults(capacity: usize, faults: Faults) -> (Rc<Driver>, FakeRing) {
        let (driver, ring) = driver(capacity);
        ring.0.borrow_mut().faults = Some(faults);
        (driver, ring)
    }

    /// Every op SQE pushed got exactly one CQE (duplicates already panicked in `post`).
    fn assert_each_op_completed_once(&self) {
        let st = self.0.borrow();
        let f = st.faults.as_ref().unwrap();
        assert!(
            st.queued.is_empty() && f.in_kernel.is_empty(),
            "ops left over"
        );
        for (ud, _) in st
            .submitted
            .iter()
            .filter(|(ud, _)| decode_cancel(*ud).is_none())
        {
            assert_eq!(f.cqes.get(ud), Some(&1), "op {ud:#x} never completed");
        }
    }

    fn fault_counts(&self) -> (u64, u64, u64) {
        let st = self.0.borrow();
        let f = st.faults.as_ref().unwrap();
        (f.injected_errors, f.truncated, f.delayed)
    }
}

/// A waker that records that it was woken.
#[derive(Default)]
struct Flag(AtomicBool);

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::Release);
    }
}

type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// A minimal single-threaded executor over a driver on the fake ring: polls each future
/// only when its waker fired (so a lost wake-up shows as a hang), enters the ring, and
/// dispatches completions. Returns every output; panics after `max_ticks` ticks.
fn run_all<'a, T>(driver: &Driver, futures: Vec<Task<'a, T>>, max_ticks: usize) -> Vec<T> {
    let mut tasks: Vec<_> = futures
        .into_iter()
        .map(|f| {
            let flag = Arc::new(Flag(AtomicBool::new(true)));
            (Some(f), flag)
        })
        .collect();
    let mut out: Vec<Option<T>> = tasks.iter().map(|_| None).collect();
    let mut left = tasks.len();
    for tick in 0.. {
        for (i, (fut, flag)) in tasks.iter_mut().enumerate() {
            if fut.is_some() && flag.0.swap(false, Ordering::AcqRel) {
                let waker = Waker::from(flag.clone());
                let poll = fut
                    .as_mut()
                    .unwrap()
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker));
                if let Poll::Ready(v) = poll {
                    *fut = None;
                    out[i] = Some(v);
                    left -= 1;
                }
            }
        }
        if left == 0 {
            break;
        }
        assert!(
            tick < max_ticks,
            "{left} futures never resolved (lost wake-up?)"
        );
        if tick % 2 == 0 {
            driver.flush();
        } else {
            driver.park(Some(std::time::Duration::ZERO));
        }
        driver.dispatch();
    }
    out.into_iter().map(Option::unwrap).collect()
}

fn temp_file(data: &[u8]) -> (tempfile::NamedTempFile, OwnedFd) {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), data).unwrap();
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tmp.path())
        .unwrap();
    (tmp, OwnedFd::from(file))
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut f = Faults::new(seed, 0, 0, false);
    (0..len).map(|_| f.below(256) as u8).collect()
}

#[test]
fn write_all_and_read_exact_deliver_exact_bytes_through_faults_and_short_results() {
    let (driver, ring) = FakeRing::with_faults(4, Faults::new(7, 64, 96, true));
    let (tmp, fd) = temp_file(b"");
    let file = Rc::new(File::from_parts(fd, driver.clone(), true));
    let data = Rc::new(pattern(300_000, 3));
    let jobs: Vec<Task<'_, ()>> = (0..4u64)
        .map(|i| {
            let (file, data) = (file.clone(), data.clone());
            Box::pin(async move {
                // Four writers, each its own 75,000-byte range at an odd offset.
                let part = data[i as usize * 75_000..(i as usize + 1) * 75_000].to_vec();
                let (res, _) = file.write_all_at(part, 11 + i * 75_000).await;
                res.unwrap();
            }) as Task<'_, ()>
        })
        .collect();
    run_all(&driver, jobs, 1_000_000);
    let on_disk = std::fs::read(tmp.path()).unwrap();
    assert!(
        on_disk[11..] == data[..],
        "write_all_at lost or moved bytes"
    );

    let reads: Vec<Task<'_, Vec<u8>>> = (0..3u64)
        .map(|i| {
            let file = file.clone();
            Box::pin(async move {
                let (res, buf) = file
                    .read_exact_at(Vec::with_capacity(100_000), 11 + i * 100_000)
                    .await;
                res.unwrap();
                buf
            }) as Task<'_, Vec<u8>>
        })
        .collect();
    let back: Vec<u8> = run_all(&driver, reads, 1_000_000).concat();
    assert!(back == data[..], "read_exact_at returned wrong bytes");

    let (errors, truncated, delayed) = ring.fault_counts();
    assert!(
        errors > 10 && truncated > 10 && delayed > 10,
        "faults not exercised"
    );
    ring.assert_each_op_completed_once();
    let stats = driver.stats();
    assert_eq!(stats.ops_submitted, stats.ops_completed);
    assert_eq!(
        stats.enter_errors, 0,
        "EAGAIN/EBUSY/EINTR must not count as failures"
    );
    assert_eq!(driver.in_flight(), 0);
}

#[test]
fn every_op_resolves_exactly_once_under_enter_errors_and_delays() {
    let (driver, ring) = FakeRing::with_faults(8, Faults::new(11, 96, 160, true));
    let data = pattern(4096, 5);
    let (_tmp, fd) = temp_file(&data);
    let fd = super::SharedFd::new(fd);
    let reads: Vec<Task<'_, usize>> = (0..5_000u64)
        .map(|i| {
            let read = driver.submit(Read {
                fd: fd.clone(),
                buf: Vec::with_capacity(1 + (i % 64) as usize),
                offset: i % 4000,
            });
            let data = &data;
            Box::pin(async move {
                let (res, buf) = read.await;
                let n = res.unwrap();
                assert!(n >= 1 && buf[..] == data[(i % 4000) as usize..][..n]);
                n
            }) as Task<'_, usize>
        })
        .collect();
    let done = run_all(&driver, reads, 1_000_000);
    assert_eq!(done.len(), 5_000);
    ring.assert_each_op_completed_once();
    let stats = driver.stats();
    assert_eq!(stats.ops_submitted, 5_000);
    assert_eq!(stats.ops_completed, 5_000);
    assert!(stats.sq_full_flushes > 0);
    assert_eq!(driver.in_flight(), 0);
}

#[test]
fn a_hundred_thousand_reads_dropped_at_random_points_free_each_buffer_once() {
    let (driver, ring) = FakeRing::with_faults(16, Faults::new(13, 32, 128, true));
    let (_tmp, fd) = temp_file(&pattern(1024, 9));
    let fd = super::SharedFd::new(fd);
    let mut rng = Faults::new(17, 0, 0, false);
    let drops: Vec<Rc<std::cell::Cell<usize>>> = (0..100_000).map(|_| Rc::default()).collect();
    let mut live = Vec::new();
    for (i, d) in drops.iter().enumerate() {
        let mut op = driver.submit(Read {
            fd: fd.clone(),
            buf: CountedBuf {
                data: Vec::with_capacity(16),
                drops: d.clone(),
            },
            offset: (i % 1000) as u64,
        });
        let noop = &mut Context::from_waker(Waker::noop());
        match rng.below(4) {
            // Dropped before its first poll (the SQE may not even have left the SQ).
            0 => drop(op),
            // Dropped after a poll, while the op is in the kernel or its CQE is on the way.
            1 => {
                let _ = Pin::new(&mut op).poll(noop);
                driver.flush();
                drop(op);
            }
            // Kept and polled to the end, or dropped later at another point.
            _ => live.push(op),
        }
        if i % 97 == 0 {
            driver.flush();
            driver.dispatch();
            // Drop some live ops whatever state they reached (maybe completed unpolled).
            let k = live.len() / 2;
            for op in live.drain(..k) {
                drop(op);
            }
        }
    }
    let live: Vec<Task<'_, ()>> = live
        .into_iter()
        .map(|op| {
            Box::pin(async move {
                let (res, _buf) = op.await;
                assert!(res.is_ok() || res.unwrap_err().raw_os_error() == Some(libc::ECANCELED));
            }) as Task<'_, ()>
        })
        .collect();
    run_all(&driver, live, 1_000_000);
    // Cancelled ops are freed when their CQEs arrive: keep ticking until none is left.
    for _ in 0..100_000 {
        if driver.in_flight() == 0 {
            break;
        }
        driver.flush();
        driver.dispatch();
    }
    assert_eq!(driver.in_flight(), 0, "op slab not empty");
    for (i, d) in drops.iter().enumerate() {
        assert_eq!(d.get(), 1, "buffer {i} dropped {} times", d.get());
    }
    ring.assert_each_op_completed_once();
}

#[test]
fn close_waits_for_an_in_flight_op_on_the_same_fd() {
    // docs/hazards.md, H7: the fd must not be closed (and its number reused) while the kernel
    // may still use it, even when the op's future was dropped.
    let (driver, ring) = driver(8);
    let (_tmp, fd) = temp_file(b"abc");
    let file = File::from_parts(fd, driver.clone(), true);
    let raw_fd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let mut read = file.read_op(Vec::with_capacity(8), 0);
    assert!(super::poll_once(&mut read).is_pending());
    let read_ud = ring.last_op_user_data();
    drop(read); // cancelled: the slot keeps the fd until the CQE
    let mut close = Box::pin(file.close());
    let is_close = |(_, op): &(u64, u32)| *op == opcode::Close::CODE as u32;
    for _ in 0..3 {
        assert!(
            close
                .as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_pending()
        );
        driver.flush();
        driver.dispatch();
        assert!(!ring.pushed().iter().any(is_close), "close raced the read");
    }
    ring.complete(read_ud, -libc::ECANCELED);
    driver.flush();
    driver.dispatch();
    let mut tries = 0;
    let res = loop {
        if let Poll::Ready(r) = close.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            break r;
        }
        if let Some(&(ud, _)) = ring.pushed().iter().find(|e| is_close(e)) {
            ring.complete(ud, 0);
        }
        driver.flush();
        driver.dispatch();
        tries += 1;
        assert!(tries < 10, "close never finished");
    };
    res.unwrap();
    assert!(ring.pushed().iter().any(is_close));
    // The fake ring does not run the close: do it here.
    // SAFETY: the Close op took ownership of this fd and nothing else uses it.
    unsafe { libc::close(raw_fd) };
}
