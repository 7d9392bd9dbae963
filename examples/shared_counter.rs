//! Many tasks update shared state under a `Mutex` held across an await (asyncio's
//! `async with lock:`).
//!
//! Run: `cargo run --example shared_counter`

use std::rc::Rc;

use ringcore::sync::Mutex;
use ringcore::task::JoinSet;

fn main() {
    ringcore::block_on(async {
        let counter = Rc::new(Mutex::new(0u64));
        let mut set = JoinSet::new();
        for _ in 0..100 {
            let counter = counter.clone();
            set.spawn(async move {
                for _ in 0..100 {
                    let mut n = counter.lock().await;
                    let read = *n;
                    ringcore::yield_now().await; // without the lock this would lose updates
                    *n = read + 1;
                }
            });
        }
        for r in set.join_all().await {
            r.expect("task");
        }
        let total = *counter.lock().await;
        println!("counter = {total}");
        assert_eq!(total, 10_000);
    });
}
