//! An SQE read back field by field, for the user-space backends (the readiness driver,
//! src/driver/epoll/, through src/driver/opcodes.rs), which perform what the kernel would
//! do with the entry; and the in-place edit that makes an SQE name a registered file.
//!
//! The layout is the kernel's `struct io_uring_sqe` (include/uapi/linux/io_uring.h), 64
//! bytes, little-endian on every target ringcore runs on; the unions are read as the opcode
//! that uses them does. Only the fields the ops in `ops` fill are named here.

use io_uring::squeue;

/// The fields of one SQE, as the kernel reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RawSqe {
    /// IORING_OP_*.
    pub(crate) opcode: u8,
    /// IOSQE_* flags.
    pub(crate) flags: u8,
    /// `ioprio`: for send/recv the IORING_RECVSEND_* flags, for accept IORING_ACCEPT_*.
    pub(crate) ioprio: u16,
    /// The file descriptor (or, for SOCKET, the domain).
    pub(crate) fd: i32,
    /// `off` / `addr2`: file offset, a second pointer, or (SOCKET) the type.
    pub(crate) off: u64,
    /// `addr`: the buffer, path, msghdr or sockaddr pointer (for ASYNC_CANCEL, the
    /// target's user_data; for FALLOCATE, the length).
    pub(crate) addr: u64,
    /// `len`: buffer length, mode, or (RENAMEAT) the new directory fd.
    pub(crate) len: u32,
    /// The opcode's flags word: rw_flags, msg_flags, poll32_events, accept_flags,
    /// open_flags, statx_flags, unlink_flags, rename_flags, fsync_flags, cancel_flags.
    pub(crate) op_flags: u32,
    /// The value echoed in the CQE.
    pub(crate) user_data: u64,
}

// The io-uring crate's `squeue::Entry` is `#[repr(C)]` around the 64-byte `io_uring_sqe`.
const _: () = assert!(std::mem::size_of::<squeue::Entry>() == 64);

/// IOSQE_FIXED_FILE: `fd` indexes the registered file table.
pub(crate) const IOSQE_FIXED_FILE: u8 = 1 << 0;
/// IOSQE_BUFFER_SELECT: the kernel picks the buffer from a provided-buffer group.
pub(crate) const IOSQE_BUFFER_SELECT: u8 = 1 << 5;

/// Makes `sqe` name slot `slot` of the ring's fixed-file table in place of its fd
/// (IOSQE_FIXED_FILE; the `fd` field then holds the slot).
#[inline]
pub(crate) fn use_fixed_file(sqe: &mut squeue::Entry, slot: u32) {
    // SAFETY: `squeue::Entry` is the plain 64-byte `#[repr(C)]` `io_uring_sqe` (size
    // asserted above; alignment 8, more than `[u8; 64]` needs), integers and unions of
    // integers only, so every byte pattern is a valid value of it; the exclusive borrow
    // covers the whole entry. This changes the flags byte and the fd field in place.
    let raw = unsafe { &mut *std::ptr::from_mut(sqe).cast::<[u8; 64]>() };
    raw[1] |= IOSQE_FIXED_FILE;
    raw[4..8].copy_from_slice(&slot.to_le_bytes());
}

