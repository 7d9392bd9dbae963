//! `Socket`: the fd and driver behind every public socket type, and the ops they share.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::ops::multishot::SendZc;
use crate::driver::ops::net::Socket as SocketOp;
use crate::driver::ops::net::{Accept, Connect, PollAdd, Recv, RecvMsg, Send, SendMsg};
use crate::driver::orphans::Stash;
use crate::driver::readiness::{poll_io_without_op, takes_no_op};
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Direction, Driver, Op};
use crate::runtime::context;
use crate::sys::socket::{self as sys, SockAddr};

/// The most bytes one zero-copy send takes (a longer write is a short count, which
/// `write_all` continues): one op waits for the notification of all its bytes, so a
/// whole megabyte in one op loses to plain sends (docs/benchmarks.md, "io_uring fast
/// paths").
const ZC_MAX_SEND: usize = 256 * 1024;

/// The most buffers one vectored op takes (the kernel's UIO_MAXIOV, IOV_MAX in libc).
pub(crate) const IOV_MAX: usize = 1024;

/// A socket fd shared with the ops in flight on it, and the driver of its core.
///
/// Clones (the read and write halves) share the fd and the [`Stash`] of what dropped
/// receives and accepts left behind; every receive and accept goes through the stash
/// first, so a dropped future loses no data (see `driver::orphans`).
#[derive(Clone)]
pub(crate) struct Socket {
    pub(crate) fd: SharedFd,
    driver: Rc<Driver>,
    stash: Rc<Stash>,
    /// The last receive did not fill its buffer, so the socket is probably drained and the
    /// next receive should wait for readiness before trying (IORING_RECVSEND_POLL_FIRST).
    /// Request/response traffic (an echo server) then skips one failed receive attempt
    /// per message; bulk transfers, which fill their buffers, keep the eager attempt.
    drained: Cell<bool>,
    /// Whether zero-copy sends apply to this socket (TCP only): unknown until its first
    /// send large enough to ask.
    zerocopy: Cell<Option<bool>>,
}

impl Socket {
    fn new(fd: OwnedFd, driver: Rc<Driver>) -> Self {
        Self {
            fd: SharedFd::new_socket(fd),
            driver,
            stash: Rc::default(),
            drained: Cell::new(false),
            zerocopy: Cell::new(None),
        }
    }

