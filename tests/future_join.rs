//! join_all, try_join_all (fail fast, the rest dropped), join_all_settled, select.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use ringcore::future::{
    Either, join_all, join_all_settled, race, select, select_all, try_join_all,
};
use ringcore::time::sleep;

type BoxFut<T> = Pin<Box<dyn Future<Output = T>>>;

/// Counts its drops.
struct DropCounter(Rc<Cell<usize>>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn join_all_keeps_input_order() {
    ringcore::block_on(async {
        let out = join_all([30u64, 5, 15].map(|ms| async move {
            sleep(Duration::from_millis(ms)).await;
            ms
        }))
        .await;
        assert_eq!(out, [30, 5, 15]);
    });
}

#[test]
fn try_join_all_returns_the_first_error_and_drops_the_rest() {
    ringcore::block_on(async {
        let dropped = Rc::new(Cell::new(0));
        let finished = Rc::new(Cell::new(0));
        let futs: Vec<BoxFut<Result<u32, String>>> = (0..4u32)
            .map(|i| {
                let guard = DropCounter(dropped.clone());
                let finished = finished.clone();
                Box::pin(async move {
                    let _guard = guard;
                    if i == 2 {
                        sleep(Duration::from_millis(5)).await;
                        return Err(format!("task {i} failed"));
                    }
                    sleep(Duration::from_secs(30)).await;
                    finished.set(finished.get() + 1);
                    Ok(i)
                }) as BoxFut<_>
            })
            .collect();
        let err = try_join_all(futs).await.unwrap_err();
        assert_eq!(err, "task 2 failed");
        assert_eq!(
            dropped.get(),
            4,
            "every future dropped when the error returns"
        );
        assert_eq!(finished.get(), 0);
    });
}

#[test]
fn try_join_all_collects_all_values_in_order() {
    ringcore::block_on(async {
        let out = try_join_all((0..5u64).map(|i| async move {
            sleep(Duration::from_millis(5 - i)).await;
            Ok::<_, ()>(i)
        }))
        .await;
        assert_eq!(out, Ok(vec![0, 1, 2, 3, 4]));
    });
}

#[test]
fn settled_keeps_running_after_a_panic() {
    ringcore::block_on(async {
        let ran = Rc::new(Cell::new(false));
        let r = ran.clone();
        let futs: Vec<BoxFut<u8>> = vec![
            Box::pin(async { panic!("first fails") }),
            Box::pin(async move {
                sleep(Duration::from_millis(2)).await;
                r.set(true);
                7
            }),
        ];
        let out = join_all_settled(futs).await;
        assert_eq!(out[0].as_ref().unwrap_err().message(), Some("first fails"));
        assert_eq!(*out[1].as_ref().unwrap(), 7);
        assert!(ran.get());
    });
}

#[test]
fn select_and_race_return_the_first_and_drop_the_other() {
    ringcore::block_on(async {
        let dropped = Rc::new(Cell::new(0));
        let guard = DropCounter(dropped.clone());
        let slow = async move {
            let _g = guard;
            sleep(Duration::from_secs(30)).await;
            1
        };
        let fast = async {
            sleep(Duration::from_millis(1)).await;
            "fast"
        };
        assert_eq!(select(slow, fast).await, Either::Right("fast"));
        assert_eq!(dropped.get(), 1);
        let v = race(
            sleep(Duration::from_millis(1)),
            sleep(Duration::from_secs(30)),
        )
        .await;
        assert_eq!(v, ());
        let futs: Vec<_> = [20u64, 1, 10]
            .map(|ms| {
                Box::pin(async move {
                    sleep(Duration::from_millis(ms)).await;
                    ms
                })
            })
            .into();
        let (v, i, rest) = select_all(futs).await;
        assert_eq!((v, i, rest.len()), (1, 1, 2));
    });
}

#[test]
fn join_all_polls_only_the_woken_futures() {
    ringcore::block_on(async {
        let polls = Rc::new(Cell::new(0usize));
        let n = 2_000u64;
        let futs = (0..n).map(|i| {
            let polls = polls.clone();
            let mut sleep = Box::pin(sleep(Duration::from_micros(100 + (i * 37) % 3_000)));
            std::future::poll_fn(move |cx| {
                polls.set(polls.get() + 1);
                sleep.as_mut().poll(cx)
            })
        });
        assert_eq!(join_all(futs).await.len(), n as usize);
        // One poll to start and one per wake-up: not n polls per wake-up.
        assert!(polls.get() <= 3 * n as usize, "{} polls", polls.get());
    });
}
