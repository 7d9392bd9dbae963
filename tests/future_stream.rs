//! Streams: generate, unfold, StreamExt; Interval is a Stream.

use std::time::Duration;

use ringcore::stream::{StreamExt, generate, unfold};

#[test]
fn generate_yields_lazily_in_order() {
    ringcore::block_on(async {
        let produced = std::rc::Rc::new(std::cell::Cell::new(0));
        let p = produced.clone();
        let mut s = generate(move |y| async move {
            for n in 0..3u32 {
                p.set(p.get() + 1);
                ringcore::time::sleep(Duration::from_millis(1)).await;
                y.yield_item(n).await;
            }
        });
        assert_eq!(s.next().await, Some(0));
        assert_eq!(produced.get(), 1, "the body runs only as far as asked");
        let rest: Vec<u32> = s.collect().await;
        assert_eq!(rest, [1, 2]);
    });
}

#[test]
fn unfold_map_take_and_interval() {
    ringcore::block_on(async {
        let evens: Vec<u64> = unfold(0u64, |n| async move { Some((n, n + 1)) })
            .map(|n| n * 2)
            .take(4)
            .collect()
            .await;
        assert_eq!(evens, [0, 2, 4, 6]);
        let ticks: Vec<_> = ringcore::time::interval(Duration::from_millis(2))
            .take(3)
            .collect()
            .await;
        assert_eq!(ticks.len(), 3);
    });
}

/// Importing futures-util's `StreamExt` beside ringcore's must not make `.next()`
/// ambiguous (E0034): they are one trait. A futures-util combinator (`filter`) works on a
/// ringcore stream.
#[test]
fn ringcore_and_futures_util_stream_ext_do_not_clash() {
    #[allow(unused_imports)]
    use futures_util::StreamExt as _;

    ringcore::block_on(async {
        let odd = generate(|y| async move {
            for i in 0..6u32 {
                y.yield_item(i).await;
            }
        })
        .filter(|n| std::future::ready(n % 2 == 1));
        let mut odd = std::pin::pin!(odd);
        assert_eq!(odd.next().await, Some(1));
        let rest: Vec<u32> = odd.collect().await;
        assert_eq!(rest, [3, 5]);
    });
}
