#[moonpool::sim_test(coverage_of = ["my-crate::bank"])]
async fn dashes(_sim: moonpool::SimContext) {}

#[moonpool::sim_test(coverage_of = "my_crate")]
async fn not_a_list(_sim: moonpool::SimContext) {}

fn main() {}
