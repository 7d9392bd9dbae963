//! `RINGCORE_TOKIO_CONTEXT=0` turns the tokio context off for runtimes whose Builder does
//! not choose, and `Builder::tokio_context(true)` still turns it on. The variable is
//! process-wide, so this binary holds this one test.
#![cfg(feature = "tokio-context")]

fn has_tokio(rt: &ringcore::Runtime) -> bool {
    rt.block_on(async { tokio::runtime::Handle::try_current().is_ok() })
}

#[test]
fn the_environment_switches_the_context_unless_the_builder_chose() {
    assert!(
        has_tokio(&ringcore::Runtime::new().unwrap()),
        "on by default"
    );
    // SAFETY: this binary's only test; no other thread reads the environment meanwhile.
    unsafe { std::env::set_var("RINGCORE_TOKIO_CONTEXT", "0") };
    assert!(
        !has_tokio(&ringcore::Runtime::new().unwrap()),
        "off by the variable"
    );
    let chosen = ringcore::Runtime::builder().tokio_context(true).build();
    assert!(has_tokio(&chosen.unwrap()), "the builder's choice wins");
    // SAFETY: as above.
    unsafe { std::env::set_var("RINGCORE_TOKIO_CONTEXT", "1") };
    assert!(
        has_tokio(&ringcore::Runtime::new().unwrap()),
        "on by the variable"
    );
}
