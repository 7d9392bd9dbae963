//! `RINGCORE_DEBUG=1` turns debug mode on unless the builder says otherwise. One test in
//! its own binary, because it changes the process environment.

#[test]
fn ringcore_debug_env_turns_debug_mode_on() {
    // SAFETY: this binary runs this single test and nothing else reads or writes the
    // environment meanwhile (no other thread of ours is running yet).
    unsafe { std::env::set_var("RINGCORE_DEBUG", "1") };
    let rt = ringcore::Runtime::new().unwrap();
    assert!(rt.block_on(async { ringcore::debug::is_enabled() }));
    drop(rt);
    let rt = ringcore::Runtime::builder().debug(false).build().unwrap();
    assert!(!rt.block_on(async { ringcore::debug::is_enabled() }));
    drop(rt);
    // SAFETY: as above.
    unsafe { std::env::set_var("RINGCORE_DEBUG", "0") };
    let rt = ringcore::Runtime::new().unwrap();
    assert!(!rt.block_on(async { ringcore::debug::is_enabled() }));
}