impl RawSqe {
    /// Reads `sqe`'s fields.
    pub(crate) fn parse(sqe: &squeue::Entry) -> Self {
        // SAFETY: `squeue::Entry` is a plain 64-byte `#[repr(C)]` struct of integers (the
        // size is asserted above); every bit pattern of it is a valid `[u8; 64]`.
        let raw = unsafe { std::mem::transmute_copy::<squeue::Entry, [u8; 64]>(sqe) };
        let u16_at = |at: usize| u16::from_le_bytes([raw[at], raw[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(raw[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(raw[at..at + 8].try_into().unwrap());
        Self {
            opcode: raw[0],
            flags: raw[1],
            ioprio: u16_at(2),
            fd: u32_at(4) as i32,
            off: u64_at(8),
            addr: u64_at(16),
            len: u32_at(24),
            op_flags: u32_at(28),
            user_data: u64_at(32),
        }
    }
}

#[cfg(test)]
mod tests {
    use io_uring::{opcode, types};

    use super::*;

    /// `use_fixed_file` gives the same SQE as the io-uring crate's builder given the slot
    /// (`types::Fixed`), byte for byte.
    #[test]
    fn a_fixed_file_sqe_is_the_builders_own() {
        let buf = [0u8; 16];
        let by_fd = opcode::Send::new(types::Fd(7), buf.as_ptr(), 16)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .flags(squeue::Flags::IO_LINK);
        let by_slot = opcode::Send::new(types::Fixed(513), buf.as_ptr(), 16)
            .flags(libc::MSG_NOSIGNAL)
            .build()
            .flags(squeue::Flags::IO_LINK);
        let bytes = |e: &squeue::Entry| {
            // SAFETY: as in `RawSqe::parse`.
            unsafe { std::mem::transmute_copy::<squeue::Entry, [u8; 64]>(e) }
        };
        let mut patched = by_fd;
        use_fixed_file(&mut patched, 513);
        assert_eq!(bytes(&patched), bytes(&by_slot));
        let s = RawSqe::parse(&by_slot);
        assert_eq!((s.fd, s.flags & IOSQE_FIXED_FILE), (513, IOSQE_FIXED_FILE));
    }

    /// Each builder the ops use puts its arguments where `RawSqe` reads them.
    #[test]
    fn fields_land_where_the_kernel_reads_them() {
        let mut buf = [0u8; 16];
        let read = opcode::Read::new(types::Fd(7), buf.as_mut_ptr(), 16)
            .offset(4096)
            .rw_flags(libc::RWF_NOWAIT)
            .build()
            .user_data(99);
        let s = RawSqe::parse(&read);
        assert_eq!(s.opcode, opcode::Read::CODE);
        assert_eq!(
            (s.fd, s.addr, s.len, s.off),
            (7, buf.as_ptr() as u64, 16, 4096)
        );
        assert_eq!(s.op_flags, libc::RWF_NOWAIT as u32);
        assert_eq!(s.user_data, 99);

        let recv = opcode::Recv::new(types::Fd(3), buf.as_mut_ptr(), 8)
            .flags(libc::MSG_PEEK)
            .ioprio(1)
            .build();
        let s = RawSqe::parse(&recv);
        assert_eq!((s.fd, s.len, s.op_flags), (3, 8, libc::MSG_PEEK as u32));
        assert_eq!(s.ioprio, 1);

        let poll = opcode::PollAdd::new(types::Fd(5), libc::POLLIN as u32)
            .multi(true)
            .build();
        let s = RawSqe::parse(&poll);
        assert_eq!((s.fd, s.op_flags, s.len), (5, libc::POLLIN as u32, 1));

        let cancel = opcode::AsyncCancel::new(0xdead_beef).build();
        assert_eq!(RawSqe::parse(&cancel).addr, 0xdead_beef);

        let socket = opcode::Socket::new(libc::AF_INET, libc::SOCK_STREAM, 6).build();
        let s = RawSqe::parse(&socket);
        assert_eq!(
            (s.fd, s.off, s.len),
            (libc::AF_INET, libc::SOCK_STREAM as u64, 6)
        );

        let fallocate = opcode::Fallocate::new(types::Fd(4), 1 << 20)
            .offset(512)
            .mode(libc::FALLOC_FL_KEEP_SIZE)
            .build();
        let s = RawSqe::parse(&fallocate);
        assert_eq!((s.off, s.addr, s.len), (512, 1 << 20, 1));

        let path = c"/tmp";
        let rename = opcode::RenameAt::new(
            types::Fd(libc::AT_FDCWD),
            path.as_ptr(),
            types::Fd(9),
            path.as_ptr(),
        )
        .flags(libc::RENAME_NOREPLACE)
        .build();
        let s = RawSqe::parse(&rename);
        assert_eq!((s.fd, s.len), (libc::AT_FDCWD, 9));
        assert_eq!(
            (s.addr, s.off),
            (path.as_ptr() as u64, path.as_ptr() as u64)
        );
        assert_eq!(s.op_flags, libc::RENAME_NOREPLACE);

        let mut len: libc::socklen_t = 0;
        let accept = opcode::Accept::new(types::Fd(6), std::ptr::null_mut(), &mut len)
            .flags(libc::SOCK_CLOEXEC)
            .build();
        let s = RawSqe::parse(&accept);
        assert_eq!(s.off, &raw mut len as u64);
        assert_eq!(s.op_flags, libc::SOCK_CLOEXEC as u32);

        let statx = opcode::Statx::new(types::Fd(2), path.as_ptr(), std::ptr::null_mut())
            .mask(libc::STATX_SIZE)
            .flags(libc::AT_EMPTY_PATH)
            .build();
        let s = RawSqe::parse(&statx);
        assert_eq!(
            (s.len, s.op_flags),
            (libc::STATX_SIZE, libc::AT_EMPTY_PATH as u32)
        );
    }
}
