//! Producers and consumers around a bounded `Queue`, with `task_done`/`join` and a clean
//! stop (the asyncio `Queue` docs' worker pattern). The program is `app.rs`'s `run`, which
//! tests/sim_producer_consumer.rs also runs, unchanged, as a simulated host over many
//! seeds.
//!
//! Run: `cargo run --example producer_consumer`

mod app;

fn main() {
    ringcore::block_on(async {
        let handled = app::run().await;
        let total: usize = handled.iter().sum();
        println!("all {total} jobs done");
        assert_eq!(total, 20);
    });
}
