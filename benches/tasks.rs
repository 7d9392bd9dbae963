//! Tasks and sync primitives (issue 6): ringcore beside tokio's current_thread runtime.
//!
//! Run: `cargo bench --bench tasks` (about a minute). Also prints the memory per idle
//! task of each runtime, counted by a global allocator wrapper.

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::live_bytes;

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode};

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

const TASKS: usize = 1_000_000;
const HANDOFFS: usize = 1_000_000;
const TIMERS: usize = 100_000;
const ITEMS: usize = 1_000_000;

fn rc_rt() -> ringcore::Runtime {
    ringcore::Runtime::builder().debug(false).build().unwrap()
}

fn tokio_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn timed<F: FnMut()>(iters: u64, mut f: F) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    start.elapsed()
}

fn spawn_join(c: &mut Criterion) {
    let mut g = c.benchmark_group("spawn_join_1M");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    let rt = rc_rt();
    g.bench_function("ringcore", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                rt.block_on(async {
                    let hs: Vec<_> = (0..TASKS)
                        .map(|i| ringcore::spawn(async move { i }))
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            })
        })
    });
    let trt = tokio_rt();
    g.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                trt.block_on(async {
                    let hs: Vec<_> = (0..TASKS).map(|i| tokio::spawn(async move { i })).collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            })
        })
    });
}

fn mutex_handoff(c: &mut Criterion) {
    let mut g = c.benchmark_group("mutex_handoff_1M");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    let rt = rc_rt();
    g.bench_function("ringcore", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                rt.block_on(async {
                    let m = Rc::new(ringcore::sync::Mutex::new(0u64));
                    let hs: Vec<_> = (0..2)
                        .map(|_| {
                            let m = m.clone();
                            ringcore::spawn(async move {
                                for _ in 0..HANDOFFS / 2 {
                                    let mut g = m.lock().await;
                                    *g += 1;
                                    ringcore::yield_now().await;
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            })
        })
    });
    let trt = tokio_rt();
    g.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                trt.block_on(async {
                    let m = Arc::new(tokio::sync::Mutex::new(0u64));
                    let hs: Vec<_> = (0..2)
                        .map(|_| {
                            let m = m.clone();
                            tokio::spawn(async move {
                                for _ in 0..HANDOFFS / 2 {
                                    let mut g = m.lock().await;
                                    *g += 1;
                                    tokio::task::yield_now().await;
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            })
        })
    });
}

fn semaphore_handoff(c: &mut Criterion) {
    let mut g = c.benchmark_group("semaphore_handoff_1M");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    let rt = rc_rt();
    g.bench_function("ringcore", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                rt.block_on(async {
                    let s = Rc::new(ringcore::sync::Semaphore::new(1));
                    let hs: Vec<_> = (0..2)
                        .map(|_| {
                            let s = s.clone();
                            ringcore::spawn(async move {
                                for _ in 0..HANDOFFS / 2 {
                                    let _p = s.acquire().await.unwrap();
                                    ringcore::yield_now().await;
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            })
        })
    });
    let trt = tokio_rt();
    g.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                trt.block_on(async {
                    let s = Arc::new(tokio::sync::Semaphore::new(1));
                    let hs: Vec<_> = (0..2)
                        .map(|_| {
                            let s = s.clone();
                            tokio::spawn(async move {
                                for _ in 0..HANDOFFS / 2 {
                                    let _p = s.acquire().await.unwrap();
                                    tokio::task::yield_now().await;
                                }
                            })
                        })
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            })
        })
    });
}

fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timers_100k");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    let delay = |i: usize| Duration::from_micros(100 + (i as u64 * 7919) % 1000);
    let rt = rc_rt();
    g.bench_function("ringcore", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                rt.block_on(async {
                    let hs: Vec<_> = (0..TIMERS)
                        .map(|i| ringcore::spawn(ringcore::time::sleep(delay(i))))
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            })
        })
    });
    let trt = tokio_rt();
    g.bench_function("tokio_current_thread", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                trt.block_on(async {
                    let hs: Vec<_> = (0..TIMERS)
                        .map(|i| tokio::spawn(tokio::time::sleep(delay(i))))
                        .collect();
                    for h in hs {
                        h.await.unwrap();
                    }
                })
            })
        })
    });
}

