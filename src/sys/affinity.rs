//! CPU affinity: which CPUs this process may run on, and pinning a thread to one of them.
//!
//! The CPU list and the pinning call come from the `core_affinity` crate
//! (sched_getaffinity(2) / sched_setaffinity(2)); saving and restoring a whole mask, which
//! `core_affinity` cannot do, is done here with libc.

use std::io;
use std::mem::{size_of, zeroed};

/// The CPUs this process may run on (its affinity mask), in ascending order.
pub(crate) fn allowed_cpus() -> Vec<usize> {
    match core_affinity::get_core_ids() {
        Some(ids) => ids.into_iter().map(|c| c.id).collect(),
        None => (0..std::thread::available_parallelism().map_or(1, usize::from)).collect(),
    }
}

/// Pins the calling thread to `cpu`.
///
/// # Errors
///
/// The kernel refused (the CPU is offline or outside the cgroup's cpuset).
pub(crate) fn pin_current(cpu: usize) -> io::Result<()> {
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "sched_setaffinity to CPU {cpu} failed"
        )))
    }
}

/// The calling thread's affinity mask, to put back with [`restore`].
pub(crate) struct SavedMask(libc::cpu_set_t);

/// Saves the calling thread's affinity mask.
pub(crate) fn save() -> io::Result<SavedMask> {
    // SAFETY: cpu_set_t is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { zeroed() };
    // SAFETY: pid 0 is the calling thread; the pointer and size describe the set we own.
    let res = unsafe { libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set) };
    if res != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(SavedMask(set))
}

/// Puts back a mask saved by [`save`] on the calling thread. Errors are ignored: the
/// thread keeps its current (narrower) mask, which is still correct, only slower.
pub(crate) fn restore(mask: &SavedMask) {
    // SAFETY: pid 0 is the calling thread; the set is a live, initialised cpu_set_t.
    unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &mask.0) };
}
