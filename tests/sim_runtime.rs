//! The simulation harness (feature `sim`): virtual clock, seeded scheduler, trace hash,
//! deadlock and time-budget reports, and the refusal of real I/O. The simulation builds its
//! own cores, so `RINGCORE_DRIVER` (set to `epoll` in one CI pass) does not apply.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ringcore::sim::{Sim, SimError};
use ringcore::time::{now, sleep};

/// An hour of one-second sleeps, on two hosts, takes virtual time, not real time.
#[test]
fn an_hour_of_sleeps_is_virtual() {
    let mut sim = Sim::new(1);
    let ticks = Rc::new(RefCell::new(0u32));
    let t = ticks.clone();
    sim.host("a", move || {
        let t = t.clone();
        async move {
            for _ in 0..3600 {
                sleep(Duration::from_secs(1)).await;
                *t.borrow_mut() += 1;
            }
        }
    })
    .unwrap();
    sim.host("b", || async {}).unwrap();
    let real = std::time::Instant::now();
    let measured = sim
        .run_until("b", async {
            let start = now();
            sleep(Duration::from_secs(3600)).await;
            now() - start
        })
        .unwrap();
    assert_eq!(
        measured,
        Duration::from_secs(3600),
        "time::now is the virtual clock"
    );
    assert_eq!(*ticks.borrow(), 3600, "host a's sleeps ran meanwhile");
    assert_eq!(sim.elapsed(), Duration::from_secs(3600));
    // Generous: it takes milliseconds; a real hour would be 3600 s.
    assert!(
        real.elapsed() < Duration::from_secs(60),
        "{:?}",
        real.elapsed()
    );
}

