//! Worker tasks pull jobs from a queue and complete each job's future through a oneshot
//! channel (asyncio: put `(job, loop.create_future())`, the worker calls `set_result`).
//!
//! Run: `cargo run --example task_queue`

use std::rc::Rc;
use std::time::Duration;

use ringcore::future::join_all;
use ringcore::sync::{Queue, oneshot};

struct Job {
    n: u64,
    reply: oneshot::Sender<u64>,
}

/// Submits a job and returns the future of its result.
async fn submit(queue: &Queue<Job>, n: u64) -> Option<u64> {
    let (reply, result) = oneshot::channel();
    queue.put(Job { n, reply }).await.ok()?;
    result.await.ok()
}

fn main() {
    ringcore::block_on(async {
        let queue = Rc::new(Queue::<Job>::bounded(4));
        let workers: Vec<_> = (0..3)
            .map(|w| {
                let q = queue.clone();
                ringcore::task::spawn_named(format!("worker-{w}"), async move {
                    while let Ok(job) = q.get().await {
                        ringcore::time::sleep(Duration::from_millis(job.n % 4)).await;
                        // The submitter may have given up: then nobody needs the result.
                        let _ = job.reply.send(job.n * job.n);
                    }
                })
            })
            .collect();

        let results = join_all((1..=12).map(|n| submit(&queue, n))).await;
        println!("squares: {results:?}");
        assert!(
            results
                .iter()
                .enumerate()
                .all(|(i, r)| *r == Some((i as u64 + 1).pow(2)))
        );

        queue.shutdown();
        for w in workers {
            w.await.expect("worker");
        }
    });
}
