#[moonpool::sim_test(seeds = 10, colour = "blue")]
async fn unknown(_sim: moonpool::SimContext) {}

fn main() {}
