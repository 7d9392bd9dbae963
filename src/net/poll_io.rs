//! Poll-based I/O for stream sockets: [`PollIo`], non-blocking recv(2)/send(2)/sendmsg(2)
//! on the core's thread that wait on the driver's readiness handle
//! (`driver::readiness::Readiness`: a multishot or one-shot IORING_OP_POLL_ADD, or the
//! epoll driver's fd state), and the `tokio::io` / `futures_io` trait impls over it
//! (features `tokio-io`, `futures-io`; written once by `io::poll_traits`).
//!
//! The poll path lends no memory to the kernel: a read copies out of the socket into the
//! caller's borrowed buffer in the same call that finds data there, and while it waits only
//! a readiness poll is armed. So a `poll_read` that returns `Pending`, and any future
//! built on it that is dropped, leaves every byte in the socket (or in the socket's stash of
//! an earlier dropped ownership-passing read, which `poll_read` drains first).

use std::io::{self, IoSlice};
#[cfg(feature = "tokio-io")]
use std::mem::MaybeUninit;
use std::task::{Context, Poll, ready};

use super::socket::Socket;
use super::split::{OwnedReadHalf, OwnedWriteHalf};
use super::{TcpStream, UnixStream};
use crate::driver::Direction;
use crate::driver::readiness::Readiness;
use crate::sys::socket as sys;

mod sealed {
    /// Keeps [`PollRead`](super::PollRead) and [`PollWrite`](super::PollWrite) closed to
    /// ringcore's own stream types.
    #[allow(unreachable_pub)] // Public in a private module: the sealed-trait pattern.
    pub trait Sealed {}
}

/// Stream types whose reading side [`PollIo`] can drive: [`TcpStream`], [`UnixStream`],
/// [`OwnedReadHalf`]. Sealed.
pub trait PollRead: sealed::Sealed + Unpin {}

/// Stream types whose writing side [`PollIo`] can drive: [`TcpStream`], [`UnixStream`],
/// [`OwnedWriteHalf`]. Sealed.
pub trait PollWrite: sealed::Sealed + Unpin {}

macro_rules! poll_source {
    ($($t:ty: $($tr:ident),+;)+) => {
        $(
            impl sealed::Sealed for $t {}
            $(impl $tr for $t {})+
            impl $t {
                /// Wraps the stream in a [`PollIo`] for poll-based reads and writes
                /// (readiness through the ring, then recv(2)/send(2)), which implements
                /// `tokio::io::AsyncRead`/`AsyncWrite` (feature `tokio-io`) and
                /// `futures_io::AsyncRead`/`AsyncWrite` (feature `futures-io`).
                /// [`PollIo::into_inner`] gives the stream back.
                pub fn into_poll_io(self) -> PollIo<$t> {
                    let sock = self.sock.clone();
                    PollIo {
                        ready: Readiness::new(sock.driver().clone(), sock.fd.clone()),
                        sock,
                        inner: self,
                    }
                }
            }
        )+
    };
}

poll_source! {
    TcpStream: PollRead, PollWrite;
    UnixStream: PollRead, PollWrite;
    OwnedReadHalf: PollRead;
    OwnedWriteHalf: PollWrite;
}

