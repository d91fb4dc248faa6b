//! Chaos sites: buggify decisions, assertions, the link-time registry,
//! coverage gaps, swarm configurations and invariants.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moonpool_sim::chaos::{FaultConfig, FaultPlan, SiteKind, sites};
use moonpool_sim::runner::{
    BodyFuture, CoverageMode, Replay, RunnerConfig, SeedBase, SimTestError, SimTestSpec, run_seeds,
};
use moonpool_sim::{FailureKind, SimConfig, SimContext, Simulation};

fn fixed(faults: FaultConfig) -> SimConfig {
    SimConfig {
        faults: FaultPlan::Fixed(faults),
        ..SimConfig::default()
    }
}

fn config() -> RunnerConfig {
    RunnerConfig {
        seed: None,
        seeds: None,
        base: SeedBase::Fixed,
        threads: None,
        ..RunnerConfig::default()
    }
}

/// Never called by any test: its sites exist only in the registry.
#[allow(dead_code)]
fn never_called() {
    moonpool_sim::sometimes!(true, "a site no test ever evaluates");
}

#[test]
fn the_registry_knows_sites_that_never_ran() {
    let site = sites()
        .iter()
        .find(|s| s.message == "a site no test ever evaluates")
        .expect("registered at link time");
    assert_eq!(site.kind, SiteKind::Sometimes);
    assert!(site.file.ends_with("tests/chaos.rs"));
    assert_eq!(site.module, "chaos");
}

fn flip() -> bool {
    moonpool_sim::buggify!(0.5)
}

#[test]
fn buggify_is_false_outside_a_simulation_and_in_calm_seeds() {
    assert!((0..1_000).all(|_| !flip()));
    for seed in 0..50 {
        let fired = Simulation::new(seed)
            .config(fixed(FaultConfig::calm()))
            .run(|_sim| async { (0..100).filter(|_| flip()).count() })
            .unwrap()
            .output;
        assert_eq!(fired, 0);
    }
}

#[test]
fn brutal_seeds_fire_at_the_site_probability() {
    let fired = Simulation::new(3)
        .config(fixed(FaultConfig::brutal()))
        .run(|_sim| async { (0..10_000).filter(|_| flip()).count() })
        .unwrap()
        .output;
    assert!((4_500..5_500).contains(&fired), "{fired}");
}

#[test]
fn each_site_is_switched_on_or_off_once_per_seed() {
    let half = FaultConfig {
        buggify: true,
        buggify_sites_percent: 50,
        ..FaultConfig::calm()
    };
    let mut on_seeds = 0;
    for seed in 0..200 {
        let fired = Simulation::new(seed)
            .config(fixed(half))
            .run(|_sim| async { (0..64).filter(|_| flip()).count() })
            .unwrap()
            .output;
        // Off: never fires. On: fires about half the time, so 64 tries
        // never all miss in practice.
        if fired > 0 {
            on_seeds += 1;
            assert!(
                fired > 10,
                "seed {seed}: an on site fired only {fired} of 64 times"
            );
        }
    }
    assert!(
        (70..130).contains(&on_seeds),
        "{on_seeds} of 200 seeds had the site on"
    );
}

#[test]
fn coverage_counts_are_part_of_the_seed() {
    let run = |seed| {
        Simulation::new(seed)
            .run(|sim| async move {
                let p = sim.providers();
                for _ in 0..20 {
                    let q = p.clone();
                    p.spawn(async move {
                        q.sleep(Duration::from_millis(q.random_below(10))).await;
                        moonpool_sim::sometimes!(flip(), "the flip fired in a worker");
                    });
                }
                sim.sleep(Duration::from_secs(1)).await;
            })
            .unwrap()
    };
    let (a, b) = (run(11), run(11));
    assert_eq!(a.coverage, b.coverage);
    assert_eq!(a.faults, b.faults);
    assert_eq!(a.trace_hash, b.trace_hash);
}

#[test]
fn a_false_always_fails_the_seed_at_once_with_both_values() {
    let after = Arc::new(AtomicU64::new(0));
    let seen = Arc::clone(&after);
    let failure = Simulation::new(21)
        .run(move |sim| async move {
            let p = sim.providers();
            p.sleep(Duration::from_secs(2)).await;
            let (balance, floor) = (-5i64, 0i64);
            moonpool_sim::always_ge!(balance, floor, "balance stays above the floor");
            seen.fetch_add(1, Ordering::Relaxed); // never runs
        })
        .unwrap_err();
    assert_eq!(
        after.load(Ordering::Relaxed),
        0,
        "the task went on after the failure"
    );
    let FailureKind::AssertionFailed { site, detail, task } = &failure.kind else {
        panic!("expected an assertion failure, got {failure}");
    };
    assert_eq!(site.message, "balance stays above the floor");
    let site = site.to_string();
    assert!(
        site.starts_with("always!(\"balance stays above the floor\") at "),
        "{site}"
    );
    assert!(site.contains("tests/chaos.rs:"), "{site}");
    assert_eq!(
        detail.as_deref(),
        Some("balance >= floor failed: left = -5, right = 0")
    );
    assert_eq!(task.as_deref(), Some("main"));
    assert_eq!(failure.sim_time.since_epoch(), Duration::from_secs(2));
}

