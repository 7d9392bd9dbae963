//! Offload figures (issue 5): ProcessPool throughput and latency, a batch of fib(32) jobs
//! three ways, and the spawn_blocking round trip.
//!
//! ```text
//! cargo bench --bench offload
//! ```
//!
//! A plain bench binary (`harness = false`) that prints its figures; it is also the
//! ProcessPool's worker (`init_worker` at the top of `main`).

use std::time::{Duration, Instant};

use ringcore::Runtime;
use ringcore::offload::{Jobs, ProcessPool, init_worker, spawn_blocking};

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn jobs() -> Jobs {
    Jobs::new()
        .register("fib", fib)
        .register("add", |(a, b): (u64, u64)| a + b)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn pct(v: &[Duration], p: f64) -> Duration {
    let mut v = v.to_vec();
    v.sort_unstable();
    v[((v.len() - 1) as f64 * p) as usize]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    init_worker(&jobs());
    // `cargo test --benches` runs bench binaries with no `--bench`: keep that quick.
    let quick = !std::env::args().any(|a| a == "--bench");
    let scale = if quick { 20 } else { 1 };

    let rt = Runtime::new().expect("runtime");
    let pool = ProcessPool::builder().workers(2).build().expect("pool");

    // (a) trivial jobs through 2 workers: throughput with 64 calls in flight, then the
    // round trip of one call at a time.
    let total = 40_000 / scale;
    let in_flight = 64;
    let (throughput, rtt) = rt.block_on(async {
        for i in 0..100u64 {
            let _: u64 = pool.call("add", &(i, 1u64)).await.unwrap();
        }
        let start = Instant::now();
        let tasks: Vec<_> = (0..in_flight)
            .map(|t| {
                let pool = pool.clone();
                ringcore::spawn(async move {
                    for i in 0..(total / in_flight) as u64 {
                        let r: u64 = pool.call("add", &(i, t as u64)).await.unwrap();
                        assert_eq!(r, i + t as u64);
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let jobs_per_s = total as f64 / start.elapsed().as_secs_f64();
        let mut rtt = Vec::new();
        for i in 0..(5_000 / scale) as u64 {
            let t = Instant::now();
            let _: u64 = pool.call("add", &(i, 2u64)).await.unwrap();
            rtt.push(t.elapsed());
        }
        (jobs_per_s, rtt)
    });
    println!("(a) ProcessPool, 2 workers, trivial job `add`:");
    println!("    throughput, {in_flight} in flight: {throughput:.0} jobs/s ({total} jobs)");
    println!(
        "    round trip, one at a time: median {:.1} us, p99 {:.1} us",
        us(median(rtt.clone())),
        us(pct(&rtt, 0.99))
    );

    // (b) 8 x fib(32): sequential, spawn_blocking (2 threads), ProcessPool (2 workers).
    let n = 32u64;
    let batch = 8;
    let reps = if quick { 1 } else { 15 };
    let best = |f: &mut dyn FnMut() -> Duration| (0..reps).map(|_| f()).min().unwrap();
    let expected = fib(n);
    let sequential = best(&mut || {
        let t = Instant::now();
        for _ in 0..batch {
            assert_eq!(std::hint::black_box(fib(std::hint::black_box(n))), expected);
        }
        t.elapsed()
    });
    let brt = Runtime::builder()
        .blocking_threads(2)
        .build()
        .expect("runtime");
    let blocking = best(&mut || {
        brt.block_on(async {
            let t = Instant::now();
            let hs: Vec<_> = (0..batch)
                .map(|_| spawn_blocking(move || fib(std::hint::black_box(n))))
                .collect();
            for h in hs {
                assert_eq!(h.await.unwrap(), expected);
            }
            t.elapsed()
        })
    });
    let process = best(&mut || {
        rt.block_on(async {
            let t = Instant::now();
            let calls: Vec<_> = (0..batch)
                .map(|_| {
                    let pool = pool.clone();
                    ringcore::spawn(async move { pool.call::<_, u64>("fib", &n).await })
                })
                .collect();
            for c in calls {
                assert_eq!(c.await.unwrap().unwrap(), expected);
            }
            t.elapsed()
        })
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("(b) batch of {batch} x fib({n}), best of {reps}:");
    println!("    sequential       {:>8.1} ms  1.00x", ms(sequential));
    for (name, d) in [("spawn_blocking", blocking), ("ProcessPool", process)] {
        println!(
            "    {name:<16} {:>8.1} ms  {:.2}x",
            ms(d),
            sequential.as_secs_f64() / d.as_secs_f64()
        );
    }

    // (c) spawn_blocking round trip of a trivial closure, one at a time.
    let samples = rt.block_on(async {
        for _ in 0..100 {
            spawn_blocking(|| 1u64).await.unwrap();
        }
        let mut v = Vec::new();
        for i in 0..(20_000 / scale) as u64 {
            let t = Instant::now();
            let r = spawn_blocking(move || i + 1).await.unwrap();
            v.push(t.elapsed());
            assert_eq!(r, i + 1);
        }
        v
    });
    println!(
        "(c) spawn_blocking round trip: median {:.1} us, p99 {:.1} us ({} samples)",
        us(median(samples.clone())),
        us(pct(&samples, 0.99)),
        samples.len()
    );
}
