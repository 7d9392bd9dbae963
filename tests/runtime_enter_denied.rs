//! A seccomp profile that allows io_uring_setup but denies io_uring_enter: with
//! `DriverKind::IoUring` the runtime must fail with a typed error (an `Err` from the
//! builder, or a panic naming io_uring_enter from `block_on`) within a second, without
//! spinning; with `DriverKind::Auto` it falls back to the epoll driver and works.
//!
//! Runs in a child process (tests/support/seccomp.rs), which is killed if it runs past
//! 5 s. The second is counted in the child, from just before `Runtime::new`, so process
//! start-up does not count.

mod support;

use std::time::{Duration, Instant};

use support::seccomp;

const TEST: &str = "a_denied_io_uring_enter_fails_the_runtime_with_a_typed_error_not_a_spin";

/// Exit codes of the child.
const BUILD_FAILED: i32 = 2;
const PANICKED: i32 = 3;

#[test]
fn a_denied_io_uring_enter_fails_the_runtime_with_a_typed_error_not_a_spin() {
    if support::skip_on_epoll("RINGCORE_DRIVER=epoll overrides the forced io_uring driver") {
        return;
    }
    let deny = [libc::SYS_io_uring_enter];
    let Some(run) = seccomp::run_in_child(TEST, &deny, libc::EPERM, Duration::from_secs(5)) else {
        child();
    };
    println!(
        "enter denied: child exited {:?} after {:?} wall, {:?} CPU",
        run.status, run.wall, run.cpu
    );
    assert!(!run.timed_out, "the runtime never gave up: {run}");
    let elapsed_ms: u64 = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("ELAPSED_MS="))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("the child did not report its time: {run}"));
    println!("enter denied: the error came {elapsed_ms} ms after Runtime::new was called");
    assert!(elapsed_ms < 1000, "the error took {elapsed_ms} ms: {run}");
    assert!(run.cpu < Duration::from_millis(300), "spun: {run}");
    match run.status.code() {
        // A typed error from the builder.
        Some(BUILD_FAILED) => assert!(
            run.stderr.contains("EnterDenied"),
            "the builder's error is not BuildError::EnterDenied: {run}"
        ),
        Some(PANICKED) => assert!(
            run.stderr.contains("io_uring_enter"),
            "the panic does not name io_uring_enter: {run}"
        ),
        _ => panic!("unexpected outcome: {run}"),
    }
}

/// The child's body: a runtime that tries to sleep 10 ms and read a file.
fn child() -> ! {
    let start = Instant::now();
    let report = |what: &str| {
        eprintln!("{what}");
        eprintln!("ELAPSED_MS={}", start.elapsed().as_millis());
    };
    let rt = match ringcore::Runtime::builder()
        .driver(ringcore::DriverKind::IoUring)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            report(&format!("Runtime::new failed: {e} ({e:?})"));
            std::process::exit(BUILD_FAILED);
        }
    };
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            ringcore::time::sleep(Duration::from_millis(10)).await;
            let file = ringcore::fs::File::open("/proc/self/status").await.unwrap();
            let (res, _) = file.read_at(Vec::with_capacity(64), 0).await;
            res.unwrap();
        })
    }));
    match run {
        // The panic message went to stderr through the panic hook.
        Err(_) => {
            report("block_on panicked");
            // Skip the runtime's drop: this test is about the error, not the teardown.
            std::process::exit(PANICKED);
        }
        Ok(()) => {
            report("block_on returned although io_uring_enter is denied");
            std::process::exit(0);
        }
    }
}

const AUTO_TEST: &str = "with_auto_a_denied_io_uring_enter_falls_back_to_epoll";

#[test]
fn with_auto_a_denied_io_uring_enter_falls_back_to_epoll() {
    let deny = [libc::SYS_io_uring_enter];
    let limit = Duration::from_secs(10);
    let Some(run) = seccomp::run_in_child(AUTO_TEST, &deny, libc::EPERM, limit) else {
        let rt = ringcore::Runtime::new().expect("Auto falls back instead of failing");
        assert_eq!(rt.driver_kind(), ringcore::DriverKind::Epoll);
        rt.block_on(async {
            ringcore::time::sleep(Duration::from_millis(10)).await;
            let file = ringcore::fs::File::open("/proc/self/status").await.unwrap();
            let (res, buf) = file.read_at(Vec::with_capacity(64), 0).await;
            assert!(res.unwrap() > 0 && buf.starts_with(b"Name:"));
        });
        return;
    };
    assert!(run.status.success(), "{run}");
}
