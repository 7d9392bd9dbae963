//! Streams over io_uring's network fast paths: [`RecvStream`] (multishot receive into the
//! core's pool of provided buffers, yielding [`RecvBuf`]s) and [`Incoming`] /
//! [`UnixIncoming`] (multishot accept).
//!
//! Each stream is a small state machine; its in-flight op belongs to the stream, and the
//! rules of the socket's stash (src/driver/orphans.rs) make a dropped stream lose nothing:
//!
//! ```text
//! Start ── stash settled; stashed bytes or connections first ──▶ Idle
//! Idle ── fast path probed and not refused ──▶ Armed(multishot op)
//!      └─ otherwise ────────────────────────▶ Plain(one single-shot op)
//! Armed ── CQE with F_MORE: yield ──▶ Armed
//!       ── final CQE: yield (or ENOBUFS: ▶ Plain once; EINVAL first: refused, ▶ Idle) ──▶ Idle
//! Plain ── its CQE: yield ──▶ Idle
//! end of stream or a receive error ──▶ Done (yields None from then on)
//! ```
//!
//! A receive stream keeps its multishot receive armed between polls, so it also consumes
//! data the caller has not asked for yet (into pool buffers). When the pool is empty the
//! receive ends with `ENOBUFS`, having taken nothing off the socket: the pool doubles if it
//! is below its cap (`Builder::recv_buffer_pool_max`) and the receive is re-armed; at the
//! cap, the next item comes from a plain receive into a fresh buffer if one of the
//! bounded fallback slots is free, else the stream parks until buffers or a slot come
//! back (docs/architecture.md, "Provided buffers"; docs/hazards.md, H22).
//! Do not read the same socket another way while a receive stream on it is alive.

use std::future::Future;
use std::io;
use std::ops::Deref;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, ready};

use futures_core::Stream;

use super::socket::Socket;
use super::{TcpStream, UnixStream};
use crate::buf::IoBuf;
use crate::driver::Op;
use crate::driver::bufring::{
    self, BufRing, FallbackSlot, PLAIN_RECV_BYTES, PoolBuf, PoolWait, PoolWake, Resume,
};
use crate::driver::multi_op::MultiOp;
use crate::driver::ops::multishot::{AcceptMulti, RecvMulti};
use crate::driver::ops::net::{Accept, Recv};
use crate::driver::resources::{DEFAULT_POOL, Kind};
use crate::driver::ring::Cqe;

/// Bytes one receive delivered: a buffer of the core's receive pool (returned to the pool
/// when dropped), or, on the plain path, a `Vec<u8>` of its own. Derefs to the received
/// bytes: 1 to the pool's buffer size (16 KiB by default) from the pool, 1 to 16 KiB (or
/// the pool's buffer size, if larger) from a plain receive.
///
/// It is an [`IoBuf`], so it can be handed to `write_all` as it is (an echo without a
/// copy); the pool buffer returns to the pool when the write gives it back and it is
/// dropped. Holding many `RecvBuf`s keeps their pool buffers out of the pool: once the
/// pool is empty at its cap, receives fall back to plain buffers or wait (see
/// [`RecvStream`]). Where the kernel fills pool buffers incrementally (Linux 6.12), small
/// receives from any connections share one buffer, which returns to the pool only once
/// the last `RecvBuf` on it is dropped.
pub struct RecvBuf(BufKind);

enum BufKind {
    Pool(PoolBuf),
    Owned(Vec<u8>),
}

impl RecvBuf {
    /// True if the bytes sit in a buffer of the core's pool (the multishot path), false for
    /// a buffer of their own (the plain path, or bytes a dropped stream left behind).
    pub fn is_pooled(&self) -> bool {
        matches!(self.0, BufKind::Pool(_))
    }

    /// The pool buffer id and the offset of the bytes in it.
    #[cfg(test)]
    pub(crate) fn pool_place(&self) -> Option<(u16, u32)> {
        match &self.0 {
            BufKind::Pool(b) => Some(b.place()),
            BufKind::Owned(_) => None,
        }
    }
}

impl Deref for RecvBuf {
    type Target = [u8];

    #[inline]
    fn deref(&self) -> &[u8] {
        match &self.0 {
            BufKind::Pool(b) => b.as_slice(),
            BufKind::Owned(v) => v,
        }
    }
}

