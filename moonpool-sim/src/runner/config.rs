//! The runner's settings from the environment: which seeds, how many, on how
//! many threads.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::chaos::{FaultConfig, FaultPlan};
use crate::log::LogConfig;

/// Runs exactly this seed (decimal, or hex with `0x`).
pub const ENV_SEED: &str = "MOONPOOL_SEED";
/// Overrides the number of seeds a test runs.
pub const ENV_SEEDS: &str = "MOONPOOL_SEEDS";
/// Derives seeds from this base instead of the default (`random` draws a
/// fresh base from the OS and prints it): the way to explore new seeds.
pub const ENV_SEED_BASE: &str = "MOONPOOL_SEED_BASE";
/// How many threads run seeds in parallel (default: the number of cores).
pub const ENV_THREADS: &str = "MOONPOOL_THREADS";
/// Which events a failing seed's replay keeps: a `tracing` filter
/// (default `info`; `off` keeps none).
pub const ENV_LOG: &str = "MOONPOOL_LOG";
/// How many of the replay's last events the failure report prints
/// (default [`DEFAULT_LOG_LINES`](crate::log::DEFAULT_LOG_LINES)).
pub const ENV_LOG_LINES: &str = "MOONPOOL_LOG_LINES";
/// A file to write every event of a failing seed's replay to.
pub const ENV_LOG_FILE: &str = "MOONPOOL_LOG_FILE";
/// Overrides the test's fault plan: `calm` (no faults), `swarm` (a draw
/// per seed, the default plan) or `brutal` (every family on).
pub const ENV_FAULTS: &str = "MOONPOOL_FAULTS";

/// A malformed runner setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A variable's value could not be parsed.
    #[error("{var}={value:?} is not valid: expected {expected}")]
    Invalid {
        /// The variable's name.
        var: &'static str,
        /// The value found.
        value: String,
        /// What would have been accepted.
        expected: &'static str,
    },
}

/// Where the seeds come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedBase {
    /// The default: seeds depend only on the test's path and index, so every
    /// CI run checks the same seeds.
    Fixed,
    /// An explicit base, to explore or to repeat an exploration.
    Explicit(u64),
    /// A fresh base from the OS; the report prints it so the run can be
    /// repeated with `MOONPOOL_SEED_BASE=<base>`.
    Random,
}

/// The runner's settings. `Default` is every variable unset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConfig {
    /// `MOONPOOL_SEED`: run only this seed.
    pub seed: Option<u64>,
    /// `MOONPOOL_SEEDS`: override the test's seed count.
    pub seeds: Option<u64>,
    /// `MOONPOOL_SEED_BASE`.
    pub base: SeedBase,
    /// `MOONPOOL_THREADS`.
    pub threads: Option<NonZeroUsize>,
    /// `MOONPOOL_LOG` (checked: a valid `tracing` filter).
    pub log: Option<String>,
    /// `MOONPOOL_LOG_LINES`.
    pub log_lines: Option<usize>,
    /// `MOONPOOL_LOG_FILE`.
    pub log_file: Option<PathBuf>,
    /// `MOONPOOL_FAULTS`: the fault plan every seed uses instead of the
    /// test's. Under it, strict coverage reports its gaps without failing:
    /// another plan reaches other paths.
    pub faults: Option<FaultPlan>,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            seed: None,
            seeds: None,
            base: SeedBase::Fixed,
            threads: None,
            log: None,
            log_lines: None,
            log_file: None,
            faults: None,
        }
    }
}

