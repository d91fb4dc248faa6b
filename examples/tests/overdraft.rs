//! The overdraft scenario as sim tests: the fix holds on every seed, and the
//! bug is found by a seed search.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use moonpool::prelude::*;
use moonpool::sim::runner::{RunnerConfig, SeedBase, SimTestError, SimTestSpec, run_seeds};
use moonpool_examples::overdraft::{Guard, run};

#[moonpool::sim_test(seeds = 500)]
async fn the_locked_withdrawal_never_overdraws(sim: SimContext) {
    let outcome = run(sim, 4, Guard::Lock).await;
    assert!(outcome.balance >= 0, "overdrawn: {outcome:?}");
    assert_eq!(outcome.granted, 1);
    assert_eq!(outcome.refused, 3);
    assert_eq!(outcome.balance, 40);
}

#[test]
fn the_unguarded_withdrawal_is_caught_and_replays() {
    let spec = SimTestSpec {
        seeds: 500,
        ..SimTestSpec::new("overdraft::unguarded", "moonpool-examples", "overdraft")
    };
    let body: moonpool::sim::runner::TestBody = |sim| {
        Box::pin(async move {
            let outcome = run(sim, 3, Guard::None).await;
            assert!(outcome.balance >= 0, "overdrawn: {outcome:?}");
            Ok(())
        })
    };
    let config = RunnerConfig {
        seed: None,
        seeds: None,
        base: SeedBase::Fixed,
        threads: None,
        ..RunnerConfig::default()
    };
    let Err(SimTestError::Failed(report)) = run_seeds(&spec, body, &config) else {
        panic!("500 seeds never found the overdraft");
    };
    assert!(report.to_string().contains("overdrawn"), "{report}");
    assert_eq!(report.replay, moonpool::sim::runner::Replay::Reproduced);
}