impl AsRef<[u8]> for RecvBuf {
    #[inline]
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for RecvBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBuf")
            .field("len", &self.len())
            .field("pooled", &self.is_pooled())
            .finish()
    }
}

// SAFETY: the bytes live in a pool buffer (inside the pool's allocation, which the
// `PoolBuf`'s `Rc` keeps alive and which is out of the kernel's ring while the handle
// lives) or in the Vec's heap memory; neither moves when the `RecvBuf` moves. All `len`
// bytes are initialised (the kernel wrote them).
// The methods are `#[inline]`: a caller's `write_all` (generic, built in the caller's
// crate) asks for them several times per buffer.
unsafe impl IoBuf for RecvBuf {
    #[inline]
    fn stable_ptr(&self) -> *const u8 {
        match &self.0 {
            BufKind::Pool(b) => b.as_ptr(),
            BufKind::Owned(v) => v.as_ptr(),
        }
    }

    #[inline]
    fn bytes_init(&self) -> usize {
        match &self.0 {
            BufKind::Pool(b) => b.len(),
            BufKind::Owned(v) => v.len(),
        }
    }

    #[inline]
    fn bytes_total(&self) -> usize {
        match &self.0 {
            BufKind::Pool(b) => b.capacity().min(b.len()),
            BufKind::Owned(v) => v.len(),
        }
    }
}

enum RecvState {
    Start,
    Idle,
    /// The multishot receive, and whether it has yielded a CQE yet.
    Armed(MultiOp<RecvMulti>, bool),
    /// One plain receive, holding a fallback slot if it stands in for an empty pool.
    Plain(Op<Recv<Vec<u8>>>, Option<FallbackSlot>),
    /// Data is waiting, the pool is empty at its cap and every fallback slot is taken:
    /// parked on the pool until a buffer or a slot comes back.
    Parked(PoolWait),
    Done,
}

/// The bytes arriving on a stream socket, as a [`Stream`] of [`RecvBuf`]s: from
/// [`TcpStream::recv_stream`], [`UnixStream::recv_stream`] or
/// [`OwnedReadHalf::recv_stream`](super::OwnedReadHalf::recv_stream).
///
/// Where the kernel has provided-buffer rings (IORING_REGISTER_PBUF_RING, Linux 5.19) and
/// multishot receive (IORING_RECV_MULTISHOT, 6.0), one IORING_OP_RECV SQE stays armed and
/// each arrival of data is one CQE naming a buffer the kernel took from the core's pool
/// (io_uring_prep_recv_multishot(3), io_uring_register_buf_ring(3)), so an idle
/// connection holds no buffer and a busy one costs no SQE per message. Otherwise (an older
/// kernel, a backend without io_uring) each item is one plain receive into a fresh buffer
/// of up to 16 KiB.
///
/// Items: `Ok(buf)` with 1 or more bytes, in order; the stream ends (`None`) at end of
/// stream (the peer shut down its writing side). An error (`ConnectionReset`, ...) is
/// yielded once, then the stream ends. A pool that runs dry (`ENOBUFS`) is not an error:
/// the pool doubles, up to
/// [`Builder::recv_buffer_pool_max`](crate::Builder::recv_buffer_pool_max), and the
/// multishot receive is re-armed. A pool empty at its cap gives plain receives (up to 16
/// KiB each; at most the cap's bytes of them in flight per core, `DriverStats`'
/// `recv_pool_exhausted`) or, when those are all in flight, makes the stream wait with
/// nothing armed, its data left in the socket (`recv_pool_parks`), until an eighth of the
/// pool or a fallback slot is back; the stream then re-arms. A plain fallback never waits
/// for the caller to drop `RecvBuf`s, so holding every pool buffer slows a stream but
/// cannot stall it.
///
/// # Cancel safety
///
/// Dropping the stream (between items or while waiting) loses no byte and keeps no pool
/// buffer: the multishot receive is cancelled, and the bytes of every CQE it still delivers
/// (queued or arriving after the drop) are copied to the socket's stash and their buffers
/// returned to the pool; the next read of the socket (`read`, a new stream, or the
/// poll-based path) returns them first, in order (docs/architecture.md, "Late CQEs").
/// A stream dropped while it waits for the pool holds no receive and leaves the line (a
/// wake it had not used yet goes to the next stream). Items already yielded belong to the
/// caller.
pub struct RecvStream {
    sock: Socket,
    state: RecvState,
    /// The pool's wake this stream was woken with while parked, held from its re-arm
    /// until that receive's first completion (see `BufRing::rouse`).
    wake: Option<PoolWake>,
}

