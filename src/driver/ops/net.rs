//! Socket ops: IORING_OP_SOCKET, ACCEPT, CONNECT, SEND, RECV, SENDMSG, RECVMSG and
//! POLL_ADD (io_uring_enter(2); the semantics of socket(2), accept4(2), connect(2),
//! send(2), recv(2), sendmsg(2), recvmsg(2), poll(2)).
//!
//! Every address the kernel reads or fills lives in a `Box` owned by the op, so it stays at
//! one address while the SQE points at it. `Socket` closes the descriptor of a CQE nobody
//! waits for (docs/hazards.md, H4). The receives and `Accept` never lose what a late CQE
//! carries: it goes to their socket's [`Stash`] for the next op (H14).

use std::io;
use std::os::fd::OwnedFd;
use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::op::{Completion, OpCode};
use crate::driver::orphans::{self, Stash, Stashed};
use crate::driver::shared_fd::SharedFd;
use crate::sys;
use crate::sys::socket::SockAddr;

/// socket(domain, type | SOCK_CLOEXEC, protocol) (Linux 5.19+). Produces an fd: a late
/// CQE closes it.
pub(crate) struct Socket {
    pub(crate) domain: i32,
    pub(crate) ty: i32,
    pub(crate) protocol: i32,
}

// SAFETY: the SQE points at no memory.
unsafe impl OpCode for Socket {
    type Output = io::Result<OwnedFd>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Socket::new(self.domain, self.ty | libc::SOCK_CLOEXEC, self.protocol).build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(sys::fd::adopt)
    }

    fn late_cqe(self, cqe: Completion) {
        // Nobody will claim the socket of a cancelled op: adopt it so its Drop closes it.
        drop(cqe.result.map(sys::fd::adopt));
    }
}

/// accept4(fd, &addr, &len, SOCK_CLOEXEC). Produces an fd: a late CQE hands it to the
/// listener's stash, for the next accept.
pub(crate) struct Accept {
    pub(crate) fd: SharedFd,
    /// Filled by the kernel with the peer's address and its length.
    pub(crate) addr: Box<SockAddr>,
    pub(crate) stash: Rc<Stash>,
}

impl Accept {
    pub(crate) fn new(fd: SharedFd, stash: Rc<Stash>) -> Self {
        Self {
            fd,
            addr: Box::new(SockAddr::empty()),
            stash,
        }
    }
}

// SAFETY: the SQE points at the boxed address and its length field, owned by this value;
// the listening fd is kept open by `fd`.
unsafe impl OpCode for Accept {
    type Output = io::Result<(OwnedFd, SockAddr)>;

    fn sqe(&mut self) -> squeue::Entry {
        let addr: *mut SockAddr = &mut *self.addr;
        // SAFETY: `addr` points into the live box; taking field addresses reads nothing.
        let (sa, len) = unsafe { ((*addr).as_mut_ptr(), &raw mut (*addr).len) };
        opcode::Accept::new(types::Fd(self.fd.raw()), sa, len)
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        let fd = cqe.result.map(sys::fd::adopt)?;
        Ok((fd, *self.addr))
    }

    fn orphaned(&mut self) {
        self.stash.orphaned();
    }

    fn late_cqe(self, cqe: Completion) {
        // The connection was accepted but its accept was dropped: keep it for the next
        // accept (closed with the listener's last clone if none comes). Errors (ECANCELED,
        // or EMFILE the next accept will see for itself) leave nothing.
        let item = cqe
            .result
            .ok()
            .map(|fd| Stashed::Accepted(sys::fd::adopt(fd), *self.addr));
        self.stash.settle(item);
    }
}

/// connect(fd, addr).
pub(crate) struct Connect {
    pub(crate) fd: SharedFd,
    pub(crate) addr: Box<SockAddr>,
}

// SAFETY: the SQE points at the boxed address, owned by this value; the fd is kept open by
// `fd`.
unsafe impl OpCode for Connect {
    type Output = io::Result<()>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::Connect::new(types::Fd(self.fd.raw()), self.addr.as_ptr(), self.addr.len).build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result.map(drop)
    }
}

