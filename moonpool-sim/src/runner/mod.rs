//! The multi-seed runner behind `#[moonpool::sim_test]`: runs a test body
//! over many seeds in parallel, re-runs the first failure to check that it
//! reproduces, and reports it with a command that replays exactly that seed.
//!
//! The runner is a test harness: its summary and failure report are its user
//! interface, printed to the test's output (and so captured by `cargo test`
//! unless the test fails or `--nocapture` is given).

mod config;
mod report;
mod seeds;

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

pub use config::{
    ConfigError, ENV_SEED, ENV_SEED_BASE, ENV_SEEDS, ENV_THREADS, RunnerConfig, SeedBase, SeedPlan,
};
pub use report::{FailureReport, Replay, RunSummary};
pub use seeds::derive_seed;

use crate::chaos::{CoverageReport, CoverageTally, FaultPlan, SiteCount};
use crate::sim::{FailureKind, SimConfig, SimContext, SimFailure, Simulation};
use crate::time::Instant;

/// The future of one seed's test body.
pub type BodyFuture = Pin<Box<dyn Future<Output = Result<(), String>>>>;

/// A test body: builds the future for one seed. A plain function pointer, so
/// every worker thread can call it.
pub type TestBody = fn(SimContext) -> BodyFuture;

/// What `#[sim_test]` knows about the test at compile time.
#[derive(Debug, Clone)]
pub struct SimTestSpec {
    /// `module_path!()` of the test plus `::` and its name.
    pub path: &'static str,
    /// The package (`CARGO_PKG_NAME`), for the replay command.
    pub package: &'static str,
    /// The crate (`CARGO_CRATE_NAME`), for the replay command.
    pub crate_name: &'static str,
    /// Whether the test is in an integration-test target (`tests/*.rs`).
    pub integration_test: bool,
    /// Whether the test was built without debug assertions (`--release`).
    pub release: bool,
    /// Seeds to run unless `MOONPOOL_SEEDS` says otherwise.
    pub seeds: u64,
    /// Simulated-time budget per seed (default: [`SimConfig::default`]).
    pub max_sim_time: Option<Duration>,
    /// Polls without time advancing before a livelock is reported.
    pub max_polls_per_instant: Option<u64>,
    /// The fault plan (default: the swarm draw per seed).
    pub faults: Option<FaultPlan>,
    /// Check invariants every this many polls (default: every poll).
    pub invariant_every: Option<u64>,
    /// Whether coverage gaps fail the test.
    pub coverage: CoverageMode,
    /// Module paths whose chaos sites the test answers for; empty means the
    /// test's crate and its package's library.
    pub coverage_scope: &'static [&'static str],
}

/// What the runner does with coverage gaps (`sometimes!` never true,
/// `reachable!`/`always!` never reached).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CoverageMode {
    /// Print them in the table. The default.
    #[default]
    Report,
    /// Fail the test (unless a single seed was chosen with `MOONPOOL_SEED`).
    Strict,
}

impl SimTestSpec {
    /// A spec with the defaults `#[sim_test]` uses: 100 seeds, the default
    /// budgets, the swarm fault plan, coverage reported (not strict) for the
    /// default scope, an integration test built with debug assertions.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_sim::runner::SimTestSpec;
    ///
    /// let spec = SimTestSpec { seeds: 500, ..SimTestSpec::new("bank::transfers", "bank", "bank") };
    /// assert_eq!(spec.test_name(), "transfers");
    /// ```
    pub const fn new(path: &'static str, package: &'static str, crate_name: &'static str) -> Self {
        Self {
            path,
            package,
            crate_name,
            integration_test: true,
            release: false,
            seeds: 100,
            max_sim_time: None,
            max_polls_per_instant: None,
            faults: None,
            invariant_every: None,
            coverage: CoverageMode::Report,
            coverage_scope: &[],
        }
    }

    /// The test's name as `cargo test` filters it (the path without the
    /// crate name).
    pub fn test_name(&self) -> &str {
        self.path
            .split_once("::")
            .map_or(self.path, |(_, rest)| rest)
    }

    fn sim_config(&self) -> SimConfig {
        let default = SimConfig::default();
        SimConfig {
            max_sim_time: self.max_sim_time.unwrap_or(default.max_sim_time),
            max_polls_per_instant: self
                .max_polls_per_instant
                .unwrap_or(default.max_polls_per_instant),
            faults: self.faults.unwrap_or(default.faults),
            invariant_every: self.invariant_every.unwrap_or(default.invariant_every),
            ..default
        }
    }

