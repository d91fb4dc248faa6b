#[moonpool::sim_test]
async fn destructured((a, b): (u8, u8)) {}

fn main() {}
