#[moonpool::sim_test]
async fn two(_sim: moonpool::SimContext, extra: u32) {}

fn main() {}
