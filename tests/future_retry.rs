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
