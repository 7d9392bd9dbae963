//! Debug mode reports a blocking poll with the task's name and location, and stays
//! silent on fast ones; the log output is captured by a test logger.

use std::sync::Mutex;
use std::time::Duration;

static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }
    fn log(&self, record: &log::Record<'_>) {
        if record.target() == "ringcore::debug" {
            LINES
                .lock()
                .unwrap()
                .push(format!("{} {}", record.level(), record.args()));
        }
    }
    fn flush(&self) {}
}

#[test]
fn slow_poll_is_reported_with_name_and_location_fast_ones_are_not() {
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Trace);
    let rt = ringcore::Runtime::builder().debug(true).build().unwrap();
    rt.block_on(async {
        assert!(ringcore::debug::is_enabled());
        for i in 0..20 {
            ringcore::task::spawn_named(format!("quick-{i}"), async {
                ringcore::yield_now().await;
            })
            .await
            .unwrap();
        }
        ringcore::task::spawn_named("blocker", async {
            std::thread::sleep(Duration::from_millis(200));
        })
        .await
        .unwrap();
    });
    let lines = LINES.lock().unwrap().clone();
    // `block_on_future_that_blocks_is_reported` may log in parallel: its lines name
    // block_on. Only debug mode's own report counts ("slow poll: ..."): with the `tracing`
    // feature, tracing's slow-poll event reaches `log` too wherever a dependency turns on
    // tracing's `log` feature (as the ecosystem dev-dependencies do in this test build).
    let slow: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("slow poll:") && !l.contains("block_on"))
        .collect();
    assert_eq!(slow.len(), 1, "{lines:?}");
    assert!(slow[0].starts_with("WARN"), "{}", slow[0]);
    assert!(slow[0].contains("\"blocker\""), "{}", slow[0]);
    assert!(slow[0].contains("debug_slow_poll.rs"), "{}", slow[0]);
    assert!(!lines.iter().any(|l| l.contains("quick-")), "{lines:?}");
}

#[test]
fn block_on_future_that_blocks_is_reported() {
    let _ = log::set_logger(&Capture);
    log::set_max_level(log::LevelFilter::Trace);
    let rt = ringcore::Runtime::builder().debug(true).build().unwrap();
    let line = line!() + 1;
    rt.block_on(async {
        ringcore::yield_now().await;
        std::thread::sleep(Duration::from_millis(150));
    });
    let lines = LINES.lock().unwrap().clone();
    let slow: Vec<_> = lines
        .iter()
        .filter(|l| l.contains("slow poll: block_on's future"))
        .collect();
    assert_eq!(slow.len(), 1, "{lines:?}");
    assert!(slow[0].starts_with("WARN"), "{}", slow[0]);
    let at = format!("debug_slow_poll.rs:{line}:");
    assert!(slow[0].contains(&at), "{} should name {at}", slow[0]);
    // The blocking poll also lands in the poll-duration histogram (>= 2^27 ns, 134 ms).
    let h = &rt.metrics().cores[0].poll_duration;
    assert!(h.quantile(1.0).unwrap() >= 1 << 27, "{h:?}");
}

#[test]
fn threshold_is_configurable_and_off_by_default() {
    let rt = ringcore::Runtime::builder()
        .debug(false)
        .slow_poll_threshold(Duration::from_millis(1))
        .build()
        .unwrap();
    rt.block_on(async { assert!(!ringcore::debug::is_enabled()) });
}
