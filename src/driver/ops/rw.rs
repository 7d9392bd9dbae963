//! IORING_OP_READ and IORING_OP_WRITE (io_uring_enter(2); pread(2)/pwrite(2) semantics).

use io_uring::{opcode, squeue, types};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::driver::op::{Completion, OpCode};
use crate::driver::shared_fd::SharedFd;

/// Reads up to `buf.bytes_total()` bytes at `offset` into the start of `buf`.
pub(crate) struct Read<B> {
    /// Held so the fd is not closed while the kernel reads it.
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) offset: u64,
}

// SAFETY: the SQE points at `buf`'s stable memory (IoBufMut's contract: it does not move
// when `Read` moves) and names `fd`, which this value keeps open.
unsafe impl<B: IoBufMut> OpCode for Read<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_total()).unwrap_or(u32::MAX);
        opcode::Read::new(types::Fd(self.fd.raw()), self.buf.stable_mut_ptr(), len)
            .offset(self.offset)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        filled(self.buf, cqe)
    }
}

/// Writes `buf`'s initialised bytes at `offset` (or at the end for O_APPEND files).
pub(crate) struct Write<B> {
    pub(crate) fd: SharedFd,
    pub(crate) buf: B,
    pub(crate) offset: u64,
}

// SAFETY: the SQE points at `buf`'s stable, initialised memory and names `fd`, both kept
// alive by this value.
unsafe impl<B: IoBuf> OpCode for Write<B> {
    type Output = BufResult<usize, B>;

    fn sqe(&mut self) -> squeue::Entry {
        let len = u32::try_from(self.buf.bytes_init()).unwrap_or(u32::MAX);
        opcode::Write::new(types::Fd(self.fd.raw()), self.buf.stable_ptr(), len)
            .offset(self.offset)
            .build()
    }

    fn complete(self, cqe: Completion) -> Self::Output {
        counted(self.buf, cqe)
    }
}

/// The output of a read or receive into the start of `buf`: the count, with `buf`'s
/// initialised length set to the bytes the kernel wrote (`IoBufMut::set_init`: a `Vec`'s
/// length becomes exactly that; a view only grows its buffer).
pub(crate) fn filled<B: IoBufMut>(mut buf: B, cqe: Completion) -> BufResult<usize, B> {
    let res = cqe.result.map(|n| {
        let n = n as usize;
        // SAFETY: the kernel wrote `n <= bytes_total` bytes from the start of the buffer.
        unsafe { buf.set_init(n) };
        n
    });
    (res, buf)
}

/// The output of a write or send of `buf`: the count, and the buffer back.
pub(crate) fn counted<B>(buf: B, cqe: Completion) -> BufResult<usize, B> {
    (cqe.result.map(|n| n as usize), buf)
}
