//! The core's registered-file table: busy sockets get a slot, so their ops name the slot
//! (IOSQE_FIXED_FILE) and the kernel skips its per-op lookup and reference count of the
//! file (fget/fput).
//!
//! - The table is sparse (registered empty at setup, `sys::uring::register_files_sparse`)
//!   and has `Builder::registered_files` slots.
//! - A socket earns a slot at its [`REGISTER_AFTER`]th op (a short-lived connection never
//!   pays the two registration syscalls). Only the ops that name a socket do this (see
//!   `OpCode::fixed_file`); accepts, connects and file ops keep plain fds.
//! - Registration and release are synchronous io_uring_register(2) calls, so a slot is
//!   never shared: the socket's `SharedFd` empties its slot before its fd closes (its last
//!   clone's drop, or `into_sole_owner` ahead of a close through the ring). Ops still in
//!   flight hold their own reference to the file through the table's resource node, and
//!   every op holds a `SharedFd` clone anyway, so the slot outlives them all.
//! - A full table, or a kernel that refuses, leaves the socket on its plain fd for good.
//!
//! The table belongs to one ring; once the ring is gone (`close`), slots are not touched
//! (the ring's fd number may name something else by then).

use std::cell::{Cell, RefCell};
use std::os::fd::RawFd;

use crate::sys::uring::update_fixed_file;

/// The op on a socket at which it asks for a slot. Taking and giving back a slot cost
/// about 300 ns together (two io_uring_register(2) calls, measured on Linux 6.18), and a
/// slot saves about 11 ns per op (docs/benchmarks.md, "Registered files"): a socket that
/// has had 64 ops is likely to have that many more.
pub(crate) const REGISTER_AFTER: u8 = 64;

/// One ring's fixed-file table; see the module docs.
#[derive(Debug)]
pub(crate) struct FixedFiles {
    ring_fd: RawFd,
    alive: Cell<bool>,
    /// Empty slots, the lowest last (so the lowest is used first).
    free: RefCell<Vec<u32>>,
    slots: u32,
    /// Registrations refused because no slot was free.
    full: Cell<u64>,
}

impl FixedFiles {
    /// A table of `slots` empty slots, already registered on the ring whose fd is `ring_fd`.
    pub(crate) fn new(ring_fd: RawFd, slots: u32) -> Self {
        Self {
            ring_fd,
            alive: Cell::new(true),
            free: RefCell::new((0..slots).rev().collect()),
            slots,
            full: Cell::new(0),
        }
    }

    /// Puts `fd` in a free slot and returns the slot; `None` when none is free, the ring
    /// is gone or the kernel refused.
    pub(crate) fn register(&self, fd: RawFd) -> Option<u32> {
        if !self.alive.get() {
            return None;
        }
        let Some(slot) = self.free.borrow_mut().pop() else {
            self.full.set(self.full.get() + 1);
            return None;
        };
        match update_fixed_file(self.ring_fd, slot, fd) {
            Ok(()) => Some(slot),
            Err(_) => {
                self.free.borrow_mut().push(slot);
                None
            }
        }
    }

    /// Empties `slot` (the table's reference to the file goes) and frees it. A failed
    /// update leaves the slot out of use rather than risk handing out a filled one.
    pub(crate) fn release(&self, slot: u32) {
        if self.alive.get() && update_fixed_file(self.ring_fd, slot, -1).is_ok() {
            self.free.borrow_mut().push(slot);
        }
    }

    /// The ring is going away: touch no slot from now on.
    pub(crate) fn close(&self) {
        self.alive.set(false);
    }

    /// The table's size in slots.
    pub(crate) fn slots(&self) -> u32 {
        self.slots
    }

    /// Slots filled now.
    pub(crate) fn in_use(&self) -> u64 {
        u64::from(self.slots) - self.free.borrow().len() as u64
    }

    /// Registrations refused for lack of a free slot, since the core started.
    pub(crate) fn full(&self) -> u64 {
        self.full.get()
    }
}
