//! [`SendQueue`]: write-behind sends on a stream socket. `send` hands a buffer over and
//! returns at once; the core's driver sends the queued buffers in order, one IORING_OP_SEND
//! in flight per queue, without waking the task that queued them.
//!
//! Why: an echo or proxy loop that awaits each `write_all` is polled twice per message
//! (once when the bytes arrive, once when the send's CQE says they left), and the second
//! poll does nothing but go back to waiting for the next bytes. A queue moves the send's
//! completion into the driver (a *detached* op, src/driver/lifecycle.rs): the CQE frees the
//! sent buffer and starts the next send from `Driver::dispatch`, and the task runs only when
//! there is something for it to do. This is how hand-written io_uring servers treat sends
//! (submit, and recycle the buffer on the CQE), and how seastar's `output_stream` buffers
//! behind the application.
//!
//! Rules, kept here:
//!
//! 1. Order: one send in flight per queue; the next starts from the previous one's CQE.
//!    io_uring runs independent SQEs in any order, so two sends in flight on one socket
//!    could overtake each other (docs/hazards.md, H29).
//! 2. A short send (the kernel took part of the buffer) is continued from where it stopped,
//!    so a buffer's bytes go out whole and in order, as `write_all` sends them.
//! 3. The first error (a reset peer, a shut-down runtime) is kept: the buffers still queued
//!    are dropped unsent (counted in [`SendQueue::unsent_bytes`]) and every later `send` and
//!    `flush` returns the error.
//! 4. What the SQE points to stays alive: the buffer in flight is the front of the queue,
//!    and the queue's shared state is held by the driver's slot (the continuation) until
//!    the CQE. If the runtime's shutdown has to give up on a CQE, it leaks that state.
//! 5. Dropping every handle does not stop the queue: what was queued is still sent (the
//!    socket stays open until then), as the kernel sends what a `write` left in a socket's
//!    buffer after `close`. The runtime's shutdown cancels what is left.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use io_uring::{opcode, types};

use crate::buf::IoBuf;
use crate::driver::Driver;
use crate::driver::op::Continuation;
use crate::driver::readiness::takes_no_op;
use crate::driver::ring::Cqe;
use crate::driver::shared_fd::SharedFd;
use crate::runtime::context;
use crate::sys;

/// Queued bytes above which [`SendQueue::send`] waits, unless set with
/// [`SendQueue::with_limit`]: 256 KiB.
pub const DEFAULT_SEND_QUEUE_LIMIT: usize = 256 * 1024;

/// Write-behind sends on one stream socket: [`send`](SendQueue::send) queues a buffer and
/// returns at once (unless more than the queue's limit is already waiting), and the core's
/// driver sends the queued buffers in order, each one whole, freeing each buffer once the
/// kernel has taken all of its bytes. Made by [`TcpStream::send_queue`] and
/// [`UnixStream::send_queue`]; clones share the queue.
///
/// It saves the task a wake-up per send: where a loop awaiting
/// [`write_all`](super::TcpStream::write_all) is polled again when each send completes, a
/// loop queueing its sends is polled only when there is something new for it (the next
/// received bytes). The echo example's loop:
///
/// ```no_run
/// use ringcore::net::TcpStream;
/// use ringcore::stream::StreamExt;
///
/// async fn echo(stream: TcpStream) -> std::io::Result<()> {
///     let sends = stream.send_queue();
///     let mut received = stream.recv_stream();
///     while let Some(buf) = received.next().await {
///         sends.send(buf?).await?; // the pooled buffer goes back to the pool once sent
///     }
///     sends.flush().await // everything sent, or the error that stopped it
/// }
/// ```
///
/// Every buffer is sent with IORING_OP_SEND (io_uring_prep_send(3), MSG_NOSIGNAL) from
/// where it lies, one send in flight at a time; a short send continues from where it
/// stopped. Where the driver has no ring ops for sockets (the readiness driver), or the
/// send would go out alone, the first attempt is send(2) with MSG_DONTWAIT.
///
/// Do not write to the socket another way while sends are queued (the bytes would
/// interleave); use one queue per socket.
///
/// # Errors
///
/// The first error a send meets (`BrokenPipe`, `ConnectionReset`, the runtime's shutdown)
/// stops the queue: the buffers behind it are dropped unsent ([`unsent_bytes`] counts
/// them) and every later [`send`](SendQueue::send) and [`flush`](SendQueue::flush)
/// returns that error.
///
/// [`unsent_bytes`]: SendQueue::unsent_bytes
/// [`TcpStream::send_queue`]: super::TcpStream::send_queue
/// [`UnixStream::send_queue`]: super::UnixStream::send_queue
pub struct SendQueue<B: IoBuf> {
    shared: Rc<Shared<B>>,
    driver: Rc<Driver>,
}