    /// Wraps an fd for the current core's driver.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub(crate) fn from_fd(fd: OwnedFd) -> Self {
        Self::new(fd, context::driver())
    }

    /// Creates a socket through the ring (IORING_OP_SOCKET), or with socket(2) on kernels
    /// before 5.19.
    #[track_caller]
    pub(crate) fn create(domain: i32, ty: i32) -> impl Future<Output = io::Result<Socket>> {
        let driver = context::driver();
        async move {
            let fd = if driver.features().socket {
                driver
                    .submit(SocketOp {
                        domain,
                        ty,
                        protocol: 0,
                    })
                    .await?
            } else {
                sys::socket(domain, ty, 0)?
            };
            Ok(Socket::new(fd, driver))
        }
    }

    /// Creates a socket with socket(2) (for the synchronous `bind` constructors).
    #[track_caller]
    pub(crate) fn create_sync(domain: i32, ty: i32) -> io::Result<Socket> {
        Ok(Self::from_fd(sys::socket(domain, ty, 0)?))
    }

    pub(crate) fn bind(&self, addr: &SockAddr) -> io::Result<()> {
        sys::bind(self.fd.borrow(), addr)
    }

    pub(crate) fn listen(&self, backlog: i32) -> io::Result<()> {
        sys::listen(self.fd.borrow(), backlog)
    }

    pub(crate) fn set_int(&self, level: i32, name: i32, value: i32) -> io::Result<()> {
        sys::set_int(self.fd.borrow(), level, name, value)
    }

    pub(crate) fn get_int(&self, level: i32, name: i32) -> io::Result<i32> {
        sys::get_int(self.fd.borrow(), level, name)
    }

    pub(crate) fn local_addr(&self) -> io::Result<SockAddr> {
        sys::local_addr(self.fd.borrow())
    }

    pub(crate) fn peer_addr(&self) -> io::Result<SockAddr> {
        sys::peer_addr(self.fd.borrow())
    }

    pub(crate) fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        sys::shutdown(self.fd.borrow(), how)
    }

    pub(crate) fn take_error(&self) -> io::Result<Option<io::Error>> {
        sys::take_error(self.fd.borrow())
    }

    /// Message-oriented (datagram, seqpacket): a stashed message is taken whole.
    fn is_datagram(&self) -> bool {
        !matches!(
            self.get_int(libc::SOL_SOCKET, libc::SO_TYPE),
            Ok(libc::SOCK_STREAM)
        )
    }

    /// Received data (or an error) that dropped receives left in the stash, copied into
    /// `dst` — for the poll-based read path.
    ///
    /// `Ready(Some(Ok(n)))`: `n` stashed bytes were copied (0: end-of-stream or an empty
    /// datagram); `Ready(Some(Err(e)))`: an error a dropped receive saw; `Ready(None)`:
    /// nothing is stashed and no dropped receive is in flight, so the caller may receive
    /// itself; `Pending`: a dropped receive is still in flight (its data must come first),
    /// and the waker is woken when it completes.
    pub(crate) fn poll_stashed(
        &self,
        cx: &mut Context<'_>,
        dst: &mut [u8],
    ) -> Poll<Option<io::Result<usize>>> {
        if self.stash.poll_settled(cx).is_pending() {
            return Poll::Pending;
        }
        if self.stash.is_empty() {
            return Poll::Ready(None);
        }
        let cap = dst.len();
        let taken = self.stash.take_data(cap, self.is_datagram(), |src| {
            dst[..src.len()].copy_from_slice(src)
        });
        Poll::Ready(taken.map(|res| res.map(|(n, _)| n)))
    }

    /// The driver of the socket's core.
    pub(crate) fn driver(&self) -> &Rc<Driver> {
        &self.driver
    }

    /// What dropped receives and accepts on this socket left behind.
    pub(crate) fn stash(&self) -> &Rc<Stash> {
        &self.stash
    }

    /// Wraps `fd` (a connection this listener accepted) for the same core.
    pub(crate) fn accepted(&self, fd: OwnedFd) -> Socket {
        Socket::new(fd, self.driver.clone())
    }

    /// True when [`poll_stashed`](Socket::poll_stashed) would return `Ready(None)` now:
    /// nothing stashed and no dropped receive in flight. Registers no waker. (Lets the
    /// poll path skip initialising a caller's uninitialised buffer.)
    #[cfg_attr(not(feature = "tokio-io"), allow(dead_code))]
    pub(crate) fn stash_is_clear(&self) -> bool {
        self.stash.orphans() == 0 && self.stash.is_empty()
    }

    /// Waits for receives dropped in flight, then takes what they left into `bufs`, in
    /// order. `None` when nothing was stashed.
    async fn take_stashed<B: IoBufMut>(
        &self,
        bufs: &mut [B],
    ) -> Option<io::Result<(usize, Option<SockAddr>)>> {
        self.stash.settled().await;
        if self.stash.is_empty() {
            return None;
        }
        let cap = bufs.iter().map(|b| b.bytes_total()).sum();
        self.stash.take_data(cap, self.is_datagram(), |mut src| {
            for b in bufs.iter_mut() {
                let k = src.len().min(b.bytes_total());
                // SAFETY: `k <= bytes_total` writable bytes at the buffer's stable pointer,
                // owned by the caller's buffer; `src` is a distinct Vec's memory.
                unsafe {
                    std::ptr::copy_nonoverlapping(src.as_ptr(), b.stable_mut_ptr(), k);
                    b.set_init(k);
                }
                src = &src[k..];
            }
        })
    }

    /// Accepts a connection: one a dropped accept left in the stash, else
    /// IORING_OP_ACCEPT. The new socket belongs to the same core.
    pub(crate) async fn accept(&self) -> io::Result<(Socket, SockAddr)> {
        self.stash.settled().await;
        let (fd, addr) = match self.stash.take_accepted() {
            Some(accepted) => accepted,
            None => {
                let accept = Accept::new(self.fd.clone(), self.stash.clone());
                self.driver.submit(accept).await?
            }
        };
        Ok((Socket::new(fd, self.driver.clone()), addr))
    }

    /// IORING_OP_CONNECT.
    pub(crate) async fn connect(&self, addr: SockAddr) -> io::Result<()> {
        self.driver
            .submit(Connect {
                fd: self.fd.clone(),
                addr: Box::new(addr),
            })
            .await
    }

    /// Receives into the start of `buf`: what dropped receives left in the stash, else
    /// IORING_OP_RECV. Where the driver moves socket bytes without ops (the readiness
    /// ring), recv(2) with MSG_DONTWAIT, waiting for readiness in between (`recv_ready`).
    pub(crate) async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        let mut one = [buf];
        if let Some(res) = self.take_stashed(&mut one).await {
            let [buf] = one;
            return (res.map(|(n, _)| n), buf);
        }
        let [buf] = one;
        let want = buf.bytes_total();
        if takes_no_op(&self.driver) {
            return self.recv_ready(buf).await;
        }
        let (res, buf) = self
            .driver
            .submit(Recv {
                fd: self.fd.clone(),
                buf,
                flags: 0,
                poll_first: self.drained.get(),
                stash: self.stash.clone(),
            })
            .await;
        self.drained.set(matches!(res, Ok(n) if n < want && n > 0));
        (res, buf)
    }

    /// Sends `buf`'s initialised bytes: IORING_OP_SEND, or, when this send would go out
    /// alone in the next io_uring_enter (see `context::may_complete_inline`), send(2) with
    /// MSG_DONTWAIT first, which completes at once when the socket buffer has room and
    /// falls back to the ring on EAGAIN. Where the driver moves socket bytes without ops
    /// (the readiness ring), send(2) with MSG_DONTWAIT, waiting for readiness in between
    /// (`send_ready`).
    pub(crate) async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        if self.driver.use_send_zc(buf.bytes_init()) && self.is_tcp() {
            return self.send_zc(buf).await;
        }
        if takes_no_op(&self.driver) {
            return self.send_ready(buf).await;
        }
        let want = buf.bytes_init();
        if context::may_complete_inline(&self.driver) {
            // SAFETY: `bytes_init` initialised bytes at `stable_ptr` belong to `buf`, which
            // we hold for the whole call.
            let res = unsafe { sys::send_nowait(self.fd.borrow(), buf.stable_ptr(), want) };
            match res {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                res => {
                    self.driver.metrics().inline_io(false, &res);
                    return (res, buf);
                }
            }
        }
        self.driver
            .submit(Send {
                fd: self.fd.clone(),
                buf,
            })
            .await
    }

    /// recv(2) with MSG_DONTWAIT into the start of `buf`, waiting for readiness in between
    /// in the readiness ring's fd state ([`poll_io_without_op`]), as tokio's reads do.
    /// Dropping the future while it waits takes nothing off the socket: the syscall and
    /// its result happen in one poll.
    async fn recv_ready<B: IoBufMut>(&self, mut buf: B) -> BufResult<usize, B> {
        let want = buf.bytes_total();
        let ptr = buf.stable_mut_ptr();
        let fd = self.fd.raw();
        let res = std::future::poll_fn(|cx| {
            poll_io_without_op(&self.driver, fd, cx, Direction::Read, want, || {
                // SAFETY: `want` writable bytes at `ptr`, the stable pointer of `buf`,
                // which this function owns until it returns; `fd` is open while `self`
                // lives.
                unsafe { sys::recv_nowait(self.fd.borrow(), ptr, want) }
            })
        })
        .await;
        if let Ok(n) = res {
            // SAFETY: recv(2) wrote the first `n` bytes.
            unsafe { buf.set_init(n) };
        }
        (res, buf)
    }

    /// send(2) with MSG_DONTWAIT of `buf`'s initialised bytes, waiting for readiness in
    /// between in the readiness ring's fd state ([`poll_io_without_op`]). Dropping the future
    /// while it waits sends nothing.
    async fn send_ready<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        let want = buf.bytes_init();
        let ptr = buf.stable_ptr();
        let fd = self.fd.raw();
        let res = std::future::poll_fn(|cx| {
            poll_io_without_op(&self.driver, fd, cx, Direction::Write, want, || {
                // SAFETY: `want` initialised bytes at `ptr`, the stable pointer of `buf`,
                // which this function owns until it returns.
                unsafe { sys::send_nowait(self.fd.borrow(), ptr, want) }
            })
        })
        .await;
        (res, buf)
    }

    /// A TCP socket (zero-copy sends apply to TCP only; asked once, with getsockopt(2)).
    fn is_tcp(&self) -> bool {
        if let Some(yes) = self.zerocopy.get() {
            return yes;
        }
        let domain = self.get_int(libc::SOL_SOCKET, libc::SO_DOMAIN);
        let tcp = matches!(domain, Ok(libc::AF_INET | libc::AF_INET6))
            && matches!(
                self.get_int(libc::SOL_SOCKET, libc::SO_TYPE),
                Ok(libc::SOCK_STREAM)
            );
        self.zerocopy.set(Some(tcp));
        tcp
    }

    /// IORING_OP_SEND_ZC of up to [`ZC_MAX_SEND`] of `buf`'s initialised bytes: waits for
    /// the result CQE and then for the notification, after which the kernel no longer
    /// reads `buf`, and only then hands `buf` back. `EOPNOTSUPP` (nothing was sent) turns
    /// zero-copy off for the socket and sends the plain way.
    async fn send_zc<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        let len = buf.bytes_init();
        let (res, slice) = self.send_zc_once(buf.slice(..len.min(ZC_MAX_SEND))).await;
        let buf = slice.into_inner();
        match res {
            Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                self.zerocopy.set(Some(false));
                self.driver
                    .submit(Send {
                        fd: self.fd.clone(),
                        buf,
                    })
                    .await
            }
            res => (res, buf),
        }
    }

    async fn send_zc_once<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        self.driver.count_zerocopy_send();
        let mut op = self.driver.submit_multishot(SendZc {
            fd: self.fd.clone(),
            buf,
        });
        let mut result = None;
        while let Some(cqe) = std::future::poll_fn(|cx| op.poll_next(cx)).await {
            if !io_uring::cqueue::notif(cqe.flags) {
                result = Some(crate::sys::cvt(cqe.result).map(|n| n as usize));
            }
        }
        let res = result.unwrap_or_else(|| Err(io::Error::from_raw_os_error(libc::ECANCELED)));
        match op.into_data() {
            Some(data) => (res, data.into_buf()),
            // The stream returned None, so its final CQE was taken.
            None => unreachable!("ringcore: a finished zero-copy send kept its buffer"),
        }
    }

    /// A write-behind send queue on this socket (src/net/send_queue.rs).
    pub(crate) fn send_queue<B: IoBuf>(&self) -> super::SendQueue<B> {
        super::SendQueue::new(self.fd.clone(), self.driver.clone())
    }

    /// Sends every initialised byte of `buf`, looping over short sends. An error says how
    /// many bytes went out before it (see `buf::transfer::transfer_all`).
    pub(crate) async fn send_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let zero = io::ErrorKind::WriteZero;
        crate::buf::transfer::transfer_all(buf, total, zero, "send", |slice, _| self.send(slice))
            .await
    }

    /// IORING_OP_SENDMSG of `bufs` in order, to `addr` if set. `InvalidInput` for more
    /// than [`IOV_MAX`] buffers.
    pub(crate) async fn sendmsg<B: IoBuf>(
        &self,
        bufs: Vec<B>,
        addr: Option<SockAddr>,
    ) -> BufResult<usize, Vec<B>> {
        if let Err(e) = check_iov(bufs.len()) {
            return (Err(e), bufs);
        }
        self.driver
            .submit(SendMsg::new(self.fd.clone(), bufs, addr))
            .await
    }

    /// Receives into `bufs` in order: what dropped receives left in the stash, else
    /// IORING_OP_RECVMSG. Reports the sender's address when the receive recorded one.
    /// `InvalidInput` for more than [`IOV_MAX`] buffers.
    pub(crate) async fn recvmsg<B: IoBufMut>(
        &self,
        mut bufs: Vec<B>,
    ) -> BufResult<(usize, Option<SockAddr>), Vec<B>> {
        if let Err(e) = check_iov(bufs.len()) {
            return (Err(e), bufs);
        }
        if let Some(res) = self.take_stashed(&mut bufs).await {
            return (res, bufs);
        }
        let op = RecvMsg::new(self.fd.clone(), bufs, self.stash.clone());
        let (res, bufs) = self.driver.submit(op).await;
        (res.map(|(n, addr)| (n, Some(addr))), bufs)
    }

    /// IORING_OP_POLL_ADD, one shot.
    pub(crate) fn poll(&self, events: u32) -> Op<PollAdd> {
        self.driver.submit(PollAdd {
            fd: self.fd.clone(),
            events,
        })
    }
}

