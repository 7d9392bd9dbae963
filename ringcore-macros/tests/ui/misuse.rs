#[ringcore::test]
#[test]
async fn twice() {}

#[ringcore::test]
async fn takes_arguments(n: u32) {}

#[ringcore::test]
fn not_async_test() {}

#[ringcore::main]
struct NotAFunction;

fn main() {}
