#[moonpool::sim_test(max_sim_time = "ten minutes")]
async fn vague(_sim: moonpool::SimContext) {}

fn main() {}
