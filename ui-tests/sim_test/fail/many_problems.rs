// Every problem is reported in one compile.
#[moonpool::sim_test(seeds = 0, speed = 3)]
fn everything_wrong<T>(_a: T, _b: T) {}

fn main() {}
