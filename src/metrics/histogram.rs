//! Fixed log2-bucket histograms: [`Cells`], written by one core with relaxed atomics, and
//! [`Histogram`], the snapshot any thread reads from them.
//!
//! Bucket `i` counts values `v` with `2^(i-1) < v <= 2^i` (bucket 0: `v <= 1`); the last
//! bucket, [`BUCKETS`]` - 1`, also takes everything above (the cells keep one bucket per
//! bit length, 65, and a snapshot folds the top ones, so recording needs no clamp).
//! Recording is a saturating subtraction and a `leading_zeros`, two relaxed loads and two
//! relaxed stores (the core is the only writer,
//! so no read-modify-write instruction is needed), with no allocation and no lock. A
//! reader sees each bucket as of some moment during its read; the buckets of one snapshot
//! may be a few records apart, and `sum` may lead or lag them by a record.
//!
//! Why not hdrhistogram: its `record` is a few dozen instructions with a bounds check and
//! a `Result`, its counts are plain integers (a reader on another thread would need a lock
//! or a copy per publish), and its precision (1-5 significant digits) is more than an
//! operator's p50/p99 needs; a power-of-two bucket is a factor-of-two resolution, which is
//! what a latency dashboard shows anyway.

use crate::loom::{AtomicU64, Ordering};

/// Buckets per histogram: upper bounds 1, 2, 4, ... 2^38 and "above" (2^38 ns is 275 s).
pub const BUCKETS: usize = 40;

/// Buckets the cells keep: one per bit length of `v - 1` (0 to 64), so recording needs
/// no clamp; a snapshot folds those from [`BUCKETS`]` - 1` up into its last bucket.
const CELLS: usize = 65;

/// The cell of `v`: the bit length of `v - 1` (0 for `v <= 1`), without a branch or a
/// clamp (`CELLS`).
#[inline]
fn cell(v: u64) -> usize {
    (u64::BITS - v.saturating_sub(1).leading_zeros()) as usize
}

/// Adds `n` to a counter that only the calling core writes (a relaxed load and store,
/// no locked instruction).
#[inline]
pub(crate) fn bump(cell: &AtomicU64, n: u64) {
    cell.store(
        cell.load(Ordering::Relaxed).wrapping_add(n),
        Ordering::Relaxed,
    );
}

/// A histogram one core writes and any thread reads.
pub(crate) struct Cells {
    buckets: [AtomicU64; CELLS],
    sum: AtomicU64,
}

impl Default for Cells {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum: AtomicU64::new(0),
        }
    }
}

impl Cells {
    /// Records one value. Single writer: the owning core only.
    #[inline]
    pub(crate) fn record(&self, v: u64) {
        bump(&self.buckets[cell(v)], 1);
        bump(&self.sum, v);
    }

    /// What the cells hold now.
    pub(crate) fn snapshot(&self) -> Histogram {
        let mut buckets: [u64; BUCKETS] =
            std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed));
        buckets[BUCKETS - 1] = self.buckets[BUCKETS - 1..]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add);
        Histogram {
            buckets,
            sum: self.sum.load(Ordering::Relaxed),
        }
    }
}

/// A log2-bucket histogram: how many values fell in each power-of-two range, and their
/// sum. The unit is the field's: nanoseconds for the latency histograms of
/// [`CoreMetrics`](crate::CoreMetrics), SQEs for its `enter_submissions`.
///
/// Bucket `i` counts values `v` with `2^(i-1) < v <= 2^i` (bucket 0: `v <= 1`); the last
/// bucket also counts everything above `2^(BUCKETS - 2)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    buckets: [u64; BUCKETS],
    sum: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Self {
            buckets: [0; BUCKETS],
            sum: 0,
        }
    }
}

impl Histogram {
    /// How many values were recorded.
    pub fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }

    /// The sum of the recorded values (wrapping at `u64::MAX`: 584 years of nanoseconds).
    pub fn sum(&self) -> u64 {
        self.sum
    }

    /// The per-bucket counts (not cumulative), lowest bucket first: `counts()[i]` values
    /// were at most [`upper_bound(i)`](Histogram::upper_bound) and above the bound before.
    pub fn counts(&self) -> &[u64; BUCKETS] {
        &self.buckets
    }

    /// The inclusive upper bound of bucket `i`: `2^i`, or `u64::MAX` for the last bucket.
    ///
    /// # Panics
    ///
    /// If `i >= BUCKETS`.
    pub fn upper_bound(i: usize) -> u64 {
        assert!(i < BUCKETS, "ringcore: histogram bucket {i} out of range");
        if i == BUCKETS - 1 { u64::MAX } else { 1 << i }
    }

    /// The upper bound of the bucket that holds the `q`-quantile (`q` in `0.0..=1.0`,
    /// clamped): the true value is at most this and more than half of it. `None` when
    /// nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let count = self.count();
        if count == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * count as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return Some(Self::upper_bound(i));
            }
        }
        Some(u64::MAX)
    }

    /// The mean of the recorded values; `None` when nothing was recorded.
    pub fn mean(&self) -> Option<f64> {
        let count = self.count();
        (count > 0).then(|| self.sum as f64 / count as f64)
    }

    /// Adds `other`'s counts to this histogram (to merge cores).
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.buckets.iter_mut().zip(other.buckets.iter()) {
            *a += b;
        }
        self.sum = self.sum.wrapping_add(other.sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_land_in_their_power_of_two_bucket() {
        let cells = Cells::default();
        let values = [0, 1, 2, 3, 4, 5, 1000, 1024, 1025, u64::MAX];
        for v in values.into_iter().chain([1 << 38, (1 << 38) + 1]) {
            cells.record(v);
        }
        let h = cells.snapshot();
        assert_eq!(h.count(), 12);
        let c = h.counts();
        assert_eq!(c[0], 2); // 0, 1
        assert_eq!(c[1], 1); // 2
        assert_eq!(c[2], 2); // 3, 4
        assert_eq!(c[3], 1); // 5
        assert_eq!(c[10], 2); // 1000, 1024
        assert_eq!(c[11], 1); // 1025
        assert_eq!(c[BUCKETS - 2], 1); // 2^38
        assert_eq!(c[BUCKETS - 1], 2); // 2^38 + 1, u64::MAX
        assert_eq!(h.quantile(0.5), Some(8));
        assert_eq!(h.quantile(1.0), Some(u64::MAX));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
