//! `retry` and `retry_if`: run an async operation again on failure, with a `RetryPolicy`
//! (attempts, `Backoff`, jitter) whose delays use the runtime's timer.

use std::future::Future;
use std::time::Duration;

/// How long to wait between attempts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backoff {
    /// The same delay before every retry.
    Fixed(Duration),
    /// `initial`, then multiplied by `factor` after each failure, capped at `max`.
    Exponential {
        /// Delay before the first retry.
        initial: Duration,
        /// Growth per retry (values below 1.0 are treated as 1.0).
        factor: f64,
        /// The longest delay.
        max: Duration,
    },
}

/// When and how often [`retry`] tries again.
///
/// Built with [`RetryPolicy::new`] (the number of attempts in all, at least 1) and
/// optionally a [`Backoff`] and jitter. Jitter adds a random extra of up to
/// `jitter × delay` to each delay, so the computed delay is always a lower bound.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ringcore::future::RetryPolicy;
///
/// let policy = RetryPolicy::new(5)
///     .exponential(Duration::from_millis(10), 2.0, Duration::from_secs(1))
///     .jitter(0.5);
/// assert_eq!(policy.delay(0), Duration::from_millis(10)); // before jitter
/// assert_eq!(policy.delay(2), Duration::from_millis(40));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    attempts: u32,
    backoff: Backoff,
    jitter: f64,
}

impl RetryPolicy {
    /// At most `attempts` tries in all (0 is treated as 1), no delay, no jitter.
    pub fn new(attempts: u32) -> Self {
        Self {
            attempts: attempts.max(1),
            backoff: Backoff::Fixed(Duration::ZERO),
            jitter: 0.0,
        }
    }

    /// The same `delay` before every retry.
    pub fn fixed(mut self, delay: Duration) -> Self {
        self.backoff = Backoff::Fixed(delay);
        self
    }

    /// Exponential backoff: `initial × factorⁿ` before retry `n` (from 0), at most `max`.
    pub fn exponential(mut self, initial: Duration, factor: f64, max: Duration) -> Self {
        self.backoff = Backoff::Exponential {
            initial,
            factor,
            max,
        };
        self
    }

    /// Adds up to `fraction × delay` of random extra to each delay (clamped to 0..=1;
    /// 0 turns jitter off).
    pub fn jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self
    }

    /// Tries in all.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The delay before retry `n` (0 = the first retry), without jitter.
    ///
    /// For [`Backoff::Exponential`] this is `initial × factorⁿ`, at most `max`, for every
    /// `n`: a zero `initial` gives zero whatever `n`, a `factor` of 1 gives `initial`, and a
    /// product too large for any `Duration` gives `max`. A `factor` below 1, NaN or
    /// infinite is taken as 1. The product is formed in nanoseconds and rounded to the
    /// nearest nanosecond.
    pub fn delay(&self, n: u32) -> Duration {
        match self.backoff {
            Backoff::Fixed(d) => d,
            Backoff::Exponential {
                initial,
                factor,
                max,
            } => exponential_delay(initial, factor, max, n),
        }
    }

    fn jittered(&self, n: u32) -> Duration {
        let d = self.delay(n);
        if self.jitter == 0.0 {
            return d;
        }
        d.saturating_add(d.mul_f64(self.jitter * unit_random()))
    }
}

/// `initial × factorⁿ` capped at `max`, without passing through infinity or NaN: a zero
/// `initial` stays zero (the old `0 × ∞` became NaN and fell back to `max`), and a growth
/// past `max` is `max`.
fn exponential_delay(initial: Duration, factor: f64, max: Duration, n: u32) -> Duration {
    if initial.is_zero() || max.is_zero() {
        return Duration::ZERO;
    }
    if initial >= max {
        return max;
    }
    let factor = if factor.is_finite() {
        factor.max(1.0)
    } else {
        1.0
    };
    // initial > 0 and factor >= 1, so the product is in [initial, +inf]: never NaN.
    let ns = initial.as_nanos() as f64 * factor.powf(f64::from(n));
    if ns >= max.as_nanos() as f64 {
        return max;
    }
    let d = if ns < u64::MAX as f64 {
        Duration::from_nanos(ns.round() as u64)
    } else {
        Duration::try_from_secs_f64(ns / 1e9).unwrap_or(max)
    };
    d.min(max)
}

/// A number in [0, 1) from a per-thread xorshift generator seeded by the clock. Good
/// enough to spread retries apart; not for anything else.
fn unit_random() -> f64 {
    thread_local! {
        static STATE: std::cell::Cell<u64> = std::cell::Cell::new(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ (std::process::id() as u64).rotate_left(32)
                ^ 0x9E37_79B9_7F4A_7C15,
        );
    }
    let x = STATE.with(|s| {
        let mut x = s.get() | 1;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        s.set(x);
        x
    });
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Calls `op` until it succeeds or `policy`'s attempts run out, sleeping the policy's
/// backoff between tries (with [`time::sleep`](crate::time::sleep)). Every error is
/// retried; see [`retry_if`] to choose.
///
/// # Errors
///
/// The last error, after `policy.attempts()` failed tries.
///
/// # Panics
///
/// If called outside a ringcore runtime (the sleeps need its timers).
///
/// # Cancel safety
///
/// Dropping the future drops the attempt in flight (or the sleep) and stops retrying.
///
/// # Examples
///
/// ```
/// use std::cell::Cell;
/// use std::time::Duration;
/// use ringcore::future::{RetryPolicy, retry};
///
/// ringcore::block_on(async {
///     let calls = Cell::new(0);
///     let policy = RetryPolicy::new(3).fixed(Duration::from_millis(1));
///     let out = retry(&policy, || async {
///         calls.set(calls.get() + 1);
///         if calls.get() < 3 { Err("flaky") } else { Ok(calls.get()) }
///     })
///     .await;
///     assert_eq!(out, Ok(3));
/// });
/// ```
pub async fn retry<F, Fut, T, E>(policy: &RetryPolicy, op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    retry_if(policy, op, |_| true).await
}

/// As [`retry`], but only errors for which `should_retry` returns true are retried; any
/// other error is returned at once.
///
/// # Errors
///
/// The first error `should_retry` rejects, or the last error once attempts run out.
///
/// # Panics
///
/// If called outside a ringcore runtime.
///
/// # Cancel safety
///
/// As [`retry`].
pub async fn retry_if<F, Fut, T, E, P>(
    policy: &RetryPolicy,
    mut op: F,
    mut should_retry: P,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    P: FnMut(&E) -> bool,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                attempt += 1;
                if attempt >= policy.attempts || !should_retry(&e) {
                    return Err(e);
                }
                let delay = policy.jittered(attempt - 1);
                if !delay.is_zero() {
                    crate::time::sleep(delay).await;
                }
            }
        }
    }
}
