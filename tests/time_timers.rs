//! Timers: sleep never wakes early, timeout drops the inner future, interval ticks.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::time::{self, MissedTickBehavior};

struct SetOnDrop(Rc<Cell<bool>>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.set(true);
    }
}

#[test]
fn sleep_wakes_no_earlier_than_asked() {
    ringcore::block_on(async {
        for ms in [0u64, 1, 3, 10, 25] {
            let start = Instant::now();
            time::sleep(Duration::from_millis(ms)).await;
            assert!(start.elapsed() >= Duration::from_millis(ms), "{ms} ms");
        }
        let deadline = Instant::now() + Duration::from_millis(7);
        time::sleep_until(deadline).await;
        assert!(Instant::now() >= deadline);
    });
}

#[test]
fn timeout_expires_and_drops_the_inner_future() {
    ringcore::block_on(async {
        let dropped = Rc::new(Cell::new(false));
        let guard = SetOnDrop(dropped.clone());
        let inner = async move {
            let _g = guard;
            time::sleep(Duration::from_secs(3600)).await;
            1
        };
        let start = Instant::now();
        let mut fut = std::pin::pin!(time::timeout(Duration::from_millis(15), inner));
        let res = fut.as_mut().await;
        assert!(res.is_err());
        assert!(start.elapsed() >= Duration::from_millis(15));
        assert!(
            dropped.get(),
            "inner future dropped on expiry, before the Timeout itself"
        );
        assert!(fut.get_ref().is_none());
    });
}

#[test]
fn timeout_returns_the_value_when_in_time() {
    ringcore::block_on(async {
        let v = time::timeout(Duration::from_secs(5), async {
            time::sleep(Duration::from_millis(2)).await;
            9
        })
        .await;
        assert_eq!(v, Ok(9));
        assert_eq!(
            time::Elapsed::to_string(
                &time::timeout(Duration::ZERO, std::future::pending::<()>())
                    .await
                    .unwrap_err()
            ),
            "deadline has elapsed"
        );
    });
}

/// `Elapsed` converts into an `io::Error` of kind `TimedOut`, so `?` works on a timeout
/// inside an `io::Result` function.
#[test]
fn elapsed_converts_into_a_timed_out_io_error() {
    async fn read_with_limit() -> std::io::Result<()> {
        time::timeout(Duration::from_millis(1), std::future::pending::<()>()).await?;
        Ok(())
    }
    let err = ringcore::block_on(read_with_limit()).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
    assert!(err.to_string().contains("ringcore::time::timeout"), "{err}");
}

#[test]
fn interval_ticks_at_its_period() {
    ringcore::block_on(async {
        let mut iv = time::interval(Duration::from_millis(5));
        let t0 = iv.tick().await;
        let mut last = t0;
        for _ in 0..5 {
            let t = iv.tick().await;
            assert_eq!(t - last, Duration::from_millis(5));
            assert!(Instant::now() >= t);
            last = t;
        }
        iv.set_missed_tick_behavior(MissedTickBehavior::Skip);
        std::thread::sleep(Duration::from_millis(30)); // miss several ticks
        let t = iv.tick().await;
        // Read the clock before the next tick, not after it: a core descheduled between the
        // tick and the read (a loaded CI machine) must not fail the check.
        let after_t = Instant::now();
        let next = iv.tick().await;
        assert!(next > t && next + Duration::from_millis(5) >= after_t);
    });
}

#[test]
fn many_timers_fire_in_deadline_order() {
    ringcore::block_on(async {
        let order = Rc::new(std::cell::RefCell::new(Vec::new()));
        // Absolute deadlines from a common base, far enough out that every task has
        // registered its timer before the first one is due.
        let base = Instant::now() + Duration::from_millis(300);
        let registered_late = Rc::new(Cell::new(0));
        let handles: Vec<_> = (0..100_000u64)
            .map(|i| {
                let (order, late) = (order.clone(), registered_late.clone());
                // Deadlines 0..=9 ms after the base, in a scrambled order.
                let ms = (i * 7919) % 10;
                ringcore::spawn(async move {
                    let deadline = base + Duration::from_millis(ms);
                    if Instant::now() >= base {
                        late.set(late.get() + 1);
                    }
                    time::sleep_until(deadline).await;
                    assert!(Instant::now() >= deadline, "timer fired early");
                    order.borrow_mut().push(ms);
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
        let order = order.borrow();
        assert_eq!(order.len(), 100_000);
        if registered_late.get() == 0 {
            assert!(
                order.windows(2).all(|w| w[0] <= w[1]),
                "timers fired out of order"
            );
        } else {
            eprintln!(
                "order check skipped: the machine was too slow to register 100k timers in 300 ms"
            );
        }
    });
}
