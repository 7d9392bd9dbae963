//! Simulated hosts of several cores (feature `sim`): `submit_to`, `spawn_on`,
//! `run_on_each_core` and the cross-core channel between the cores of one host, all on the
//! simulation's one thread in an order drawn from the seed; replay by seed; a crash and
//! restart of every core; a deadlock across two cores reported, not hung. The simulation
//! builds its own cores, so `RINGCORE_DRIVER` (set to `epoll` in one CI pass) does not
//! apply.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use ringcore::CoreId;
use ringcore::channel::channel;
use ringcore::net::{TcpListener, TcpStream};
use ringcore::sim::{Sim, SimError};
use ringcore::time::{sleep, timeout};

#[test]
fn submit_to_spawn_on_and_each_core_reach_the_sibling_cores() {
    let mut sim = Sim::new(11);
    sim.host_cores("h", 4, || async {}).unwrap();
    let (cores, submitted, spawned, each) = sim
        .run_until("h", async {
            let cores = (ringcore::current_core(), ringcore::num_cores());
            let submitted = ringcore::submit_to(CoreId::new(3), || async {
                // A task of core 3, spawned there, with a timer of core 3.
                let t = ringcore::spawn(async {
                    sleep(Duration::from_millis(5)).await;
                    ringcore::current_core().index() * 10
                });
                t.await.unwrap()
            })
            .await
            .unwrap();
            let spawned = ringcore::spawn_on(CoreId::new(2), || async {
                (ringcore::current_core().index(), ringcore::num_cores())
            })
            .await
            .unwrap();
            let each = ringcore::run_on_each_core(|core| {
                move || async move { (core, ringcore::current_core()) }
            })
            .await;
            (cores, submitted, spawned, each)
        })
        .unwrap();
    assert_eq!(cores, (CoreId::new(0), 4));
    assert_eq!(submitted, 30);
    assert_eq!(spawned, (2, 4));
    assert_eq!(each.len(), 4);
    for (asked, ran_on) in each {
        assert_eq!(asked, ran_on);
    }
    // No such core is the typed error of a real runtime.
    let err = sim
        .run_until("h", async {
            ringcore::submit_to(CoreId::new(4), || async {})
                .await
                .unwrap_err()
        })
        .unwrap();
    assert!(
        matches!(err, ringcore::SubmitError::NoSuchCore { cores: 4, .. }),
        "{err:?}"
    );
}

/// Three cores send numbered messages through one cross-core channel to core 0, which
/// sums them; the channel's promise (each sender's messages in order) holds under every
/// seed, and the interleaving of the senders is the seed's.
fn channel_run(seed: u64) -> (u64, Vec<(usize, u32)>) {
    let mut sim = Sim::new(seed);
    sim.host_cores("h", 4, || async {}).unwrap();
    let received = sim
        .run_until("h", async {
            let (tx, mut rx) = channel::<(usize, u32)>(4);
            let senders: Vec<_> = (1..4)
                .map(|core| {
                    let tx = tx.clone();
                    ringcore::spawn_on(CoreId::new(core), move || async move {
                        for i in 0..20 {
                            tx.send((core, i)).await.unwrap();
                            if i % 5 == 0 {
                                ringcore::yield_now().await;
                            }
                        }
                    })
                })
                .collect();
            drop(tx);
            let mut got = Vec::new();
            while let Some(m) = rx.recv().await {
                got.push(m);
            }
            for s in senders {
                s.await.unwrap();
            }
            got
        })
        .unwrap();
    (sim.trace_hash(), received)
}

#[test]
fn the_cross_core_channel_keeps_each_senders_order() {
    for seed in 0..20 {
        let (_, got) = channel_run(seed);
        assert_eq!(got.len(), 60, "seed {seed}");
        for core in 1..4 {
            let mine: Vec<u32> = got
                .iter()
                .filter(|(c, _)| *c == core)
                .map(|(_, i)| *i)
                .collect();
            assert_eq!(
                mine,
                (0..20).collect::<Vec<_>>(),
                "seed {seed}, core {core}"
            );
        }
    }
}

#[test]
fn one_seed_replays_the_cores_interleaving_and_seeds_differ() {
    let (hash_a, order_a) = channel_run(42);
    let (hash_b, order_b) = channel_run(42);
    assert_eq!(hash_a, hash_b, "same seed, same trace hash");
    assert_eq!(
        order_a, order_b,
        "same seed, same interleaving of the cores"
    );
    let others: Vec<_> = (0..8).map(channel_run).collect();
    assert!(others.iter().any(|(h, _)| *h != hash_a));
    assert!(
        others.iter().any(|(_, o)| *o != order_a),
        "8 seeds gave one interleaving of three cores"
    );
}