impl RecvStream {
    pub(super) fn new(sock: Socket) -> RecvStream {
        RecvStream {
            sock,
            state: RecvState::Start,
            wake: None,
        }
    }

    fn plain(&self) -> Op<Recv<Vec<u8>>> {
        let size = self
            .sock
            .driver()
            .recv_pool()
            .map_or(DEFAULT_POOL.1 as usize, |p| p.buf_size())
            .max(PLAIN_RECV_BYTES);
        self.sock.driver().submit(Recv {
            fd: self.sock.fd.clone(),
            buf: Vec::with_capacity(size),
            flags: 0,
            poll_first: false,
            stash: self.sock.stash().clone(),
        })
    }
}

/// A buffer a multishot receive's CQE names.
fn pooled(pool: &Rc<BufRing>, cqe: &Cqe) -> Option<RecvBuf> {
    let bid = bufring::selected(cqe.flags)?;
    // SAFETY: the bid comes from this receive's CQE, which the stream takes once.
    let buf = unsafe { pool.take(bid, cqe.buf_offset, cqe.result.max(0) as u32) };
    Some(RecvBuf(BufKind::Pool(buf)))
}

impl Stream for RecvStream {
    type Item = io::Result<RecvBuf>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        // The hot path, kept small: an armed receive past its first completion (so `wake`
        // is settled) that has bytes for the caller or nothing yet. Everything else, and
        // every other state, is `poll_slow`'s, which gets a CQE taken here.
        if let RecvState::Armed(op, true) = &mut this.state {
            match op.poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(cqe)) if cqe.result > 0 => {
                    let buf = op.data().and_then(|d| pooled(&d.pool, &cqe));
                    if !io_uring::cqueue::more(cqe.flags) {
                        this.state = RecvState::Idle;
                    }
                    return Poll::Ready(Some(buf.ok_or_else(no_buffer)));
                }
                Poll::Ready(next) => return this.poll_slow(cx, Some(next)),
            }
        }
        this.poll_slow(cx, None)
    }
}

/// A multishot receive's CQE named no buffer (the kernel always names one for a positive
/// result with IOSQE_BUFFER_SELECT).
#[cold]
fn no_buffer() -> io::Error {
    io::Error::other("ringcore: a multishot receive named no buffer")
}

