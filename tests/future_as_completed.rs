//! as_completed yields in completion order under mixed sleeps.

use std::time::Duration;

use ringcore::future::as_completed;
use ringcore::stream::StreamExt;
use ringcore::time::sleep;

#[test]
fn yields_in_completion_order() {
    ringcore::block_on(async {
        let delays = [40u64, 0, 25, 5, 60, 15];
        let mut stream = as_completed(delays.map(|ms| async move {
            sleep(Duration::from_millis(ms)).await;
            ms
        }));
        assert_eq!(stream.remaining(), 6);
        let mut got = Vec::new();
        while let Some(ms) = stream.next().await {
            got.push(ms);
        }
        assert_eq!(got, [0, 5, 15, 25, 40, 60]);
        assert_eq!(stream.next().await, None);
    });
}

#[test]
fn collect_and_empty_input() {
    ringcore::block_on(async {
        let none: Vec<u8> = as_completed(Vec::<std::future::Ready<u8>>::new())
            .collect()
            .await;
        assert!(none.is_empty());
        let mut all: Vec<u8> = as_completed((0..4u8).map(std::future::ready))
            .collect()
            .await;
        all.sort();
        assert_eq!(all, [0, 1, 2, 3]);
    });
}