#[test]
fn reaching_unreachable_fails_the_seed() {
    let failure = Simulation::new(1)
        .run(|sim| async move {
            sim.providers()
                .spawn_named("applier", async {
                    moonpool_sim::unreachable!("a transfer is applied twice");
                })
                .await
                .ok();
        })
        .unwrap_err();
    assert!(
        failure
            .kind
            .summary()
            .starts_with("unreachable!(\"a transfer is applied twice\") at "),
        "{}",
        failure.kind
    );
    assert!(
        failure
            .kind
            .summary()
            .ends_with("failed (in task `applier`)")
    );
}

/// Like `debug_assert!`: a panic in debug builds, nothing in release.
#[test]
#[cfg_attr(
    debug_assertions,
    should_panic(expected = "always!(\"outside a simulation\") at")
)]
fn outside_a_simulation_assertions_are_debug_asserts() {
    moonpool_sim::always!(1 > 2, "outside a simulation");
}

#[test]
fn passing_assertions_do_not_fail() {
    Simulation::new(1)
        .run(|_sim| async {
            moonpool_sim::always!(true, "holds");
            moonpool_sim::always_or_unreachable!(true, "holds when reached");
            moonpool_sim::always_lt!(1, 2, "one is less than two");
            moonpool_sim::always_eq!("a", "a", "strings compare");
            moonpool_sim::sometimes_gt!(1, 2, "never true, still no failure");
        })
        .unwrap();
}

/// A sometimes! in a branch no seed can take.
fn body_with_impossible_branch(sim: SimContext) -> BodyFuture {
    Box::pin(async move {
        let p = sim.providers();
        let draw = p.random_below(10);
        moonpool_sim::sometimes!(draw < 5, "a low draw happens");
        if draw > 100 {
            moonpool_sim::sometimes!(true, "an impossible draw happens");
        }
        moonpool_sim::reachable!("the body ran");
        Ok(())
    })
}

#[test]
fn an_unreachable_sometimes_is_a_gap_and_fails_under_strict_coverage() {
    let spec = SimTestSpec {
        seeds: 50,
        coverage_scope: &["chaos"],
        ..SimTestSpec::new("chaos::impossible_branch", "moonpool-sim", "chaos")
    };
    let summary = run_seeds(&spec, body_with_impossible_branch, &config()).unwrap();
    let gaps: Vec<&str> = summary
        .coverage
        .gaps()
        .iter()
        .map(|s| s.site.message)
        .collect();
    assert!(gaps.contains(&"an impossible draw happens"), "{gaps:?}");
    assert!(!gaps.contains(&"a low draw happens"));
    assert!(!gaps.contains(&"the body ran"));
    // Never evaluated at all, in any test of this binary: still listed.
    assert!(gaps.contains(&"a site no test ever evaluates"), "{gaps:?}");
    let table = summary.to_string();
    assert!(table.contains("an impossible draw happens"), "{table}");
    assert!(table.contains("GAP: never reached"), "{table}");

    let strict = SimTestSpec {
        coverage: CoverageMode::Strict,
        ..spec.clone()
    };
    let err = run_seeds(&strict, body_with_impossible_branch, &config()).unwrap_err();
    let SimTestError::CoverageGaps { report, .. } = &err else {
        panic!("expected coverage gaps, got {err}");
    };
    assert!(
        report
            .gaps()
            .iter()
            .any(|s| s.site.message == "an impossible draw happens")
    );
    assert!(err.to_string().contains("coverage = \"strict\""), "{err}");

    // Replaying one seed does not fail on coverage.
    let one = RunnerConfig {
        seed: Some(7),
        ..config()
    };
    assert!(run_seeds(&strict, body_with_impossible_branch, &one).is_ok());

    // Nor does a run whose fault plan was overridden (`MOONPOOL_FAULTS`):
    // a calm run leaves the fault-only paths unreached by design, and the
    // user asked for a verdict on the logic. The gaps are still reported.
    let calm = RunnerConfig {
        faults: Some(FaultPlan::Fixed(FaultConfig::calm())),
        ..config()
    };
    let summary = run_seeds(&strict, body_with_impossible_branch, &calm).unwrap();
    assert!(
        summary
            .coverage
            .gaps()
            .iter()
            .any(|s| s.site.message == "an impossible draw happens")
    );
}

