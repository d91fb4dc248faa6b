#[moonpool::sim_test(coverage = "sometimes")]
async fn unclear(_sim: moonpool::SimContext) {}

fn main() {}
