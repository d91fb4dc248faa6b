#[moonpool::sim_test(seeds = 10, seeds = 20)]
async fn twice(_sim: moonpool::SimContext) {}

fn main() {}