impl RunnerConfig {
    /// Reads the settings through `lookup` (normally `std::env::var`).
    ///
    /// Empty values count as unset.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the first malformed variable.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_sim::runner::{RunnerConfig, SeedBase};
    ///
    /// let env = |var: &str| match var {
    ///     "MOONPOOL_SEED" => Some("0x2a".to_string()),
    ///     _ => None,
    /// };
    /// let config = RunnerConfig::from_lookup(env).unwrap();
    /// assert_eq!(config.seed, Some(42));
    /// assert_eq!(config.base, SeedBase::Fixed);
    ///
    /// let bad = |var: &str| (var == "MOONPOOL_SEEDS").then(|| "many".to_string());
    /// let err = RunnerConfig::from_lookup(bad).unwrap_err();
    /// assert!(err.to_string().starts_with("MOONPOOL_SEEDS=\"many\" is not valid"));
    /// ```
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |var: &str| lookup(var).filter(|v| !v.trim().is_empty());
        let seed = get(ENV_SEED)
            .map(|v| {
                parse_u64(&v).ok_or_else(|| {
                    invalid(
                        ENV_SEED,
                        v,
                        "a seed: a decimal number or 0x-prefixed hex that fits in 64 bits",
                    )
                })
            })
            .transpose()?;
        let seeds = get(ENV_SEEDS)
            .map(|v| match v.trim().parse::<u64>() {
                Ok(n) if n > 0 => Ok(n),
                _ => Err(invalid(ENV_SEEDS, v, "a whole number of seeds, at least 1")),
            })
            .transpose()?;
        let base = match get(ENV_SEED_BASE) {
            None => SeedBase::Fixed,
            Some(v) if v.trim().eq_ignore_ascii_case("random") => SeedBase::Random,
            Some(v) => SeedBase::Explicit(parse_u64(&v).ok_or_else(|| {
                invalid(
                    ENV_SEED_BASE,
                    v,
                    "`random`, or a decimal or 0x-prefixed hex number",
                )
            })?),
        };
        let threads = get(ENV_THREADS)
            .map(|v| {
                v.trim()
                    .parse::<NonZeroUsize>()
                    .map_err(|_| invalid(ENV_THREADS, v, "a whole number of threads, at least 1"))
            })
            .transpose()?;
        let log = get(ENV_LOG)
            .map(|v| {
                let config = LogConfig {
                    filter: v.clone(),
                    ..LogConfig::default()
                };
                config.check().map(|()| v.trim().to_string()).map_err(|_| {
                    invalid(
                        ENV_LOG,
                        v,
                        "a tracing filter: `info`, `debug`, `off`, or `warn,my_crate=debug`",
                    )
                })
            })
            .transpose()?;
        let log_lines = get(ENV_LOG_LINES)
            .map(|v| {
                v.trim().parse::<usize>().map_err(|_| {
                    invalid(ENV_LOG_LINES, v, "a whole number of lines (0 prints none)")
                })
            })
            .transpose()?;
        let log_file = get(ENV_LOG_FILE).map(|v| PathBuf::from(v.trim()));
        let faults = get(ENV_FAULTS)
            .map(|v| match v.trim().to_ascii_lowercase().as_str() {
                "calm" => Ok(FaultPlan::Fixed(FaultConfig::calm())),
                "swarm" => Ok(FaultPlan::Swarm),
                "brutal" => Ok(FaultPlan::Fixed(FaultConfig::brutal())),
                _ => Err(invalid(ENV_FAULTS, v, "`calm`, `swarm` or `brutal`")),
            })
            .transpose()?;
        Ok(Self {
            seed,
            seeds,
            base,
            threads,
            log,
            log_lines,
            log_file,
            faults,
        })
    }

    /// The `MOONPOOL_FAULTS` value that chose [`faults`](Self::faults), for
    /// a replay command; `None` when no plan was chosen or when the plan was
    /// set in code to a configuration no value of the variable names.
    pub fn faults_name(&self) -> Option<&'static str> {
        match self.faults? {
            FaultPlan::Swarm => Some("swarm"),
            FaultPlan::Fixed(c) if c == FaultConfig::calm() => Some("calm"),
            FaultPlan::Fixed(c) if c == FaultConfig::brutal() => Some("brutal"),
            // A plan set in code: no value of the variable names it.
            FaultPlan::Fixed(_) => None,
        }
    }

    /// What a failing seed's replay keeps of its events: the environment's
    /// settings, else the test's own (`log`, `log_lines` in
    /// `#[sim_test]`), else the defaults.
    pub fn log_config(&self, test_filter: Option<&str>, test_lines: Option<usize>) -> LogConfig {
        let default = LogConfig::default();
        LogConfig {
            filter: self
                .log
                .clone()
                .or_else(|| test_filter.map(str::to_string))
                .unwrap_or(default.filter),
            lines: self.log_lines.or(test_lines).unwrap_or(default.lines),
            file: self.log_file.clone(),
        }
    }

    /// Reads the settings from the process environment.
    ///
    /// # Errors
    ///
    /// As [`RunnerConfig::from_lookup`]; a value that is not valid Unicode is
    /// reported as invalid too.
    pub fn from_env() -> Result<Self, ConfigError> {
        for var in [
            ENV_SEED,
            ENV_SEEDS,
            ENV_SEED_BASE,
            ENV_THREADS,
            ENV_LOG,
            ENV_LOG_LINES,
            ENV_LOG_FILE,
            ENV_FAULTS,
        ] {
            if let Err(std::env::VarError::NotUnicode(raw)) = std::env::var(var) {
                return Err(invalid(
                    var,
                    raw.to_string_lossy().into_owned(),
                    "valid UTF-8",
                ));
            }
        }
        Self::from_lookup(|var| std::env::var(var).ok())
    }
}

