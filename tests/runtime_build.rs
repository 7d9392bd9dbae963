//! Building runtimes: bad configuration is a typed error; the ring setup mode is reported.

use ringcore::{BuildError, Runtime, SetupMode};

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
    // Kernels from 6.1 accept SINGLE_ISSUER | DEFER_TASKRUN; older ones fall back (and the
    // runtime still works, checked below either way).
    let rt = Runtime::new().unwrap();
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
            SetupMode::DeferTaskrun,
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
