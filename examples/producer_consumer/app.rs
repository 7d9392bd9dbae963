//! The producer/consumer program as one function, for the example's `main` and for a test
//! or simulation harness: `#[path = "../examples/producer_consumer/app.rs"] mod
//! producer_consumer;` (from `tests/`), then `producer_consumer::run().await` inside any
//! ringcore runtime, or as a simulated host's entry (tests/sim_producer_consumer.rs).

use std::rc::Rc;
use std::time::Duration;

use ringcore::sync::Queue;
use ringcore::time::sleep;

/// Jobs each producer puts.
pub(crate) const JOBS_PER_PRODUCER: u64 = 10;
/// Producers.
pub(crate) const PRODUCERS: usize = 2;
/// Consumers.
pub(crate) const CONSUMERS: usize = 3;

/// Two producers put ten jobs each into a bounded `Queue` of 8 (`put` waits while it is
/// full); three consumers take jobs, sleep for each job's 1-5 ms of "work", print a line
/// and mark it done; once the producers are done, `join` waits for every job to be marked
/// done and `shutdown` stops the consumers. Returns the number of jobs each consumer
/// handled (they add up to 20; how they split depends on the interleaving).
///
/// # Panics
///
/// If the queue closes while a producer still puts (it cannot: it is shut down only after
/// the producers finish), or a task panics.
pub(crate) async fn run() -> Vec<usize> {
    let queue = Rc::new(Queue::<(usize, u64)>::bounded(8));

    // Three consumers: take a job, "work" on it, mark it done.
    let mut consumers = Vec::new();
    for id in 0..CONSUMERS {
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
    for p in 0..PRODUCERS {
        let q = queue.clone();
        producers.push(ringcore::spawn(async move {
            for n in 0..JOBS_PER_PRODUCER {
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
    let mut handled = Vec::new();
    for c in consumers {
        handled.push(c.await.expect("consumer"));
    }
    handled
}
