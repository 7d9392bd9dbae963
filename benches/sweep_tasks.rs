//! How spawning tasks and arming timers cost as their number grows: ringcore beside tokio
//! current-thread, N = 1k, 10k, 100k, 1M.
//!
//! ```text
//! cargo bench --bench sweep_tasks                      # about a minute
//! TASKS_SWEEP_N=1000,1000000 TASKS_SWEEP_REPS=5 cargo bench --bench sweep_tasks
//! TASKS_SWEEP_RUNTIMES=ringcore cargo bench --bench sweep_tasks
//! ```
//!
//! Two families, each N (`TASKS_SWEEP_N`) and runtime (`TASKS_SWEEP_RUNTIMES`, default all
//! of [`RUNTIMES`]) on a fresh runtime, `TASKS_SWEEP_REPS` times (default 3; the table
//! shows the fastest repetition, the JSON lines every one):
//!
//! - `spawn`: spawn N tasks that each return their index, keeping the `JoinHandle`s in a
//!   `Vec` allocated beforehand, then await every handle. Spawn time, spawn + join time,
//!   and the bytes allocated once all N are spawned (none has run yet), per task.
//! - `timers`: in one task, create N boxed `sleep_until`s and poll each once (which arms
//!   it); then await all of them through a `FuturesUnordered`. The deadlines are spread
//!   over 10 ms, starting 50 ms + 2 µs × N after the start, so all are armed before the
//!   first is due (checked). Arm time per timer, the lag from the last deadline until the
//!   last sleep completed (how long the expirations took beyond their 10 ms spread), and
//!   the bytes allocated once all N are armed (the boxes included), per timer. tokio's side runs under `tokio::task::coop::unconstrained`: with its
//!   cooperative budget, a `Sleep` polled after 128 others in one task poll returns
//!   Pending without arming (and the wait through `FuturesUnordered` crawls).
//!
//! Bytes are counted by a global allocator wrapper (`benches/support/counting_alloc.rs`):
//! requested sizes, not the allocator's overhead. JSON lines go to
//! `target/bench-results/tasks.jsonl`. A new runtime (or a variant of one) is one more
//! name in [`RUNTIMES`] and one more arm in `spawn_point` and `timer_point`.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live_bytes;

#[path = "support/results.rs"]
mod results;
use results::{Record, Results};

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// Every runtime, in the order each point runs them.
const RUNTIMES: &[&str] = &["ringcore", "tokio"];

/// What one repetition measured.
#[derive(Clone, Copy)]
struct Measure {
    /// Spawn (or arm) time for all N.
    first: Duration,
    /// Spawn + join (or from the last deadline until the last sleep completed).
    total: Duration,
    /// Bytes allocated once all N were spawned (or armed).
    bytes: isize,
    /// Timers already due when polled the first time (0 unless arming overran).
    early: u64,
}

fn ringcore_rt() -> ringcore::Runtime {
    ringcore::Runtime::builder()
        .debug(false)
        .build()
        .expect("ringcore runtime")
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("tokio runtime")
}

fn spawn_point(kind: &str, n: usize) -> Measure {
    match kind {
        "ringcore" => ringcore_rt().block_on(async move {
            let mut hs = Vec::with_capacity(n);
            let before = live_bytes();
            let t0 = Instant::now();
            for i in 0..n {
                hs.push(ringcore::spawn(async move { i }));
            }
            let first = t0.elapsed();
            let bytes = live_bytes() - before;
            for h in hs {
                std::hint::black_box(h.await.expect("task"));
            }
            Measure {
                first,
                total: t0.elapsed(),
                bytes,
                early: 0,
            }
        }),
        "tokio" => tokio_rt().block_on(async move {
            let mut hs = Vec::with_capacity(n);
            let before = live_bytes();
            let t0 = Instant::now();
            for i in 0..n {
                hs.push(tokio::spawn(async move { i }));
            }
            let first = t0.elapsed();
            let bytes = live_bytes() - before;
            for h in hs {
                std::hint::black_box(h.await.expect("task"));
            }
            Measure {
                first,
                total: t0.elapsed(),
                bytes,
                early: 0,
            }
        }),
        other => panic!("unknown runtime {other:?} (known: {RUNTIMES:?})"),
    }
}

/// The deadlines: all after `base`, spread over 10 ms.
fn deadline(base: Instant, i: usize) -> Instant {
    base + Duration::from_micros((i as u64 * 7919) % 10_000)
}

/// Arms N sleeps (creates each, boxed, then polls each once from the current task), then
/// waits for all of them. Every deadline lies after `ARM_ALLOWANCE` plus 2 µs per timer,
/// so that arming ends before the first one is due (a sleep polled after its deadline
/// would complete without arming anything).
async fn arm_and_wait<S: Future<Output = ()>>(make: impl Fn(Instant) -> S, n: usize) -> Measure {
    let mut sleeps: Vec<Pin<Box<S>>> = Vec::with_capacity(n);
    let before = live_bytes();
    let t0 = Instant::now();
    let base = t0 + ARM_ALLOWANCE + Duration::from_nanos(ARM_NS_PER_TIMER * n as u64);
    for i in 0..n {
        sleeps.push(Box::pin(make(deadline(base, i))));
    }
    let mut early = 0u64;
    poll_fn(|cx| {
        for s in sleeps.iter_mut() {
            if s.as_mut().poll(cx).is_ready() {
                early += 1;
            }
        }
        Poll::Ready(())
    })
    .await;
    let first = t0.elapsed();
    let bytes = live_bytes() - before;
    if early > 0 {
        eprintln!("warning: {early} of {n} sleeps were due before all were armed");
    }
    let mut all: FuturesUnordered<Pin<Box<S>>> = sleeps.into_iter().collect();
    while all.next().await.is_some() {}
    let last_deadline = base + Duration::from_micros(9_999);
    Measure {
        first,
        // From the last deadline to the last wake-up: how long the expirations took.
        total: Instant::now().saturating_duration_since(last_deadline),
        bytes,
        early,
    }
}

