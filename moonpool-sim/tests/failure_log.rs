//! The story of a failing seed: its replay's events, stamped with
//! simulated time, process and task, printed in the report, the same line
//! for line on every replay, and written whole to a file when asked.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use tracing::Instrument as _;

use moonpool_sim::log::{LogConfig, capture};
use moonpool_sim::runner::{BodyFuture, RunnerConfig, SimTestError, SimTestSpec, run_seeds};
use moonpool_sim::{Providers, SimContext, Simulation};

/// Two processes log while they work; the test fails after a while.
fn chatty_then_failing(sim: SimContext) -> BodyFuture {
    Box::pin(async move {
        story(sim).await;
        Err("the books do not balance".to_string())
    })
}

async fn story(sim: SimContext) {
    for name in ["node-1", "node-2"] {
        sim.start_process(name, move |p: Providers| {
            async move {
                for round in 0..3u32 {
                    p.sleep(Duration::from_millis(100 + p.random_below(300)))
                        .await;
                    tracing::info!(round, "working");
                    tracing::debug!(round, "details nobody asked for");
                }
            }
            .instrument(tracing::info_span!("node", name))
        });
    }
    sim.sleep(Duration::from_secs(2)).await;
    tracing::warn!("about to fail");
}

fn spec(path: &'static str) -> SimTestSpec {
    SimTestSpec {
        seeds: 3,
        ..SimTestSpec::new(path, "moonpool-sim", "failure_log")
    }
}

fn env(vars: &'static [(&'static str, &'static str)]) -> RunnerConfig {
    RunnerConfig::from_lookup(|var| {
        vars.iter()
            .find(|(k, _)| *k == var)
            .map(|(_, v)| (*v).to_string())
    })
    .unwrap()
}

