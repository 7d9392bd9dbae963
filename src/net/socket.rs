//! `Socket`: the fd and driver behind every public socket type, and the ops they share.

use std::cell::Cell;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::rc::Rc;

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::ops::net::Socket as SocketOp;
use crate::driver::ops::net::{Accept, Connect, PollAdd, Recv, RecvMsg, Send, SendMsg};
use crate::driver::shared_fd::SharedFd;
use crate::driver::{Driver, Op};
use crate::runtime::context;
use crate::sys::socket::{self as sys, SockAddr};

/// A socket fd shared with the ops in flight on it, and the driver of its core.
#[derive(Clone)]
pub(crate) struct Socket {
    pub(crate) fd: SharedFd,
    driver: Rc<Driver>,
    /// The last receive did not fill its buffer, so the socket is probably drained and the
    /// next receive should wait for readiness before trying (IORING_RECVSEND_POLL_FIRST).
    /// Request/response traffic (an echo server) then skips one failed receive attempt
    /// per message; bulk transfers, which fill their buffers, keep the eager attempt.
    drained: Cell<bool>,
}

impl Socket {
    /// Wraps an fd for the current core's driver.
    ///
    /// # Panics
    ///
    /// Outside a ringcore runtime.
    #[track_caller]
    pub(crate) fn from_fd(fd: OwnedFd) -> Self {
        Self {
            fd: SharedFd::new(fd),
            driver: context::driver(),
            drained: Cell::new(false),
        }
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
            Ok(Socket {
                fd: SharedFd::new(fd),
                driver,
                drained: Cell::new(false),
            })
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

    /// IORING_OP_ACCEPT; the new socket belongs to the same core.
    pub(crate) async fn accept(&self) -> io::Result<(Socket, SockAddr)> {
        let (fd, addr) = self.driver.submit(Accept::new(self.fd.clone())).await?;
        Ok((
            Socket {
                fd: SharedFd::new(fd),
                driver: self.driver.clone(),
                drained: Cell::new(false),
            },
            addr,
        ))
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

    /// IORING_OP_RECV into the start of `buf`.
    pub(crate) async fn recv<B: IoBufMut>(&self, buf: B) -> BufResult<usize, B> {
        let want = buf.bytes_total();
        let (res, buf) = self
            .driver
            .submit(Recv {
                fd: self.fd.clone(),
                buf,
                flags: 0,
                poll_first: self.drained.get(),
            })
            .await;
        self.drained.set(matches!(res, Ok(n) if n < want && n > 0));
        (res, buf)
    }

    /// Sends `buf`'s initialised bytes: IORING_OP_SEND, or, when this send would go out
    /// alone in the next io_uring_enter (no other task ready, no SQE queued, inline budget
    /// left), send(2) with MSG_DONTWAIT first, which completes at once when the socket
    /// buffer has room and falls back to the ring on EAGAIN.
    pub(crate) async fn send<B: IoBuf>(&self, buf: B) -> BufResult<usize, B> {
        if crate::runtime::context::nothing_else_ready() && self.driver.try_inline() {
            // SAFETY: `bytes_init` initialised bytes at `stable_ptr` belong to `buf`, which
            // we hold for the whole call.
            let res = unsafe {
                crate::sys::socket::send_nowait(
                    self.fd.borrow(),
                    buf.stable_ptr(),
                    buf.bytes_init(),
                )
            };
            match res {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                res => return (res, buf),
            }
        }
        self.driver
            .submit(Send {
                fd: self.fd.clone(),
                buf,
            })
            .await
    }

    /// Sends every initialised byte of `buf`, looping over short sends.
    pub(crate) async fn send_all<B: IoBuf>(&self, buf: B) -> BufResult<(), B> {
        let total = buf.bytes_init();
        let zero = io::ErrorKind::WriteZero;
        crate::io::transfer_all(buf, total, zero, "send", |slice, _| self.send(slice)).await
    }

    /// IORING_OP_SENDMSG of `bufs` in order, to `addr` if set.
    pub(crate) fn sendmsg<B: IoBuf>(&self, bufs: Vec<B>, addr: Option<SockAddr>) -> Op<SendMsg<B>> {
        self.driver
            .submit(SendMsg::new(self.fd.clone(), bufs, addr))
    }

    /// IORING_OP_RECVMSG into `bufs` in order; reports the sender's address.
    pub(crate) fn recvmsg<B: IoBufMut>(&self, bufs: Vec<B>) -> Op<RecvMsg<B>> {
        self.driver.submit(RecvMsg::new(self.fd.clone(), bufs))
    }

    /// IORING_OP_POLL_ADD, one shot.
    pub(crate) fn poll(&self, events: u32) -> Op<PollAdd> {
        self.driver.submit(PollAdd {
            fd: self.fd.clone(),
            events,
        })
    }
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
