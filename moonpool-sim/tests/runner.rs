//! The multi-seed runner: seed plans, parallelism, failure reports, replay
//! commands and the determinism check on the failing seed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use moonpool_sim::runner::{
    BodyFuture, Replay, RunnerConfig, SeedBase, SimTestError, SimTestSpec, TestBody, derive_seed,
    run_seeds,
};
use moonpool_sim::{FailureKind, SimContext};

fn spec(path: &'static str, seeds: u64) -> SimTestSpec {
    SimTestSpec {
        seeds,
        ..SimTestSpec::new(path, "moonpool-sim", "runner")
    }
}

fn config() -> RunnerConfig {
    RunnerConfig {
        seed: None,
        seeds: None,
        base: SeedBase::Fixed,
        threads: NonZeroUsize::new(2),
        ..RunnerConfig::default()
    }
}

static SEEN: Mutex<Vec<u64>> = Mutex::new(Vec::new());

fn record_seed(sim: SimContext) -> BodyFuture {
    Box::pin(async move {
        SEEN.lock().unwrap().push(sim.seed());
        Ok(())
    })
}

#[test]
fn runs_every_derived_seed_once_and_honours_overrides() {
    let path = "runner::plan";
    SEEN.lock().unwrap().clear();
    let summary = run_seeds(&spec(path, 40), record_seed, &config()).unwrap();
    assert_eq!(summary.seeds, 40);
    let mut seen = std::mem::take(&mut *SEEN.lock().unwrap());
    seen.sort();
    let mut expected: Vec<u64> = (0..40).map(|i| derive_seed(path, 0, i)).collect();
    expected.sort();
    assert_eq!(seen, expected);

    // MOONPOOL_SEED: exactly that seed, once.
    let only = RunnerConfig {
        seed: Some(0xABC),
        ..config()
    };
    let summary = run_seeds(&spec(path, 40), record_seed, &only).unwrap();
    assert_eq!(summary.seeds, 1);
    assert_eq!(std::mem::take(&mut *SEEN.lock().unwrap()), vec![0xABC]);

    // MOONPOOL_SEEDS and MOONPOOL_SEED_BASE.
    let more = RunnerConfig {
        seeds: Some(7),
        base: SeedBase::Explicit(99),
        ..config()
    };
    let summary = run_seeds(&spec(path, 40), record_seed, &more).unwrap();
    assert_eq!(summary.seeds, 7);
    assert_eq!(summary.base, Some(99));
    let mut seen = std::mem::take(&mut *SEEN.lock().unwrap());
    seen.sort();
    let mut expected: Vec<u64> = (0..7).map(|i| derive_seed(path, 99, i)).collect();
    expected.sort();
    assert_eq!(seen, expected);
    assert!(
        summary
            .to_string()
            .contains("MOONPOOL_SEED_BASE=0x63 repeats these seeds")
    );
}

/// Fails on roughly one seed in five, depending only on the seed's draws.
fn fails_sometimes(sim: SimContext) -> BodyFuture {
    Box::pin(async move {
        let p = sim.providers();
        let mut handles = Vec::new();
        for _ in 0..10 {
            let q = p.clone();
            handles.push(p.spawn(async move {
                q.sleep(Duration::from_millis(q.random_below(100))).await;
                q.random_below(50)
            }));
        }
        let mut zeros = 0;
        for h in handles {
            zeros += u32::from(h.await.unwrap() == 0);
        }
        if zeros > 0 {
            return Err(format!("{zeros} workers drew zero"));
        }
        Ok(())
    })
}

#[test]
fn a_failure_reports_the_lowest_failing_seed_and_replays_it() {
    let spec = spec("runner::tests::fails_sometimes", 200);
    let err = run_seeds(&spec, fails_sometimes, &config()).unwrap_err();
    let SimTestError::Failed(report) = err else {
        panic!("expected a failure")
    };
    assert_eq!(report.replay, Replay::Reproduced);
    let index = report.index.unwrap();
    assert_eq!(report.failure.seed, derive_seed(spec.path, 0, index));
    // Every lower index passes on its own.
    for i in 0..index {
        let only = RunnerConfig {
            seed: Some(derive_seed(spec.path, 0, i)),
            ..config()
        };
        assert!(
            run_seeds(&spec, fails_sometimes, &only).is_ok(),
            "index {i}"
        );
    }
    assert!(
        matches!(report.failure.kind, FailureKind::TestFailed { ref message } if message.contains("drew zero"))
    );
    assert_eq!(
        report.replay_command,
        format!(
            "MOONPOOL_SEED={:#x} cargo test -p moonpool-sim --test runner -- --exact tests::fails_sometimes",
            report.failure.seed
        )
    );
    let text = report.to_string();
    assert!(
        text.contains("replay: reproduced, same trace hash"),
        "{text}"
    );
    assert!(text.contains(&report.replay_command), "{text}");

    // Replaying the printed seed fails the same way.
    let replay = RunnerConfig {
        seed: Some(report.failure.seed),
        ..config()
    };
    let SimTestError::Failed(again) = run_seeds(&spec, fails_sometimes, &replay).unwrap_err()
    else {
        panic!("expected the replay to fail")
    };
    assert_eq!(again.failure, report.failure);
    assert_eq!(again.index, None);
}

