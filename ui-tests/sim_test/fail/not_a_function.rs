#[moonpool::sim_test]
struct NotATest;

fn main() {}
