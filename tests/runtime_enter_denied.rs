//! A seccomp profile that allows io_uring_setup but denies io_uring_enter: the runtime must
//! fail with a typed error (an `Err` from the builder, or a panic naming io_uring_enter
//! from `block_on`) within a second, without spinning.
//!
//! Runs in a child process (tests/support/seccomp.rs), which is killed if it runs past
//! 5 s.

mod support;

use std::time::Duration;

use support::seccomp;

const TEST: &str = "a_denied_io_uring_enter_fails_the_runtime_with_a_typed_error_not_a_spin";

#[test]
#[ignore = "needs the driver's enter-error fix (lead)"]
fn a_denied_io_uring_enter_fails_the_runtime_with_a_typed_error_not_a_spin() {
    let deny = [libc::SYS_io_uring_enter];
    let Some(run) = seccomp::run_in_child(TEST, &deny, libc::EPERM, Duration::from_secs(5)) else {
        child();
    };
    println!(
        "enter denied: child exited {:?} after {:?} wall, {:?} CPU",
        run.status, run.wall, run.cpu
    );
    assert!(!run.timed_out, "the runtime never gave up: {run}");
    assert!(
        run.wall < Duration::from_secs(1),
        "the error took {:?}: {run}",
        run.wall
    );
    assert!(run.cpu < Duration::from_millis(300), "spun: {run}");
    assert!(!run.status.success(), "{run}");
    assert!(
        run.stderr.contains("io_uring_enter"),
        "the error does not name io_uring_enter: {run}"
    );
}

/// The child's body: a runtime that tries to sleep 10 ms and read a file.
fn child() -> ! {
    let rt = match ringcore::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            // A typed error at build time is an acceptable outcome too.
            eprintln!("Runtime::new failed: {e} ({e:?})");
            std::process::exit(2);
        }
    };
    rt.block_on(async {
        ringcore::time::sleep(Duration::from_millis(10)).await;
        let file = ringcore::fs::File::open("/proc/self/status").await.unwrap();
        let (res, _) = file.read_at(Vec::with_capacity(64), 0).await;
        res.unwrap();
    });
    eprintln!("block_on returned although io_uring_enter is denied");
    std::process::exit(0);
}
