//! Multishot socket ops: IORING_OP_RECV with IORING_RECV_MULTISHOT and IOSQE_BUFFER_SELECT
//! (io_uring_prep_recv_multishot(3), Linux 6.0) and IORING_OP_ACCEPT with
//! IORING_ACCEPT_MULTISHOT (io_uring_prep_multishot_accept(3), 5.19).
//!
//! Neither SQE points at memory of its own: the receive's data lands in pool buffers the
//! kernel picks (src/driver/bufring.rs), which the op keeps alive through its `Rc`, and a
//! multishot accept reports no address. What their CQEs carry after the stream was dropped
//! goes to the socket's [`Stash`], as for the single-shot ops (docs/hazards.md, H4, H14):
//! the bytes are copied out and the buffer republished; an accepted fd is kept for the
//! next accept.

use std::rc::Rc;

use io_uring::{opcode, squeue, types};

use crate::driver::bufring::{self, BufRing, POOL_BGID};
use crate::driver::multi_op::MultishotCode;
use crate::driver::orphans::{self, Stash, Stashed};
use crate::driver::ring::Cqe;
use crate::driver::shared_fd::SharedFd;
use crate::sys;

/// Multishot recv(fd) into buffers of the core's pool.
pub(crate) struct RecvMulti {
    pub(crate) fd: SharedFd,
    pub(crate) pool: Rc<BufRing>,
    pub(crate) stash: Rc<Stash>,
}

// SAFETY: the SQE points at no memory of the op's: the kernel writes into pool buffers,
// which `pool` keeps alive (and the driver keeps registered) until the final CQE; the fd is
// kept open by `fd`.
unsafe impl MultishotCode for RecvMulti {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::RecvMulti::new(types::Fd(self.fd.raw()), POOL_BGID).build()
    }

    fn fixed_file(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn orphaned(&mut self) {
        self.stash.orphaned();
    }

    fn late_cqe(&mut self, cqe: Cqe) {
        let result = sys::cvt(cqe.result);
        if matches!(&result, Err(e) if e.raw_os_error() == Some(libc::ENOBUFS)) {
            // The pool ran dry: the kernel took nothing off the socket.
            self.pool.note_exhausted();
            return;
        }
        // Copy out (and so republish) whatever buffer the CQE names, even for a CQE that
        // is not data (end of stream or an error carrying one), so no buffer stays out.
        let bytes = bufring::selected(cqe.flags).map(|bid| {
            // SAFETY: the bid comes from this receive's CQE, taken once.
            unsafe {
                self.pool
                    .copy_out(bid, cqe.buf_offset, cqe.result.max(0) as u32)
            }
        });
        // A non-final CQE carries data (n > 0); the final one may carry an error, end of
        // stream (0) or, rarely, data.
        let item = orphans::received(result, None, |_| bytes.unwrap_or_default());
        if item.is_some() {
            self.stash.keep(item);
        }
    }

    fn ended(self) {
        self.stash.settle(None);
    }
}

/// Multishot accept4(fd, NULL, NULL, SOCK_CLOEXEC).
pub(crate) struct AcceptMulti {
    pub(crate) fd: SharedFd,
    pub(crate) stash: Rc<Stash>,
}

// SAFETY: the SQE points at no memory (no address is reported); the listening fd is kept
// open by `fd`.
unsafe impl MultishotCode for AcceptMulti {
    fn sqe(&mut self) -> squeue::Entry {
        opcode::AcceptMulti::new(types::Fd(self.fd.raw()))
            .flags(libc::SOCK_CLOEXEC)
            .build()
    }

    fn orphaned(&mut self) {
        self.stash.orphaned();
    }

    fn late_cqe(&mut self, cqe: Cqe) {
        // A connection accepted for nobody: kept for the next accept, with its peer's
        // address (getpeername(2); a connection already reset has none and is closed, as
        // its peer is gone). Errors leave nothing: the next accept sees them itself.
        if let Ok(raw) = sys::cvt(cqe.result) {
            let fd = sys::fd::adopt(raw);
            if let Ok(addr) = sys::socket::peer_addr(std::os::fd::AsFd::as_fd(&fd)) {
                self.stash.keep(Some(Stashed::Accepted(fd, addr)));
            }
        }
    }

    fn ended(self) {
        self.stash.settle(None);
    }
}

/// send(fd, buf, MSG_NOSIGNAL) without copying: IORING_OP_SEND_ZC (Linux 6.0;
/// io_uring_prep_send_zc(3)). Two CQEs: the result (with IORING_CQE_F_MORE when a
/// notification follows), then the notification (IORING_CQE_F_NOTIF), after which the
/// kernel no longer reads `buf`. The op, and so `buf`, lives until that final CQE.
pub(crate) struct SendZc<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
}

// SAFETY: the SQE points at `buf`'s stable, initialised memory (IoBuf's contract) and names
// `fd`, both kept alive by this value until the final CQE (the notification).
unsafe impl<B: crate::buf::IoBuf> MultishotCode for SendZc<B> {
    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        opcode::SendZc::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .flags(libc::MSG_NOSIGNAL)
            .build()
    }

    fn fixed_file(&self) -> Option<&SharedFd> {
        Some(&self.fd)
    }

    fn late_cqe(&mut self, cqe: Cqe) {
        // Bytes went out, or not: nothing to undo (as for Send). The buffer is freed with
        // the op at the final CQE.
        let _ = cqe;
    }
}

impl<B> SendZc<B> {
    pub(crate) fn into_buf(self) -> B {
        self.buf
    }
}
