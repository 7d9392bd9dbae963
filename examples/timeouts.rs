//! `wait_for` with cancellation: `ringcore::time::timeout` drops the slow future, whose
//! cleanup runs at once (asyncio's `wait_for` cancels the inner task).
//!
//! Run: `cargo run --example timeouts`

use std::time::Duration;

use ringcore::time::{sleep, timeout};

struct Cleanup(&'static str);

impl Drop for Cleanup {
    fn drop(&mut self) {
        println!("{}: cleaned up", self.0);
    }
}

async fn slow_lookup(name: &'static str, ms: u64) -> String {
    let _guard = Cleanup(name);
    sleep(Duration::from_millis(ms)).await;
    format!("{name} answered after {ms} ms")
}

fn main() {
    ringcore::block_on(async {
        match timeout(Duration::from_millis(100), slow_lookup("fast", 10)).await {
            Ok(v) => println!("ok: {v}"),
            Err(e) => println!("fast: {e}"),
        }
        match timeout(Duration::from_millis(50), slow_lookup("slow", 5_000)).await {
            Ok(v) => println!("ok: {v}"),
            Err(e) => println!("slow: {e} (the lookup was cancelled)"),
        }

        // A spawned task under a deadline: abort it when the deadline passes.
        let task = ringcore::spawn(slow_lookup("task", 5_000));
        let mut task = std::pin::pin!(task);
        if timeout(Duration::from_millis(20), task.as_mut())
            .await
            .is_err()
        {
            task.abort();
            let outcome = task.await;
            println!("task: {outcome:?}");
            assert!(outcome.unwrap_err().is_cancelled());
        }
    });
}
