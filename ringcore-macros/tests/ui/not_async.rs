#[ringcore::main]
fn main() {}