/// IORING_RECVSEND_POLL_FIRST (Linux 5.19; ignored before): wait for readiness before the
/// first receive attempt instead of trying it at submission.
const IORING_RECVSEND_POLL_FIRST: u16 = 1;

/// recv(fd, buf, flags) into the start of `buf`. A late CQE's bytes go to the socket's
/// stash.
pub(crate) struct Recv<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) flags: i32,
    /// Skip the attempt at submission (the caller expects no data yet).
    pub(crate) poll_first: bool,
    pub(crate) stash: Rc<Stash>,
}

// SAFETY: the SQE points at `buf`'s stable memory (IoBufMut's contract) and names `fd`,
// both kept alive by this value.
unsafe impl<B: IoBufMut> OpCode for Recv<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        opcode::Recv::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .flags(self.flags)
            .ioprio(if self.poll_first {
                IORING_RECVSEND_POLL_FIRST
            } else {
                0
            })
            .build()
    }

    fn fixed_file(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        super::rw::filled(self.buf, cqe)
    }

    fn orphaned(&mut self) {
        self.stash.orphaned();
    }

    fn late_cqe(self, cqe: Completion) {
        let Self { buf, stash, .. } = self;
        stash.settle(orphans::received(cqe.result, None, |n| {
            // SAFETY: the kernel wrote `n <= bytes_total` bytes at the start of the buffer,
            // which this op owned until now (IoBufMut's stable pointer).
            unsafe { std::slice::from_raw_parts(buf.stable_ptr(), n) }.to_vec()
        }));
    }
}

/// send(fd, buf, flags | MSG_NOSIGNAL) of `buf`'s initialised bytes. MSG_NOSIGNAL turns a
/// write to a closed connection into `EPIPE` instead of a process-killing SIGPIPE.
pub(crate) struct Send<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
}

// SAFETY: the SQE points at `buf`'s stable, initialised memory and names `fd`, both kept
// alive by this value.
unsafe impl<B: IoBuf> OpCode for Send<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        opcode::Send::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn fixed_file(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        super::rw::counted(self.buf, cqe)
    }
}

/// The heap part of a sendmsg/recvmsg: the header, its iovecs and the address, which point
/// at each other and so must not move.
struct MsgParts {
    hdr: libc::msghdr,
    iov: Vec<libc::iovec>,
    addr: SockAddr,
}

impl MsgParts {
    fn new(iov: Vec<libc::iovec>, addr: Option<SockAddr>) -> Box<Self> {
        let has_addr = addr.is_some();
        let mut parts = Box::new(Self {
            // SAFETY: msghdr is plain data (pointers and integers); all-zero is valid.
            hdr: unsafe { std::mem::zeroed() },
            iov,
            addr: addr.unwrap_or_else(SockAddr::empty),
        });
        let p = &mut *parts;
        p.hdr.msg_iov = p.iov.as_mut_ptr();
        p.hdr.msg_iovlen = p.iov.len() as _;
        if has_addr {
            p.hdr.msg_name = p.addr.as_mut_ptr().cast();
            p.hdr.msg_namelen = p.addr.len;
        }
        parts
    }

    /// The address recvmsg filled in, with the length the kernel wrote.
    fn source(&self) -> SockAddr {
        let mut addr = self.addr;
        addr.len = self.hdr.msg_namelen;
        addr
    }
}

/// sendmsg(fd, msg, MSG_NOSIGNAL): sends `bufs`' initialised bytes in order (gather), to
/// `addr` if set (unconnected datagram sockets).
pub(crate) struct SendMsg<B> {
    pub(crate) fd: SharedFd,
    bufs: Vec<B>,
    parts: Box<MsgParts>,
}