impl<B: IoBuf> Clone for SendQueue<B> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
            driver: self.driver.clone(),
        }
    }
}

impl<B: IoBuf> fmt::Debug for SendQueue<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = self.shared.state.borrow();
        f.debug_struct("SendQueue")
            .field("fd", &self.shared.fd.raw())
            .field("buffers", &st.bufs.len())
            .field("queued_bytes", &st.queued)
            .field("limit", &self.shared.limit.get())
            .field("failed", &st.error.is_some())
            .finish()
    }
}

/// What the handles and the driver's slot share (rule 4). Holds no `Rc<Driver>`: the slot
/// that holds this belongs to the driver.
struct Shared<B> {
    fd: SharedFd,
    limit: Cell<usize>,
    state: RefCell<State<B>>,
}

struct State<B> {
    /// Queued buffers; the front one is in flight when `in_flight`.
    bufs: VecDeque<B>,
    /// Bytes of the front buffer already sent.
    sent: usize,
    in_flight: bool,
    /// Bytes queued and not yet sent (the front buffer's remainder included).
    queued: usize,
    /// Bytes the kernel has taken, in all.
    sent_total: u64,
    /// Bytes dropped unsent after an error.
    unsent: u64,
    /// The error that stopped the queue (rule 3).
    error: Option<io::Error>,
    /// Tasks waiting for room or for the queue to empty.
    waiters: Vec<Waker>,
}

/// A copy of `e` to hand out again (io::Error is not Clone).
fn copy_error(e: &io::Error) -> io::Error {
    match e.raw_os_error() {
        Some(code) => io::Error::from_raw_os_error(code),
        None => io::Error::new(e.kind(), e.to_string()),
    }
}

impl<B: IoBuf> SendQueue<B> {
    pub(crate) fn new(fd: SharedFd, driver: Rc<Driver>) -> Self {
        Self {
            shared: Rc::new(Shared {
                fd,
                limit: Cell::new(DEFAULT_SEND_QUEUE_LIMIT),
                state: RefCell::new(State {
                    bufs: VecDeque::new(),
                    sent: 0,
                    in_flight: false,
                    queued: 0,
                    sent_total: 0,
                    unsent: 0,
                    error: None,
                    waiters: Vec::new(),
                }),
            }),
            driver,
        }
    }

    /// This queue with its limit set to `bytes`: [`send`](SendQueue::send) waits while
    /// more than `bytes` are queued and not yet sent (default
    /// [`DEFAULT_SEND_QUEUE_LIMIT`], 256 KiB). A buffer larger than the limit is still
    /// accepted when the queue is below it. The limit is the queue's: every clone sees the
    /// new one, and sends waiting for room check again.
    pub fn with_limit(self, bytes: usize) -> Self {
        self.shared.limit.set(bytes);
        let waiters = std::mem::take(&mut self.shared.state.borrow_mut().waiters);
        for w in waiters {
            w.wake();
        }
        self
    }

    /// Queues `buf`'s initialised bytes to be sent after everything queued before it.
    /// Returns once the buffer is queued, which is at once unless more than the queue's
    /// limit is waiting to be sent (then it waits for room: backpressure from a slow
    /// peer). The buffer is dropped once the kernel has taken all its bytes (a pooled
    /// [`RecvBuf`](super::RecvBuf) goes back to its pool then). An empty buffer is
    /// dropped at once.
    ///
    /// `Ok` means queued, not delivered: [`flush`](SendQueue::flush) waits until
    /// everything queued has been sent.
    ///
    /// # Errors
    ///
    /// The error that stopped the queue (see [`SendQueue`]), e.g. `BrokenPipe` or
    /// `ConnectionReset` after the peer went away; `buf` is dropped unsent.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future before it completes queues nothing: `buf` is dropped with it,
    /// and the queue is unchanged.
    pub async fn send(&self, buf: B) -> io::Result<()> {
        if !self.has_room()
            && let Err(e) = poll_fn(|cx| self.poll_room(cx)).await
        {
            self.shared.state.borrow_mut().unsent += buf.bytes_init() as u64;
            return Err(e);
        }
        self.push(buf)
    }

