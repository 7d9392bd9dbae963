//! Compile errors of the macros, checked against tests/ui/*.stderr (regenerate with
//! `TRYBUILD=overwrite cargo test -p ringcore-macros --test ui` and read the diff).

#[test]
fn misuse_is_a_compile_error_at_the_users_span() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
