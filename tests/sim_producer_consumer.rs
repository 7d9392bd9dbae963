//! The producer/consumer example (examples/producer_consumer/app.rs: a bounded `Queue`,
//! `task_done`/`join`, `shutdown`) run unchanged as a simulated host's program over many
//! seeds: every seed ends with all 20 jobs done, the seeds interleave the consumers
//! differently, and one seed replays its run exactly.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use ringcore::sim::Sim;

#[path = "../examples/producer_consumer/app.rs"]
#[allow(dead_code)]
mod producer_consumer;

/// One seed: the host's entry runs the example's program; returns how the jobs split
/// among the consumers, the virtual time the program took and the trace hash.
fn run(seed: u64) -> (Vec<usize>, Duration, u64) {
    let out = Rc::new(RefCell::new(None));
    let mut sim = Sim::new(seed);
    let o = out.clone();
    sim.host("app", move || {
        let o = o.clone();
        async move {
            let start = ringcore::time::now();
            let handled = producer_consumer::run().await;
            *o.borrow_mut() = Some((handled, ringcore::time::now() - start));
        }
    })
    .unwrap();
    sim.run_for(Duration::from_secs(60)).unwrap();
    let (handled, took) = out
        .borrow_mut()
        .take()
        .unwrap_or_else(|| panic!("seed {seed}: the program did not finish in 60 virtual s"));
    (handled, took, sim.trace_hash())
}

#[test]
fn the_example_runs_unchanged_over_many_seeds() {
    let mut splits = BTreeSet::new();
    let mut hashes = BTreeSet::new();
    let mut times = BTreeSet::new();
    for seed in 0..200 {
        let (handled, took, hash) = run(seed);
        // 20 jobs of 1-5 ms (60 ms of work in all) on three consumers.
        assert!(
            (Duration::from_millis(20)..Duration::from_millis(60)).contains(&took),
            "seed {seed}: {took:?}"
        );
        times.insert(took);
        assert_eq!(handled.len(), 3, "seed {seed}");
        assert_eq!(
            handled.iter().sum::<usize>(),
            20,
            "seed {seed}: {handled:?}"
        );
        splits.insert(handled);
        hashes.insert(hash);
    }
    // The seed picks which ready task runs: the consumers share the jobs differently.
    assert!(
        splits.len() >= 5,
        "only {} splits: {splits:?}",
        splits.len()
    );
    assert!(hashes.len() >= 150, "only {} distinct traces", hashes.len());
    assert!(
        times.len() >= 2,
        "only {} durations: {times:?}",
        times.len()
    );
    println!(
        "200 seeds: {} splits of the jobs, {} durations, {} traces",
        splits.len(),
        times.len(),
        hashes.len()
    );
    // One seed, one run.
    assert_eq!(run(17), run(17));
}
