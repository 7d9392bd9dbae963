//! Per-core telemetry: every core's counters and histograms read from another thread while
//! the cores run, per-opcode counts and latency from real file ops in a temp dir, a
//! scheduling delay caused by a blocking task, telemetry switched off, reads during and
//! after shutdown, and the Prometheus rendering parsed back.

#[path = "support/prometheus.rs"]
mod prometheus_text;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use ringcore::Runtime;
use ringcore::metrics::{CoreState, MetricsError, prometheus};

#[test]
fn every_core_reports_tasks_ops_and_histograms() {
    let dir = tempfile::tempdir().unwrap();
    let dir = Arc::new(dir.path().to_path_buf());
    // Every read through the ring, so both drivers run read ops.
    let rt = Runtime::builder()
        .cores(2)
        .inline_reads_per_tick(0)
        .telemetry(true)
        .build()
        .unwrap();
    rt.run_on_all(move |core| {
        let dir = dir.clone();
        async move {
            let path = dir.join(format!("core-{}", core.index()));
            let data = vec![7u8; 64 * 1024];
            let f = ringcore::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .open(&path)
                .await
                .unwrap();
            let (res, _) = f.write_all_at(data, 0).await;
            res.unwrap();
            f.sync_all().await.unwrap();
            let (res, buf) = f.read_at(Vec::with_capacity(64 * 1024), 0).await;
            assert_eq!(res.unwrap(), 64 * 1024);
            assert!(buf.iter().all(|&b| b == 7));
            assert!(ringcore::fs::File::open(dir.join("missing")).await.is_err());
            for _ in 0..10 {
                ringcore::spawn(async { ringcore::yield_now().await })
                    .await
                    .unwrap();
            }
        }
    });
    // Core 1 publishes its counters before it parks: run_on_all may return (on core 0's
    // wake) before core 1 has got there, so wait for its published figures to settle.
    let until = Instant::now() + Duration::from_secs(10);
    let mut m = rt.metrics();
    while m.cores.iter().any(|c| c.live_tasks > 0) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(1));
        m = rt.metrics();
    }
    assert_eq!(m.num_workers(), 2);
    for (i, c) in m.cores.iter().enumerate() {
        assert_eq!(c.core.index(), i);
        assert_eq!(c.state, CoreState::Running);
        assert!(c.telemetry);
        assert!(c.tasks_spawned >= 10, "core {i}: {c:?}");
        assert!(c.tasks_polled >= 20, "core {i}: {c:?}");
        assert!(c.schedule_delay.count() >= 20, "core {i}: {c:?}");
        assert!(c.poll_duration.count() >= c.tasks_polled, "core {i}: {c:?}");
        assert!(c.driver.ops_submitted >= 4, "core {i}: {c:?}");
        assert!(c.bytes_out >= 64 * 1024, "core {i}: {}", c.bytes_out);
        assert!(c.bytes_in >= 64 * 1024, "core {i}: {}", c.bytes_in);
        let ops: HashMap<_, _> = c.ops.iter().map(|o| (o.name, o)).collect();
        for name in ["write", "read", "fsync"] {
            let o = ops
                .get(name)
                .unwrap_or_else(|| panic!("core {i}: no {name} in {:?}", c.ops));
            assert!(o.completed >= 1, "core {i}: {o:?}");
            // Fewer than 64 ops of each: all of them timed (`OpMetrics::latency`).
            assert_eq!(o.latency.count(), o.completed + o.failed + o.cancelled);
        }
        // The open of a missing file failed with ENOENT.
        let failed: u64 = c.ops.iter().map(|o| o.failed).sum();
        assert!(failed >= 1, "core {i}: {:?}", c.ops);
    }
    assert!(m.spawned_tasks_count() >= 20);
    assert_eq!(m.schedule_delay().count(), {
        m.cores
            .iter()
            .map(|c| c.schedule_delay.count())
            .sum::<u64>()
    });
}

#[test]
fn op_latency_is_sampled_past_the_first_64_ops_and_counts_stay_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sampled");
    std::fs::write(&path, vec![3u8; 4096]).unwrap();
    // Every read through the ring, 200 of them on one core.
    let rt = Runtime::builder()
        .inline_reads_per_tick(0)
        .telemetry(true)
        .build()
        .unwrap();
    rt.block_on(async move {
        let f = ringcore::fs::File::open(&path).await.unwrap();
        for _ in 0..200 {
            let (res, _) = f.read_at(Vec::with_capacity(4096), 0).await;
            assert_eq!(res.unwrap(), 4096);
        }
    });
    let m = rt.metrics();
    let read = m.cores[0]
        .ops
        .iter()
        .find(|o| o.name == "read")
        .unwrap_or_else(|| panic!("no read in {:?}", m.cores[0].ops));
    assert_eq!((read.submitted, read.completed), (200, 200), "{read:?}");
    assert_eq!(m.cores[0].bytes_in, 200 * 4096);
    // Reads 0-63 timed, then the 64th, 80th, ... 192nd: 9 more.
    assert_eq!(read.latency.count(), 64 + 9, "{read:?}");
}

