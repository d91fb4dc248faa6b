//! What a failed simulation reports.

use std::fmt;
use std::time::Duration;

use super::clock::ClockReading;
use crate::chaos::{FaultConfig, Site};
use crate::providers::time::Instant;

/// A task, as described in a failure report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task's name (its spawn location unless it was named).
    pub name: String,
    /// The simulated process the task belongs to.
    pub process: String,
    /// Where the task was spawned.
    pub spawned_at: String,
    /// How many times it was polled.
    pub polls: u64,
    /// Whether something outside the simulation (another thread, or code
    /// running after it) tried to wake it. Such wakes are lost: they are a
    /// source of non-determinism and the likely cause of a deadlock.
    pub woken_from_outside: bool,
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` in process `{}`, spawned at {}, polled {} times",
            self.name, self.process, self.spawned_at, self.polls
        )?;
        if self.woken_from_outside {
            write!(f, " (woken from outside the simulation: non-deterministic)")?;
        }
        Ok(())
    }
}

/// Why a run was declared a livelock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Livelock {
    /// The next event lies past the simulated-time budget.
    SimTimeBudget {
        /// The budget ([`SimConfig::max_sim_time`](crate::SimConfig)).
        budget: Duration,
        /// When the next event would have happened.
        next_event_at: Instant,
    },
    /// Tasks kept running without simulated time moving.
    BusyInstant {
        /// The limit ([`SimConfig::max_polls_per_instant`](crate::SimConfig)).
        polls: u64,
    },
}

/// What went wrong in a failed run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// A task (or the test body) panicked.
    TaskPanicked {
        /// The task.
        task: Box<TaskInfo>,
        /// The panic message.
        message: String,
        /// Where the panic happened, when known.
        panic_location: Option<String>,
    },
    /// An `always!`-family assertion was false, or an `unreachable!` was
    /// reached.
    AssertionFailed {
        /// The site: its kind, message and location.
        site: &'static Site,
        /// Both values, for the numeric forms.
        detail: Option<String>,
        /// The task that evaluated it.
        task: Option<String>,
    },
    /// An invariant registered with
    /// [`SimContext::invariant`](crate::SimContext::invariant) did not hold.
    InvariantViolated {
        /// The invariant's name.
        name: String,
        /// What the check said.
        message: String,
    },
    /// The test body returned an error.
    TestFailed {
        /// The error, as displayed.
        message: String,
    },
    /// Every task is blocked and no timer is pending: nothing can ever run
    /// again.
    Deadlock {
        /// The blocked tasks (the main task among them).
        blocked: Vec<TaskInfo>,
    },
    /// The run would never finish.
    Livelock {
        /// Which budget was exceeded.
        reason: Livelock,
        /// Tasks still alive at that point.
        live: Vec<TaskInfo>,
    },
    /// `Simulation::run` was called while this thread already runs a
    /// simulation.
    NestedSimulation,
}

impl FailureKind {
    /// A one-line summary ("task `x` panicked at …: msg").
    pub fn summary(&self) -> String {
        match self {
            FailureKind::TaskPanicked {
                task,
                message,
                panic_location,
            } => match panic_location {
                Some(at) => format!("task `{}` panicked at {at}: {message}", task.name),
                None => format!("task `{}` panicked: {message}", task.name),
            },
            FailureKind::AssertionFailed {
                site, detail, task, ..
            } => {
                let mut text = format!("{site} failed");
                if let Some(d) = detail {
                    text.push_str(&format!(": {d}"));
                }
                if let Some(t) = task {
                    text.push_str(&format!(" (in task `{t}`)"));
                }
                text
            }
            FailureKind::InvariantViolated { name, message } => {
                format!("invariant `{name}` violated: {message}")
            }
            FailureKind::TestFailed { message } => format!("the test returned an error: {message}"),
            FailureKind::Deadlock { blocked } => {
                format!(
                    "deadlock: all {} tasks are blocked and no timer is pending",
                    blocked.len()
                )
            }
            FailureKind::Livelock { reason, .. } => match reason {
                Livelock::SimTimeBudget {
                    budget,
                    next_event_at,
                } => format!(
                    "livelock: the run did not finish within the simulated-time budget of {budget:?} \
                     (next event at {next_event_at})"
                ),
                Livelock::BusyInstant { polls } => format!(
                    "livelock: {polls} task polls without simulated time advancing \
                     (tasks keep waking each other)"
                ),
            },
            FailureKind::NestedSimulation => {
                "a simulation cannot be started from inside another simulation on the same thread"
                    .to_string()
            }
        }
    }
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())?;
        match self {
            FailureKind::TaskPanicked { task, .. } => write!(f, "\n    task: {task}"),
            FailureKind::Deadlock { blocked } => {
                for t in blocked {
                    write!(f, "\n    blocked: {t}")?;
                }
                Ok(())
            }
            FailureKind::Livelock { live, .. } => {
                for t in live.iter().take(20) {
                    write!(f, "\n    alive: {t}")?;
                }
                if live.len() > 20 {
                    write!(f, "\n    … and {} more tasks", live.len() - 20)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// A failed simulation run: what failed, and where in the run.
///
/// # Example
///
/// ```
/// use moonpool::{Simulation, sim::FailureKind};
///
/// let failure = Simulation::new(5)
///     .run(|_sim| async { panic!("boom") })
///     .unwrap_err();
/// assert_eq!(failure.seed, 5);
/// assert!(matches!(failure.kind, FailureKind::TaskPanicked { ref message, .. } if message == "boom"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "simulation seed {seed:#x} failed at simulated time {sim_time} after {steps} steps ({faults}): {kind}"
)]
pub struct SimFailure {
    /// The seed of the failed run.
    pub seed: u64,
    /// The seed's fault configuration.
    pub faults: FaultConfig,
    /// What went wrong.
    pub kind: FailureKind,
    /// Simulated time when it went wrong.
    pub sim_time: Instant,
    /// The event-trace hash up to the failure: the same seed must give the
    /// same hash.
    pub trace_hash: u64,
    /// Task polls performed.
    pub steps: u64,
    /// Where each process's clock stood at the failure (empty unless the
    /// `clock_skew` family was on).
    pub clocks: Box<[ClockReading]>,
}
