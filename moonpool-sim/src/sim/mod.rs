//! The simulated world: [`Simulation`] runs one seed; [`SimContext`] is the
//! test body's handle on it.

mod clock;
mod config;
mod control;
mod disk;
mod executor;
mod failure;
mod network;
mod panic_capture;
mod providers;
mod sleep;
mod storage;
mod timers;
mod trace;
mod world;

use std::borrow::Cow;
use std::future::Future;
use std::panic::Location;
use std::rc::Rc;
use std::time::Duration;

pub use clock::{ClockConfig, ClockReading};
pub use config::{ProcessId, SimConfig};
pub use disk::DiskConfig;
pub use failure::{FailureKind, Livelock, SimFailure, TaskInfo};
pub use network::NetConfig;

use crate::chaos::{FaultConfig, SiteCount, hook};
use crate::providers::set::Providers;
use crate::providers::task::JoinHandle;
use crate::providers::time::Instant;
use world::{World, with_world};

/// One deterministic run: a seed, limits, and a test body.
///
/// Everything that happens in the run (which task runs next, what the user
/// RNG returns, when timers fire) is a function of the seed, so running the
/// same seed twice processes the same events and ends with the same
/// [`SimReport::trace_hash`].
///
/// # Example
///
/// ```
/// use moonpool::Simulation;
/// use std::time::Duration;
///
/// let run = |seed| {
///     Simulation::new(seed)
///         .run(|sim| async move {
///             let p = sim.providers();
///             let q = p.clone();
///             let a = p.spawn(async move { q.random_below(100) });
///             sim.sleep(Duration::from_secs(1)).await;
///             a.await.unwrap()
///         })
///         .unwrap()
/// };
/// let (first, second) = (run(11), run(11));
/// assert_eq!(first.output, second.output);
/// assert_eq!(first.trace_hash, second.trace_hash);
/// ```
#[derive(Clone, Debug)]
pub struct Simulation {
    seed: u64,
    config: SimConfig,
}

/// The outcome of a successful run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimReport<T> {
    /// What the test body returned.
    pub output: T,
    /// The run's seed.
    pub seed: u64,
    /// Simulated time when the body finished.
    pub sim_time: Instant,
    /// Hash of every event processed: equal for two runs of the same seed.
    pub trace_hash: u64,
    /// Task polls performed.
    pub steps: u64,
    /// Tasks spawned, the body included.
    pub tasks_spawned: u64,
    /// The seed's fault configuration.
    pub faults: FaultConfig,
    /// How often each chaos site was evaluated and held, aligned with
    /// [`chaos::sites()`](crate::chaos::sites).
    pub coverage: Vec<SiteCount>,
    /// Where each process's clock stood at the end (empty unless the
    /// `clock_skew` family was on).
    pub clocks: Box<[ClockReading]>,
}

impl Simulation {
    /// A run of `seed` with the default [`SimConfig`].
    pub fn new(seed: u64) -> Self {
        install_chaos_hook();
        Self {
            seed,
            config: SimConfig::default(),
        }
    }

    /// Replaces the configuration (limits, fault plan, network and disk
    /// models).
    pub fn config(mut self, config: SimConfig) -> Self {
        self.config = config;
        self
    }

    /// Uses `faults` instead of the seed's swarm draw. `FaultConfig::calm()`
    /// gives exact timings (no timer drift) and no injected failures.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool::{Simulation, chaos::FaultConfig};
    /// use std::time::Duration;
    ///
    /// let report = Simulation::new(5)
    ///     .faults(FaultConfig::calm())
    ///     .run(|sim| async move { sim.sleep(Duration::from_millis(30)).await })
    ///     .unwrap();
    /// assert_eq!(report.sim_time.since_epoch(), Duration::from_millis(30));
    /// ```
    pub fn faults(mut self, faults: FaultConfig) -> Self {
        self.config.faults = crate::chaos::FaultPlan::Fixed(faults);
        self
    }

    /// Runs `body` until it returns. Tasks still alive then are dropped.
    ///
    /// # Errors
    ///
    /// A [`SimFailure`] when a task panics, every task is blocked with no
    /// timer pending (deadlock), a budget in [`SimConfig`] is exceeded
    /// (livelock), or this thread is already running a simulation.
    #[track_caller]
    pub fn run<F, Fut>(self, body: F) -> Result<SimReport<Fut::Output>, SimFailure>
    where
        F: FnOnce(SimContext) -> Fut,
        Fut: Future + 'static,
    {
        self.run_from(Location::caller(), body)
    }

