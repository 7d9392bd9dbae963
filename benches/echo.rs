//! Echo server benchmark (placeholder).
fn main() {}
