//! The simulated providers: logical time, the simulated scheduler and the
//! seed's user RNG stream.

use std::sync::Arc;

use super::config::ProcessId;
use super::network::stream::SimNetwork;
use super::sleep::SimSleep;
use super::storage::SimStorage;
use super::world::with_world;
use crate::providers::random::RandomProvider;
use crate::providers::set::Providers;
use crate::providers::task::{BoxFuture, SpawnSpec, TaskProvider};
use crate::providers::time::{Instant, TimeProvider};
use crate::providers::wall::WallTime;

/// A process's clock: its own monotonic clock and wall clock (see
/// `clock.rs`), true time for the main process or when the `clock_skew`
/// family is off.
pub(crate) struct SimTime {
    pub(crate) world_id: u64,
    /// Read this process's clock; `None`: the reading task's process.
    pub(crate) process: Option<ProcessId>,
}

impl SimTime {
    /// The process whose clock to read, when clocks are skewed at all;
    /// `None`: every clock is true time (the family is off), so no process
    /// need be looked up on this hot path.
    fn skewed(&self, w: &super::world::World) -> Option<ProcessId> {
        w.chaos
            .faults
            .clock_skew
            .then(|| self.process.unwrap_or_else(|| w.current_process()))
    }
}

impl TimeProvider for SimTime {
    fn now(&self) -> Instant {
        with_world(self.world_id, |w| {
            let local = match self.skewed(w) {
                Some(process) => w.local_now(process),
                None => w.now.get(),
            };
            Instant::from_nanos(local)
        })
    }

    fn wall_now(&self) -> WallTime {
        with_world(self.world_id, |w| {
            let wall = match self.skewed(w) {
                Some(process) => w.local_wall(process),
                None => w.now.get(),
            };
            WallTime::SIMULATION_EPOCH + std::time::Duration::from_nanos(wall)
        })
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let deadline = with_world(self.world_id, |w| {
            // The timer waits for true time to reach the moment this
            // process's clock reads `deadline`.
            let deadline = match self.skewed(w) {
                Some(process) => w.true_time_of(process, deadline.as_nanos()),
                None => deadline.as_nanos(),
            };
            if w.chaos.faults.clock_drift && deadline > w.now.get() {
                // Timers fire late, never early.
                let max = w.net.borrow().config.clock_drift_max;
                let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
                deadline.saturating_add(w.chaos.rng.borrow_mut().below(max.saturating_add(1)))
            } else {
                deadline
            }
        });
        Box::pin(SimSleep {
            world_id: self.world_id,
            deadline,
            timer: None,
        })
    }
}

pub(crate) struct SimTasks {
    pub(crate) world_id: u64,
    /// Spawn into this process; `None`: the spawning task's own process.
    pub(crate) process: Option<ProcessId>,
}

impl TaskProvider for SimTasks {
    fn spawn_erased(&self, spec: SpawnSpec, future: BoxFuture<'static, ()>) {
        with_world(self.world_id, |w| {
            let process = self.process.unwrap_or_else(|| w.current_process());
            w.spawn(process, spec.name, spec.location, future);
        });
    }
}

pub(crate) struct SimRandom {
    pub(crate) world_id: u64,
}

impl RandomProvider for SimRandom {
    fn next_u64(&self) -> u64 {
        with_world(self.world_id, |w| w.rng_user.borrow_mut().next_u64())
    }
}

pub(crate) fn sim_providers(world_id: u64, process: Option<ProcessId>) -> Providers {
    Providers::new(
        Arc::new(SimTime { world_id, process }),
        Arc::new(SimTasks { world_id, process }),
        Arc::new(SimRandom { world_id }),
        Arc::new(SimNetwork { world_id, process }),
        Arc::new(SimStorage { world_id, process }),
    )
}