fn queue(c: &mut Criterion) {
    let mut g = c.benchmark_group("queue_1M_items_cap1024");
    g.sampling_mode(SamplingMode::Flat).sample_size(10);
    let rt = rc_rt();
    g.bench_function("ringcore_Queue", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                rt.block_on(async {
                    let q = Rc::new(ringcore::sync::Queue::<usize>::bounded(1024));
                    let q2 = q.clone();
                    let consumer = ringcore::spawn(async move {
                        let mut sum = 0usize;
                        for _ in 0..ITEMS {
                            sum = sum.wrapping_add(q2.get().await.unwrap());
                        }
                        sum
                    });
                    for i in 0..ITEMS {
                        q.put(i).await.unwrap();
                    }
                    std::hint::black_box(consumer.await.unwrap());
                })
            })
        })
    });
    let trt = tokio_rt();
    g.bench_function("tokio_current_thread_mpsc", |b| {
        b.iter_custom(|iters| {
            timed(iters, || {
                trt.block_on(async {
                    let (tx, mut rx) = tokio::sync::mpsc::channel::<usize>(1024);
                    let consumer = tokio::spawn(async move {
                        let mut sum = 0usize;
                        for _ in 0..ITEMS {
                            sum = sum.wrapping_add(rx.recv().await.unwrap());
                        }
                        sum
                    });
                    for i in 0..ITEMS {
                        tx.send(i).await.unwrap();
                    }
                    std::hint::black_box(consumer.await.unwrap());
                })
            })
        })
    });
}

/// Bytes per idle task: on a fresh runtime, spawn `n` tasks parked on a pending future
/// (their handles kept in a `Vec`, or dropped at once), count live bytes once each has
/// been polled. Run queues are FIFO, so once a task spawned last has run, every task
/// queued before it has been polled and parked.
fn memory_per_idle_task() {
    const N: usize = 100_000;
    let ring = |keep: bool| {
        ringcore::Runtime::new().unwrap().block_on(async move {
            let before = live_bytes();
            let mut hs = Vec::with_capacity(if keep { N } else { 0 });
            for _ in 0..N {
                let h = ringcore::spawn(std::future::pending::<()>());
                if keep {
                    hs.push(h);
                }
            }
            ringcore::spawn(async {}).await.unwrap();
            let bytes = live_bytes() - before;
            hs.iter().for_each(|h| h.abort());
            bytes as f64 / N as f64
        })
    };
    let tok = |keep: bool| {
        tokio_rt().block_on(async move {
            let before = live_bytes();
            let mut hs = Vec::with_capacity(if keep { N } else { 0 });
            for _ in 0..N {
                let h = tokio::spawn(std::future::pending::<()>());
                if keep {
                    hs.push(h);
                }
            }
            tokio::spawn(async {}).await.unwrap();
            let bytes = live_bytes() - before;
            hs.iter().for_each(|h| h.abort());
            bytes as f64 / N as f64
        })
    };
    println!(
        "memory per idle task ({N} tasks, fresh runtime): with JoinHandle kept: ringcore {:.0} B, \
         tokio current_thread {:.0} B; detached: ringcore {:.0} B, tokio {:.0} B",
        ring(true),
        tok(true),
        ring(false),
        tok(false)
    );
}

fn main() {
    memory_per_idle_task();
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    spawn_join(&mut c);
    mutex_handoff(&mut c);
    semaphore_handoff(&mut c);
    timers(&mut c);
    queue(&mut c);
    c.final_summary();
}