/// A program whose order of events depends on the scheduler, the latencies and
/// `sim::rng()`: several tasks on two hosts appending to one log, with file I/O between.
fn scenario(seed: u64) -> (u64, Vec<String>) {
    let log = Rc::new(RefCell::new(Vec::new()));
    let mut sim = Sim::new(seed);
    for host in ["x", "y"] {
        let log = log.clone();
        sim.host(host, move || {
            let log = log.clone();
            async move {
                let mut tasks = Vec::new();
                for t in 0..4 {
                    let log = log.clone();
                    tasks.push(ringcore::spawn(async move {
                        let mut rng = ringcore::sim::rng();
                        let path = format!("/f{t}");
                        let f = ringcore::fs::File::create(&path).await.unwrap();
                        for i in 0..3 {
                            sleep(Duration::from_micros(rng.u64(0..500))).await;
                            f.write_all_at(vec![i as u8; 100], i * 100).await.0.unwrap();
                            log.borrow_mut().push(format!("{host}{t}.{i}"));
                        }
                        f.sync_data().await.unwrap();
                    }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            }
        })
        .unwrap();
    }
    sim.run_for(Duration::from_secs(1)).unwrap();
    let order = log.borrow().clone();
    assert_eq!(order.len(), 24, "every write ran: {order:?}");
    (sim.trace_hash(), order)
}

#[test]
fn one_seed_replays_the_same_trace() {
    let (hash_a, order_a) = scenario(42);
    let (hash_b, order_b) = scenario(42);
    assert_eq!(hash_a, hash_b, "same seed, same trace hash");
    assert_eq!(order_a, order_b, "same seed, same order of events");
    // The seed matters: other seeds give other interleavings (and hashes).
    let others: Vec<_> = (0..8).map(scenario).collect();
    assert!(others.iter().any(|(h, _)| *h != hash_a));
    assert!(
        others.iter().any(|(_, o)| *o != order_a),
        "8 seeds gave one interleaving"
    );
}

#[test]
fn a_deadlock_is_reported_with_the_seed() {
    let mut sim = Sim::new(99);
    sim.host("h", || async {}).unwrap();
    let err = sim
        .run_until("h", async {
            let (_tx, rx) = ringcore::sync::oneshot::channel::<u8>();
            let waiter = ringcore::spawn_named("waits-forever", rx);
            let _ = waiter.await;
        })
        .unwrap_err();
    let SimError::Deadlock {
        seed, ref report, ..
    } = err
    else {
        panic!("expected a deadlock, got {err}");
    };
    assert_eq!(seed, 99);
    assert!(report.contains("waits-forever"), "{report}");
    assert!(err.to_string().contains("RINGCORE_SIM_SEED=99"), "{err}");
}

#[test]
fn the_virtual_time_budget_fails_with_the_seed() {
    let mut sim = Sim::new(5);
    sim.time_limit(Duration::from_secs(10));
    sim.host("h", || async {}).unwrap();
    let err = sim
        .run_until("h", sleep(Duration::from_secs(60)))
        .unwrap_err();
    assert!(
        matches!(err, SimError::TimeLimit { seed: 5, .. }),
        "expected a time limit, got {err}"
    );
    assert!(sim.elapsed() <= Duration::from_secs(10));
}

/// What the simulation has no model of fails with `Unsupported` instead of doing real I/O;
/// a name that is no simulated host fails without a DNS query.
#[test]
fn real_io_is_refused() {
    let mut sim = Sim::new(3);
    sim.host("h", || async {}).unwrap();
    let (pool, lookup) = sim
        .run_until("h", async {
            // No worker starts before the first call, which the simulation refuses.
            let pool = ringcore::offload::ProcessPool::builder()
                .program("/bin/true")
                .build()
                .unwrap();
            let call = pool.call::<u32, u32>("job", &1).await.map(drop);
            let lookup = ringcore::net::lookup_host("example.com:80").await.map(drop);
            (call, lookup)
        })
        .unwrap();
    match pool.expect_err("ProcessPool call") {
        ringcore::offload::PoolError::Spawn(err) => {
            assert_eq!(err.kind(), std::io::ErrorKind::Unsupported, "{err}")
        }
        other => panic!("expected Spawn(Unsupported), got {other}"),
    }
    let err = lookup.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains("example.com"), "{err}");
}

/// `spawn_blocking` runs its closure on the host's core after a virtual cost drawn from
/// the seed in `Sim::blocking_cost`'s range: the clock moves, other tasks run meanwhile,
/// and one seed gives one history.
#[test]
fn spawn_blocking_runs_in_the_simulation_at_a_virtual_cost() {
    let run = |seed: u64| {
        let mut sim = Sim::new(seed);
        sim.blocking_cost(Duration::from_millis(5), Duration::from_millis(50));
        sim.host("h", || async {}).unwrap();
        let out = sim
            .run_until("h", async {
                let start = ringcore::time::now();
                let ticks = Rc::new(RefCell::new(0u32));
                let t = ticks.clone();
                let ticker = ringcore::spawn(async move {
                    loop {
                        sleep(Duration::from_millis(1)).await;
                        *t.borrow_mut() += 1;
                    }
                });
                let jobs: Vec<_> = (0..4u64)
                    .map(|i| ringcore::offload::spawn_blocking(move || (1..=100 * i).sum::<u64>()))
                    .collect();
                let mut sums = Vec::new();
                for job in jobs {
                    sums.push((job.await.unwrap(), ringcore::time::now() - start));
                }
                ticker.abort();
                (sums, *ticks.borrow())
            })
            .unwrap();
        (out, sim.trace_hash())
    };
    let ((sums, ticks), hash) = run(8);
    let values: Vec<u64> = sums.iter().map(|(v, _)| *v).collect();
    assert_eq!(values, [0, 5050, 20100, 45150]);
    for (_, at) in &sums {
        assert!(
            (Duration::from_millis(5)..=Duration::from_millis(50)).contains(at),
            "{at:?}"
        );
    }
    let last = sums.iter().map(|(_, at)| *at).max().unwrap();
    assert!(
        ticks >= 4,
        "the core ran other tasks while the jobs cost {last:?}"
    );
    assert_eq!(run(8).1, hash, "one seed, one history");
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut sim = Sim::new(0);
    sim.host("h", || async {}).unwrap();
    assert!(matches!(
        sim.host("h", || async {}),
        Err(SimError::DuplicateHost(_))
    ));
    assert!(matches!(sim.crash("nope"), Err(SimError::UnknownHost(_))));
    sim.crash("h").unwrap();
    assert!(matches!(sim.crash("h"), Err(SimError::HostDown(_))));
    assert!(matches!(
        sim.run_until("h", async {}),
        Err(SimError::HostDown(_))
    ));
}

/// A check that fails on some seeds: two tasks race to write a shared cell, and the
/// "bug" is the second writer winning.
fn racy(sim: &mut Sim) -> Result<(), Box<dyn std::error::Error>> {
    let winner = Rc::new(RefCell::new(Vec::new()));
    let w = winner.clone();
    sim.host("h", move || {
        let w = w.clone();
        async move {
            let a = {
                let w = w.clone();
                ringcore::spawn(async move { w.borrow_mut().push('a') })
            };
            let b = ringcore::spawn(async move { w.borrow_mut().push('b') });
            a.await.unwrap();
            b.await.unwrap();
        }
    })?;
    sim.run_for(Duration::from_secs(1))?;
    if winner.borrow()[0] == 'b' {
        return Err("b ran first".into());
    }
    Ok(())
}

#[test]
fn run_seeds_reports_and_replays_the_first_failure() {
    let report = ringcore::sim::run_seeds(0..64, racy);
    assert_eq!(report.seeds, 64);
    assert!(report.failed > 0 && report.failed < 64, "{report}");
    let (seed, why) = report.first_failure.clone().unwrap();
    assert_eq!(why, "b ran first");
    let line = report.to_string();
    assert!(
        line.starts_with(&format!(
            "seeds 64, failed {}, first failing seed {seed}, trace hash ",
            report.failed
        )),
        "{line}"
    );
    // The failing seed replays: it fails again, with the same trace.
    let mut sim = Sim::new(seed);
    assert!(racy(&mut sim).is_err());
    assert_eq!(sim.trace_hash(), report.trace_hash);
    // A passing run reports `none`.
    let none = ringcore::sim::run_seeds([1u64], |_| Ok(()));
    assert!(
        none.to_string()
            .starts_with("seeds 1, failed 0, first failing seed none, trace hash ")
    );
}
