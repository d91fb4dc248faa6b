//! What a simulation is configured with, and how its processes are named.

use std::time::Duration;

use super::clock::ClockConfig;
use super::disk::DiskConfig;
use super::network::config::NetConfig;
use crate::chaos::FaultPlan;

/// Identifies a simulated process: a named group of tasks that can be
/// killed together.
///
/// # Example
///
/// ```
/// # moonpool::Simulation::new(1).run(|sim| async move {
/// let node = sim.add_process("node-1");
/// assert_eq!(sim.process_name(node).as_deref(), Some("node-1"));
/// # }).unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ProcessId(pub(crate) u32);

impl ProcessId {
    /// The process the simulation's main task (the test body) runs in.
    pub const MAIN: ProcessId = ProcessId(0);
}

/// Limits that turn a run that never finishes into a report.
///
/// # Example
///
/// ```
/// use moonpool::{SimConfig, Simulation};
/// use std::time::Duration;
///
/// let config = SimConfig {
///     max_sim_time: Duration::from_secs(60),
///     ..SimConfig::default()
/// };
/// let sim = Simulation::new(3).config(config);
/// # let _ = sim;
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// A run whose next event lies beyond this much simulated time is a
    /// livelock. Default: one hour.
    pub max_sim_time: Duration,
    /// A run that polls this many tasks without simulated time moving is a
    /// livelock (tasks keep waking each other and never wait). Default: one
    /// million.
    pub max_polls_per_instant: u64,
    /// How the run picks which fault families are on. Default: the swarm
    /// draw from the seed.
    pub faults: FaultPlan,
    /// Invariants registered with
    /// [`SimContext::invariant`](crate::SimContext::invariant) are checked
    /// after every this-many task polls. Default: 1 (every poll).
    pub invariant_every: u64,
    /// The simulated network's latencies and fault rates.
    pub net: NetConfig,
    /// The simulated disks' latencies and error rate.
    pub disk: DiskConfig,
    /// How far apart the processes' clocks may be (`clock_skew` family).
    pub clocks: ClockConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            max_sim_time: Duration::from_secs(3600),
            max_polls_per_instant: 1_000_000,
            faults: FaultPlan::Swarm,
            invariant_every: 1,
            net: NetConfig::default(),
            disk: DiskConfig::default(),
            clocks: ClockConfig::default(),
        }
    }
}
