#[moonpool::sim_test(seeds = "many")]
async fn words(_sim: moonpool::SimContext) {}

fn main() {}