impl<B: IoBuf> SendMsg<B> {
    pub(crate) fn new(fd: SharedFd, bufs: Vec<B>, addr: Option<SockAddr>) -> Self {
        let iov = bufs
            .iter()
            .map(|b| libc::iovec {
                iov_base: b.stable_ptr().cast_mut().cast(),
                iov_len: b.bytes_init(),
            })
            .collect();
        Self {
            fd,
            bufs,
            parts: MsgParts::new(iov, addr),
        }
    }
}

// SAFETY: the SQE points at the boxed msghdr, whose iovec array (a Vec's heap memory) and
// address live in the same box, and whose iovecs point at `bufs`' stable memory (IoBuf's
// contract: it does not move when the Vec of buffers moves). All are owned by this value.
unsafe impl<B: IoBuf> OpCode for SendMsg<B> {
    type Output = BufResult<usize, Vec<B>>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::SendMsg::new(types::Fd(self.fd.raw()), &raw const self.parts.hdr)
            .flags(libc::MSG_NOSIGNAL as u32)
            .build()
    }

    fn fixed_file(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        (cqe.result.map(|n| n as usize), self.bufs)
    }
}

/// recvmsg(fd, msg, 0): fills `bufs` in order (scatter) and reports the sender's address.
/// A late CQE's bytes and address go to the socket's stash.
pub(crate) struct RecvMsg<B> {
    pub(crate) fd: SharedFd,
    bufs: Vec<B>,
    parts: Box<MsgParts>,
    stash: Rc<Stash>,
}

impl<B: IoBufMut> RecvMsg<B> {
    pub(crate) fn new(fd: SharedFd, mut bufs: Vec<B>, stash: Rc<Stash>) -> Self {
        let iov = bufs
            .iter_mut()
            .map(|b| libc::iovec {
                iov_base: b.stable_mut_ptr().cast(),
                iov_len: b.bytes_total(),
            })
            .collect();
        Self {
            fd,
            bufs,
            parts: MsgParts::new(iov, Some(SockAddr::empty())),
            stash,
        }
    }
}

// SAFETY: as for SendMsg; the iovecs point at `bufs`' stable, writable memory.
unsafe impl<B: IoBufMut> OpCode for RecvMsg<B> {
    type Output = BufResult<(usize, SockAddr), Vec<B>>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::RecvMsg::new(types::Fd(self.fd.raw()), &raw mut self.parts.hdr).build()
    }

    fn fixed_file(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn complete(mut self, cqe: Completion) -> Self::Output {
        let res = cqe.result.map(|n| {
            let n = n as usize;
            let mut left = n;
            for b in &mut self.bufs {
                let k = left.min(b.bytes_total());
                // SAFETY: the kernel filled the buffers in order; `k` bytes of this one.
                unsafe { b.set_init(k) };
                left -= k;
            }
            (n, self.parts.source())
        });
        (res, self.bufs)
    }

    fn orphaned(&mut self) {
        self.stash.orphaned();
    }

    fn late_cqe(self, cqe: Completion) {
        let from = Some(self.parts.source());
        let bufs = &self.bufs;
        self.stash.settle(orphans::received(cqe.result, from, |n| {
            let mut out = Vec::with_capacity(n);
            for b in bufs {
                let k = (n - out.len()).min(b.bytes_total());
                // SAFETY: the kernel filled the buffers in order; `k` bytes of this one,
                // which this op owned until now.
                out.extend_from_slice(unsafe { std::slice::from_raw_parts(b.stable_ptr(), k) });
            }
            out
        }));
    }
}

/// poll(fd, events), one shot: resolves to the ready events.
pub(crate) struct PollAdd {
    pub(crate) fd: SharedFd,
    pub(crate) events: u32,
}

// SAFETY: the SQE points at no memory; the fd is kept open by `fd`.
unsafe impl OpCode for PollAdd {
    type Output = io::Result<u32>;

    fn sqe(&mut self) -> squeue::Entry {
        opcode::PollAdd::new(types::Fd(self.fd.raw()), self.events).build()
    }

    fn fixed_file(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        cqe.result
    }
}
