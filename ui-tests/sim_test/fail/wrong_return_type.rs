#[moonpool::sim_test]
async fn returns_number(_sim: moonpool::SimContext) -> u32 {
    7
}

fn main() {}
