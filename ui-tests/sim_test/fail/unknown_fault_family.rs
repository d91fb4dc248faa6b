#[moonpool::sim_test(faults = ["clogging", "earthquakes"])]
async fn shaky(_sim: moonpool::SimContext) {}

fn main() {}
