#[moonpool::sim_test]
async unsafe fn risky(_sim: moonpool::SimContext) {}

fn main() {}