fn failure(spec: &SimTestSpec, config: &RunnerConfig) -> moonpool_sim::runner::FailureReport {
    match run_seeds(spec, chatty_then_failing, config) {
        Err(SimTestError::Failed(report)) => *report,
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn a_failing_seed_s_report_tells_its_last_events_in_simulated_time() {
    let report = failure(&spec("failure_log::report"), &env(&[]));
    let log = report.log.as_ref().expect("the replay kept its events");
    assert_eq!(log.seed, report.failure.seed);
    // 2 processes × 3 rounds at info, and the main task's warning; debug
    // is filtered out by default.
    assert_eq!(log.total, 7, "{:#?}", log.last);
    assert!(log.last.iter().all(|l| !l.contains("details")));
    let working: Vec<&String> = log.last.iter().filter(|l| l.contains("working")).collect();
    assert_eq!(working.len(), 6);
    for line in &working {
        // `    0.123000s node-1 [node-1]  INFO failure_log: working round=0 in node{name="node-1"}`
        let (time, rest) = line.trim_start().split_once("s ").unwrap();
        let secs: f64 = time.parse().unwrap();
        assert!(secs > 0.0 && secs < 2.0, "{line}");
        assert!(
            rest.starts_with("node-1 ") || rest.starts_with("node-2 "),
            "{line}"
        );
        assert!(line.contains(" INFO failure_log: working round="), "{line}");
        let process = &rest[..6];
        assert!(
            line.ends_with(&format!("in node{{name={process}}}")),
            "{line}"
        );
    }
    assert!(
        log.last
            .last()
            .unwrap()
            .contains("main [main]  WARN failure_log: about to fail"),
        "{:?}",
        log.last.last()
    );
    // Stamps never go backwards.
    let stamps: Vec<f64> = log
        .last
        .iter()
        .map(|l| l.trim_start().split_once('s').unwrap().0.parse().unwrap())
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");

    let text = report.to_string();
    assert!(
        text.contains("events of the replay at `info`, all 7"),
        "{text}"
    );
    assert!(text.contains("about to fail"), "{text}");
    assert!(
        text.trim_end().ends_with(&report.replay_command),
        "the command to paste stays last:\n{text}"
    );
}

#[test]
fn replaying_a_seed_gives_the_same_log_line_for_line() {
    // The simulator's own debug lines (the processes' clocks, drawn when
    // the seed skews them) are left out: the story's lines are counted.
    let config = LogConfig {
        filter: "debug,moonpool_sim=info".to_string(),
        ..LogConfig::default()
    };
    let run = |seed| {
        capture(seed, &config, || {
            Simulation::new(seed).run(|sim| async move { story(sim).await })
        })
        .unwrap()
    };
    for seed in [1, 2, 0xdead_beef] {
        let (first_run, first) = run(seed);
        let (second_run, second) = run(seed);
        assert_eq!(first.total, 13, "{:#?}", first.last);
        assert_eq!(first.last, second.last, "seed {seed:#x}");
        let (first_run, second_run) = (first_run.unwrap(), second_run.unwrap());
        assert_eq!(first_run.trace_hash, second_run.trace_hash);
        // Keeping the log changes nothing in the run.
        let quiet = Simulation::new(seed)
            .run(|sim| async move { story(sim).await })
            .unwrap();
        assert_eq!(quiet.trace_hash, first_run.trace_hash);
    }
    let (_, one) = run(1);
    let (_, two) = run(2);
    assert_ne!(one.last, two.last, "another seed, another story");
}

#[test]
fn the_report_keeps_as_many_lines_as_asked_and_the_file_keeps_them_all() {
    let dir = std::env::temp_dir().join(format!("moonpool-failure-log-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("seed.log");
    let _ = std::fs::remove_file(&path);
    let path_text: &'static str = Box::leak(path.display().to_string().into_boxed_str());
    let vars: &'static [(&'static str, &'static str)] = Box::leak(Box::new([
        ("MOONPOOL_LOG", "debug,moonpool_sim=info"),
        ("MOONPOOL_LOG_LINES", "2"),
        ("MOONPOOL_LOG_FILE", path_text),
    ]));
    let report = failure(&spec("failure_log::file"), &env(vars));
    let log = report.log.as_ref().unwrap();
    assert_eq!(log.total, 13);
    assert_eq!(log.last.len(), 2);
    assert!(report.to_string().contains("the last 2 of 13"));
    assert_eq!(log.file, Some(Ok(path.clone())));
    let written = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = written.lines().collect();
    assert!(lines[0].starts_with(&format!(
        "# moonpool: events of seed {:#x}",
        report.failure.seed
    )));
    assert_eq!(lines.len(), 14, "a header and every event");
    assert_eq!(&lines[12..], &[log.last[0].as_str(), log.last[1].as_str()]);

    // An unwritable file is said, not fatal.
    let vars: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(
        "MOONPOOL_LOG_FILE",
        "/nonexistent-dir/seed.log",
    )]));
    let report = failure(&spec("failure_log::nofile"), &env(vars));
    let log = report.log.as_ref().unwrap();
    assert_eq!(log.total, 7);
    assert!(matches!(&log.file, Some(Err(e)) if e.contains("/nonexistent-dir/seed.log")));
    assert!(
        report
            .to_string()
            .contains("could not be written to a file")
    );

    // Off: nothing kept, nothing printed.
    let report = failure(&spec("failure_log::off"), &env(&[("MOONPOOL_LOG", "off")]));
    assert!(report.log.is_none());
    assert!(!report.to_string().contains("events"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_bad_log_setting_is_refused_in_words() {
    let err = RunnerConfig::from_lookup(|var| (var == "MOONPOOL_LOG").then(|| "info,[".into()))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("MOONPOOL_LOG=\"info,[\" is not valid: expected a tracing filter"),
        "{err}"
    );
    let bad_spec = SimTestSpec {
        log: Some("debug,[oops"),
        ..spec("failure_log::bad")
    };
    match run_seeds(&bad_spec, chatty_then_failing, &env(&[])) {
        Err(SimTestError::Config(e)) => {
            assert!(
                e.to_string().contains("log (the #[sim_test] option)"),
                "{e}"
            );
        }
        other => panic!("expected a configuration error, got {other:?}"),
    }
}
