//! Building runtimes: bad configuration is a typed error; the ring setup mode and the
//! driver are reported.

mod support;

use ringcore::{BuildError, DriverKind, Runtime, SetupMode};

#[test]
fn bad_ring_sizes_are_invalid_config() {
    for entries in [0, 65536] {
        let err = Runtime::builder()
            .ring_entries(entries)
            .build()
            .unwrap_err();
        assert!(matches!(err, BuildError::InvalidConfig(_)), "{err:?}");
        assert!(err.to_string().contains("ring_entries"));
    }
    let err = Runtime::builder().event_interval(0).build().unwrap_err();
    assert!(matches!(err, BuildError::InvalidConfig(_)));
}

#[test]
fn a_recent_kernel_gets_defer_taskrun() {
    if support::skip_on_epoll("io_uring setup modes") {
        return;
    }
    // Kernels from 6.1 accept SINGLE_ISSUER | DEFER_TASKRUN; older ones fall back (and the
    // runtime still works, checked below either way).
    // The tokio context (feature `tokio-context`, on by default when built) sets rings up
    // without DEFER_TASKRUN (tests/tokio_context.rs checks that); this is the mode without.
    let rt = Runtime::builder().tokio_context(false).build().unwrap();
    assert_eq!(rt.block_on(async { 2 + 2 }), 4);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release
        .trim()
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if version >= (6, 1) {
        assert_eq!(
            rt.setup_mode(),
            Some(SetupMode::DeferTaskrun),
            "kernel {}",
            release.trim()
        );
    } else {
        eprintln!(
            "kernel {} predates DEFER_TASKRUN: got {:?}",
            release.trim(),
            rt.setup_mode()
        );
    }
}

#[test]
fn many_runtimes_in_sequence_and_on_threads() {
    for _ in 0..20 {
        let rt = Runtime::builder().ring_entries(16).build().unwrap();
        rt.block_on(ringcore::time::sleep(std::time::Duration::from_micros(10)));
    }
    let threads: Vec<_> = (0..4)
        .map(|i| std::thread::spawn(move || ringcore::block_on(async move { i * 10 })))
        .collect();
    let out: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert_eq!(out, [0, 10, 20, 30]);
}

#[test]
fn the_driver_asked_for_is_the_driver_that_runs() {
    if std::env::var_os(ringcore::DRIVER_ENV).is_some() {
        eprintln!("skipped: RINGCORE_DRIVER overrides Builder::driver");
        return;
    }
    let rt = Runtime::builder()
        .driver(DriverKind::Epoll)
        .build()
        .unwrap();
    assert_eq!(rt.driver_kind(), DriverKind::Epoll);
    assert_eq!(rt.metrics().cores.remove(0).driver_kind, DriverKind::Epoll);
    assert_eq!(rt.setup_mode(), None);
    assert_eq!(rt.block_on(async { 1 + 1 }), 2);
    drop(rt);
    // io_uring works on this machine, so Auto and IoUring both get it.
    for kind in [DriverKind::Auto, DriverKind::IoUring] {
        let rt = Runtime::builder().driver(kind).build().unwrap();
        assert_eq!(rt.driver_kind(), DriverKind::IoUring, "{kind:?}");
        assert!(rt.setup_mode().is_some());
    }
    // Every core runs the same driver.
    let rt = Runtime::builder()
        .cores(2.min(std::thread::available_parallelism().map_or(1, |n| n.get())))
        .driver(DriverKind::Epoll)
        .build()
        .unwrap();
    let kinds = rt.run_on_all(|_| async { ringcore::debug::metrics().map(|m| m.driver_kind) });
    assert!(
        kinds.iter().all(|k| *k == Some(DriverKind::Epoll)),
        "{kinds:?}"
    );
}

#[test]
fn a_bad_driver_variable_is_invalid_config() {
    // Checked in a child process, so this process's environment stays untouched.
    if std::env::var_os("RINGCORE_BAD_DRIVER_CHILD").is_some() {
        let err = Runtime::new().unwrap_err();
        assert!(matches!(err, BuildError::InvalidConfig(_)), "{err:?}");
        assert!(err.to_string().contains("RINGCORE_DRIVER"), "{err}");
        return;
    }
    let exe = std::env::current_exe().unwrap();
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "a_bad_driver_variable_is_invalid_config",
            "--nocapture",
        ])
        .env("RINGCORE_BAD_DRIVER_CHILD", "1")
        .env("RINGCORE_DRIVER", "kqueue")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 passed"));
}
