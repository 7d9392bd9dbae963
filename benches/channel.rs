//! Cross-core messaging on a 2-core runtime (core 0 pinned to the first CPU, core 1 to
//! the second):
//!
//! - `channel_8B/*`: 8-byte messages from a sender task on core 1 to a receiver task on
//!   core 0, through ringcore's channel, through async-channel (same placement, same
//!   capacity), and through crossbeam-channel (blocking sends on core 1's thread, a plain
//!   blocking receiver thread);
//! - `submit_to/round_trip`: `submit_to(core 1, || async {})` awaited on core 0, with
//!   parked cores (the default) and with cores that spin 50 us before parking
//!   (`Builder::spin_before_park`).
//!
//! ```text
//! cargo bench --bench channel                  # criterion, then a summary table
//! CHANNEL_BENCH_SUMMARY_ONLY=1 cargo bench --bench channel
//! ```
//!
//! The summary runs each channel 5 times with 2,000,000 messages and prints the median
//! messages/s, the ratio to async-channel, and core 0's eventfd wake-ups per 1,000
//! messages; then the round-trip latency percentiles of 20,000 `submit_to` calls in both
//! configurations, and the machine's floor: an eventfd ping-pong between two pinned threads.

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ringcore::{CoreId, Runtime};

const CAPACITY: usize = 1024;

/// How long the spinning configuration watches for cross-core work before parking.
const SPIN: Duration = Duration::from_micros(50);

fn runtime(spin: Duration) -> Runtime {
    Runtime::builder()
        .cores(2)
        .pin(true)
        .spin_before_park(spin)
        .build()
        .expect("a 2-core pinned runtime (needs 2 CPUs)")
}

/// `n` messages core 1 -> core 0 through ringcore's channel; the elapsed time.
fn ringcore_channel(rt: &Runtime, n: u64) -> Duration {
    rt.block_on(async move {
        let (tx, mut rx) = ringcore::channel::channel::<u64>(CAPACITY);
        let start = Instant::now();
        let sender = ringcore::spawn_on(CoreId::new(1), move || async move {
            for i in 0..n {
                tx.send(i).await.unwrap();
            }
        });
        let mut expect = 0;
        while let Some(v) = rx.recv().await {
            debug_assert_eq!(v, expect);
            expect += 1;
        }
        let elapsed = start.elapsed();
        assert_eq!(expect, n);
        sender.await.unwrap();
        elapsed
    })
}

/// The same through async-channel.
fn async_channel(rt: &Runtime, n: u64) -> Duration {
    rt.block_on(async move {
        let (tx, rx) = async_channel::bounded::<u64>(CAPACITY);
        let start = Instant::now();
        let sender = ringcore::spawn_on(CoreId::new(1), move || async move {
            for i in 0..n {
                tx.send(i).await.unwrap();
            }
        });
        let mut expect = 0;
        while let Ok(v) = rx.recv().await {
            debug_assert_eq!(v, expect);
            expect += 1;
        }
        let elapsed = start.elapsed();
        assert_eq!(expect, n);
        sender.await.unwrap();
        elapsed
    })
}

/// The same through crossbeam-channel: blocking sends on core 1's thread, a blocking
/// receiver thread.
fn crossbeam_channel(rt: &Runtime, n: u64) -> Duration {
    let (tx, rx) = crossbeam_channel::bounded::<u64>(CAPACITY);
    let start = Instant::now();
    let receiver = std::thread::spawn(move || {
        let mut expect = 0;
        while let Ok(v) = rx.recv() {
            debug_assert_eq!(v, expect);
            expect += 1;
        }
        assert_eq!(expect, n);
        start.elapsed()
    });
    rt.block_on(async move {
        ringcore::submit_to(CoreId::new(1), move || async move {
            for i in 0..n {
                tx.send(i).unwrap();
            }
        })
        .await
        .unwrap();
    });
    receiver.join().unwrap()
}

/// `n` round trips core 0 -> core 1 -> core 0; the elapsed time.
fn round_trips(rt: &Runtime, n: u64) -> Duration {
    rt.block_on(async move {
        let start = Instant::now();
        for _ in 0..n {
            ringcore::submit_to(CoreId::new(1), || async {})
                .await
                .unwrap();
        }
        start.elapsed()
    })
}

fn criterion_benches(c: &mut Criterion, rt: &Runtime) {
    let mut g = c.benchmark_group("channel_8B");
    g.throughput(Throughput::Elements(1));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    g.bench_function("ringcore", |b| b.iter_custom(|n| ringcore_channel(rt, n)));
    g.bench_function("async_channel", |b| b.iter_custom(|n| async_channel(rt, n)));
    g.bench_function("crossbeam_blocking", |b| {
        b.iter_custom(|n| crossbeam_channel(rt, n))
    });
    g.finish();

    let mut g = c.benchmark_group("submit_to");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    g.bench_function("round_trip", |b| b.iter_custom(|n| round_trips(rt, n)));
    g.finish();
}

