//! Per-file tracking of inline page-cache reads: whether `File::read_at` tries
//! preadv2(RWF_NOWAIT) on the core's thread before it goes through the ring.
//!
//! A read that finds its data in the page cache completes inline in one syscall (a *hit*);
//! one that does not answers EAGAIN (a *miss*) and then goes through the ring, so on a
//! file whose reads miss the cache every read pays a failed preadv2 first. The tracker
//! stops trying on such a file and resumes when hits return:
//!
//! ```text
//! Off                          never try (O_DIRECT, EOPNOTSUPP, ESPIPE); final
//! Trying { misses }            every read tries; a hit sets misses = 0, a miss adds 1;
//!                              SKIP_AFTER_MISSES misses in a row -> Skipping { FIRST_GAP }
//! Skipping { countdown, gap }  reads go straight to the ring; each read counts down, and
//!                              the read that finds countdown at 0 is a probe: it tries.
//!                              A probe hit -> Trying { 0 }; a probe miss doubles the gap
//!                              (up to MAX_GAP) and counts down again.
//! ```
//!
//! So a cold file pays one failed preadv2 per `gap` reads (at most 1 in 8, then 1 in 16,
//! ... 1 in 256), and a file that became cached is back on the inline path after at most
//! `gap` reads. Only reads that were allowed to try inline (`context::may_complete_inline`:
//! nothing else ready, budget left) report an outcome; a read sent to the ring for another
//! reason teaches the tracker nothing, and a due probe stays due. The state is a `Cell` in
//! the `File`: one core, no sharing.

use std::cell::Cell;

/// Consecutive misses after which a file's reads stop trying inline.
pub(crate) const SKIP_AFTER_MISSES: u16 = 4;
/// Reads between the switch to `Skipping` and the first probe.
pub(crate) const FIRST_GAP: u16 = 8;
/// The longest gap between probes on a file that keeps missing.
pub(crate) const MAX_GAP: u16 = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Off,
    Trying { misses: u16 },
    Skipping { countdown: u16, gap: u16 },
}

/// What happened to one inline attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The data was in the page cache; the read completed inline.
    Hit,
    /// EAGAIN: not (all) cached; the read goes through the ring.
    Miss,
}

/// Counts for tests: what the tracker decided, per file (kept in test builds only, off
/// the read path of the library).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct NowaitCounts {
    /// Inline attempts that hit the page cache.
    pub(crate) hits: u64,
    /// Inline attempts that answered EAGAIN.
    pub(crate) misses: u64,
    /// Reads sent straight to the ring because the file was `Skipping`.
    pub(crate) skipped: u64,
}

/// The tracker of one file (see the module docs for the rule).
#[derive(Debug)]
pub(crate) struct NowaitReads {
    state: Cell<State>,
    #[cfg(test)]
    counts: Cell<NowaitCounts>,
}

