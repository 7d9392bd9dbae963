//! Side-by-side A/B runs for the echo and HTTP benches: `BENCH_AB=VAR` runs every server
//! `BENCH_AB_ROUNDS` times (default 5) with the environment variable `VAR=1` and `VAR=0`
//! in turn (the order flips every round), and prints the median and range of the per-round
//! ratios "1 over 0" of work per server CPU-second. On this shared machine wall-clock
//! figures drift between runs; a ratio of runs taken back to back does not.
//!
//! ```text
//! BENCH_AB=RINGCORE_TELEMETRY ECHO_BENCH_ONLY=64x1024 ECHO_BENCH_SERVERS=ringcore,multishot \
//!     cargo bench --bench echo
//! BENCH_AB=RINGCORE_TELEMETRY HTTP_BENCH_ONLY=64 HTTP_BENCH_SERVERS=ringcore,ring \
//!     cargo bench --features hyper --bench http
//! ```

#![allow(dead_code)]

/// The variable to flip and the number of rounds, if `BENCH_AB` is set.
pub(crate) fn setting() -> Option<(String, usize)> {
    let var = std::env::var("BENCH_AB").ok().filter(|v| !v.is_empty())?;
    let rounds = std::env::var("BENCH_AB_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    Some((var, rounds))
}

/// The values of round `round`, in the order to run them.
pub(crate) fn order(round: usize) -> [&'static str; 2] {
    if round.is_multiple_of(2) {
        ["1", "0"]
    } else {
        ["0", "1"]
    }
}

/// Median, lowest and highest of `on[i] / off[i]`.
pub(crate) fn ratios(pairs: &[(f64, f64)]) -> (f64, f64, f64) {
    let mut r: Vec<f64> = pairs.iter().map(|(on, off)| on / off).collect();
    r.sort_by(f64::total_cmp);
    if r.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    (r[r.len() / 2], r[0], r[r.len() - 1])
}