impl RecvStream {
    /// `poll_next` past its hot path; `taken` is a CQE (or the end) that path already took
    /// from the armed receive.
    #[inline(never)]
    fn poll_slow(
        &mut self,
        cx: &mut Context<'_>,
        mut taken: Option<Option<Cqe>>,
    ) -> Poll<Option<io::Result<RecvBuf>>> {
        let this = self;
        loop {
            match &mut this.state {
                RecvState::Done => return Poll::Ready(None),
                RecvState::Start => {
                    let stash = this.sock.stash().clone();
                    ready!(stash.poll_settled(cx));
                    let mut bytes = Vec::new();
                    match stash.take_data(usize::MAX, false, |b| bytes.extend_from_slice(b)) {
                        Some(Ok((0, _))) => this.state = RecvState::Done,
                        Some(Ok(_)) => {
                            return Poll::Ready(Some(Ok(RecvBuf(BufKind::Owned(bytes)))));
                        }
                        Some(Err(e)) => {
                            this.state = RecvState::Done;
                            return Poll::Ready(Some(Err(e)));
                        }
                        None => this.state = RecvState::Idle,
                    }
                }
                RecvState::Idle => {
                    let driver = this.sock.driver().clone();
                    this.state = match driver
                        .recv_pool()
                        .filter(|_| driver.multishot_ok(Kind::Recv))
                    {
                        Some(pool) => RecvState::Armed(
                            driver.submit_multishot(RecvMulti {
                                fd: this.sock.fd.clone(),
                                pool,
                                stash: this.sock.stash().clone(),
                            }),
                            false,
                        ),
                        None => {
                            this.wake = None;
                            RecvState::Plain(this.plain(), None)
                        }
                    };
                }
                RecvState::Armed(op, seen) => {
                    let first = !*seen;
                    let next = match taken.take() {
                        Some(next) => next,
                        None => ready!(op.poll_next(cx)),
                    };
                    // The receive's first completion settles the wake the stream re-armed
                    // with, used or not (a buffer taken, end of stream, an error, ENOBUFS).
                    this.wake = None;
                    let Some(cqe) = next else {
                        this.state = RecvState::Idle;
                        continue;
                    };
                    *seen = true;
                    let more = io_uring::cqueue::more(cqe.flags);
                    if cqe.result > 0 {
                        // The common case first, taking the buffer without a clone of the
                        // pool's `Rc` beyond the one the `RecvBuf` holds.
                        let buf = op.data().and_then(|d| pooled(&d.pool, &cqe));
                        if !more {
                            this.state = RecvState::Idle;
                        }
                        return Poll::Ready(Some(buf.ok_or_else(no_buffer)));
                    }
                    let pool = op.data().map(|d| d.pool.clone());
                    match cqe.result {
                        0 => {
                            this.state = RecvState::Done;
                            return Poll::Ready(None);
                        }
                        e if -e == libc::ENOBUFS => {
                            // The pool was empty: nothing was taken off the socket, and data
                            // is waiting. Re-arm if buffers came back since; if the pool is
                            // still empty, double it (below its cap) and re-arm; at the cap,
                            // one plain receive if a fallback slot is free, else park until
                            // a buffer or a slot comes back.
                            this.state = match pool.map(|p| p.after_enobufs()) {
                                Some(Ok(Resume::Arm(_))) => RecvState::Idle,
                                Some(Ok(Resume::Fallback(slot))) => {
                                    RecvState::Plain(this.plain(), Some(slot))
                                }
                                Some(Err(wait)) => RecvState::Parked(wait),
                                None => RecvState::Plain(this.plain(), None),
                            };
                        }
                        e if -e == libc::EINVAL && first && !more => {
                            // No multishot receive in this kernel (before 6.0).
                            this.sock.driver().multishot_refused(Kind::Recv);
                            this.state = RecvState::Idle;
                        }
                        e => {
                            this.state = RecvState::Done;
                            return Poll::Ready(Some(Err(io::Error::from_raw_os_error(-e))));
                        }
                    }
                }
                RecvState::Parked(wait) => match wait.poll(cx.waker()) {
                    Poll::Ready(Resume::Arm(wake)) => {
                        this.wake = wake;
                        this.state = RecvState::Idle;
                    }
                    Poll::Ready(Resume::Fallback(slot)) => {
                        this.state = RecvState::Plain(this.plain(), Some(slot));
                    }
                    Poll::Pending => return Poll::Pending,
                },
                RecvState::Plain(op, _) => {
                    let (res, buf) = ready!(Pin::new(op).poll(cx));
                    this.state = RecvState::Idle;
                    match res {
                        Ok(0) => this.state = RecvState::Done,
                        Ok(_) => return Poll::Ready(Some(Ok(RecvBuf(BufKind::Owned(buf))))),
                        Err(e) => {
                            this.state = RecvState::Done;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
            }
        }
    }
}

impl std::fmt::Debug for RecvStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            RecvState::Start => "start",
            RecvState::Idle => "idle",
            RecvState::Armed(..) => "multishot",
            RecvState::Plain(_, None) => "plain",
            RecvState::Plain(_, Some(_)) => "fallback",
            RecvState::Parked(_) => "parked",
            RecvState::Done => "done",
        };
        f.debug_struct("RecvStream")
            .field("fd", &self.sock.fd.raw())
            .field("state", &state)
            .finish()
    }
}

enum AcceptState {
    Start,
    Idle,
    Armed(MultiOp<AcceptMulti>, bool),
    Plain(Op<Accept>),
}

/// The connections arriving on a listener, from multishot accept where the kernel has it.
struct AcceptStream {
    sock: Socket,
    state: AcceptState,
}