    /// The module paths whose chaos sites this test answers for: the
    /// configured ones, or by default the test's crate and its package's
    /// library.
    pub fn coverage_scope(&self) -> Vec<&'static str> {
        if !self.coverage_scope.is_empty() {
            return self.coverage_scope.to_vec();
        }
        let lib = self.package.replace('-', "_");
        let mut scope = vec![self.crate_name];
        if lib != self.crate_name {
            // A &'static str for the library crate: found among the sites'
            // own module paths (they are 'static), if it has any.
            if let Some(site) = crate::chaos::sites().iter().find(|s| s.crate_name() == lib) {
                scope.push(site.crate_name());
            }
        }
        scope
    }
}

/// What a `#[sim_test]` function may return: `()` or `Result<(), E>`.
#[diagnostic::on_unimplemented(
    message = "a #[sim_test] function must return `()` or `Result<(), E>` with `E: Debug`, not `{Self}`",
    label = "a #[sim_test] body must return `()` or `Result<(), E>`"
)]
pub trait IntoTestResult {
    /// `Err` with the error's text fails the seed.
    fn into_test_result(self) -> Result<(), String>;
}

impl IntoTestResult for () {
    fn into_test_result(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: std::fmt::Debug> IntoTestResult for Result<(), E> {
    fn into_test_result(self) -> Result<(), String> {
        self.map_err(|e| format!("{e:?}"))
    }
}

/// Why a sim test did not pass.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimTestError {
    /// The environment was malformed; no seed ran.
    #[error("moonpool: {0}")]
    Config(#[from] ConfigError),
    /// A seed failed.
    #[error("{0}")]
    Failed(Box<FailureReport>),
    /// The test asks for strict coverage, but no chaos site lives in its
    /// coverage scope (a module path that names nothing, say): strict
    /// coverage of nothing would prove nothing.
    #[error(
        "moonpool: `{test}` has coverage = \"strict\" but no chaos site lives in its coverage scope ({}); check `coverage_of` against the module paths of its sites",
        scope.join(", ")
    )]
    NoSitesInScope {
        /// The test's path.
        test: String,
        /// The module paths searched.
        scope: Vec<String>,
    },
    /// Every seed passed, but under strict coverage some sites were never
    /// reached or never held.
    #[error(
        "moonpool: `{test}`: every seed passed but {} coverage gap(s) remain under coverage = \"strict\"\n{report}",
        report.gaps().len()
    )]
    CoverageGaps {
        /// The test's path.
        test: String,
        /// The coverage table.
        report: Box<CoverageReport>,
    },
}

/// Runs the test, panicking with the report when it fails: the entry point
/// generated by `#[sim_test]`.
#[track_caller]
pub fn run_sim_test(spec: &SimTestSpec, body: TestBody) {
    let location = Location::caller();
    let outcome = RunnerConfig::from_env()
        .map_err(SimTestError::from)
        .and_then(|config| run_seeds_from(location, spec, body, &config));
    match outcome {
        // The runner is the harness: this summary is its output.
        Ok(summary) => println!("{summary}"),
        Err(err) => panic!("{err}"),
    }
}

/// Runs the test's seeds under `config` and returns the summary or the
/// report of the first failing seed (re-run once to check it reproduces).
///
/// # Errors
///
/// [`SimTestError::Failed`] when any seed fails.
#[track_caller]
pub fn run_seeds(
    spec: &SimTestSpec,
    body: TestBody,
    config: &RunnerConfig,
) -> Result<RunSummary, SimTestError> {
    run_seeds_from(Location::caller(), spec, body, config)
}

