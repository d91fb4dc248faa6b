//! `#[moonpool::sim_test]` end to end: the attribute's options, the return
//! types it accepts, and the environment variables that steer it (checked by
//! re-running this test binary as a child process).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::process::Command;
use std::time::Duration;

use moonpool::prelude::*;
use tokio::sync::mpsc;

/// Hundreds of tasks with timers and a channel, on 500 seeds.
#[moonpool::sim_test(seeds = 500)]
async fn hundreds_of_tasks_on_500_seeds(sim: SimContext) {
    let p = sim.providers();
    let (tx, mut rx) = mpsc::channel::<u64>(32);
    for i in 0..300u64 {
        let tx = tx.clone();
        let q = p.clone();
        p.spawn(async move {
            q.sleep(Duration::from_millis(q.random_below(1_000))).await;
            tx.send(i).await.expect("receiver alive");
        });
    }
    drop(tx);
    let mut sum = 0;
    while let Some(i) = rx.recv().await {
        sum += i;
    }
    assert_eq!(sum, 300 * 299 / 2);
    // Sleeps end before 1 s, plus at most 50 ms of timer drift (the
    // clock-drift fault family).
    assert!(sim.now().since_epoch() < Duration::from_millis(1_050));
}

/// The no-argument form; `the_options_were_applied` checks it ran 3 seeds.
#[moonpool::sim_test(seeds = 3)]
async fn takes_no_argument() {}

/// The latest a timer fires when the seed's fault plan has clock drift on
/// (`NetworkConfig::clock_drift_max`).
const TIMER_DRIFT: Duration = Duration::from_millis(50);

#[moonpool::sim_test(seeds = 4, max_sim_time = "2h", max_polls_per_instant = 5000)]
async fn returns_a_result(sim: SimContext) -> Result<(), String> {
    sim.sleep(Duration::from_secs(3_600)).await;
    let slept = sim.now().since_epoch();
    // Whatever the seed's faults: never early, late by the drift at most.
    if slept >= Duration::from_secs(3_600) && slept <= Duration::from_secs(3_600) + TIMER_DRIFT {
        Ok(())
    } else {
        Err(format!("clock says {}", sim.now()))
    }
}

mod nested {
    use moonpool::SimContext;

    /// Prints its seed so the parent test can see which seeds ran.
    #[moonpool::sim_test(seeds = 5)]
    async fn prints_its_seed(sim: SimContext) {
        println!("ran-seed={:#x}", sim.seed());
    }

    /// Fails on every seed whose first draw is odd; run only as a child.
    #[moonpool::sim_test(seeds = 50)]
    #[ignore = "fails on purpose; driven by failing_tests_print_a_replay_command"]
    async fn fails_on_odd_draws(sim: SimContext) {
        let p = sim.providers();
        sim.sleep(std::time::Duration::from_millis(p.random_below(10)))
            .await;
        assert!(p.random_u64().is_multiple_of(2), "drew an odd number");
    }

    /// A `sometimes!` no seed can satisfy, under strict coverage.
    #[moonpool::sim_test(seeds = 20, coverage = "strict")]
    #[ignore = "fails on purpose; driven by strict_coverage_fails_on_a_gap"]
    async fn has_an_impossible_branch(sim: SimContext) {
        let draw = sim.providers().random_below(10);
        moonpool::sometimes!(draw < 10, "draws are small");
        if draw >= 10 {
            moonpool::sometimes!(true, "a draw of ten or more");
        }
    }

    /// Waits on a heartbeat forever; the 90 s budget ends it.
    #[moonpool::sim_test(seeds = 1, max_sim_time = "90s")]
    #[ignore = "fails on purpose; driven by a_tight_time_budget_turns_a_hang_into_a_livelock_report"]
    async fn outlives_its_budget(sim: SimContext) {
        let p = sim.providers();
        let q = p.clone();
        p.spawn(async move {
            loop {
                q.sleep(std::time::Duration::from_secs(1)).await;
            }
        });
        std::future::pending::<()>().await;
    }
}