#[test]
fn jobs_sent_to_one_core_start_in_the_order_they_were_sent() {
    for seed in 0..20 {
        let mut sim = Sim::new(seed);
        sim.host_cores("h", 2, || async {}).unwrap();
        let started = sim
            .run_until("h", async {
                let (tx, mut rx) = channel::<u32>(64);
                let handles: Vec<_> = (0..30)
                    .map(|i| {
                        let tx = tx.clone();
                        ringcore::spawn_on(CoreId::new(1), move || {
                            // Runs as the job starts, before its future is spawned.
                            tx.try_send(i).unwrap();
                            async {}
                        })
                    })
                    .collect();
                drop(tx);
                for h in handles {
                    h.await.unwrap();
                }
                let mut got = Vec::new();
                while let Some(i) = rx.recv().await {
                    got.push(i);
                }
                got
            })
            .unwrap();
        assert_eq!(started, (0..30).collect::<Vec<_>>(), "seed {seed}");
    }
}

/// Every core of a host does file I/O and waits on sockets at once, so the cores' drivers
/// have ops in flight together (their `user_data`s overlap) and cancel some of them: each
/// completion and cancel must reach the core that asked.
#[test]
fn ops_and_cancels_of_several_cores_reach_their_own_core() {
    for seed in 0..10 {
        let mut sim = Sim::new(seed);
        sim.host_cores("h", 3, || async {}).unwrap();
        let results = sim
            .run_until("h", async {
                ringcore::run_on_each_core(|core| {
                    move || async move {
                        let k = core.index();
                        // Every core accepts (its accept parked) before any core connects
                        // (at virtual time 0; the first connect comes after a 10 ms
                        // timeout). This core's listener takes the previous core's
                        // connection, reads its bytes and answers.
                        let l = TcpListener::bind(("0.0.0.0", 8000 + k as u16)).unwrap();
                        let accepted = ringcore::spawn(async move {
                            let (s, _) = l.accept().await.unwrap();
                            let (res, buf) = s.read(Vec::with_capacity(10)).await;
                            res.unwrap();
                            s.write_all(b"k".to_vec()).await.0.unwrap();
                            buf
                        });
                        let path = format!("/core{k}");
                        let f = ringcore::fs::File::create(&path).await.unwrap();
                        for i in 0..10u8 {
                            f.write_all_at(vec![k as u8 * 16 + i; 100], u64::from(i) * 100)
                                .await
                                .0
                                .unwrap();
                        }
                        f.sync_all().await.unwrap();
                        // An accept on a port nobody connects to: the timeout cancels it.
                        let lonely = TcpListener::bind(("0.0.0.0", 9000 + k as u16)).unwrap();
                        let timed_out = timeout(Duration::from_millis(10), lonely.accept())
                            .await
                            .is_err();
                        // A connection from this core to the next core's listener.
                        let next = 8000 + ((k + 1) % 3) as u16;
                        let s = TcpStream::connect(("127.0.0.1", next)).await.unwrap();
                        s.write_all(vec![k as u8; 10]).await.0.unwrap();
                        // The stream stays open until the neighbour has read.
                        let (res, ack) = s.read(Vec::with_capacity(1)).await;
                        assert_eq!((res.unwrap(), &ack[..]), (1, &b"k"[..]));
                        let got = accepted.await.unwrap();
                        let data = ringcore::fs::read(&path).await.unwrap();
                        (k, timed_out, got, data)
                    }
                })
                .await
            })
            .unwrap();
        for (k, timed_out, accepted, data) in results {
            assert!(timed_out, "seed {seed}: core {k}'s accept timed out");
            let prev = ((k + 2) % 3) as u8;
            assert!(
                !accepted.is_empty() && accepted.iter().all(|&b| b == prev),
                "seed {seed}: core {k} got its neighbour's bytes: {accepted:?}"
            );
            assert_eq!(data.len(), 1000, "seed {seed}");
            for i in 0..10 {
                assert!(
                    data[i * 100..(i + 1) * 100]
                        .iter()
                        .all(|&b| b == k as u8 * 16 + i as u8),
                    "seed {seed}: core {k}'s file, block {i}"
                );
            }
        }
    }
}

