#[moonpool::sim_test(faults = "spicy")]
async fn unclear(_sim: moonpool::SimContext) {}

fn main() {}
