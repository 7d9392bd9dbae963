//! Every atomic, lock and shared pointer the cross-core channel and `submit_to` use comes
//! from here, so a model checker (loom) can be swapped in for std in one place.

pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
pub(crate) use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, ignoring poison: every critical section in this module only moves values in
/// and out (no invariant spans an unwinding point), so a poisoned lock is still consistent.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