    /// Waits until every queued byte has been sent (taken by the kernel), or the queue
    /// stopped on an error.
    ///
    /// # Errors
    ///
    /// The error that stopped the queue (see [`SendQueue`]).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future only stops waiting; the queue goes on sending.
    pub async fn flush(&self) -> io::Result<()> {
        poll_fn(|cx| self.shared.poll_until(cx, |st| st.bufs.is_empty())).await
    }

    /// Bytes queued and not yet taken by the kernel.
    pub fn queued_bytes(&self) -> usize {
        self.shared.state.borrow().queued
    }

    /// Bytes the kernel has taken from this queue so far.
    pub fn sent_bytes(&self) -> u64 {
        self.shared.state.borrow().sent_total
    }

    /// Bytes dropped unsent because an error stopped the queue (0 while it runs).
    pub fn unsent_bytes(&self) -> u64 {
        self.shared.state.borrow().unsent
    }

    /// True when a `send` need not wait: the queue runs and is below its limit.
    #[inline]
    fn has_room(&self) -> bool {
        let st = self.shared.state.borrow();
        st.error.is_none() && st.queued < self.shared.limit.get()
    }

    /// Ready with `Ok` when the queue is below its limit, with the error if it stopped.
    fn poll_room(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let limit = self.shared.limit.get();
        self.shared.poll_until(cx, |st| st.queued < limit)
    }

    /// Queues `buf` and, if no send is in flight, starts one.
    #[inline]
    fn push(&self, buf: B) -> io::Result<()> {
        // The hot path, kept small: a running queue and a non-empty buffer that either
        // waits behind the send in flight or starts one through the ring because no
        // inline attempt may be made now (the driver's budget is closed: another SQE is
        // queued this tick). Everything else is `push_slow`'s.
        let len = buf.bytes_init();
        let mut st = self.shared.state.borrow_mut();
        if st.error.is_none() && len != 0 {
            if st.in_flight {
                st.bufs.push_back(buf);
                st.queued += len;
                return Ok(());
            }
            if !self.driver.inline_budget_left() && !takes_no_op(&self.driver) {
                st.bufs.push_back(buf);
                st.sent = 0;
                st.queued += len;
                self.shared.start(&self.driver, &mut st);
                return match &st.error {
                    Some(e) => Err(copy_error(e)),
                    None => Ok(()),
                };
            }
        }
        drop(st);
        self.push_slow(buf)
    }

    /// `push` past its hot path: a stopped queue, an empty buffer, or a first attempt
    /// that may be made inline.
    #[inline(never)]
    fn push_slow(&self, buf: B) -> io::Result<()> {
        let len = buf.bytes_init();
        let mut st = self.shared.state.borrow_mut();
        if let Some(e) = st.error.as_ref().map(copy_error) {
            st.unsent += len as u64;
            return Err(e);
        }
        if len == 0 {
            return Ok(());
        }
        if st.in_flight {
            st.bufs.push_back(buf);
            st.queued += len;
            return Ok(());
        }
        let mut sent = 0;
        if takes_no_op(&self.driver) || context::may_complete_inline(&self.driver) {
            // SAFETY: `len` initialised bytes at `buf`'s stable pointer, held for the call;
            // the fd is open while `shared` holds it.
            let res =
                unsafe { sys::socket::send_nowait(self.shared.fd.borrow(), buf.stable_ptr(), len) };
            if !matches!(&res, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
                // Counted as an inline send, as `Socket::send`'s MSG_DONTWAIT attempt is.
                self.driver.metrics().inline_io(false, &res);
            }
            match res {
                Ok(n) if n >= len => {
                    st.sent_total += len as u64;
                    return Ok(());
                }
                Ok(n) => sent = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    st.unsent += len as u64;
                    st.error = Some(copy_error(&e));
                    return Err(e);
                }
            }
        }
        st.sent_total += sent as u64;
        st.bufs.push_back(buf);
        st.sent = sent;
        st.queued += len - sent;
        self.shared.start(&self.driver, &mut st);
        match &st.error {
            Some(e) => Err(copy_error(e)),
            None => Ok(()),
        }
    }
}