/// The seeds a run covers: what the runner runs for a `#[sim_test]`, and
/// what a hand-written loop over seeds (a determinism check running each
/// seed twice, say) runs to honour the same variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeedPlan {
    /// The base the seeds were derived from, when not the default (print
    /// it on failure: `MOONPOOL_SEED_BASE=<base>` repeats the run).
    pub base: Option<u64>,
    /// `(index, seed)`: the index is `None` for a seed chosen with
    /// `MOONPOOL_SEED`.
    pub seeds: Vec<(Option<u64>, u64)>,
}

impl RunnerConfig {
    /// The seeds of the test at `path` (its module path and name), which
    /// runs `default_count` seeds unless `MOONPOOL_SEEDS` says otherwise.
    /// A random base is drawn here, once.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool_sim::runner::{RunnerConfig, derive_seed};
    ///
    /// let config = RunnerConfig::from_lookup(|_| None).unwrap();
    /// let plan = config.seed_plan("my_tests::replays", 3);
    /// assert_eq!(plan.base, None);
    /// assert_eq!(plan.seeds[2], (Some(2), derive_seed("my_tests::replays", 0, 2)));
    /// ```
    pub fn seed_plan(&self, path: &str, default_count: u64) -> SeedPlan {
        let base = match self.base {
            SeedBase::Fixed => 0,
            SeedBase::Explicit(b) => b,
            SeedBase::Random => super::seeds::random_base(),
        };
        let seeds = match self.seed {
            Some(seed) => vec![(None, seed)],
            None => (0..self.seeds.unwrap_or(default_count).max(1))
                .map(|i| (Some(i), super::seeds::derive_seed(path, base, i)))
                .collect(),
        };
        SeedPlan {
            base: (self.base != SeedBase::Fixed).then_some(base),
            seeds,
        }
    }
}

fn invalid(var: &'static str, value: String, expected: &'static str) -> ConfigError {
    ConfigError::Invalid {
        var,
        value,
        expected,
    }
}