    /// [`Simulation::run`], naming `location` as where the main task was
    /// spawned (the runner passes the test's own location).
    pub(crate) fn run_from<F, Fut>(
        self,
        location: &'static Location<'static>,
        body: F,
    ) -> Result<SimReport<Fut::Output>, SimFailure>
    where
        F: FnOnce(SimContext) -> Fut,
        Fut: Future + 'static,
    {
        let world = Rc::new(World::new(self.seed, self.config));
        let Some(guard) = world::enter(Rc::clone(&world)) else {
            return Err(SimFailure {
                seed: self.seed,
                faults: world.chaos.faults,
                kind: FailureKind::NestedSimulation,
                sim_time: Instant::ZERO,
                trace_hash: 0,
                steps: 0,
                clocks: Box::default(),
            });
        };
        let ctx = SimContext::new(world.id, self.seed);
        let result = executor::run_main(&world, location, body(ctx));
        drop(guard);
        let sim_time = Instant::from_nanos(world.now.get());
        let trace_hash = world.trace.get();
        let steps = world.steps.get();
        let faults = world.chaos.faults;
        let clocks = world.clock_readings();
        match result {
            Ok(output) => Ok(SimReport {
                output,
                seed: self.seed,
                sim_time,
                trace_hash,
                steps,
                tasks_spawned: world.spawned.get(),
                faults,
                coverage: world.chaos.counts(),
                clocks,
            }),
            Err(kind) => Err(SimFailure {
                seed: self.seed,
                faults,
                kind,
                sim_time,
                trace_hash,
                steps,
                clocks,
            }),
        }
    }
}

/// Why a [`SimContext`] request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// No process has this id in this simulation.
    #[error("no simulated process with id {0:?}")]
    UnknownProcess(ProcessId),
    /// The main process runs the test body and cannot be killed.
    #[error("the main process runs the test body and cannot be killed")]
    CannotKillMain,
    /// The process was made with `add_process`, so there is nothing to run
    /// on restart.
    #[error("process {0:?} has no start function to restart (it was made with add_process)")]
    NoStartFunction(ProcessId),
}

/// The test body's handle on its simulation: time, tasks, processes and the
/// seed's providers.
///
/// It is cheap to clone and `Send`, so it can be moved into spawned tasks,
/// but it only works on the thread running its simulation.
///
/// # Example
///
/// ```
/// use moonpool::Simulation;
/// use std::time::Duration;
///
/// Simulation::new(1)
///     .faults(moonpool::chaos::FaultConfig::calm()) // exact timers
///     .run(|sim| async move {
///         let node = sim.add_process("node-a");
///         let ticks = sim.spawn_in(node, "ticker", {
///             let sim = sim.clone();
///             async move {
///                 for _ in 0..3 {
///                     sim.sleep(Duration::from_secs(10)).await;
///                 }
///                 sim.now()
///             }
///         });
///         assert_eq!(ticks.await.unwrap().since_epoch(), Duration::from_secs(30));
///     })
///     .unwrap();
/// ```
#[derive(Clone, Debug)]
pub struct SimContext {
    world_id: u64,
    seed: u64,
    providers: Providers,
    /// The main process's providers: its clock is true time.
    truth: Providers,
}

impl SimContext {
    fn new(world_id: u64, seed: u64) -> Self {
        Self {
            world_id,
            seed,
            providers: providers::sim_providers(world_id, None),
            truth: providers::sim_providers(world_id, Some(ProcessId::MAIN)),
        }
    }

    /// The seed of this run.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The simulated time: the true time the processes' clocks disagree
    /// about (with the `clock_skew` family on, a process reads its own
    /// clock through its providers; the test body reads this one).
    pub fn now(&self) -> Instant {
        self.truth.now()
    }