#[test]
fn invariants_are_checked_between_steps() {
    let failure = Simulation::new(4)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let total = Arc::new(AtomicU64::new(100));
            let watched = Arc::clone(&total);
            sim.invariant("money is conserved", move || {
                let t = watched.load(Ordering::Relaxed);
                if t == 100 {
                    Ok(())
                } else {
                    Err(format!("total is {t}"))
                }
            });
            sim.sleep(Duration::from_secs(5)).await;
            total.fetch_sub(1, Ordering::Relaxed); // the bug
            sim.sleep(Duration::from_secs(5)).await;
        })
        .unwrap_err();
    assert_eq!(
        failure.kind,
        FailureKind::InvariantViolated {
            name: "money is conserved".into(),
            message: "total is 99".into()
        }
    );
    assert_eq!(failure.sim_time.since_epoch(), Duration::from_secs(5));
}

/// The planted bug: two tasks bump a shared counter with a read-modify-write
/// whose window only opens when a buggify site fires, and only matters when
/// the other task runs inside that window.
fn planted(sim: SimContext) -> BodyFuture {
    Box::pin(async move {
        let counter = Arc::new(AtomicU64::new(0));
        let p = sim.providers();
        let mut tasks = Vec::new();
        for _ in 0..2 {
            let c = Arc::clone(&counter);
            let q = p.clone();
            tasks.push(p.spawn(async move {
                q.sleep(Duration::from_millis(q.random_below(3))).await;
                let v = c.load(Ordering::Relaxed);
                if moonpool_sim::buggify!(0.5) {
                    moonpool_sim::yield_now().await; // the injected window
                }
                c.store(v + 1, Ordering::Relaxed);
            }));
        }
        for t in tasks {
            t.await.map_err(|e| e.to_string())?;
        }
        let total = counter.load(Ordering::Relaxed);
        moonpool_sim::always_eq!(total, 2, "no increment is lost");
        Ok(())
    })
}

#[test]
fn a_bug_needing_buggify_and_an_interleaving_is_found_and_replays() {
    let spec = SimTestSpec {
        seeds: 500,
        ..SimTestSpec::new("chaos::planted", "moonpool-sim", "chaos")
    };
    let Err(SimTestError::Failed(report)) = run_seeds(&spec, planted, &config()) else {
        panic!("500 seeds did not find the planted bug");
    };
    assert!(report.index.unwrap() < 500);
    assert_eq!(report.replay, Replay::Reproduced);
    assert!(report.failure.faults.buggify, "found without buggify?");
    assert!(report.to_string().contains("faults: buggify ("), "{report}");
    assert!(
        report
            .failure
            .kind
            .summary()
            .contains("left = 1, right = 2"),
        "{}",
        report.failure.kind
    );
    let replay = RunnerConfig {
        seed: Some(report.failure.seed),
        ..config()
    };
    let Err(SimTestError::Failed(again)) = run_seeds(&spec, planted, &replay) else {
        panic!("the printed seed did not replay the failure");
    };
    assert_eq!(again.failure, report.failure);

    // Without buggify the window never opens: every seed passes.
    let calm = SimTestSpec {
        faults: Some(FaultPlan::Fixed(FaultConfig::calm())),
        ..spec.clone()
    };
    assert!(run_seeds(&calm, planted, &config()).is_ok());

    // MOONPOOL_FAULTS overrides the test's plan either way, and a failure
    // found under it replays under it.
    let from_env = |value: &'static str| {
        let mut c =
            RunnerConfig::from_lookup(|var| (var == "MOONPOOL_FAULTS").then(|| value.to_string()))
                .unwrap();
        c.seeds = Some(500);
        c
    };
    assert!(run_seeds(&spec, planted, &from_env("calm")).is_ok());
    let Err(SimTestError::Failed(brutal)) = run_seeds(&calm, planted, &from_env("brutal")) else {
        panic!("MOONPOOL_FAULTS=brutal did not override the test's calm plan");
    };
    assert_eq!(brutal.failure.faults, FaultConfig::brutal());
    assert!(
        brutal
            .replay_command
            .starts_with("MOONPOOL_FAULTS=brutal MOONPOOL_SEED="),
        "{}",
        brutal.replay_command
    );
}

#[test]
fn invariants_run_every_n_polls_when_configured() {
    for every in [1u64, 3, 10] {
        let calls = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&calls);
        let report = Simulation::new(8)
            .config(SimConfig {
                invariant_every: every,
                ..SimConfig::default()
            })
            .run(move |sim| async move {
                sim.invariant("counts its calls", move || {
                    counted.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                });
                for _ in 0..30 {
                    moonpool_sim::yield_now().await;
                }
            })
            .unwrap();
        // The check is registered during the first poll, then runs after
        // every `every`-th poll.
        assert_eq!(
            calls.load(Ordering::Relaxed),
            report.steps / every,
            "every {every}"
        );
    }
}