/// More than [`IOV_MAX`] buffers is `InvalidInput`, as std's vectored calls report it.
fn check_iov(n: usize) -> io::Result<()> {
    if n > IOV_MAX {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{n} buffers in one vectored op; at most {IOV_MAX} (IOV_MAX)"),
        ));
    }
    Ok(())
}

impl AsFd for Socket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.borrow()
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Socket").field(&self.fd.raw()).finish()
    }
}

/// Takes the single buffer back out of a one-element vector op result.
pub(crate) fn single<B, T>((res, mut bufs): BufResult<T, Vec<B>>) -> BufResult<T, B> {
    match bufs.pop() {
        Some(b) => (res, b),
        // The ops return the vector they were given, which held one buffer.
        None => unreachable!("ringcore: a single-buffer op lost its buffer"),
    }
}

#[cfg(test)]
mod tests {
    use crate::net::{TcpListener, TcpStream};
    use crate::runtime::context;

    /// Connects and accepts once; returns how many ops went through the ring.
    async fn connect_ops() -> u64 {
        let driver = context::driver();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let before = driver.stats().ops_submitted;
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        drop(server);
        driver.stats().ops_submitted - before
    }

    #[test]
    fn sockets_come_from_the_ring_or_from_socket_syscall_without_it() {
        crate::block_on(async {
            let driver = context::driver();
            let probed = driver.features();
            if probed.socket {
                // IORING_OP_SOCKET, IORING_OP_CONNECT, IORING_OP_ACCEPT.
                assert_eq!(connect_ops().await, 3);
            }
            let mut without = probed;
            without.socket = false;
            driver.override_features(without);
            // socket(2), then IORING_OP_CONNECT and IORING_OP_ACCEPT.
            assert_eq!(connect_ops().await, 2);
            driver.override_features(probed);
        });
    }
}
