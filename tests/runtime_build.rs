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
    // The kernels this project targets (6.1+) accept SINGLE_ISSUER | DEFER_TASKRUN; an
    // older one falls back and still works.
    let rt = Runtime::new().unwrap();
    let mode = rt.setup_mode();
    assert!(matches!(
        mode,
        SetupMode::DeferTaskrun | SetupMode::CoopTaskrun | SetupMode::Plain
    ));
    assert_eq!(rt.block_on(async { 2 + 2 }), 4);
    eprintln!("setup mode: {mode:?}");
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
