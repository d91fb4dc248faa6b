#[moonpool::sim_test(seeds = 0)]
async fn zero(_sim: moonpool::SimContext) {}

fn main() {}