/// Runs one test of this binary in a child process with extra environment.
fn child(test: &str, ignored: bool, env: &[(&str, &str)]) -> (bool, String) {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    if ignored {
        cmd.arg("--ignored");
    }
    for var in [
        "MOONPOOL_SEED",
        "MOONPOOL_SEEDS",
        "MOONPOOL_SEED_BASE",
        "MOONPOOL_THREADS",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("child test runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn moonpool_seed_replays_exactly_one_seed() {
    let (ok, out) = child(
        "nested::prints_its_seed",
        false,
        &[("MOONPOOL_SEED", "0x2a")],
    );
    assert!(ok, "{out}");
    assert_eq!(out.matches("ran-seed=").count(), 1, "{out}");
    assert!(out.contains("ran-seed=0x2a"), "{out}");
    assert!(out.contains("1 seed passed"), "{out}");
}

#[test]
fn moonpool_seeds_changes_the_count() {
    let (ok, out) = child(
        "nested::prints_its_seed",
        false,
        &[("MOONPOOL_SEEDS", "12")],
    );
    assert!(ok, "{out}");
    assert_eq!(out.matches("ran-seed=").count(), 12, "{out}");
}

#[test]
fn a_random_base_explores_new_seeds_and_prints_the_base() {
    let (ok, out) = child(
        "nested::prints_its_seed",
        false,
        &[("MOONPOOL_SEED_BASE", "random")],
    );
    assert!(ok, "{out}");
    let base = out
        .split("MOONPOOL_SEED_BASE=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the base is printed")
        .to_string();
    // Repeating with the printed base runs the same seeds.
    let (ok, again) = child(
        "nested::prints_its_seed",
        false,
        &[("MOONPOOL_SEED_BASE", &base)],
    );
    assert!(ok, "{again}");
    let seeds = |text: &str| {
        // libtest prints `test name ... ` without a newline before the
        // test's own output, so look for the marker anywhere.
        let mut s: Vec<String> = text
            .split("ran-seed=")
            .skip(1)
            .filter_map(|rest| rest.split_whitespace().next())
            .map(str::to_string)
            .collect();
        s.sort();
        s
    };
    assert_eq!(seeds(&out).len(), 5);
    assert_eq!(seeds(&out), seeds(&again));
}

#[test]
fn malformed_environment_values_are_named_in_the_error() {
    for (var, value) in [
        ("MOONPOOL_SEED", "banana"),
        ("MOONPOOL_SEEDS", "0"),
        ("MOONPOOL_SEED_BASE", "-3"),
        ("MOONPOOL_THREADS", "many"),
    ] {
        let (ok, out) = child("nested::prints_its_seed", false, &[(var, value)]);
        assert!(!ok, "{var}={value} was accepted:\n{out}");
        assert!(
            out.contains(&format!("{var}=\"{value}\" is not valid")),
            "{out}"
        );
        assert!(
            !out.contains("ran-seed="),
            "a seed ran despite the bad value:\n{out}"
        );
    }
}

#[test]
fn failing_tests_print_a_replay_command_that_replays() {
    let (ok, out) = child("nested::fails_on_odd_draws", true, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("moonpool: `sim_test_macro::nested::fails_on_odd_draws` failed on seed 0x"),
        "{out}"
    );
    assert!(out.contains("task `main` panicked at"), "{out}");
    assert!(out.contains("drew an odd number"), "{out}");
    assert!(out.contains("replay: reproduced, same trace hash"), "{out}");
    let command = out
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("MOONPOOL_SEED="))
        .expect("a replay command")
        .to_string();
    let profile = if cfg!(debug_assertions) {
        ""
    } else {
        " --release"
    };
    assert!(
        command.ends_with(&format!(
            "cargo test -p moonpool{profile} --test sim_test_macro -- --exact nested::fails_on_odd_draws"
        )),
        "{command}"
    );
    let seed = command
        .trim_start_matches("MOONPOOL_SEED=")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (ok, replay) = child(
        "nested::fails_on_odd_draws",
        true,
        &[("MOONPOOL_SEED", &seed)],
    );
    assert!(!ok, "{replay}");
    assert!(
        replay.contains(&format!("failed on seed {seed} (from MOONPOOL_SEED)")),
        "{replay}"
    );
}

#[test]
fn the_options_were_applied() {
    let (ok, out) = child("takes_no_argument", false, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("3 seeds passed"), "{out}");
    let (ok, out) = child("returns_a_result", false, &[]);
    assert!(ok, "{out}");
    assert!(out.contains("4 seeds passed"), "{out}");
    // Past the default budget (1 h would have failed), within `max_sim_time`.
    let longest: f64 = out
        .split("longest run ")
        .nth(1)
        .and_then(|rest| rest.split("s simulated").next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no longest run in {out}"));
    assert!(
        (3_600.0..=3_600.0 + TIMER_DRIFT.as_secs_f64()).contains(&longest),
        "{out}"
    );
}

#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn calm_seeds_have_no_faults(sim: SimContext) {
    assert_eq!(sim.faults(), moonpool::sim::chaos::FaultConfig::calm());
    assert!(!moonpool::buggify!(1.0));
}

#[moonpool::sim_test(seeds = 10, faults = ["clogging", "clock_drift", "buggify"])]
async fn listed_fault_families_are_on_for_every_seed_and_the_rest_off(sim: SimContext) {
    use moonpool::sim::chaos::FaultConfig;
    assert_eq!(
        sim.faults(),
        FaultConfig {
            clogging: true,
            clock_drift: true,
            buggify: true,
            buggify_sites_percent: 100,
            ..FaultConfig::calm()
        }
    );
}

#[moonpool::sim_test(seeds = 10, faults = "brutal", coverage_of = ["sim_test_macro::nested"])]
async fn brutal_seeds_fire_every_site(sim: SimContext) {
    assert!(sim.faults().buggify);
    assert!(moonpool::buggify!(1.0));
}

#[test]
fn strict_coverage_fails_on_a_gap_and_prints_the_table() {
    let (ok, out) = child("nested::has_an_impossible_branch", true, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("every seed passed but 1 coverage gap(s) remain"),
        "{out}"
    );
    assert!(out.contains("a draw of ten or more"), "{out}");
    assert!(out.contains("GAP: never reached"), "{out}");
    // The default scope is the test's crate, so the table lists every site
    // in this file; the satisfied one is listed without a gap note.
    assert!(out.contains("draws are small"), "{out}");
}

#[test]
fn a_tight_time_budget_turns_a_hang_into_a_livelock_report() {
    let (ok, out) = child("nested::outlives_its_budget", true, &[]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("livelock: the run did not finish within the simulated-time budget of 90s"),
        "{out}"
    );
}