static LEAK: AtomicU64 = AtomicU64::new(0);

/// Reads process-global state: the same seed behaves differently per run.
fn leaks_outside_state(sim: SimContext) -> BodyFuture {
    Box::pin(async move {
        let calls = LEAK.fetch_add(1, Ordering::Relaxed);
        for _ in 0..calls % 3 {
            sim.sleep(Duration::from_millis(1)).await;
        }
        Err("always fails".to_string())
    })
}

#[test]
fn a_non_deterministic_failure_is_called_out() {
    let one = RunnerConfig {
        seed: Some(5),
        threads: NonZeroUsize::new(1),
        ..config()
    };
    let SimTestError::Failed(report) =
        run_seeds(&spec("runner::leaky", 1), leaks_outside_state, &one).unwrap_err()
    else {
        panic!("expected a failure")
    };
    assert!(
        matches!(report.replay, Replay::DifferentTrace { .. }),
        "{:?}",
        report.replay
    );
    assert!(report.to_string().contains("NOT deterministic"));
}

#[test]
fn replay_commands_select_the_right_target_and_profile() {
    let mut s = spec("my_crate::bank::tests::transfers", 1);
    s.package = "my-crate";
    s.crate_name = "my_crate";
    s.integration_test = false;
    s.release = true;
    let SimTestError::Failed(report) = run_seeds(
        &s,
        |_| Box::pin(async { Err("no".to_string()) }),
        &RunnerConfig {
            seed: Some(1),
            ..config()
        },
    )
    .unwrap_err() else {
        panic!()
    };
    assert_eq!(
        report.replay_command,
        "MOONPOOL_SEED=0x1 cargo test -p my-crate --release --lib -- --exact bank::tests::transfers"
    );
}

#[test]
fn a_failure_under_a_seed_base_says_how_to_repeat_the_run_and_how_far_it_got() {
    let spec = spec("runner::tests::fails_sometimes", 400);
    let explored = RunnerConfig {
        base: SeedBase::Explicit(0xfeed),
        threads: NonZeroUsize::new(1),
        ..config()
    };
    let SimTestError::Failed(report) = run_seeds(&spec, fails_sometimes, &explored).unwrap_err()
    else {
        panic!("expected a failure")
    };
    let index = report.index.unwrap();
    assert_eq!(report.base, Some(0xfeed));
    assert_eq!(report.failure.seed, derive_seed(spec.path, 0xfeed, index));
    // One thread runs seeds in order: every one before the failure passed.
    assert_eq!(report.passed, index);
    let text = report.to_string();
    assert!(
        text.contains(&format!(
            "(run {} of 400; {index} seed{} passed before the runner stopped)",
            index + 1,
            if index == 1 { "" } else { "s" }
        )),
        "{text}"
    );
    assert!(
        text.contains("MOONPOOL_SEED_BASE=0xfeed MOONPOOL_SEEDS=400 repeats this run"),
        "{text}"
    );

    // Under the default base there is no base to print.
    let SimTestError::Failed(fixed) = run_seeds(&spec, fails_sometimes, &config()).unwrap_err()
    else {
        panic!("expected a failure")
    };
    assert_eq!(fixed.base, None);
    assert!(!fixed.to_string().contains("MOONPOOL_SEED_BASE"));
}

#[test]
fn strict_coverage_of_a_scope_without_sites_is_an_error_not_a_pass() {
    let spec = SimTestSpec {
        coverage: moonpool_sim::runner::CoverageMode::Strict,
        coverage_scope: &["no_such_crate::nowhere"],
        ..spec("runner::tests::strict_nothing", 3)
    };
    let nothing: TestBody = |_| Box::pin(async { Ok(()) });
    let err = run_seeds(&spec, nothing, &config()).unwrap_err();
    assert!(
        matches!(&err, SimTestError::NoSitesInScope { scope, .. } if scope == &["no_such_crate::nowhere"]),
        "{err}"
    );
    assert!(err.to_string().contains("check `coverage_of`"), "{err}");
}
