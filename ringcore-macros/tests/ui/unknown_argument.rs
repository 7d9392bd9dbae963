#[ringcore::main(cores = 2, threads = 4)]
async fn main() {}