    /// Completes after `duration` of simulated (true) time.
    pub fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send + 'static {
        self.truth.sleep(duration)
    }

    /// The simulated providers. Tasks spawned through them join the process
    /// of the task that spawns them.
    pub fn providers(&self) -> Providers {
        self.providers.clone()
    }

    /// Simulated providers whose tasks always join `process`: what a node
    /// running in that process is given.
    pub fn providers_for(&self, process: ProcessId) -> Providers {
        providers::sim_providers(self.world_id, Some(process))
    }

    /// Spawns a task into the current process.
    #[track_caller]
    pub fn spawn<F>(&self, future: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.providers.spawn(future)
    }

    /// Spawns a named task into `process`.
    #[track_caller]
    pub fn spawn_in<F>(
        &self,
        process: ProcessId,
        name: impl Into<Cow<'static, str>>,
        future: F,
    ) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.providers_for(process).spawn_named(name, future)
    }

    /// Creates a new, empty process.
    pub fn add_process(&self, name: impl Into<String>) -> ProcessId {
        let name = name.into();
        with_world(self.world_id, |w| w.push_process(name, None))
    }

    /// The name of `process`, if it exists.
    pub fn process_name(&self, process: ProcessId) -> Option<String> {
        with_world(self.world_id, |w| {
            w.processes
                .borrow()
                .get(process.0 as usize)
                .map(|p| p.name.clone())
        })
    }

    /// Whether `process` exists and has not been killed.
    pub fn is_alive(&self, process: ProcessId) -> bool {
        with_world(self.world_id, |w| {
            w.processes
                .borrow()
                .get(process.0 as usize)
                .is_some_and(|p| p.alive)
        })
    }

    /// The number of live tasks in the simulation (the body included).
    pub fn live_tasks(&self) -> usize {
        with_world(self.world_id, |w| w.tasks.borrow().live())
    }

    /// This seed's fault configuration (which families are on).
    pub fn faults(&self) -> FaultConfig {
        with_world(self.world_id, |w| w.chaos.faults)
    }

    /// Registers an invariant: `check` runs after every task poll (or every
    /// [`SimConfig::invariant_every`] polls) until the run ends; an `Err`
    /// fails the seed with the invariant's name, the message and the
    /// simulated time.
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool::{sim::FailureKind, Simulation};
    /// use std::sync::{Arc, Mutex};
    ///
    /// let failure = Simulation::new(1)
    ///     .run(|sim| async move {
    ///         let balance = Arc::new(Mutex::new(10i64));
    ///         let watched = Arc::clone(&balance);
    ///         sim.invariant("balance is never negative", move || {
    ///             let b = *watched.lock().unwrap();
    ///             if b >= 0 { Ok(()) } else { Err(format!("balance is {b}")) }
    ///         });
    ///         *balance.lock().unwrap() -= 15;
    ///         moonpool::sim::yield_now().await;
    ///     })
    ///     .unwrap_err();
    /// assert!(matches!(failure.kind, FailureKind::InvariantViolated { ref name, .. } if name == "balance is never negative"));
    /// ```
    pub fn invariant(
        &self,
        name: impl Into<String>,
        check: impl Fn() -> Result<(), String> + 'static,
    ) {
        let name = name.into();
        with_world(self.world_id, |w| {
            w.invariants.borrow_mut().push(world::Invariant {
                name,
                check: Box::new(check),
            });
        });
    }

    /// The number of armed timers that have not fired yet.
    pub fn pending_timers(&self) -> usize {
        with_world(self.world_id, |w| w.timers.borrow().pending())
    }

    /// The event-trace hash so far.
    pub fn trace_hash(&self) -> u64 {
        with_world(self.world_id, |w| w.trace.get())
    }
}

/// Lets chaos reach the simulation running on this thread (see
/// `chaos/hook.rs`).
fn install_chaos_hook() {
    hook::install(hook::Hook {
        with_state: |f| world::try_with_current(|w| f(&w.chaos)).is_some(),
        fail: |site, detail| {
            world::try_with_current(|w| {
                w.fail(FailureKind::AssertionFailed {
                    site,
                    detail,
                    task: w.current_task_name(),
                });
            })
            .is_some()
        },
    });
}

/// The stamp of a log line written now on this thread: simulated time
/// (ns), process name and task name — `None` outside a simulation.
pub(crate) fn log_stamp() -> Option<(u64, Option<String>, Option<String>)> {
    world::try_with_current(world::World::log_stamp)
}