#[test]
fn a_crash_stops_every_core_and_a_restart_starts_them_all() {
    let mut sim = Sim::new(5);
    // Each start of the host: every core ticks a counter of its own every millisecond.
    let ticks = Rc::new(RefCell::new(Vec::<(u32, usize)>::new()));
    let starts = Rc::new(RefCell::new(0u32));
    let (t, s) = (ticks.clone(), starts.clone());
    sim.host_cores("h", 3, move || {
        let (ticks, starts) = (t.clone(), s.clone());
        async move {
            *starts.borrow_mut() += 1;
            let start = *starts.borrow();
            // The cross-core channel carries the ticks to core 0, which logs them.
            let (tx, mut rx) = channel::<usize>(16);
            let mut jobs = Vec::new();
            for core in 0..3 {
                let tx = tx.clone();
                jobs.push(ringcore::spawn_on(CoreId::new(core), move || async move {
                    loop {
                        sleep(Duration::from_millis(1)).await;
                        if tx.send(ringcore::current_core().index()).await.is_err() {
                            return;
                        }
                    }
                }));
            }
            drop(tx);
            while let Some(core) = rx.recv().await {
                ticks.borrow_mut().push((start, core));
            }
        }
    })
    .unwrap();
    sim.run_for(Duration::from_millis(50)).unwrap();
    let cores_seen = |start: u32| {
        let mut seen: Vec<usize> = ticks
            .borrow()
            .iter()
            .filter(|(s, _)| *s == start)
            .map(|(_, c)| *c)
            .collect();
        seen.sort_unstable();
        seen.dedup();
        seen
    };
    assert_eq!(
        cores_seen(1),
        [0, 1, 2],
        "every core ticked before the crash"
    );
    sim.crash("h").unwrap();
    assert!(!sim.is_up("h").unwrap());
    let before = ticks.borrow().len();
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(
        ticks.borrow().len(),
        before,
        "no core of a crashed host runs"
    );
    sim.restart("h").unwrap();
    sim.run_for(Duration::from_millis(50)).unwrap();
    assert_eq!(*starts.borrow(), 2, "the entry ran again");
    assert_eq!(
        cores_seen(2),
        [0, 1, 2],
        "every core runs again after the restart"
    );
    // The restarted host serves cross-core calls as before.
    let on_2 = sim
        .run_until("h", async {
            ringcore::submit_to(CoreId::new(2), || async { ringcore::current_core() })
                .await
                .unwrap()
        })
        .unwrap();
    assert_eq!(on_2, CoreId::new(2));
}

#[test]
fn a_deadlock_across_two_cores_is_reported_with_every_cores_tasks() {
    let mut sim = Sim::new(77);
    sim.host_cores("h", 2, || async {}).unwrap();
    let err = sim
        .run_until("h", async {
            // Core 0 waits for core 1 and core 1 for core 0; each keeps the sender the
            // other waits on.
            let (to_0, mut from_1) = channel::<u8>(1);
            let (to_1, mut from_0) = channel::<u8>(1);
            let on_1 = ringcore::spawn_on(CoreId::new(1), move || async move {
                let _keep = to_0;
                ringcore::spawn_named("core-1-waits", async move { from_0.recv().await })
                    .await
                    .unwrap()
            });
            let _keep = to_1;
            ringcore::spawn_named("core-0-waits", async move { from_1.recv().await })
                .await
                .unwrap();
            on_1.await.unwrap()
        })
        .unwrap_err();
    let SimError::Deadlock {
        seed, ref report, ..
    } = err
    else {
        panic!("expected a deadlock, got {err}");
    };
    assert_eq!(seed, 77);
    assert!(report.contains("host \"h\" core 0"), "{report}");
    assert!(report.contains("host \"h\" core 1"), "{report}");
    assert!(report.contains("core-0-waits"), "{report}");
    assert!(report.contains("core-1-waits"), "{report}");
    assert!(err.to_string().contains("RINGCORE_SIM_SEED=77"), "{err}");
}

#[test]
fn a_host_needs_one_core_or_more() {
    let mut sim = Sim::new(0);
    for cores in [0, ringcore::sim::MAX_HOST_CORES + 1] {
        let err = sim.host_cores("h", cores, || async {}).unwrap_err();
        assert!(
            matches!(err, SimError::InvalidCores { cores: c, .. } if c == cores),
            "{err}"
        );
    }
    // Nothing was added: the name is free.
    sim.host_cores("h", 2, || async {}).unwrap();
}

/// `#[ringcore::test(sim)]`: the body runs once per seed on a simulated host of two
/// cores; an hour of virtual sleeps on core 1 takes no real hour.
#[ringcore::test(sim, seeds = 20, cores = 2)]
async fn the_test_macro_runs_the_body_as_a_simulation() {
    assert!(ringcore::sim::is_simulated());
    assert_eq!(ringcore::num_cores(), 2);
    let start = ringcore::time::now();
    let slept = ringcore::submit_to(CoreId::new(1), move || async move {
        sleep(Duration::from_secs(3600)).await;
        ringcore::current_core().index()
    });
    assert_eq!(slept.await.unwrap(), 1);
    assert_eq!(ringcore::time::now() - start, Duration::from_secs(3600));
}