/// A stream socket driven by readiness: `poll_read`/`poll_write` in the shape of
/// `std::io::Read`/`Write`, so it implements `tokio::io::AsyncRead + AsyncWrite`
/// (feature `tokio-io`) and `futures_io::AsyncRead + AsyncWrite` (feature `futures-io`)
/// for crates such as hyper, tokio-rustls, tokio-util's codecs or `futures::io::copy`.
/// Both features are on by default: each adds only a trait crate (tokio with no features
/// of its own). Only the traits cross over: tokio's types (its sockets, timers) still need
/// a tokio runtime.
///
/// Made by `into_poll_io()` on [`TcpStream`], [`UnixStream`], [`OwnedReadHalf`] and
/// [`OwnedWriteHalf`]. A read first takes what an earlier, dropped ownership-passing read
/// left in the socket's stash, then tries recv(2) with MSG_DONTWAIT on the core's thread;
/// only when the socket is empty does it wait for `POLLIN` and return `Pending`: on one
/// multishot IORING_OP_POLL_ADD armed for the stream's life (Linux 5.13+), else on a
/// one-shot POLL_ADD per wait; on the epoll readiness driver, on the driver's own
/// readiness state, with no op (docs/architecture.md, "The readiness driver"). Writes try
/// send(2) with MSG_DONTWAIT first and wait for `POLLOUT` the same way when the send
/// buffer is full. After a short transfer (the socket drained or its
/// send buffer filled) the next call waits for readiness first, which saves the syscall
/// that would fail.
///
/// Why a wrapper rather than impls on the stream types themselves: each direction keeps
/// its own armed poll op (so a reader and a writer each get woken, as the traits require),
/// and that state lives here, not in every native stream that never uses it; the native
/// ownership-passing methods stay as they are. Going back and forth costs nothing:
/// [`into_inner`](PollIo::into_inner), [`get_ref`](PollIo::get_ref). To read and write
/// from two tasks, split first (`into_split()`) and wrap each half, or use
/// `tokio::io::split` on the wrapper.
///
/// # Examples
///
/// ```
/// # #[cfg(feature = "futures-io")] {
/// use futures_io::{AsyncRead, AsyncWrite};
/// use ringcore::net::UnixStream;
/// use std::future::poll_fn;
/// use std::pin::Pin;
///
/// ringcore::block_on(async {
///     let (a, b) = UnixStream::pair()?;
///     let (mut a, mut b) = (a.into_poll_io(), b.into_poll_io());
///     let n = poll_fn(|cx| Pin::new(&mut a).poll_write(cx, b"ping")).await?;
///     assert_eq!(n, 4);
///     let mut buf = [0u8; 8];
///     let n = poll_fn(|cx| Pin::new(&mut b).poll_read(cx, &mut buf)).await?;
///     assert_eq!(&buf[..n], b"ping");
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// # }
/// ```
pub struct PollIo<T> {
    inner: T,
    /// A clone of `inner`'s socket (shares its fd and stash), so generic code can reach it.
    sock: Socket,
    /// Both directions' waits (`driver::readiness`).
    ready: Readiness,
}

impl<T> PollIo<T> {
    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Unwraps the stream. A readiness poll still armed is cancelled; no data is lost
    /// (none is buffered here).
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: PollRead> PollIo<T> {
    /// Reads up to `buf.len()` bytes into `buf`: the bytes a dropped ownership-passing read
    /// left in the socket's stash if there are any, else recv(2) with MSG_DONTWAIT; if the
    /// socket is empty, waits for `POLLIN` (a multishot IORING_OP_POLL_ADD, or a one-shot
    /// one on kernels before 5.13; on the epoll driver, the driver's readiness state) and
    /// returns `Pending`. `Ready(Ok(0))` is end-of-stream (or an empty `buf`).
    ///
    /// The waker of the latest call is woken (on the epoll driver, those of earlier calls
    /// may be woken too, which the poll contracts allow).
    ///
    /// # Errors
    ///
    /// recv(2)'s errors: `ConnectionReset` after the peer reset the connection; an error a
    /// dropped ownership-passing read saw and stashed; the poll op's error if the runtime
    /// is shutting down.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: `Pending` means no byte left the socket. A future that polls this and
    /// is dropped loses nothing; the armed poll stays with the `PollIo` for the next call.
    pub fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if let Some(res) = ready!(self.sock.poll_stashed(cx, buf)) {
            return Poll::Ready(res);
        }
        let (ptr, len) = (buf.as_mut_ptr(), buf.len());
        // SAFETY: `ptr` and `len` describe `buf`, borrowed mutably for this call.
        unsafe { self.poll_recv(cx, ptr, len) }
    }

    /// As [`poll_read`](PollIo::poll_read), into possibly uninitialised bytes (tokio's
    /// `ReadBuf`): on `Ready(Ok(n))` the first `n` bytes of `dst` are written, and no byte is
    /// de-initialised. The stash copies through `&mut [u8]`, so `dst` is zeroed first only
    /// when something is stashed.
    #[cfg(feature = "tokio-io")]
    fn poll_read_uninit(
        &mut self,
        cx: &mut Context<'_>,
        dst: &mut [MaybeUninit<u8>],
    ) -> Poll<io::Result<usize>> {
        if dst.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if !self.sock.stash_is_clear() {
            dst.fill(MaybeUninit::new(0));
            // SAFETY: every byte of `dst` was initialised just above, and `MaybeUninit<u8>`
            // has the layout of `u8`.
            let init = unsafe { &mut *(std::ptr::from_mut(dst) as *mut [u8]) };
            if let Some(res) = ready!(self.sock.poll_stashed(cx, init)) {
                return Poll::Ready(res);
            }
        }
        let (ptr, len) = (dst.as_mut_ptr().cast::<u8>(), dst.len());
        // SAFETY: `ptr` and `len` describe `dst`, borrowed mutably for this call; recv(2)
        // only writes there.
        unsafe { self.poll_recv(cx, ptr, len) }
    }

