//! File I/O benchmarks (placeholder).
fn main() {}