fn run_seeds_from(
    location: &'static Location<'static>,
    spec: &SimTestSpec,
    body: TestBody,
    config: &RunnerConfig,
) -> Result<RunSummary, SimTestError> {
    #[allow(clippy::disallowed_methods)] // wall time of the harness, not of the run
    let started = std::time::Instant::now();
    let sim_config = spec.sim_config();
    let SeedPlan { base, seeds: plan } = config.seed_plan(spec.path, spec.seeds);
    let threads = config
        .threads
        .map(std::num::NonZeroUsize::get)
        .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .clamp(1, plan.len());

    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let steps = AtomicU64::new(0);
    let passed = AtomicU64::new(0);
    let max_time = AtomicU64::new(0);
    let failures: Mutex<Vec<(usize, SimFailure)>> = Mutex::new(Vec::new());
    let coverage: Mutex<CoverageTally> = Mutex::new(CoverageTally::default());
    let worker = || {
        let mut tally = CoverageTally::default();
        while !stop.load(Ordering::Relaxed) {
            let i = next.fetch_add(1, Ordering::Relaxed) as usize;
            let Some(&(_, seed)) = plan.get(i) else { break };
            match run_one(location, seed, &sim_config, body) {
                Ok(run) => {
                    steps.fetch_add(run.steps, Ordering::Relaxed);
                    max_time.fetch_max(run.sim_time.as_nanos(), Ordering::Relaxed);
                    passed.fetch_add(1, Ordering::Relaxed);
                    tally.add_seed(&run.coverage);
                }
                Err(failure) => {
                    failures
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((i, failure));
                    stop.store(true, Ordering::Relaxed);
                }
            }
        }
        coverage
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .merge(&tally);
    };
    if threads == 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(worker);
            }
        });
    }

    let mut failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    failures.sort_by_key(|(i, _)| *i);
    let failed = failures.len() as u64;
    if let Some((i, failure)) = failures.into_iter().next() {
        let replay = match run_one(location, failure.seed, &sim_config, body) {
            Ok(passed) => Replay::Passed {
                trace_hash: passed.trace_hash,
            },
            Err(second) if second.kind != failure.kind => Replay::DifferentFailure {
                failure: Box::new(second),
            },
            Err(second) if second.trace_hash != failure.trace_hash => Replay::DifferentTrace {
                trace_hash: second.trace_hash,
            },
            Err(_) => Replay::Reproduced,
        };
        let replay_command = report::replay_command(spec, failure.seed);
        return Err(SimTestError::Failed(Box::new(FailureReport {
            test: spec.path.to_string(),
            index: plan[i].0,
            seeds: plan.len() as u64,
            failed,
            passed: passed.into_inner(),
            base,
            replay,
            replay_command,
            failure,
        })));
    }
    let tally = coverage.into_inner().unwrap_or_else(|e| e.into_inner());
    let coverage = tally.report(&spec.coverage_scope());
    if spec.coverage == CoverageMode::Strict && coverage.sites.is_empty() {
        // Strict coverage of nothing proves nothing: a misspelt scope.
        return Err(SimTestError::NoSitesInScope {
            test: spec.path.to_string(),
            scope: spec
                .coverage_scope()
                .iter()
                .map(|s| (*s).to_string())
                .collect(),
        });
    }
    if spec.coverage == CoverageMode::Strict && config.seed.is_none() && !coverage.gaps().is_empty()
    {
        return Err(SimTestError::CoverageGaps {
            test: spec.path.to_string(),
            report: Box::new(coverage),
        });
    }
    #[allow(clippy::disallowed_methods)]
    let wall = started.elapsed();
    Ok(RunSummary {
        coverage,
        test: spec.path.to_string(),
        seeds: plan.len() as u64,
        steps: steps.into_inner(),
        max_sim_time: Instant::from_nanos(max_time.into_inner()),
        wall,
        base: base.filter(|_| config.seed.is_none()),
    })
}

/// A passing seed's figures.
struct Passed {
    steps: u64,
    sim_time: Instant,
    trace_hash: u64,
    coverage: Vec<SiteCount>,
}

/// Runs one seed: its figures, or its failure.
fn run_one(
    location: &'static Location<'static>,
    seed: u64,
    config: &SimConfig,
    body: TestBody,
) -> Result<Passed, SimFailure> {
    let report = Simulation::new(seed)
        .config(config.clone())
        .run_from(location, body)?;
    match report.output {
        Ok(()) => Ok(Passed {
            steps: report.steps,
            sim_time: report.sim_time,
            trace_hash: report.trace_hash,
            coverage: report.coverage,
        }),
        Err(message) => Err(SimFailure {
            seed,
            faults: report.faults,
            kind: FailureKind::TestFailed { message },
            sim_time: report.sim_time,
            trace_hash: report.trace_hash,
            steps: report.steps,
        }),
    }
}