    /// recv(2) into `len` possibly uninitialised bytes at `ptr`, waiting for `POLLIN` when
    /// the socket is empty (the stash is the caller's business).
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for writes of `len` bytes for the call.
    unsafe fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        ptr: *mut u8,
        len: usize,
    ) -> Poll<io::Result<usize>> {
        let sock = &self.sock;
        self.ready.poll_io(cx, Direction::Read, len, || {
            // SAFETY: the caller guarantees `len` writable bytes at `ptr`.
            unsafe { sys::recv_nowait(sock.fd.borrow(), ptr, len) }
        })
    }
}

impl<T: PollWrite> PollIo<T> {
    /// Sends from `buf` with send(2) (MSG_DONTWAIT | MSG_NOSIGNAL); if the send buffer is
    /// full, arms a readiness poll (`POLLOUT`) and returns `Pending`. Returns how many bytes
    /// were sent, at least 1 unless `buf` is empty.
    ///
    /// # Errors
    ///
    /// send(2)'s errors: `BrokenPipe` after the peer closed or this side shut down,
    /// `ConnectionReset`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: `Pending` means nothing was sent.
    pub fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let sock = &self.sock;
        self.ready.poll_io(cx, Direction::Write, buf.len(), || {
            // SAFETY: `buf` is borrowed for the call and readable for its length.
            unsafe { sys::send_nowait(sock.fd.borrow(), buf.as_ptr(), buf.len()) }
        })
    }

    /// Sends from several buffers in order with one sendmsg(2) (gather; at most the
    /// first 1024 buffers); otherwise as [`poll_write`](PollIo::poll_write).
    ///
    /// # Errors
    ///
    /// As [`poll_write`](PollIo::poll_write).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: `Pending` means nothing was sent.
    pub fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let bufs = &bufs[..bufs.len().min(libc::UIO_MAXIOV as usize)];
        let want: usize = bufs.iter().map(|b| b.len()).sum();
        if want == 0 {
            return Poll::Ready(Ok(0));
        }
        let sock = &self.sock;
        self.ready.poll_io(cx, Direction::Write, want, || {
            sys::sendmsg_nowait(sock.fd.borrow(), bufs)
        })
    }

    /// Nothing is buffered here: always `Ready(Ok(()))`.
    #[cfg(any(feature = "tokio-io", feature = "futures-io"))]
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(Ok(()))
    }

    /// Shuts the write direction down (shutdown(2) SHUT_WR): the peer reads end-of-stream
    /// once it has read everything sent before. Never `Pending` (nothing is buffered here,
    /// so there is nothing to flush first). A connection that is already gone (the peer
    /// reset it: ENOTCONN) counts as shut down, as with tokio's streams.
    ///
    /// # Errors
    ///
    /// shutdown(2)'s other errors (practically none on a connected stream socket).
    ///
    /// # Cancel safety
    ///
    /// Completes in one call; there is nothing to cancel.
    pub fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = cx;
        Poll::Ready(match self.sock.shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            res => res,
        })
    }
}

impl<T: std::fmt::Debug> std::fmt::Debug for PollIo<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollIo")
            .field("inner", &self.inner)
            .field("read_armed", &self.ready.is_armed(Direction::Read))
            .field("write_armed", &self.ready.is_armed(Direction::Write))
            .finish()
    }
}

crate::io::poll_traits::poll_traits! {
    /// Reads as [`PollIo::poll_read`]: cancel-safe, `Pending` leaves every byte in the
    /// socket. tokio's `ReadBuf` is filled without initialising its unfilled part first.
    impl[T: PollRead] read for PollIo<T>;
    /// Writes as [`PollIo::poll_write`]; `poll_flush` is a no-op (nothing is buffered);
    /// `poll_shutdown` (tokio) and `poll_close` (futures) shut the write direction down.
    impl[T: PollWrite] vectored_write for PollIo<T>;
}

#[cfg(test)]
mod tests {
    use std::future::poll_fn;
    use std::io::Write;
    use std::task::{Context, Waker};

    use crate::driver::Direction;
    use crate::net::UnixStream;
    use crate::runtime::context;

