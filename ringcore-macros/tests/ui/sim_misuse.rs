#[ringcore::test(seeds = 10)]
async fn seeds_without_sim() {}

#[ringcore::test(sim, ring_entries = 64)]
async fn ring_entries_with_sim() {}

#[ringcore::test(sim, every_core)]
async fn every_core_with_sim() {}

#[ringcore::test(sim, seeds = 0)]
async fn no_seeds() {}

#[ringcore::test(sim, cores = 2000)]
async fn too_many_cores() {}

#[ringcore::test(sim, sim)]
async fn sim_twice() {}

#[ringcore::main(sim)]
async fn main() {}
