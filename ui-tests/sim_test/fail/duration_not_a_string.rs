#[moonpool::sim_test(max_sim_time = 600)]
async fn bare_number(_sim: moonpool::SimContext) {}

fn main() {}
