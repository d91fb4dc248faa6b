//! What the runner tells the user: the summary of a green test and the report
//! of a failed one, with the command that replays it.

use std::fmt;
use std::time::Duration;

use crate::chaos::CoverageReport;
use crate::providers::time::Instant;
use crate::sim::SimFailure;

use super::config::{
    ENV_FAULTS, ENV_LOG, ENV_LOG_FILE, ENV_LOG_LINES, ENV_SEED, ENV_SEED_BASE, ENV_SEEDS,
};
use super::spec::SimTestSpec;
use crate::log::CapturedLog;

/// A passing test's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummary {
    /// The test's path.
    pub test: String,
    /// Seeds run.
    pub seeds: u64,
    /// Task polls over all seeds.
    pub steps: u64,
    /// The longest simulated time any seed reached.
    pub max_sim_time: Instant,
    /// Wall-clock time of the whole test.
    pub wall: Duration,
    /// The seed base, when not the default.
    pub base: Option<u64>,
    /// The coverage table of the sites the test answers for.
    pub coverage: CoverageReport,
}

impl fmt::Display for RunSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "moonpool: `{}`: {} seed{} passed in {:.2?} (wall), {} steps, longest run {} simulated",
            self.test,
            self.seeds,
            if self.seeds == 1 { "" } else { "s" },
            self.wall,
            self.steps,
            self.max_sim_time,
        )?;
        if let Some(base) = self.base {
            write!(
                f,
                "\n  seed base {base:#x}: MOONPOOL_SEED_BASE={base:#x} repeats these seeds"
            )?;
        }
        if !self.coverage.sites.is_empty() {
            write!(f, "\n{}", self.coverage)?;
        }
        Ok(())
    }
}

/// Whether re-running the failing seed failed the same way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replay {
    /// Same failure, same trace hash: the seed is a faithful reproduction.
    Reproduced,
    /// The re-run failed the same way but processed different events:
    /// something outside the seed (wall clock, threads, `HashMap` order)
    /// leaks into the run.
    DifferentTrace {
        /// The re-run's trace hash.
        trace_hash: u64,
    },
    /// The re-run failed differently.
    DifferentFailure {
        /// The re-run's failure.
        failure: Box<SimFailure>,
    },
    /// The re-run passed.
    Passed {
        /// The re-run's trace hash.
        trace_hash: u64,
    },
}

/// A failed test: its first failing seed and how to replay it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureReport {
    /// The test's path.
    pub test: String,
    /// The failure (of the lowest-index failing seed).
    pub failure: SimFailure,
    /// Which run of the test it was (`None` when `MOONPOOL_SEED` chose it).
    pub index: Option<u64>,
    /// How many seeds were to run.
    pub seeds: u64,
    /// How many seeds failed before the runner stopped.
    pub failed: u64,
    /// How many seeds had passed when the runner stopped.
    pub passed: u64,
    /// The seed base, when not the default (`MOONPOOL_SEED_BASE`): with
    /// it, the whole run can be repeated.
    pub base: Option<u64>,
    /// The result of re-running the failing seed.
    pub replay: Replay,
    /// A shell command that runs exactly this seed.
    pub replay_command: String,
    /// The events the replay logged (`None` with `MOONPOOL_LOG=off`).
    pub log: Option<CapturedLog>,
}

impl fmt::Display for FailureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fl = &self.failure;
        write!(f, "moonpool: `{}` failed on seed {:#x}", self.test, fl.seed)?;
        match self.index {
            Some(i) => write!(
                f,
                " (run {} of {}; {} seed{} passed before the runner stopped)",
                i + 1,
                self.seeds,
                self.passed,
                if self.passed == 1 { "" } else { "s" }
            )?,
            None => write!(f, " (from {ENV_SEED})")?,
        }
        if self.failed > 1 {
            write!(f, "; {} seeds failed in all", self.failed)?;
        }
        if let (Some(base), Some(_)) = (self.base, self.index) {
            write!(
                f,
                "\n  seed base {base:#x}: {ENV_SEED_BASE}={base:#x} {ENV_SEEDS}={} repeats this run",
                self.seeds
            )?;
        }
        write!(f, "\n  failure: {}", fl.kind)?;
        write!(f, "\n  faults: {}", fl.faults)?;
        if !fl.clocks.is_empty() {
            let clocks: Vec<String> = fl.clocks.iter().map(ToString::to_string).collect();
            write!(f, "\n  clocks (off true time): {}", clocks.join("; "))?;
        }
        write!(
            f,
            "\n  at simulated time {} after {} steps, trace hash {:#018x}",
            fl.sim_time, fl.steps, fl.trace_hash
        )?;
        match &self.replay {
            Replay::Reproduced => write!(f, "\n  replay: reproduced, same trace hash")?,
            Replay::DifferentTrace { trace_hash } => write!(
                f,
                "\n  replay: NOT deterministic: failed the same way but the trace hash was {trace_hash:#018x}; \
                 something outside the seed (wall clock, threads, HashMap order, tokio::select! without biased) \
                 leaks into the run"
            )?,
            Replay::DifferentFailure { failure } => write!(
                f,
                "\n  replay: NOT deterministic: the re-run failed differently: {}",
                failure.kind.summary()
            )?,
            Replay::Passed { trace_hash } => write!(
                f,
                "\n  replay: NOT deterministic: the re-run passed (trace hash {trace_hash:#018x})"
            )?,
        }
        if let Some(log) = &self.log {
            write_log(f, log)?;
        }
        write!(f, "\n  replay this seed:\n    {}", self.replay_command)
    }
}

/// The replay's last events, and where the rest are.
fn write_log(f: &mut fmt::Formatter<'_>, log: &CapturedLog) -> fmt::Result {
    if log.total == 0 {
        write!(
            f,
            "\n  events: none at `{}` ({ENV_LOG}=debug shows more)",
            log.filter
        )?;
    } else if !log.last.is_empty() {
        let shown = log.last.len() as u64;
        let which = if shown == log.total {
            format!("all {shown}")
        } else {
            format!("the last {shown} of {}", log.total)
        };
        write!(
            f,
            "\n  events of the replay at `{}`, {which} ({ENV_LOG}=<filter>, {ENV_LOG_LINES}=<n>, {ENV_LOG_FILE}=<path> keeps them all):",
            log.filter
        )?;
        for line in &log.last {
            write!(f, "\n    {line}")?;
        }
    }
    match &log.file {
        Some(Ok(path)) => write!(
            f,
            "\n  all {} events written to {}",
            log.total,
            path.display()
        ),
        Some(Err(e)) => write!(f, "\n  the events could not be written to a file: {e}"),
        None => Ok(()),
    }
}

/// The command that runs exactly `seed` of the test `spec` (under the
/// fault plan `faults` named, when `MOONPOOL_FAULTS` chose one).
pub(crate) fn replay_command(spec: &SimTestSpec, seed: u64, faults: Option<&str>) -> String {
    let mut cmd = String::new();
    if let Some(name) = faults {
        cmd.push_str(&format!("{ENV_FAULTS}={name} "));
    }
    cmd.push_str(&format!(
        "{ENV_SEED}={seed:#x} cargo test -p {}",
        spec.package
    ));
    if spec.release {
        cmd.push_str(" --release");
    }
    if spec.integration_test {
        cmd.push_str(&format!(" --test {}", spec.crate_name));
    } else if spec.crate_name == spec.package.replace('-', "_") {
        cmd.push_str(" --lib");
    }
    cmd.push_str(&format!(" -- --exact {}", spec.test_name()));
    cmd
}