fn criterion_spinning(c: &mut Criterion, spinning: &Runtime) {
    let mut g = c.benchmark_group("submit_to");
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    g.sample_size(20);
    g.bench_function("round_trip_spin_50us", |b| {
        b.iter_custom(|n| round_trips(spinning, n))
    });
    g.finish();
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn summary(rt: &Runtime) {
    const N: u64 = 2_000_000;
    type Run = fn(&Runtime, u64) -> Duration;
    let runs: [(&str, Run); 3] = [
        ("ringcore channel", ringcore_channel),
        ("async-channel", async_channel),
        (
            "crossbeam-channel (blocking receiver thread)",
            crossbeam_channel,
        ),
    ];
    let mut rows = Vec::new();
    for (name, run) in runs {
        let mut per_sec = Vec::new();
        let unparks_before = rt.metrics().cores.remove(0).remote_unparks;
        for _ in 0..5 {
            per_sec.push(N as f64 / run(rt, N).as_secs_f64());
        }
        let unparks = rt.metrics().cores.remove(0).remote_unparks - unparks_before;
        rows.push((
            name,
            median(per_sec),
            unparks as f64 * 1000.0 / (5 * N) as f64,
        ));
    }
    println!();
    println!(
        "| channel, capacity {CAPACITY}, 8-byte messages core 1 -> core 0 | msgs/s (median of 5) | vs async-channel | core-0 eventfd wakes per 1k msgs |"
    );
    println!("|---|---|---|---|");
    for (name, rate, wakes) in &rows {
        println!(
            "| {name} | {:.2} M | {:.2}x | {wakes:.2} |",
            rate / 1e6,
            rate / rows[1].1
        );
    }

    round_trip_percentiles(rt, "parked cores (default)");
}

/// Round-trip latency, one sample per call.
fn round_trip_percentiles(rt: &Runtime, config: &str) {
    let samples: Vec<f64> = rt.block_on(async {
        let mut out = Vec::with_capacity(20_000);
        for i in 0..21_000 {
            let t = Instant::now();
            ringcore::submit_to(CoreId::new(1), || async {})
                .await
                .unwrap();
            if i >= 1_000 {
                out.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        out
    });
    let mut s = samples;
    s.sort_by(f64::total_cmp);
    let pct = |p: f64| s[((s.len() - 1) as f64 * p) as usize];
    println!(
        "submit_to round trip core 0 -> core 1 -> core 0, {config}: p50 {:.1} us, p90 {:.1} us, p99 {:.1} us ({} samples)",
        pct(0.5),
        pct(0.9),
        pct(0.99),
        s.len()
    );
}

/// The machine's floor for a cross-core round trip: two threads pinned like the cores,
/// bouncing a token through two eventfds with blocking read(2)/write(2), no ring at all.
fn eventfd_baseline() {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    fn efd() -> OwnedFd {
        // SAFETY: eventfd(2) returns a new fd or -1, checked before it is owned.
        let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        assert!(fd >= 0);
        // SAFETY: a fresh fd owned by nobody else.
        unsafe { OwnedFd::from_raw_fd(fd) }
    }
    fn write(fd: i32) {
        let one = 1u64;
        // SAFETY: writes 8 bytes from a live u64 to an eventfd.
        unsafe { libc::write(fd, (&raw const one).cast(), 8) };
    }
    fn read(fd: i32) {
        let mut v = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from an eventfd.
        unsafe { libc::read(fd, (&raw mut v).cast(), 8) };
    }
    // Run with no pinned runtime alive: a pinned runtime narrows this thread's mask to one
    // CPU, and both threads would then share it (a same-CPU wake-up, about 4 us here).
    let cpus = core_affinity::get_core_ids().unwrap_or_default();
    if cpus.len() < 2 {
        println!("baseline skipped: this thread may run on fewer than 2 CPUs");
        return;
    }
    let (ping, pong) = (efd(), efd());
    let (ping_fd, pong_fd) = (ping.as_raw_fd(), pong.as_raw_fd());
    let echo_cpu = cpus[1];
    let echo = std::thread::spawn(move || {
        core_affinity::set_for_current(echo_cpu);
        for _ in 0..21_000 {
            read(ping_fd);
            write(pong_fd);
        }
    });
    let ping_cpu = cpus[0];
    let samples = std::thread::spawn(move || {
        core_affinity::set_for_current(ping_cpu);
        let mut out = Vec::with_capacity(20_000);
        for i in 0..21_000 {
            let t = Instant::now();
            write(ping_fd);
            read(pong_fd);
            if i >= 1_000 {
                out.push(t.elapsed().as_secs_f64() * 1e6);
            }
        }
        out
    })
    .join()
    .unwrap();
    echo.join().unwrap();
    drop((ping, pong));
    let mut s = samples;
    s.sort_by(f64::total_cmp);
    let pct = |p: f64| s[((s.len() - 1) as f64 * p) as usize];
    println!(
        "baseline, eventfd ping-pong between two pinned threads (no ring): p50 {:.1} us, p90 {:.1} us, p99 {:.1} us",
        pct(0.5),
        pct(0.9),
        pct(0.99)
    );
}

fn main() {
    let testing = std::env::args().any(|a| a == "--test" || a == "--list");
    let run_criterion = std::env::var_os("CHANNEL_BENCH_SUMMARY_ONLY").is_none() || testing;
    let mut c = Criterion::default().configure_from_args();
    if !testing {
        eventfd_baseline();
    }
    // One pinned runtime at a time: building one pins this thread (core 0) until it drops.
    let rt = runtime(Duration::ZERO);
    if run_criterion {
        criterion_benches(&mut c, &rt);
    }
    if !testing {
        summary(&rt);
    }
    drop(rt);
    let spinning = runtime(SPIN);
    if run_criterion {
        criterion_spinning(&mut c, &spinning);
        c.final_summary();
    }
    if !testing {
        round_trip_percentiles(&spinning, "cores spinning 50 us before parking");
    }
    drop(spinning);
    if !testing {
        eventfd_baseline();
    }
}
