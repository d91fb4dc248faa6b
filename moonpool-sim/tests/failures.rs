//! Runs that cannot finish are reported with their seed, never hung: task
//! panics, deadlocks and livelocks.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{FailureKind, Livelock, SimConfig, Simulation};

#[test]
fn a_task_panic_fails_the_run_with_its_name_and_location() {
    let failure = Simulation::new(77)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let p = sim.providers();
            let bad = p.spawn_named("validator", async { panic!("balance went negative: -5") });
            p.sleep(Duration::from_secs(1)).await;
            let _ = bad.await;
        })
        .unwrap_err();
    assert_eq!(failure.seed, 77);
    let FailureKind::TaskPanicked {
        task,
        message,
        panic_location,
    } = &failure.kind
    else {
        panic!("expected a panic report, got {failure}");
    };
    assert_eq!(task.name, "validator");
    assert_eq!(task.process, "main");
    assert!(
        task.spawned_at.contains("tests/failures.rs"),
        "{}",
        task.spawned_at
    );
    assert_eq!(message, "balance went negative: -5");
    assert!(
        panic_location
            .as_deref()
            .unwrap_or("")
            .contains("tests/failures.rs")
    );
    // The panic happened before the one-second sleep could end.
    assert_eq!(failure.sim_time.since_epoch(), Duration::ZERO);
    let text = failure.to_string();
    assert!(text.contains("seed 0x4d"), "{text}");
    assert!(text.contains("task `validator` panicked at"), "{text}");
}

#[test]
fn a_panicking_body_is_reported_as_the_main_task() {
    let failure = Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|_sim| async { assert_eq!(1 + 1, 3, "arithmetic") })
        .unwrap_err();
    match failure.kind {
        FailureKind::TaskPanicked { task, message, .. } => {
            assert_eq!(task.name, "main");
            assert!(message.contains("arithmetic"), "{message}");
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn a_deadlock_lists_every_blocked_task() {
    let failure = Simulation::new(5)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            sim.providers().spawn_named("holder", async move {
                let _keep = tx;
                std::future::pending::<()>().await;
            });
            let _ = rx.await;
        })
        .unwrap_err();
    let FailureKind::Deadlock { blocked } = &failure.kind else {
        panic!("expected a deadlock, got {failure}");
    };
    let mut names: Vec<&str> = blocked.iter().map(|t| t.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["holder", "main"]);
    assert!(blocked.iter().all(|t| t.polls == 1));
    let text = failure.kind.to_string();
    assert!(text.contains("deadlock: all 2 tasks are blocked"), "{text}");
    assert!(
        text.contains("blocked: `holder` in process `main`, spawned at"),
        "{text}"
    );
}

#[test]
fn a_run_past_its_time_budget_is_a_livelock() {
    let config = SimConfig {
        max_sim_time: Duration::from_secs(60),
        ..SimConfig::default()
    };
    let failure = Simulation::new(8)
        .faults(FaultConfig::calm())
        .config(config)
        .run(|sim| async move {
            let p = sim.providers();
            p.clone().spawn_named("heartbeat", async move {
                loop {
                    p.sleep(Duration::from_secs(1)).await;
                }
            });
            std::future::pending::<()>().await;
        })
        .unwrap_err();
    match &failure.kind {
        FailureKind::Livelock {
            reason:
                Livelock::SimTimeBudget {
                    budget,
                    next_event_at,
                },
            live,
        } => {
            assert_eq!(*budget, Duration::from_secs(60));
            assert_eq!(next_event_at.since_epoch(), Duration::from_secs(61));
            assert_eq!(live.len(), 2);
        }
        other => panic!("expected a time-budget livelock, got {other}"),
    }
    assert_eq!(failure.sim_time.since_epoch(), Duration::from_secs(60));
}

#[test]
fn tasks_that_never_let_time_move_are_a_livelock() {
    let config = SimConfig {
        max_polls_per_instant: 10_000,
        ..SimConfig::default()
    };
    let failure = Simulation::new(4)
        .faults(FaultConfig::calm())
        .config(config)
        .run(|sim| async move {
            for _ in 0..2 {
                sim.spawn(async {
                    loop {
                        moonpool_sim::yield_now().await;
                    }
                });
            }
            sim.sleep(Duration::from_secs(1)).await;
        })
        .unwrap_err();
    assert_eq!(
        failure.kind.summary(),
        "livelock: 10000 task polls without simulated time advancing (tasks keep waking each other)"
    );
    assert_eq!(failure.sim_time.since_epoch(), Duration::ZERO);
}

#[test]
fn a_failing_seed_fails_identically_twice() {
    let run = || {
        Simulation::new(123)
            .faults(FaultConfig::calm())
            .run(|sim| async move {
                let p = sim.providers();
                for i in 0..50u64 {
                    let p = p.clone();
                    sim.spawn(async move {
                        p.sleep(Duration::from_millis(p.random_below(100))).await;
                        assert!(
                            i != 37 || p.random_below(2) == 0,
                            "task 37 lost the coin flip"
                        );
                    });
                }
                p.sleep(Duration::from_secs(1)).await;
            })
            .map(|r| r.trace_hash)
    };
    assert_eq!(run(), run());
}

#[test]
fn a_simulation_inside_a_simulation_is_refused() {
    let inner = Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|_sim| async {
            Simulation::new(2)
                .faults(FaultConfig::calm())
                .run(|_s| async {})
                .map(|_| ())
        })
        .unwrap()
        .output;
    assert_eq!(inner.unwrap_err().kind, FailureKind::NestedSimulation);
}
