#[moonpool::sim_test]
fn not_async(_sim: moonpool::SimContext) {}

fn main() {}