    /// Drives `a` through: pending reads (as from futures dropped in turn), data, a
    /// short read, and another wait.
    async fn pending_reads_then_data(
        a: &mut super::PollIo<UnixStream>,
        peer: &mut std::os::unix::net::UnixStream,
    ) {
        let mut buf = [0u8; 8];
        let mut cx = Context::from_waker(Waker::noop());
        assert!(a.poll_read(&mut cx, &mut buf).is_pending());
        assert!(a.poll_read(&mut cx, &mut buf).is_pending());
        crate::yield_now().await;
        assert!(a.poll_read(&mut cx, &mut buf).is_pending());
        peer.write_all(b"hi").unwrap();
        let n = poll_fn(|cx| a.poll_read(cx, &mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"hi");
        // A short read: the next call waits for readiness first rather than trying
        // recv(2).
        assert!(a.poll_read(&mut cx, &mut buf).is_pending());
        // End-of-stream after a short read is still seen (it is reported once).
        peer.write_all(b"bye").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        let n = poll_fn(|cx| a.poll_read(cx, &mut buf[..2])).await.unwrap();
        assert_eq!(&buf[..n], b"by");
        let n = poll_fn(|cx| a.poll_read(cx, &mut buf)).await.unwrap();
        assert_eq!(&buf[..n], b"e");
        let eof = crate::time::timeout(
            std::time::Duration::from_secs(2),
            poll_fn(|cx| a.poll_read(cx, &mut buf)),
        )
        .await
        .expect("end-of-stream after a short read was lost");
        assert_eq!(eof.unwrap(), 0);
    }

    #[test]
    fn reads_wait_on_one_multishot_poll_for_the_streams_life() {
        crate::block_on(async {
            let driver = context::driver();
            let (a, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
            let mut a = UnixStream::from_std(a).into_poll_io();
            let before = driver.stats();
            let (live, _) = driver.multipoll_counts();
            pending_reads_then_data(&mut a, &mut peer).await;
            if driver.is_readiness() {
                // A readiness ring keeps the waker in its fd state: no poll op at all.
                assert!(
                    !a.ready.is_multishot(Direction::Read) && !a.ready.is_armed(Direction::Read)
                );
                assert_eq!(driver.stats().ops_submitted, before.ops_submitted, "no op");
                return;
            }
            assert!(
                a.ready.is_multishot(Direction::Read),
                "this kernel has multishot poll (5.13+)"
            );
            assert!(!a.ready.is_armed(Direction::Read));
            assert_eq!(
                driver.stats().ops_submitted,
                before.ops_submitted,
                "no one-shot op"
            );
            assert_eq!(driver.multipoll_counts().0, live + 1);
            // Dropping the PollIo cancels the poll; the entry goes at its final CQE.
            drop(a);
            for _ in 0..100 {
                if driver.multipoll_counts().0 == live {
                    break;
                }
                crate::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            assert_eq!(
                driver.multipoll_counts().0,
                live,
                "the registration was freed"
            );
        });
    }

    #[test]
    fn without_multishot_poll_reads_use_one_shot_polls() {
        crate::block_on(async {
            let driver = context::driver();
            driver.multipoll_disable();
            let (a, mut peer) = std::os::unix::net::UnixStream::pair().unwrap();
            let mut a = UnixStream::from_std(a).into_poll_io();
            let before = driver.stats();
            pending_reads_then_data(&mut a, &mut peer).await;
            assert!(!a.ready.is_multishot(Direction::Read));
            let after = driver.stats();
            // One POLL_ADD served the three pending calls; the short read and the two
            // waits for the end of stream armed at most three more.
            let polls = after.ops_submitted - before.ops_submitted;
            if driver.is_readiness() {
                // The readiness ring's own waits: no POLL_ADD at all.
                assert_eq!(polls, 0, "{polls} POLL_ADDs on a readiness ring");
            } else {
                assert!((2..=4).contains(&polls), "{polls} POLL_ADDs");
            }
            assert_eq!(after.ops_cancelled, before.ops_cancelled, "none cancelled");
        });
    }

    #[test]
    fn a_full_send_buffer_waits_for_pollout_then_sends() {
        crate::block_on(async {
            let (a, peer) = std::os::unix::net::UnixStream::pair().unwrap();
            let mut a = UnixStream::from_std(a).into_poll_io();
            let chunk = vec![7u8; 64 * 1024];
            let mut cx = Context::from_waker(Waker::noop());
            let mut sent = 0;
            // Fill the socket buffer until a write is refused.
            while let std::task::Poll::Ready(n) = a.poll_write(&mut cx, &chunk) {
                sent += n.unwrap();
                assert!(sent < 64 << 20, "the send buffer never filled");
            }
            let driver = context::driver();
            // io_uring: a POLLOUT poll is armed; a readiness ring keeps the waker instead.
            assert_eq!(
                a.ready.is_armed(Direction::Write),
                !driver.is_readiness(),
                "a POLLOUT poll is armed only on io_uring"
            );
            // The peer drains on another thread; the write completes when room appears.
            let reader = std::thread::spawn(move || {
                let mut peer = peer;
                let mut total = 0;
                let mut buf = vec![0u8; 1 << 16];
                loop {
                    match std::io::Read::read(&mut peer, &mut buf).unwrap() {
                        0 => return total,
                        n => total += n,
                    }
                }
            });
            sent += poll_fn(|cx| a.poll_write(cx, &chunk)).await.unwrap();
            drop(a);
            assert_eq!(reader.join().unwrap(), sent);
        });
    }
}