impl NowaitReads {
    /// A tracker that tries inline reads, or never does (`enabled` false: O_DIRECT).
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            state: Cell::new(if enabled {
                State::Trying { misses: 0 }
            } else {
                State::Off
            }),
            #[cfg(test)]
            counts: Cell::new(NowaitCounts::default()),
        }
    }

    /// Should this read be tried inline, if the core allows it? Advances a `Skipping`
    /// countdown by one read (a probe that is due stays due until a read may try).
    #[inline]
    pub(crate) fn wants_try(&self) -> bool {
        match self.state.get() {
            State::Trying { .. } => true,
            State::Off => false,
            State::Skipping { countdown: 0, .. } => true,
            State::Skipping { countdown, gap } => {
                self.state.set(State::Skipping {
                    countdown: countdown - 1,
                    gap,
                });
                self.bump(|c| c.skipped += 1);
                false
            }
        }
    }

    /// Records the outcome of an inline attempt.
    #[inline]
    pub(crate) fn record(&self, outcome: Outcome) {
        let next = match (self.state.get(), outcome) {
            (State::Off, _) => State::Off,
            (_, Outcome::Hit) => State::Trying { misses: 0 },
            (State::Trying { misses }, Outcome::Miss) if misses + 1 >= SKIP_AFTER_MISSES => {
                State::Skipping {
                    countdown: FIRST_GAP,
                    gap: FIRST_GAP,
                }
            }
            (State::Trying { misses }, Outcome::Miss) => State::Trying { misses: misses + 1 },
            (State::Skipping { gap, .. }, Outcome::Miss) => {
                let gap = gap.saturating_mul(2).min(MAX_GAP);
                State::Skipping {
                    countdown: gap,
                    gap,
                }
            }
        };
        self.state.set(next);
        match outcome {
            Outcome::Hit => self.bump(|c| c.hits += 1),
            Outcome::Miss => self.bump(|c| c.misses += 1),
        }
    }

    /// Never try again on this file (the file system or the file cannot: EOPNOTSUPP,
    /// ESPIPE).
    pub(crate) fn disable(&self) {
        self.state.set(State::Off);
    }

    /// True while the file's reads go straight to the ring (between probes).
    #[cfg(test)]
    pub(crate) fn is_skipping(&self) -> bool {
        matches!(self.state.get(), State::Skipping { .. })
    }

    #[cfg(test)]
    pub(crate) fn counts(&self) -> NowaitCounts {
        self.counts.get()
    }

    #[inline]
    fn bump(&self, f: impl FnOnce(&mut NowaitCounts)) {
        #[cfg(test)]
        {
            let mut c = self.counts.get();
            f(&mut c);
            self.counts.set(c);
        }
        #[cfg(not(test))]
        let _ = f;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `n` reads that each try (if the tracker wants) and get `outcome`; returns
    /// how many tried.
    fn reads(t: &NowaitReads, n: usize, outcome: Outcome) -> usize {
        (0..n)
            .filter(|_| {
                let tried = t.wants_try();
                if tried {
                    t.record(outcome);
                }
                tried
            })
            .count()
    }

    #[test]
    fn misses_switch_it_off_probes_back_off_and_a_hit_switches_it_on() {
        let t = NowaitReads::new(true);
        // Three misses in a row keep trying; the fourth switches to skipping.
        assert_eq!(reads(&t, 3, Outcome::Miss), 3);
        assert!(!t.is_skipping());
        assert_eq!(reads(&t, 1, Outcome::Miss), 1);
        assert!(t.is_skipping());
        // Then one probe per gap: 8 skipped + 1 probe, 16 + 1, 32 + 1, ...
        assert_eq!(reads(&t, 9, Outcome::Miss), 1);
        assert_eq!(reads(&t, 17, Outcome::Miss), 1);
        assert_eq!(reads(&t, 33, Outcome::Miss), 1);
        // The gap stops growing at MAX_GAP.
        assert_eq!(reads(&t, 65 + 129 + 257 + 257, Outcome::Miss), 4);
        assert_eq!(t.counts().skipped, 8 + 16 + 32 + 64 + 128 + 256 + 256);
        // A probe that hits turns trying back on for every read.
        assert_eq!(reads(&t, 257, Outcome::Hit), 1);
        assert!(!t.is_skipping());
        assert_eq!(reads(&t, 100, Outcome::Hit), 100);
        // A miss between hits does not count towards the switch: only misses in a row do.
        for _ in 0..10 {
            assert_eq!(reads(&t, 3, Outcome::Miss), 3);
            assert_eq!(reads(&t, 1, Outcome::Hit), 1);
        }
        assert!(!t.is_skipping());
    }

    #[test]
    fn a_disabled_tracker_never_tries() {
        let t = NowaitReads::new(false);
        assert_eq!(reads(&t, 1000, Outcome::Hit), 0);
        let t = NowaitReads::new(true);
        t.disable();
        assert_eq!(reads(&t, 1000, Outcome::Hit), 0);
        assert_eq!(t.counts(), NowaitCounts::default());
    }
}

/// The tracker on a real file whose pages are evicted and then cached again.
#[cfg(test)]
mod file_tests;
