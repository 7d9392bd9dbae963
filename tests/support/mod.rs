//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::Path;

/// Number of open file descriptors of this process (entries in /proc/self/fd).
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Deterministic pseudo-random bytes (xorshift64*), so failures reproduce.
pub(crate) fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `len` random bytes to `path` with std and returns them.
pub(crate) fn make_file(path: &Path, len: usize, seed: u64) -> Vec<u8> {
    let data = random_bytes(len, seed);
    std::fs::write(path, &data).unwrap();
    data
}

/// Serialises tests that count this process's fds (tests in one binary run in parallel).
pub(crate) fn fd_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