/// A body may return a `Result`, as a `#[test]` may; `Err` fails the seed.
#[ringcore::test(sim, seeds = 3)]
async fn the_test_macro_takes_a_result() -> std::io::Result<()> {
    let f = ringcore::fs::File::create("/a").await?;
    f.write_all_at(b"x".to_vec(), 0).await.0?;
    f.sync_all().await
}

/// A body that fails on some seeds fails the test with the seed and the replay command.
#[ringcore::test(sim, seeds = 50, cores = 2)]
#[should_panic(expected = "cargo test the_test_macro_names_the_failing_seed")]
async fn the_test_macro_names_the_failing_seed() {
    // Which core's job starts first is the seed's.
    let (tx, mut rx) = channel::<usize>(2);
    let jobs: Vec<_> = (0..2)
        .map(|core| {
            let tx = tx.clone();
            ringcore::spawn_on(CoreId::new(core), move || async move {
                tx.send(core).await.unwrap();
            })
        })
        .collect();
    drop(tx);
    for j in jobs {
        j.await.unwrap();
    }
    assert_eq!(rx.recv().await, Some(0), "core 1 sent first");
}

/// The failure names the first failing seed, and that seed fails again when replayed.
#[test]
fn test_seeds_reports_a_seed_that_replays() {
    async fn body() {
        let n = ringcore::sim::rng().u32(0..4);
        assert_ne!(n, 3, "drew 3");
    }
    let panic = std::panic::catch_unwind(|| ringcore::sim::test_seeds("body", 100, 1, body))
        .expect_err("some seed of 100 draws 3");
    let msg = panic.downcast_ref::<String>().unwrap();
    let seed: u64 = msg
        .split("failed on seed ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no seed in {msg:?}"));
    assert!(msg.contains("drew 3"), "{msg}");
    assert!(
        msg.contains(&format!("RINGCORE_SIM_SEED={seed} cargo test body")),
        "{msg}"
    );
    // Every earlier seed passed and this one fails again, alone.
    for s in 0..seed {
        let mut sim = Sim::new(s);
        sim.host("test", || async {}).unwrap();
        sim.run_until("test", body()).unwrap();
    }
    let mut sim = Sim::new(seed);
    sim.host("test", || async {}).unwrap();
    let err = sim.run_until("test", body()).unwrap_err();
    assert!(err.to_string().contains("drew 3"), "{err}");
}

/// Random crashes land between any two polls of a host of three cores, with jobs, wakes
/// and file ops in flight between its cores; every restart serves again.
#[test]
fn random_crashes_of_a_host_of_several_cores() {
    for seed in 0..5 {
        let mut sim = Sim::new(seed);
        let starts = Rc::new(RefCell::new(0u32));
        let rounds = Rc::new(RefCell::new(0u32));
        let (s, r) = (starts.clone(), rounds.clone());
        sim.host_cores("h", 3, move || {
            *s.borrow_mut() += 1;
            let rounds = r.clone();
            async move {
                loop {
                    let sums = ringcore::run_on_each_core(|core| {
                        move || async move {
                            let path = format!("/c{}", core.index());
                            let f = ringcore::fs::File::create(&path).await.unwrap();
                            f.write_all_at(vec![1; 4096], 0).await.0.unwrap();
                            f.sync_data().await.unwrap();
                            sleep(Duration::from_micros(300)).await;
                            core.index()
                        }
                    })
                    .await;
                    assert_eq!(sums, [0, 1, 2]);
                    *rounds.borrow_mut() += 1;
                }
            }
        })
        .unwrap();
        sim.random_crashes(
            "h",
            (Duration::from_millis(1), Duration::from_millis(20)),
            (Duration::from_millis(1), Duration::from_millis(5)),
        )
        .unwrap();
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert!(
            *starts.borrow() > 5,
            "seed {seed}: {} starts",
            starts.borrow()
        );
        // Rounds complete between the crashes (a round that failed would stop its
        // incarnation's loop).
        assert!(
            *rounds.borrow() > 20,
            "seed {seed}: {} rounds",
            rounds.borrow()
        );
        if !sim.is_up("h").unwrap() {
            sim.restart("h").unwrap();
        }
        let on_1 = sim
            .run_until("h", async {
                ringcore::submit_to(CoreId::new(1), || async { ringcore::current_core() })
                    .await
                    .unwrap()
            })
            .unwrap();
        assert_eq!(on_1, CoreId::new(1), "seed {seed}");
    }
}