const ARM_ALLOWANCE: Duration = Duration::from_millis(50);
const ARM_NS_PER_TIMER: u64 = 2_000;

fn timer_point(kind: &str, n: usize) -> Measure {
    match kind {
        "ringcore" => ringcore_rt().block_on(arm_and_wait(ringcore::time::sleep_until, n)),
        // Unconstrained: with tokio's cooperative budget (128 per task poll) a `Sleep` polled
        // after the budget ran out returns Pending without arming its timer.
        "tokio" => tokio_rt().block_on(tokio::task::coop::unconstrained(arm_and_wait(
            |d| tokio::time::sleep_until(tokio::time::Instant::from_std(d)),
            n,
        ))),
        other => panic!("unknown runtime {other:?} (known: {RUNTIMES:?})"),
    }
}

fn main() {
    let ns: Vec<usize> = std::env::var("TASKS_SWEEP_N")
        .map(|s| {
            s.split(',')
                .map(|n| n.trim().replace('_', "").parse().expect("TASKS_SWEEP_N"))
                .collect()
        })
        .unwrap_or_else(|_| vec![1_000, 10_000, 100_000, 1_000_000]);
    let reps: usize = std::env::var("TASKS_SWEEP_REPS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let runtimes: Vec<&str> = match std::env::var("TASKS_SWEEP_RUNTIMES") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                *RUNTIMES
                    .iter()
                    .find(|k| **k == n)
                    .unwrap_or_else(|| panic!("unknown runtime {n:?} (known: {RUNTIMES:?})"))
            })
            .collect(),
        Err(_) => RUNTIMES.to_vec(),
    };
    println!(
        "size_of Sleep: ringcore {} B, tokio {} B",
        std::mem::size_of::<ringcore::time::Sleep>(),
        std::mem::size_of::<tokio::time::Sleep>()
    );
    let mut out = Results::create("tasks");
    println!(
        "| family | N | runtime | spawn or arm, ns each | spawn + join ns each, or timer lag after the last deadline | bytes each | ratio tokio/ringcore, spawn or arm | ratio, spawn + join or lag |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for family in ["spawn", "timers"] {
        for &n in &ns {
            let mut best: Vec<(&str, Measure)> = Vec::new();
            // Repetitions alternate between runtimes, so both see the same machine.
            for rep in 0..reps {
                for &kind in &runtimes {
                    let m = if family == "spawn" {
                        spawn_point(kind, n)
                    } else {
                        timer_point(kind, n)
                    };
                    out.write(
                        Record::new()
                            .str("family", family)
                            .str("runtime", kind)
                            .int("n", n as u64)
                            .int("rep", rep as u64)
                            .num("first_s", m.first.as_secs_f64())
                            .num("total_s", m.total.as_secs_f64())
                            .num("first_ns_each", m.first.as_nanos() as f64 / n as f64)
                            .num("total_ns_each", m.total.as_nanos() as f64 / n as f64)
                            .num("bytes_each", m.bytes as f64 / n as f64)
                            .int("early", m.early),
                    );
                    match best.iter_mut().find(|(k, _)| *k == kind) {
                        Some((_, b)) if m.total < b.total => *b = m,
                        Some(_) => {}
                        None => best.push((kind, m)),
                    }
                }
            }
            let of = |k: &str| best.iter().find(|(kind, _)| *kind == k).map(|(_, m)| *m);
            for (kind, m) in &best {
                let (ratio_first, ratio) = match (of("tokio"), of("ringcore")) {
                    (Some(t), Some(r)) if *kind == "ringcore" => (
                        format!("{:.2}x", t.first.as_secs_f64() / r.first.as_secs_f64()),
                        if r.total.is_zero() {
                            "-".to_string()
                        } else {
                            format!("{:.2}x", t.total.as_secs_f64() / r.total.as_secs_f64())
                        },
                    ),
                    _ => (String::new(), String::new()),
                };
                let total = if family == "spawn" {
                    format!("{:.1} ns", m.total.as_nanos() as f64 / n as f64)
                } else {
                    format!("{:.2} ms", m.total.as_secs_f64() * 1e3)
                };
                println!(
                    "| {family} | {n} | {kind} | {:.1} | {total} | {:.1} | {ratio_first} | {ratio} |",
                    m.first.as_nanos() as f64 / n as f64,
                    m.bytes as f64 / n as f64,
                );
            }
        }
    }
    println!("(JSON lines in {})", out.path().display());
}
