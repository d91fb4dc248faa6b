#[moonpool::sim_test]
async fn generic<T: Default>(_sim: moonpool::SimContext) {}

fn main() {}