impl<B: IoBuf> Shared<B> {
    /// Ready when `done` holds (`Ok`) or the queue stopped (`Err`); otherwise registers.
    fn poll_until(
        &self,
        cx: &mut Context<'_>,
        done: impl FnOnce(&State<B>) -> bool,
    ) -> Poll<io::Result<()>> {
        let mut st = self.state.borrow_mut();
        if let Some(e) = &st.error {
            return Poll::Ready(Err(copy_error(e)));
        }
        if done(&st) {
            return Poll::Ready(Ok(()));
        }
        if !st.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            st.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Starts the send of the front buffer's unsent bytes (rule 1); on failure stops the
    /// queue. Call with nothing in flight and a non-empty queue.
    #[inline]
    fn start(self: &Rc<Self>, driver: &Driver, st: &mut State<B>) {
        debug_assert!(!st.in_flight);
        let Some(front) = st.bufs.front() else {
            return;
        };
        let left = front.bytes_init() - st.sent;
        // SAFETY: `st.sent` < `bytes_init` (a buffer leaves the queue once fully sent), so
        // the offset stays inside the buffer's initialised bytes.
        let ptr = unsafe { front.stable_ptr().add(st.sent) };
        let sqe = opcode::Send::new(
            types::Fd(self.fd.raw()),
            ptr,
            u32::try_from(left).unwrap_or(u32::MAX),
        )
        .flags(libc::MSG_NOSIGNAL)
        .build();
        let continuation: Rc<dyn Continuation> = self.clone();
        // SAFETY: the SQE points at the front buffer, which stays in `bufs` (a buffer's
        // bytes do not move when the buffer value does: IoBuf's contract) until this op's
        // CQE runs `on_cqe`; `self`, which owns `bufs` and the fd, moves into the slot as
        // the continuation and lives at least that long (rule 4).
        match unsafe { driver.submit_detached(sqe, Some(&self.fd), continuation) } {
            Ok(()) => st.in_flight = true,
            Err(e) => self.fail(st, e),
        }
    }

    /// Stops the queue on `e` (rule 3): drops what is queued and wakes the waiters.
    fn fail(&self, st: &mut State<B>, e: io::Error) {
        st.unsent += st.queued as u64;
        st.queued = 0;
        st.sent = 0;
        st.bufs.clear();
        if st.error.is_none() {
            st.error = Some(e);
        }
        for w in st.waiters.drain(..) {
            w.wake();
        }
    }
}

impl<B: IoBuf> Continuation for Shared<B> {
    fn on_cqe(self: Rc<Self>, driver: &Driver, cqe: Cqe) {
        // The hot path, kept small: the send took all of the only queued buffer and no
        // one waits. The buffer is dropped with no borrow held (a pooled buffer
        // republishes itself to the pool then).
        let done = {
            let mut st = self.state.borrow_mut();
            let only = st.bufs.len() == 1 && st.waiters.is_empty();
            match st.bufs.front() {
                Some(b)
                    if only
                        && cqe.result > 0
                        && b.bytes_init() == st.sent + cqe.result as usize =>
                {
                    let n = cqe.result as usize;
                    st.in_flight = false;
                    st.sent = 0;
                    st.queued = st.queued.saturating_sub(n);
                    st.sent_total += n as u64;
                    st.bufs.pop_front()
                }
                _ => None,
            }
        };
        match done {
            Some(buf) => drop(buf),
            None => self.on_cqe_slow(driver, cqe),
        }
    }
}

impl<B: IoBuf> Shared<B> {
    /// `on_cqe` past its hot path: a short send, more queued, waiters, or an error.
    #[inline(never)]
    fn on_cqe_slow(self: Rc<Self>, driver: &Driver, cqe: Cqe) {
        let mut done = None;
        {
            let mut st = self.state.borrow_mut();
            st.in_flight = false;
            let limit = self.limit.get();
            let was_full = st.queued >= limit;
            match sys::cvt(cqe.result) {
                Err(e) => self.fail(&mut st, e),
                Ok(0) => self.fail(
                    &mut st,
                    io::Error::new(io::ErrorKind::WriteZero, "send took no bytes"),
                ),
                Ok(n) => {
                    let n = n as usize;
                    st.sent += n;
                    st.queued = st.queued.saturating_sub(n);
                    st.sent_total += n as u64;
                    if st.bufs.front().is_some_and(|b| st.sent >= b.bytes_init()) {
                        st.sent = 0;
                        done = st.bufs.pop_front();
                    }
                    if !st.bufs.is_empty() {
                        self.start(driver, &mut st);
                    }
                    // Room for a waiting `send`, or an empty queue for `flush`.
                    if !st.waiters.is_empty()
                        && ((was_full && st.queued < limit) || st.bufs.is_empty())
                    {
                        for w in st.waiters.drain(..) {
                            w.wake();
                        }
                    }
                }
            }
        }
        // The sent buffer is dropped with no borrow held (a pooled buffer republishes
        // itself to the pool here).
        drop(done);
    }
}
