use moonpool::prelude::*;

#[moonpool::sim_test(
    seeds = 500,
    max_sim_time = "10m",
    max_polls_per_instant = 20_000,
    invariant_every = 10,
    coverage = "strict",
    coverage_of = ["all_options", "moonpool_core::directory"],
    faults = "brutal",
    log = "warn,moonpool_core::node=debug",
    log_lines = 200
)]
async fn with_every_option(sim: SimContext) {
    sim.sleep(std::time::Duration::from_secs(1)).await;
}

#[moonpool::sim_test(max_sim_time = "250ms", coverage = "report", faults = "calm")]
async fn milliseconds(_sim: SimContext) {}

#[moonpool::sim_test(max_sim_time = "2h", faults = "swarm")]
async fn hours(_: SimContext) {}

fn main() {}