#[test]
fn a_task_blocking_the_core_shows_as_scheduling_delay() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        let blocker = ringcore::spawn(async { std::thread::sleep(Duration::from_millis(40)) });
        let waiter = ringcore::spawn(async {});
        blocker.await.unwrap();
        waiter.await.unwrap();
    });
    let c = &rt.metrics().cores[0];
    // The second task waited behind the 40 ms poll: its delay is in the bucket up to
    // 2^26 ns (67 ms), above 2^25 ns (33.5 ms).
    let worst = c.schedule_delay.quantile(1.0).unwrap();
    assert!(worst >= 1 << 26, "{:?}", c.schedule_delay);
    assert!(c.poll_duration.quantile(1.0).unwrap() >= 1 << 26);
}

#[test]
fn telemetry_off_keeps_counters_only() {
    let rt = Runtime::builder().telemetry(false).build().unwrap();
    rt.block_on(async {
        for _ in 0..5 {
            ringcore::spawn(async { ringcore::yield_now().await })
                .await
                .unwrap();
        }
        ringcore::time::sleep(Duration::from_millis(2)).await;
    });
    let c = &rt.metrics().cores[0];
    assert!(!c.telemetry);
    assert_eq!(c.tasks_spawned, 5);
    assert!(c.tasks_polled >= 10);
    assert!(c.parks >= 1);
    assert_eq!(c.schedule_delay.count(), 0);
    assert_eq!(c.poll_duration.count(), 0);
    assert!(c.ops.is_empty(), "{:?}", c.ops);
    let text = prometheus::render(&rt.metrics());
    assert!(text.contains("ringcore_telemetry_enabled{core=\"0\"} 0\n"));
}

