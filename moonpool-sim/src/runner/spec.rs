//! What one simulation test is: its identity, its seeds and budgets, its
//! fault plan, and what it answers for.

use std::time::Duration;

use crate::chaos::FaultPlan;
use crate::sim::SimConfig;

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
    /// Which events a failing seed's replay keeps (a `tracing` filter;
    /// `MOONPOOL_LOG` overrides it; default `info`).
    pub log: Option<&'static str>,
    /// How many of the replay's last events the report prints
    /// (`MOONPOOL_LOG_LINES` overrides it).
    pub log_lines: Option<usize>,
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
            log: None,
            log_lines: None,
        }
    }

    /// The test's name as `cargo test` filters it (the path without the
    /// crate name).
    pub fn test_name(&self) -> &str {
        self.path
            .split_once("::")
            .map_or(self.path, |(_, rest)| rest)
    }

    pub(super) fn sim_config(&self) -> SimConfig {
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
