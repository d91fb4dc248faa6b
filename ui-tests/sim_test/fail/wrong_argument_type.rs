#[moonpool::sim_test]
async fn wrong_type(seed: u64) {
    let _ = seed;
}

fn main() {}
