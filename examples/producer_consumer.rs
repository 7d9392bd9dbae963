//! Producers and consumers around a bounded `Queue`, with `task_done`/`join` and a clean
//! stop (the asyncio `Queue` docs' worker pattern).
//!
//! Run: `cargo run --example producer_consumer`

use std::rc::Rc;
use std::time::Duration;

use ringcore::sync::Queue;
use ringcore::time::sleep;

fn main() {
    ringcore::block_on(async {
        let queue = Rc::new(Queue::<(usize, u64)>::bounded(8));

        // Three consumers: take a job, "work" on it, mark it done.
        let mut consumers = Vec::new();
        for id in 0..3 {
            let q = queue.clone();
            consumers.push(ringcore::task::spawn_named(
                format!("consumer-{id}"),
                async move {
                    let mut handled = 0;
                    while let Ok((producer, ms)) = q.get().await {
                        sleep(Duration::from_millis(ms)).await;
                        handled += 1;
                        println!("consumer {id}: job from producer {producer} took {ms} ms");
                        let _ = q.task_done();
                    }
                    handled
                },
            ));
        }

        // Two producers put 10 jobs each; `put` waits while the queue is full.
        let mut producers = Vec::new();
        for p in 0..2 {
            let q = queue.clone();
            producers.push(ringcore::spawn(async move {
                for n in 0..10u64 {
                    q.put((p, 1 + (n * 7 + p as u64) % 5))
                        .await
                        .expect("queue open");
                }
            }));
        }
        for p in producers {
            p.await.expect("producer");
        }

        // Every job processed, then stop the consumers (asyncio 3.13's Queue.shutdown).
        queue.join().await;
        queue.shutdown();
        let mut total = 0;
        for c in consumers {
            total += c.await.expect("consumer");
        }
        println!("all {total} jobs done");
        assert_eq!(total, 20);
    });
}
