//! retry: attempts, last error, predicate, backoff lower bounds.

use std::cell::Cell;
use std::time::{Duration, Instant};

use ringcore::future::{RetryPolicy, retry, retry_if};

#[test]
fn stops_after_attempts_and_returns_the_last_error() {
    ringcore::block_on(async {
        let calls = Cell::new(0);
        let policy = RetryPolicy::new(4);
        let out: Result<(), u32> = retry(&policy, || async {
            calls.set(calls.get() + 1);
            Err(calls.get())
        })
        .await;
        assert_eq!(out, Err(4));
        assert_eq!(calls.get(), 4);
    });
}

#[test]
fn predicate_stops_on_a_permanent_error() {
    ringcore::block_on(async {
        let calls = Cell::new(0);
        let policy = RetryPolicy::new(10);
        let out: Result<(), &str> = retry_if(
            &policy,
            || async {
                calls.set(calls.get() + 1);
                if calls.get() < 3 {
                    Err("transient")
                } else {
                    Err("permanent")
                }
            },
            |e| *e == "transient",
        )
        .await;
        assert_eq!(out, Err("permanent"));
        assert_eq!(calls.get(), 3);
    });
}

#[test]
fn fixed_backoff_delays_are_respected() {
    ringcore::block_on(async {
        let policy = RetryPolicy::new(3)
            .fixed(Duration::from_millis(20))
            .jitter(0.5);
        let start = Instant::now();
        let _: Result<(), ()> = retry(&policy, || async { Err(()) }).await;
        assert!(start.elapsed() >= Duration::from_millis(40));
    });
}

#[test]
fn exponential_backoff_grows_and_is_capped() {
    let policy =
        RetryPolicy::new(10).exponential(Duration::from_millis(10), 2.0, Duration::from_millis(50));
    let delays: Vec<_> = (0..4).map(|n| policy.delay(n).as_millis()).collect();
    assert_eq!(delays, [10, 20, 40, 50]);
    ringcore::block_on(async {
        let policy =
            RetryPolicy::new(4).exponential(Duration::from_millis(5), 2.0, Duration::from_secs(1));
        let calls = Cell::new(Vec::new());
        let start = Instant::now();
        let out = retry(&policy, || async {
            let mut v = calls.take();
            v.push(start.elapsed());
            let n = v.len();
            calls.set(v);
            if n < 4 { Err(n) } else { Ok(n) }
        })
        .await;
        assert_eq!(out, Ok(4));
        let at = calls.take();
        // Retries wait at least 5, 10 and 20 ms.
        assert!(at[1] - at[0] >= Duration::from_millis(5));
        assert!(at[2] - at[1] >= Duration::from_millis(10));
        assert!(at[3] - at[2] >= Duration::from_millis(20));
    });
}

/// `0 × factor^n` overflowed to `0 × ∞ = NaN` for n ≥ 1024 (factor 2) and the NaN fell back
/// to `max`: the 1025th retry of a zero-delay policy slept an hour.
#[test]
fn a_zero_initial_delay_stays_zero_for_every_retry() {
    let hour = Duration::from_secs(3600);
    for factor in [2.0, 3.0, 1e300, f64::MAX] {
        let policy = RetryPolicy::new(u32::MAX).exponential(Duration::ZERO, factor, hour);
        for n in [0, 1, 646, 647, 1023, 1024, 1025, 100_000, u32::MAX] {
            assert_eq!(policy.delay(n), Duration::ZERO, "factor {factor}, n {n}");
        }
    }
}

#[test]
fn exponential_delays_at_the_edges_follow_the_formula() {
    let ms = Duration::from_millis;
    let hour = Duration::from_secs(3600);
    // Factor 1 (and anything taken as 1): the initial delay for ever.
    for factor in [
        1.0,
        0.5,
        0.0,
        -3.0,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        let policy = RetryPolicy::new(3).exponential(ms(7), factor, hour);
        for n in [0, 1, 1024, u32::MAX] {
            assert_eq!(policy.delay(n), ms(7), "factor {factor}, n {n}");
        }
    }
    // Huge n or a huge factor saturate at max, never past it, never below the formula.
    let policy = RetryPolicy::new(3).exponential(ms(1), 2.0, hour);
    assert_eq!(policy.delay(10), ms(1024));
    assert_eq!(policy.delay(21), Duration::from_millis(2_097_152));
    assert_eq!(policy.delay(22), hour);
    for n in [1023, 1024, 1025, u32::MAX] {
        assert_eq!(policy.delay(n), hour, "n {n}");
    }
    let policy = RetryPolicy::new(3).exponential(ms(1), f64::MAX, hour);
    assert_eq!(policy.delay(0), ms(1));
    assert_eq!(policy.delay(1), hour);
    assert_eq!(policy.delay(u32::MAX), hour);
    // Nanosecond precision: 3 ns × 3^10 = 177,147 ns exactly.
    let policy = RetryPolicy::new(3).exponential(Duration::from_nanos(3), 3.0, hour);
    assert_eq!(policy.delay(10), Duration::from_nanos(177_147));
    // A max below the initial delay or zero caps everything.
    let policy = RetryPolicy::new(3).exponential(ms(50), 2.0, ms(20));
    assert_eq!(policy.delay(0), ms(20));
    let policy = RetryPolicy::new(3).exponential(ms(50), 2.0, Duration::ZERO);
    assert_eq!(policy.delay(5), Duration::ZERO);
    // The largest durations: no panic, capped at max.
    let policy = RetryPolicy::new(3).exponential(Duration::from_secs(1), 10.0, Duration::MAX);
    assert_eq!(policy.delay(5), Duration::from_secs(100_000));
    assert_eq!(policy.delay(u32::MAX), Duration::MAX);
}
