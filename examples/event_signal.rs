//! Tasks wait for an `Event` before they start (asyncio's `Event`: a starting gun).
//!
//! Run: `cargo run --example event_signal`

use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::sync::Event;
use ringcore::task::JoinSet;

fn main() {
    ringcore::block_on(async {
        let go = Rc::new(Event::new());
        let start = Instant::now();
        let mut runners = JoinSet::new();
        for i in 0..5 {
            let go = go.clone();
            runners.spawn(async move {
                go.wait().await;
                println!("runner {i} starts at {:?}", start.elapsed());
                i
            });
        }
        ringcore::time::sleep(Duration::from_millis(50)).await;
        println!("ready... go!");
        go.set();
        let finished: Vec<_> = runners.join_all().await.into_iter().flatten().collect();
        assert_eq!(finished.len(), 5);
        assert!(go.is_set());
    });
}