#[test]
fn another_thread_reads_a_busy_core_without_stopping_it() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.metrics_handle();
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            let until = Instant::now() + Duration::from_secs(20);
            while seen.len() < 5 && Instant::now() < until {
                let m = handle.snapshot().unwrap();
                let polls = m.cores[1].tasks_polled;
                if seen.last() != Some(&polls) {
                    seen.push(polls);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            stop.store(true, Ordering::Relaxed);
            seen
        })
    };
    // Core 1 yields in a loop, never parking, until the reader has seen its poll count
    // move five times (or gave up).
    rt.block_on(async move {
        let busy = ringcore::spawn_on(ringcore::CoreId::new(1), move || async move {
            while !stop.load(Ordering::Relaxed) {
                ringcore::yield_now().await;
            }
        });
        busy.await.unwrap();
    });
    let seen = reader.join().unwrap();
    assert_eq!(
        seen.len(),
        5,
        "the busy core's counters never moved: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}

#[test]
fn reads_during_and_after_shutdown_return_what_there_is_or_stopped() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    let handle = rt.metrics_handle();
    // Tasks left running on both cores: shutdown cancels them.
    rt.run_on_all(|_| async {
        for _ in 0..50 {
            ringcore::spawn(async { ringcore::time::sleep(Duration::from_secs(60)).await });
        }
    });
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let (handle, reading) = (handle.clone(), reading.clone());
        std::thread::spawn(move || {
            let mut states = Vec::new();
            while reading.load(Ordering::Relaxed) {
                match handle.snapshot() {
                    Ok(m) => states.extend(m.cores.iter().map(|c| c.state)),
                    Err(MetricsError::Stopped(_)) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            states
        })
    };
    std::thread::sleep(Duration::from_millis(20));
    drop(rt);
    let states = reader.join().unwrap();
    reading.store(false, Ordering::Relaxed);
    assert!(states.contains(&CoreState::Running), "{states:?}");
    let Err(MetricsError::Stopped(last)) = handle.snapshot() else {
        panic!("a dropped runtime's metrics should say it stopped");
    };
    assert_eq!(last.num_workers(), 2);
    for c in &last.cores {
        assert_eq!(c.state, CoreState::Stopped);
        // 50 sleepers (and, on core 1, run_on_all's job).
        assert!(c.tasks_spawned >= 50, "{c:?}");
        assert_eq!(c.live_tasks, 0, "{c:?}");
        assert_eq!(c.ops_in_flight, 0, "{c:?}");
    }
    assert_eq!(
        MetricsError::Stopped(last).to_string(),
        "ringcore: the runtime has shut down"
    );
}

#[test]
fn prometheus_rendering_parses_and_carries_every_core() {
    let rt = Runtime::builder().cores(2).build().unwrap();
    rt.run_on_all(|_| async {
        ringcore::time::sleep(Duration::from_millis(1)).await;
        ringcore::spawn(async {}).await.unwrap();
    });
    let text = prometheus::render(&rt.metrics());
    let parsed = prometheus_text::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    for core in ["0", "1"] {
        let delay = parsed
            .histogram("ringcore_task_schedule_delay_seconds", &[("core", core)])
            .unwrap_or_else(|| panic!("no schedule delay for core {core}"));
        assert!(delay.count >= 1.0, "{delay:?}");
        let spawned = parsed
            .value("ringcore_tasks_spawned_total", &[("core", core)])
            .unwrap();
        assert!(spawned >= 1.0);
    }
    assert!(parsed.families.keys().all(|n| n.starts_with("ringcore_")));
}

#[test]
fn a_task_woken_from_another_thread_is_timed_from_its_wake() {
    let rt = Runtime::new().unwrap();
    rt.block_on(async {
        // The first task starts a 2 ms blocking job and waits for it; the job's end wakes
        // it from the pool's thread while the second task blocks the core for 60 ms. Its
        // scheduling delay runs from that wake (about 58 ms), not from when the core took
        // it from its remote queue after the block (about 0).
        let waiter = ringcore::spawn(async {
            ringcore::offload::spawn_blocking(|| std::thread::sleep(Duration::from_millis(2)))
                .await
                .unwrap();
        });
        let blocker = ringcore::spawn(async { std::thread::sleep(Duration::from_millis(60)) });
        blocker.await.unwrap();
        waiter.await.unwrap();
    });
    let c = &rt.metrics().cores[0];
    // Above 2^25 ns (33.5 ms): the bucket up to 2^26 ns or a later one.
    let worst = c.schedule_delay.quantile(1.0).unwrap();
    assert!(worst >= 1 << 26, "{:?}", c.schedule_delay);
}

#[test]
fn page_cache_hits_count_in_bytes_in_and_as_inline_reads() {
    const READS: u64 = 32;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cached");
    let rt = Runtime::builder().telemetry(true).build().unwrap();
    let before = rt.metrics().cores.remove(0);
    rt.block_on(async {
        let f = ringcore::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let (res, _) = f.write_all_at(vec![3u8; 4096 * READS as usize], 0).await;
        res.unwrap();
        // Just written, so in the page cache: the reads complete inline.
        for i in 0..READS {
            let (res, buf) = f.read_at(Vec::with_capacity(4096), i * 4096).await;
            assert_eq!(res.unwrap(), 4096);
            assert!(buf.iter().all(|&b| b == 3));
        }
    });
    let c = rt.metrics().cores.remove(0);
    let read = c.ops.iter().find(|o| o.name == "read").expect("a read row");
    assert!(read.inline >= READS / 2, "{read:?}");
    assert!(
        c.driver.ops_inline - before.driver.ops_inline >= read.inline,
        "{c:?}"
    );
    // Every byte read is in bytes_in, inline or through the ring.
    assert!(c.bytes_in >= READS * 4096, "{}", c.bytes_in);
    let text = prometheus::render(&rt.metrics());
    assert!(
        text.contains("ringcore_op_inline_total{core=\"0\",op=\"read\"}"),
        "{text}"
    );
}

#[test]
fn socket_transfers_count_per_opcode_on_either_driver() {
    use std::io::{Read, Write};
    const MSGS: u64 = 50;
    let rt = Runtime::builder().telemetry(true).build().unwrap();
    let epoll = rt.driver_kind() == ringcore::DriverKind::Epoll;
    let listener = rt
        .block_on(async { ringcore::net::TcpListener::bind("127.0.0.1:0") })
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let mut back = [0u8; 100];
        for _ in 0..MSGS {
            s.write_all(&[9u8; 100]).unwrap();
            s.read_exact(&mut back).unwrap();
        }
    });
    rt.block_on(async move {
        let (s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::with_capacity(100);
        loop {
            let (res, b) = s.read(buf).await;
            if res.unwrap() == 0 {
                break;
            }
            let (res, mut b) = s.write_all(b).await;
            res.unwrap();
            b.clear();
            buf = b;
        }
    });
    client.join().unwrap();
    let c = rt.metrics().cores.remove(0);
    let row = |name| {
        c.ops
            .iter()
            .find(|o| o.name == name)
            .unwrap_or_else(|| panic!("no {name} row: {:?}", c.ops))
    };
    let (recv, send) = (row("recv"), row("send"));
    // Each message is at least one receive and one send, through the ring or inline: the
    // rows compare across drivers.
    assert!(recv.submitted + recv.inline > MSGS, "{recv:?}");
    assert!(send.submitted + send.inline >= MSGS, "{send:?}");
    if epoll {
        // The epoll driver moves socket bytes without ops.
        assert!(recv.inline > MSGS, "{recv:?}");
        assert!(send.inline >= MSGS, "{send:?}");
    }
    assert!(
        c.bytes_in >= MSGS * 100 && c.bytes_out >= MSGS * 100,
        "{c:?}"
    );
}