/// Parses a decimal or `0x`-prefixed hexadecimal `u64` (underscores allowed).
pub(crate) fn parse_u64(text: &str) -> Option<u64> {
    let t: String = text.trim().chars().filter(|c| *c != '_').collect();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |var| {
            pairs
                .iter()
                .find(|(k, _)| *k == var)
                .map(|(_, v)| (*v).to_string())
        }
    }

    #[test]
    fn nothing_set_is_the_default() {
        let c = RunnerConfig::from_lookup(env(&[])).unwrap();
        assert_eq!(c.seed, None);
        assert_eq!(c.seeds, None);
        assert_eq!(c.base, SeedBase::Fixed);
        assert_eq!(c.threads, None);
        assert_eq!(c.log_config(None, None), LogConfig::default());
    }

    #[test]
    fn log_settings_override_the_test_s_own() {
        let c = RunnerConfig::from_lookup(env(&[])).unwrap();
        let from_test = c.log_config(Some("debug"), Some(7));
        assert_eq!((from_test.filter.as_str(), from_test.lines), ("debug", 7));
        let c = RunnerConfig::from_lookup(env(&[
            (ENV_LOG, " warn,moonpool_core=debug "),
            (ENV_LOG_LINES, "0"),
            (ENV_LOG_FILE, "/tmp/seed.log"),
        ]))
        .unwrap();
        let log = c.log_config(Some("debug"), Some(7));
        assert_eq!(log.filter, "warn,moonpool_core=debug");
        assert_eq!(log.lines, 0);
        assert_eq!(log.file, Some(PathBuf::from("/tmp/seed.log")));
    }

    #[test]
    fn the_fault_plan_is_named_in_words() {
        for (value, name) in [("calm", "calm"), (" Swarm ", "swarm"), ("BRUTAL", "brutal")] {
            let c = RunnerConfig::from_lookup(|var| (var == ENV_FAULTS).then(|| value.to_string()))
                .unwrap();
            assert_eq!(c.faults_name(), Some(name));
        }
        assert_eq!(
            RunnerConfig::from_lookup(env(&[(ENV_FAULTS, "brutal")]))
                .unwrap()
                .faults,
            Some(FaultPlan::Fixed(FaultConfig::brutal()))
        );
        let err = RunnerConfig::from_lookup(env(&[(ENV_FAULTS, "stormy")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MOONPOOL_FAULTS=\"stormy\" is not valid: expected `calm`, `swarm` or `brutal`"
        );
        assert_eq!(RunnerConfig::from_lookup(env(&[])).unwrap().faults, None);
    }

    #[test]
    fn parses_every_variable() {
        let c = RunnerConfig::from_lookup(env(&[
            (ENV_SEED, "0xDEAD_beef"),
            (ENV_SEEDS, " 25 "),
            (ENV_SEED_BASE, "RANDOM"),
            (ENV_THREADS, "3"),
        ]))
        .unwrap();
        assert_eq!(c.seed, Some(0xdead_beef));
        assert_eq!(c.seeds, Some(25));
        assert_eq!(c.base, SeedBase::Random);
        assert_eq!(c.threads.map(NonZeroUsize::get), Some(3));
        let c = RunnerConfig::from_lookup(env(&[
            (ENV_SEED_BASE, "17"),
            (ENV_SEED, "18446744073709551615"),
        ]))
        .unwrap();
        assert_eq!(c.base, SeedBase::Explicit(17));
        assert_eq!(c.seed, Some(u64::MAX));
    }

    #[test]
    fn empty_values_are_unset() {
        let c = RunnerConfig::from_lookup(env(&[(ENV_SEED, ""), (ENV_SEEDS, "  ")])).unwrap();
        assert_eq!(c.seed, None);
        assert_eq!(c.seeds, None);
    }

    #[test]
    fn malformed_values_name_the_variable() {
        let cases: &[(&str, &str)] = &[
            (ENV_SEED, "abc"),
            (ENV_SEED, "-1"),
            (ENV_SEED, "18446744073709551616"),
            (ENV_SEED, "0xZZ"),
            (ENV_SEEDS, "0"),
            (ENV_SEEDS, "ten"),
            (ENV_SEEDS, "1.5"),
            (ENV_SEED_BASE, "sometimes"),
            (ENV_THREADS, "0"),
            (ENV_THREADS, "all"),
            (ENV_LOG, "info,[unclosed"),
            (ENV_LOG_LINES, "-3"),
            (ENV_LOG_LINES, "lots"),
        ];
        for &(var, value) in cases {
            let lookup = move |v: &str| (v == var).then(|| value.to_string());
            let err = RunnerConfig::from_lookup(lookup).unwrap_err();
            let ConfigError::Invalid {
                var: named,
                value: found,
                ..
            } = &err;
            assert_eq!(*named, var);
            assert_eq!(found, value);
            assert!(err.to_string().starts_with(&format!("{var}=")), "{err}");
        }
    }
}
