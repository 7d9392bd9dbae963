//! The runtime's clock: [`now`] reads CLOCK_MONOTONIC, or, inside a deterministic
//! simulation (feature `sim`), the simulation's virtual clock.

use std::time::Instant;

/// The current instant of the clock the runtime's timers run on.
///
/// On a real runtime this is [`Instant::now`] (CLOCK_MONOTONIC). Inside a deterministic
/// simulation (feature `sim`, [`ringcore::sim`](crate::sim)) it is the simulation's
/// virtual clock, which stands still while tasks run and jumps to the next timer or
/// simulated completion when none can: code that measures time with this function (and
/// with [`sleep`](super::sleep), [`timeout`](super::timeout), [`interval`](super::interval),
/// whose deadlines are on this clock) runs unchanged in both. `Instant::now()` and
/// `Instant::elapsed` keep reading the real clock, also in a simulation.
///
/// With the `sim` feature off this is `Instant::now()` and nothing else; with it on, one
/// thread-local read and a branch that is always taken the same way on a real runtime
/// come first.
///
/// # Examples
///
/// ```
/// ringcore::block_on(async {
///     let start = ringcore::time::now();
///     ringcore::time::sleep(std::time::Duration::from_millis(5)).await;
///     assert!(ringcore::time::now() - start >= std::time::Duration::from_millis(5));
/// });
/// ```
#[inline]
pub fn now() -> Instant {
    #[cfg(feature = "sim")]
    if let Some(now) = crate::sim::virtual_now() {
        return now;
    }
    Instant::now()
}
