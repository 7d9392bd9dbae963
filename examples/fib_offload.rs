//! CPU-bound work beside a timer, four ways: inline on the executor, `spawn_blocking`,
//! `ProcessPool`, and sequentially with no runtime.
//!
//! ```text
//! cargo run --release --example fib_offload                  # fib(30..=36)
//! cargo run --release --example fib_offload -- --n 32,34,36  # or --n 30..=38, --n 35
//! cargo run --release --example fib_offload -- --workers 4
//! ```
//!
//! While the fib jobs run, a task asks for a wake-up every 10 ms and records how late the
//! worst one came. Inline, the core is busy computing and the timer starves for the length
//! of the longest job; offloaded, the core stays free and the timer keeps time.
//!
//! This binary is also the ProcessPool's worker: `init_worker` at the top of `main`
//! serves jobs when the pool re-executes it.

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringcore::Runtime;
use ringcore::offload::{Jobs, ProcessPool, init_worker, spawn_blocking};

fn fib(n: u64) -> u64 {
    if n < 2 { n } else { fib(n - 1) + fib(n - 2) }
}

fn jobs() -> Jobs {
    Jobs::new().register("fib", fib)
}

const TICK: Duration = Duration::from_millis(10);

/// Runs `work` beside a 10 ms timer; returns (wall time, results, worst timer lateness).
fn with_timer<F, Fut>(rt: &Runtime, work: F) -> (Duration, Vec<u64>, Duration)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Vec<u64>>,
{
    rt.block_on(async {
        let done = Rc::new(Cell::new(false));
        let worst = Rc::new(Cell::new(Duration::ZERO));
        let timer = {
            let (done, worst) = (done.clone(), worst.clone());
            ringcore::spawn(async move {
                let mut deadline = Instant::now() + TICK;
                while !done.get() {
                    ringcore::time::sleep_until(deadline).await;
                    let late = Instant::now().saturating_duration_since(deadline);
                    worst.set(worst.get().max(late));
                    deadline += TICK;
                    // After a starved stretch, measure from now rather than bursting.
                    deadline = deadline.max(Instant::now());
                }
            })
        };
        // Let the timer arm before the work starts.
        ringcore::yield_now().await;
        let start = Instant::now();
        let results = work().await;
        let wall = start.elapsed();
        done.set(true);
        let _ = timer.await;
        (wall, results, worst.get())
    })
}

fn parse_ns(s: &str) -> Option<Vec<u64>> {
    if let Some((a, b)) = s.split_once("..=") {
        let (a, b) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        return (a <= b).then(|| (a..=b).collect());
    }
    s.split(',').map(|x| x.trim().parse().ok()).collect()
}

fn main() -> ExitCode {
    init_worker(&jobs());

    let mut ns: Vec<u64> = (30..=36).collect();
    let mut workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--n", Some(v)) => match parse_ns(&v) {
                Some(v) if !v.is_empty() && v.iter().all(|&n| n <= 60) => ns = v,
                _ => {
                    eprintln!("error: --n takes N, A..=B or A,B,C with N <= 60, got {v:?}");
                    return ExitCode::FAILURE;
                }
            },
            ("--workers", Some(v)) => match v.parse() {
                Ok(w) if w > 0 => workers = w,
                _ => {
                    eprintln!("error: --workers takes a positive integer, got {v:?}");
                    return ExitCode::FAILURE;
                }
            },
            _ => {
                eprintln!("usage: fib_offload [--n 30..=36 | --n 32,34 | --n 35] [--workers N]");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("fib({ns:?}), {workers} workers / blocking threads, timer every 10 ms\n");

    // 1. Sequential, no runtime.
    let start = Instant::now();
    let expected: Vec<u64> = ns.iter().map(|&n| fib(n)).collect();
    let sequential = start.elapsed();

    let rt = match Runtime::builder().blocking_threads(workers).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };

    // 2. Inline on the executor: one task per n, computing on the core itself.
    let (inline, r_inline, late_inline) = with_timer(&rt, || async {
        let tasks: Vec<_> = ns
            .iter()
            .map(|&n| ringcore::spawn(async move { fib(n) }))
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });

    // 3. spawn_blocking on the runtime's pool of `workers` threads.
    let (blocking, r_blocking, late_blocking) = with_timer(&rt, || async {
        let handles: Vec<_> = ns.iter().map(|&n| spawn_blocking(move || fib(n))).collect();
        let mut out = Vec::new();
        for h in handles {
            out.push(h.await.unwrap());
        }
        out
    });

    // 4. ProcessPool with `workers` processes (started before the clock runs).
    let pool = match ProcessPool::builder().workers(workers).build() {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let warm: Vec<_> = (0..workers)
            .map(|_| {
                let pool = pool.clone();
                ringcore::spawn(async move { pool.call::<_, u64>("fib", &1u64).await })
            })
            .collect();
        for w in warm {
            let _ = w.await;
        }
    });
    let (process, r_process, late_process) = with_timer(&rt, || async {
        let calls: Vec<_> = ns
            .iter()
            .map(|&n| {
                let pool = pool.clone();
                ringcore::spawn(async move { pool.call::<_, u64>("fib", &n).await })
            })
            .collect();
        let mut out = Vec::new();
        for c in calls {
            match c.await.unwrap() {
                Ok(v) => out.push(v),
                Err(e) => {
                    eprintln!("error: {e}");
                    out.push(u64::MAX);
                }
            }
        }
        out
    });
    drop(pool);

    let ok = [&r_inline, &r_blocking, &r_process]
        .iter()
        .all(|r| **r == expected);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "{:<22} {:>10} {:>9} {:>22}",
        "mode", "wall (ms)", "speed-up", "timer worst late (ms)"
    );
    let row = |name: &str, wall: Duration, late: Option<Duration>| {
        println!(
            "{:<22} {:>10.1} {:>8.2}x {:>22}",
            name,
            ms(wall),
            sequential.as_secs_f64() / wall.as_secs_f64(),
            late.map_or("-".to_owned(), |l| format!("{:.1}", ms(l)))
        );
    };
    row("sequential, no runtime", sequential, None);
    row("inline on the executor", inline, Some(late_inline));
    row("spawn_blocking", blocking, Some(late_blocking));
    row("ProcessPool", process, Some(late_process));
    if ok {
        println!("\nall results match: {expected:?}");
        ExitCode::SUCCESS
    } else {
        eprintln!("error: results differ");
        ExitCode::FAILURE
    }
}
