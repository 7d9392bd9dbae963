//! Placeholder; the channel benchmarks come with the channel.
fn main() {}
