//! The telemetry clock of one core: nanoseconds since the core's epoch, read with
//! `Instant::now()` (clock_gettime(CLOCK_MONOTONIC) through the vDSO) once per tick, and
//! between those readings, where the CPU's time-stamp counter is the kernel's own clock
//! source, extrapolated from the tick's reading with one RDTSC instruction.
//!
//! # Why
//!
//! A task poll's end is timed (for the poll-duration histogram, and as the next poll's
//! start and the stamp of every wake and submission it makes). Through the vDSO a reading
//! costs about 29 ns on the 2-CPU EPYC VM the benchmarks run on (an ordered RDTSC, the
//! vDSO's sequence-count loop and its scaling); a bare RDTSC about 11 ns.
//!
//! # How
//!
//! [`Clock::tick`] reads both `Instant::now()` and the counter: the pair is the anchor of
//! every [`Clock::fast`] reading until the next tick, which is
//! `anchor_ns + (tsc - anchor_tsc) * scale`. `scale` (nanoseconds per counter tick in
//! 32.32 fixed point) is measured by the core itself from two tick readings at least
//! [`CALIBRATE_OVER`] apart, and measured again every such interval; until the first
//! measurement, and whenever the counter cannot be used, `fast` reads `Instant::now()`.
//!
//! The counter is used only on x86-64 and only where
//! `/sys/devices/system/clocksource/clocksource0/current_clocksource` says `tsc` (read
//! once per process): then the kernel has checked that the counter runs at a constant
//! rate and agrees across CPUs, so a thread moving to another CPU between two readings
//! does not matter. A fast reading is never earlier than its tick's anchor (a counter
//! that went backwards reads `Instant::now()`) and is off by at most the scale's error times
//! the time since the tick (a few parts per million of a few microseconds).

use std::cell::Cell;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How far apart the two readings that measure the counter's rate are (and how often it
/// is measured again).
pub(crate) const CALIBRATE_OVER: Duration = Duration::from_millis(20);

/// A fast reading extrapolates at most this many counter ticks past its anchor (about
/// 1.4 s at 3 GHz; beyond it, or behind the anchor, `Instant::now()` is read).
const MAX_DELTA: u64 = u32::MAX as u64;

/// One core's telemetry clock (see the module docs). Used on the core's thread only.
#[derive(Debug)]
pub(crate) struct Clock {
    epoch: Instant,
    /// The counter may be used (decided at creation).
    tsc: bool,
    /// The last tick's reading: (nanoseconds since `epoch`, counter).
    anchor: Cell<(u64, u64)>,
    /// The start of the current rate measurement: (nanoseconds, counter).
    calibration: Cell<(u64, u64)>,
    /// Nanoseconds per counter tick, 32.32 fixed point; 0 until measured.
    scale: Cell<u64>,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self::with_counter(tsc_is_clocksource())
    }

    /// A clock that uses the counter only if `tsc` (tests turn it off).
    pub(crate) fn with_counter(tsc: bool) -> Self {
        Self {
            epoch: Instant::now(),
            tsc,
            anchor: Cell::new((0, 0)),
            calibration: Cell::new((0, 0)),
            scale: Cell::new(0),
        }
    }

    /// The instant stamps count from.
    pub(crate) fn epoch(&self) -> Instant {
        self.epoch
    }

    /// True once `fast` extrapolates with the counter instead of reading `Instant::now()`.
    #[cfg(test)]
    pub(crate) fn uses_counter(&self) -> bool {
        self.scale.get() != 0
    }

    /// The tick's reading: `Instant::now()`, which also anchors `fast` and, every
    /// [`CALIBRATE_OVER`], measures the counter's rate.
    #[inline]
    pub(crate) fn tick(&self) -> u64 {
        let ns = nanos_since(self.epoch);
        if self.tsc {
            let tsc = counter();
            self.anchor.set((ns, tsc));
            let (cns, ctsc) = self.calibration.get();
            if ns.saturating_sub(cns) >= CALIBRATE_OVER.as_nanos() as u64 {
                self.calibrate(ns, tsc, cns, ctsc);
            }
        }
        ns
    }

    #[cold]
    fn calibrate(&self, ns: u64, tsc: u64, cns: u64, ctsc: u64) {
        if cns != 0 && tsc > ctsc {
            // (ns elapsed << 32) / ticks elapsed; a window of seconds fits in u128.
            let scale = (u128::from(ns - cns) << 32) / u128::from(tsc - ctsc);
            // A counter slower than 1 tick per 4 ns or faster than 2^32 per ns is no TSC.
            if scale > 0 && scale < (4u128 << 32) {
                self.scale.set(scale as u64);
            }
        }
        self.calibration.set((ns, tsc));
    }

    /// A reading between ticks: extrapolated from the tick's anchor with the counter once
    /// its rate is known, otherwise `Instant::now()`.
    #[inline]
    pub(crate) fn fast(&self) -> u64 {
        let scale = self.scale.get();
        if scale != 0 {
            let (ns, tsc) = self.anchor.get();
            // A counter behind its anchor wraps to a huge delta: the clock is read then.
            let delta = counter().wrapping_sub(tsc);
            if delta <= MAX_DELTA {
                return ns + ((u128::from(delta) * u128::from(scale)) >> 32) as u64;
            }
        }
        nanos_since(self.epoch)
    }
}

/// Nanoseconds from `epoch` to now, plus 1 (a stamp of 0 means "not stamped",
/// `TaskMeta::queued_at`). u64 nanoseconds last 584 years; this avoids `as_nanos`'s u128.
#[inline]
pub(crate) fn nanos_since(epoch: Instant) -> u64 {
    let d = epoch.elapsed();
    d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos()) + 1
}

/// The CPU's time-stamp counter (0 where there is none: never used then).
#[inline]
fn counter() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC exists on every x86-64 CPU and has no preconditions; the kernel
        // allows it in user space wherever it uses the TSC as its clock source (the only
        // case where `Clock::tsc` is set).
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        0
    }
}

/// True where the kernel's clock source is the TSC (x86-64 only), read once per process.
fn tsc_is_clocksource() -> bool {
    static TSC: OnceLock<bool> = OnceLock::new();
    *TSC.get_or_init(|| {
        cfg!(target_arch = "x86_64")
            && std::fs::read_to_string(
                "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            )
            .is_ok_and(|s| s.trim() == "tsc")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_readings_follow_the_clock_once_calibrated() {
        let clock = Clock::new();
        if !clock.tsc {
            return;
        }
        clock.tick();
        std::thread::sleep(CALIBRATE_OVER + Duration::from_millis(2));
        clock.tick();
        std::thread::sleep(CALIBRATE_OVER + Duration::from_millis(2));
        clock.tick();
        assert!(clock.uses_counter());
        // 5 ms after the anchor, the extrapolated reading and the real one agree to well
        // under a millisecond (the scale's error is parts per million).
        std::thread::sleep(Duration::from_millis(5));
        let fast = clock.fast();
        let real = nanos_since(clock.epoch());
        let diff = fast.abs_diff(real);
        assert!(diff < 500_000, "fast {fast} real {real}");
        // Never before the anchor.
        assert!(fast >= clock.anchor.get().0);
    }

    #[test]
    fn without_the_counter_fast_reads_the_clock() {
        let clock = Clock::with_counter(false);
        clock.tick();
        std::thread::sleep(CALIBRATE_OVER + Duration::from_millis(2));
        clock.tick();
        assert!(!clock.uses_counter());
        let a = clock.fast();
        std::thread::sleep(Duration::from_millis(2));
        assert!(clock.fast() >= a + 2_000_000);
    }
}
