use moonpool::SimContext;

/// No argument at all.
#[moonpool::sim_test]
async fn no_context() {}

/// A `Result` with any `Debug` error.
#[moonpool::sim_test(seeds = 2)]
async fn returns_result(sim: SimContext) -> Result<(), std::io::Error> {
    let _ = sim.seed();
    Ok(())
}

/// Other attributes pass through.
#[moonpool::sim_test]
#[ignore = "slow"]
pub async fn ignored_and_public(mut sim: SimContext) {
    sim = sim.clone();
    let _ = sim.now();
}

fn main() {}