impl AcceptStream {
    fn new(sock: Socket) -> Self {
        Self {
            sock,
            state: AcceptState::Start,
        }
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<Socket>> {
        loop {
            match &mut self.state {
                AcceptState::Start => {
                    let stash = self.sock.stash().clone();
                    ready!(stash.poll_settled(cx));
                    self.state = AcceptState::Idle;
                    if let Some((fd, _)) = stash.take_accepted() {
                        return Poll::Ready(Ok(self.sock.accepted(fd)));
                    }
                }
                AcceptState::Idle => {
                    let driver = self.sock.driver().clone();
                    let (fd, stash) = (self.sock.fd.clone(), self.sock.stash().clone());
                    self.state = if driver.multishot_ok(Kind::Accept) {
                        AcceptState::Armed(
                            driver.submit_multishot(AcceptMulti { fd, stash }),
                            false,
                        )
                    } else {
                        AcceptState::Plain(driver.submit(Accept::new(fd, stash)))
                    };
                }
                AcceptState::Armed(op, seen) => {
                    let first = !*seen;
                    let Some(cqe) = ready!(op.poll_next(cx)) else {
                        self.state = AcceptState::Idle;
                        continue;
                    };
                    *seen = true;
                    let more = io_uring::cqueue::more(cqe.flags);
                    if !more {
                        self.state = AcceptState::Idle;
                    }
                    match crate::sys::cvt(cqe.result) {
                        Ok(raw) => {
                            let fd = crate::sys::fd::adopt(raw);
                            return Poll::Ready(Ok(self.sock.accepted(fd)));
                        }
                        Err(e) if e.raw_os_error() == Some(libc::EINVAL) && first && !more => {
                            // No multishot accept in this kernel (before 5.19).
                            self.sock.driver().multishot_refused(Kind::Accept);
                        }
                        Err(e) => return Poll::Ready(Err(e)),
                    }
                }
                AcceptState::Plain(op) => {
                    let res = ready!(Pin::new(op).poll(cx));
                    self.state = AcceptState::Idle;
                    return Poll::Ready(res.map(|(fd, _)| self.sock.accepted(fd)));
                }
            }
        }
    }
}

/// The connections arriving on a [`TcpListener`](super::TcpListener), as a [`Stream`] of
/// [`TcpStream`]s: from [`TcpListener::incoming`](super::TcpListener::incoming).
///
/// Where the kernel has it (IORING_ACCEPT_MULTISHOT, Linux 5.19;
/// io_uring_prep_multishot_accept(3)), one IORING_OP_ACCEPT SQE stays armed and each
/// connection is one CQE; otherwise each item is one plain accept. Sockets are created
/// with SOCK_CLOEXEC; `peer_addr` gives the peer's address (multishot accept reports
/// none).
///
/// The stream never ends. Errors are yielded and the stream goes on (re-arming its
/// accept): `EMFILE`/`ENFILE` when out of descriptors, `ConnectionAborted`.
///
/// # Cancel safety
///
/// Dropping the stream loses no connection and leaks no descriptor: its accept is
/// cancelled, and a connection accepted by a CQE that arrives afterwards (or was queued) is
/// kept on the listener for its next `accept` or `incoming`; it is closed if the listener
/// is dropped first, or if the peer has already reset it (getpeername(2) fails).
pub struct Incoming {
    inner: AcceptStream,
}

impl Incoming {
    pub(super) fn new(sock: Socket) -> Incoming {
        Incoming {
            inner: AcceptStream::new(sock),
        }
    }
}

impl Stream for Incoming {
    type Item = io::Result<TcpStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let res = ready!(self.get_mut().inner.poll_next(cx));
        Poll::Ready(Some(res.map(|sock| TcpStream { sock })))
    }
}

/// The connections arriving on a [`UnixListener`](super::UnixListener), as a [`Stream`]
/// of [`UnixStream`]s: from [`UnixListener::incoming`](super::UnixListener::incoming).
/// Works as [`Incoming`] does (multishot accept where the kernel has it).
///
/// # Cancel safety
///
/// As [`Incoming`].
pub struct UnixIncoming {
    inner: AcceptStream,
}

impl UnixIncoming {
    pub(super) fn new(sock: Socket) -> UnixIncoming {
        UnixIncoming {
            inner: AcceptStream::new(sock),
        }
    }
}

impl Stream for UnixIncoming {
    type Item = io::Result<UnixStream>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let res = ready!(self.get_mut().inner.poll_next(cx));
        Poll::Ready(Some(res.map(|sock| UnixStream { sock })))
    }
}

impl std::fmt::Debug for Incoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Incoming")
            .field(&self.inner.sock.fd.raw())
            .finish()
    }
}

impl std::fmt::Debug for UnixIncoming {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("UnixIncoming")
            .field(&self.inner.sock.fd.raw())
            .finish()
    }
}

#[cfg(test)]
mod tests;
