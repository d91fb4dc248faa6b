//! The state of one simulation, and the thread-local pointer through which
//! simulated providers, wakers and timers reach it.
//!
//! Every field has its own `Cell`/`RefCell` and no borrow is ever held while
//! a task is polled, so a task may spawn, sleep or wake others freely.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Wake, Waker};

use super::clock::ProcessClock;
use super::config::{ProcessId, SimConfig};
use super::disk::Disk;
use super::failure::{FailureKind, TaskInfo};
use super::network::state::NetState;
use super::timers::TimerQueue;
use super::trace::{TraceEvent, TraceHash};
use crate::chaos::ChaosState;
use crate::providers::random::DeterministicRng;

/// A non-`Send` boxed future: the simulator runs everything on one thread.
pub(crate) type LocalBoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// RNG stream salts. Each concern draws from its own stream so that adding a
/// draw in one never reshuffles another.
pub(crate) const STREAM_SCHEDULE: u64 = 0x5C4E_D01E;
pub(crate) const STREAM_USER: u64 = 0x05E2_D2A5;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TaskKey {
    pub(crate) index: u32,
    pub(crate) generation: u32,
}

/// What a waker points at: enough to push the task back on the ready list.
pub(crate) struct TaskHeader {
    world_id: u64,
    key: TaskKey,
    queued: AtomicBool,
    woken_from_outside: AtomicBool,
}

impl TaskHeader {
    pub(crate) fn clear_queued(&self) {
        self.queued.store(false, Ordering::Relaxed);
    }
}

impl Wake for TaskHeader {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::Relaxed) {
            return;
        }
        let pushed = CURRENT
            .try_with(|cur| match cur.try_borrow() {
                Ok(cur) => match cur.as_ref() {
                    Some(w) if w.id == self.world_id => {
                        w.ready.borrow_mut().push(self.key);
                        true
                    }
                    _ => false,
                },
                Err(_) => false,
            })
            .unwrap_or(false);
        if !pushed {
            // Woken from another thread or after the simulation ended: a
            // non-deterministic source. Remember it for the deadlock report.
            self.queued.store(false, Ordering::Relaxed);
            self.woken_from_outside.store(true, Ordering::Relaxed);
        }
    }
}

pub(crate) struct TaskEntry {
    pub(crate) future: Option<LocalBoxFuture>,
    pub(crate) waker: Option<Waker>,
    pub(crate) header: Arc<TaskHeader>,
    pub(crate) process: ProcessId,
    pub(crate) name: Cow<'static, str>,
    pub(crate) location: &'static Location<'static>,
    pub(crate) polls: u64,
}

struct Slot {
    generation: u32,
    entry: Option<TaskEntry>,
}

/// Live tasks, indexed by [`TaskKey`]; freed indices are reused (LIFO, so
/// deterministically) with a new generation.
#[derive(Default)]
pub(crate) struct TaskTable {
    slots: Vec<Slot>,
    free: Vec<u32>,
    live: usize,
}

impl TaskTable {
    pub(crate) fn get_mut(&mut self, key: TaskKey) -> Option<&mut TaskEntry> {
        self.slots
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation)
            .and_then(|s| s.entry.as_mut())
    }

    pub(crate) fn remove(&mut self, key: TaskKey) -> Option<TaskEntry> {
        let slot = self
            .slots
            .get_mut(key.index as usize)
            .filter(|s| s.generation == key.generation)?;
        let entry = slot.entry.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(key.index);
        self.live -= 1;
        Some(entry)
    }

    /// Removes every task of `process`, in index order.
    pub(crate) fn remove_process(&mut self, process: ProcessId) -> Vec<TaskEntry> {
        let keys: Vec<TaskKey> = self
            .iter()
            .filter(|(_, e)| e.process == process)
            .map(|(k, _)| k)
            .collect();
        keys.into_iter().filter_map(|k| self.remove(k)).collect()
    }

    /// Removes every task, in index order.
    pub(crate) fn drain(&mut self) -> Vec<TaskEntry> {
        let keys: Vec<TaskKey> = self.iter().map(|(k, _)| k).collect();
        keys.into_iter().filter_map(|k| self.remove(k)).collect()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = (TaskKey, &TaskEntry)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| {
            s.entry.as_ref().map(|e| {
                (
                    TaskKey {
                        index: i as u32,
                        generation: s.generation,
                    },
                    e,
                )
            })
        })
    }

    pub(crate) fn live(&self) -> usize {
        self.live
    }
}

/// A named check over shared state, run between task polls.
pub(crate) struct Invariant {
    pub(crate) name: String,
    pub(crate) check: Box<dyn Fn() -> Result<(), String>>,
}

/// What a process runs when it starts (and on every restart).
pub(crate) type StartFn = Rc<dyn Fn(crate::Providers) -> crate::BoxFuture<'static, ()>>;

pub(crate) struct ProcessInfo {
    pub(crate) name: String,
    pub(crate) alive: bool,
    pub(crate) start: Option<StartFn>,
    pub(crate) incarnation: u32,
    /// The process's clock (true time unless the `clock_skew` family is
    /// on); kept across restarts, as a machine's clock is.
    pub(crate) clock: ProcessClock,
}

/// One simulation's state.
pub(crate) struct World {
    pub(crate) id: u64,
    pub(crate) seed: u64,
    pub(crate) config: SimConfig,
    /// Simulated nanoseconds since the epoch.
    pub(crate) now: Cell<u64>,
    pub(crate) ready: RefCell<Vec<TaskKey>>,
    pub(crate) tasks: RefCell<TaskTable>,
    pub(crate) timers: RefCell<TimerQueue>,
    pub(crate) rng_schedule: RefCell<DeterministicRng>,
    pub(crate) rng_user: RefCell<DeterministicRng>,
    pub(crate) trace: TraceHash,
    pub(crate) processes: RefCell<Vec<ProcessInfo>>,
    pub(crate) current_task: Cell<Option<TaskKey>>,
    pub(crate) failure: RefCell<Option<FailureKind>>,
    pub(crate) steps: Cell<u64>,
    /// `steps` when simulated time last moved.
    instant_start_step: Cell<u64>,
    pub(crate) spawned: Cell<u64>,
    pub(crate) chaos: ChaosState,
    pub(crate) invariants: RefCell<Vec<Invariant>>,
    pub(crate) net: RefCell<NetState>,
    pub(crate) disks: RefCell<BTreeMap<ProcessId, Disk>>,
    /// The chance a disk operation fails (`disk_errors` family): the
    /// config's, until a test changes it.
    pub(crate) disk_error_probability: Cell<f64>,
}

static NEXT_WORLD_ID: AtomicU64 = AtomicU64::new(1);

impl World {
    pub(crate) fn new(seed: u64, config: SimConfig) -> Self {
        Self {
            id: NEXT_WORLD_ID.fetch_add(1, Ordering::Relaxed),
            seed,
            now: Cell::new(0),
            ready: RefCell::new(Vec::new()),
            tasks: RefCell::new(TaskTable::default()),
            timers: RefCell::new(TimerQueue::default()),
            rng_schedule: RefCell::new(DeterministicRng::new(seed, STREAM_SCHEDULE)),
            rng_user: RefCell::new(DeterministicRng::new(seed, STREAM_USER)),
            trace: TraceHash::new(seed),
            processes: RefCell::new(vec![ProcessInfo {
                name: "main".to_string(),
                alive: true,
                start: None,
                incarnation: 0,
                clock: ProcessClock::truth(),
            }]),
            current_task: Cell::new(None),
            failure: RefCell::new(None),
            steps: Cell::new(0),
            instant_start_step: Cell::new(0),
            spawned: Cell::new(0),
            chaos: ChaosState::new(seed, config.faults.for_seed(seed)),
            invariants: RefCell::new(Vec::new()),
            net: RefCell::new(NetState::new(seed, config.net.clone())),
            disks: RefCell::new(BTreeMap::new()),
            disk_error_probability: Cell::new(config.disk.error_probability),
            config,
        }
    }

    /// Adds a process (alive, incarnation 0) with its clock and returns its
    /// id. Its clock is drawn (and folded into the trace) when the
    /// `clock_skew` family is on.
    pub(crate) fn push_process(&self, name: String, start: Option<StartFn>) -> ProcessId {
        let index = self.processes.borrow().len() as u32;
        let clock = if self.chaos.faults.clock_skew {
            let clock = ProcessClock::drawn(self.seed, index, &self.config.clocks);
            let draw = clock.draw();
            self.trace.record(
                TraceEvent::Clock,
                draw.ppm as u64 ^ draw.origin,
                draw.offset as u64,
            );
            tracing::debug!(
                process = %name,
                drift_ppm = draw.ppm,
                wall_offset = ?std::time::Duration::from_nanos(draw.offset.unsigned_abs()),
                wall_ahead = draw.offset >= 0,
                "process clock"
            );
            clock
        } else {
            ProcessClock::truth()
        };
        self.processes.borrow_mut().push(ProcessInfo {
            name,
            alive: true,
            start,
            incarnation: 0,
            clock,
        });
        ProcessId(index)
    }

    /// The monotonic clock of `process` (true time for an unknown one), in
    /// nanoseconds.
    pub(crate) fn local_now(&self, process: ProcessId) -> u64 {
        let now = self.now.get();
        self.processes
            .borrow()
            .get(process.0 as usize)
            .map_or(now, |p| p.clock.monotonic(now))
    }

    /// The true time at which `process`'s monotonic clock reads `local`.
    pub(crate) fn true_time_of(&self, process: ProcessId, local: u64) -> u64 {
        self.processes
            .borrow()
            .get(process.0 as usize)
            .map_or(local, |p| p.clock.true_time_of(local))
    }

    /// The wall clock of `process`, in nanoseconds since the simulation's
    /// wall epoch.
    pub(crate) fn local_wall(&self, process: ProcessId) -> u64 {
        let now = self.now.get();
        self.processes
            .borrow_mut()
            .get_mut(process.0 as usize)
            .map_or(now, |p| p.clock.wall(now))
    }

    /// Where each skewed process's clock stands now (empty when the
    /// `clock_skew` family is off).
    pub(crate) fn clock_readings(&self) -> Box<[super::clock::ClockReading]> {
        let now = self.now.get();
        let Ok(mut processes) = self.processes.try_borrow_mut() else {
            return Box::default();
        };
        processes
            .iter_mut()
            .filter(|p| !p.clock.is_truth())
            .map(|p| p.clock.reading(&p.name, now))
            .collect()
    }

    /// The process of the task being polled (the main process otherwise).
    pub(crate) fn current_process(&self) -> ProcessId {
        self.current_task
            .get()
            .and_then(|k| self.tasks.borrow_mut().get_mut(k).map(|e| e.process))
            .unwrap_or(ProcessId::MAIN)
    }

    /// Whether `process` exists and has not been killed.
    pub(crate) fn process_alive(&self, process: ProcessId) -> bool {
        self.processes
            .borrow()
            .get(process.0 as usize)
            .is_some_and(|p| p.alive)
    }

    /// The name of the task being polled, if any.
    pub(crate) fn current_task_name(&self) -> Option<String> {
        let key = self.current_task.get()?;
        self.tasks
            .borrow_mut()
            .get_mut(key)
            .map(|e| e.name.to_string())
    }

    /// What a log line is stamped with: simulated time (ns), the current
    /// process's name, the current task's name. Never panics, even when
    /// called while the world is being changed (an event logged from inside
    /// the executor): what cannot be read is left out.
    pub(crate) fn log_stamp(&self) -> (u64, Option<String>, Option<String>) {
        let task = self.current_task.get().and_then(|key| {
            let mut tasks = self.tasks.try_borrow_mut().ok()?;
            tasks.get_mut(key).map(|e| (e.process, e.name.to_string()))
        });
        let process = task
            .as_ref()
            .map_or(Some(ProcessId::MAIN), |(p, _)| Some(*p));
        let name = process.and_then(|p| {
            let processes = self.processes.try_borrow().ok()?;
            processes.get(p.0 as usize).map(|info| info.name.clone())
        });
        (self.now.get(), name, task.map(|(_, t)| t))
    }

    /// Task polls since simulated time last moved.
    pub(crate) fn steps_at_instant(&self) -> u64 {
        self.steps.get() - self.instant_start_step.get()
    }

    pub(crate) fn mark_time_advanced(&self) {
        self.instant_start_step.set(self.steps.get());
    }

    /// Adds a task to `process` and makes it ready. A task spawned into a
    /// dead process is dropped at once (its join handle reports cancelled).
    pub(crate) fn spawn(
        &self,
        process: ProcessId,
        name: Cow<'static, str>,
        location: &'static Location<'static>,
        future: LocalBoxFuture,
    ) {
        let alive = self
            .processes
            .borrow()
            .get(process.0 as usize)
            .is_some_and(|p| p.alive);
        if !alive {
            tracing::debug!(task = %name, process = process.0, "spawn into dead process dropped");
            drop(future);
            return;
        }
        let key = {
            let mut tasks = self.tasks.borrow_mut();
            let (index, generation) = match tasks.free.pop() {
                Some(i) => (i, tasks.slots[i as usize].generation),
                None => {
                    tasks.slots.push(Slot {
                        generation: 0,
                        entry: None,
                    });
                    ((tasks.slots.len() - 1) as u32, 0)
                }
            };
            let key = TaskKey { index, generation };
            let header = Arc::new(TaskHeader {
                world_id: self.id,
                key,
                queued: AtomicBool::new(true),
                woken_from_outside: AtomicBool::new(false),
            });
            let waker = Waker::from(Arc::clone(&header));
            tasks.slots[index as usize].entry = Some(TaskEntry {
                future: Some(future),
                waker: Some(waker),
                header,
                process,
                name,
                location,
                polls: 0,
            });
            tasks.live += 1;
            key
        };
        self.spawned.set(self.spawned.get() + 1);
        self.trace.record(
            TraceEvent::Spawn,
            u64::from(key.index),
            u64::from(process.0),
        );
        self.ready.borrow_mut().push(key);
    }

    fn describe(&self, e: &TaskEntry) -> TaskInfo {
        TaskInfo {
            name: e.name.to_string(),
            process: self
                .processes
                .borrow()
                .get(e.process.0 as usize)
                .map(|p| p.name.clone())
                .unwrap_or_default(),
            spawned_at: e.location.to_string(),
            polls: e.polls,
            woken_from_outside: e.header.woken_from_outside.load(Ordering::Relaxed),
        }
    }

    /// A description of every live task, for reports.
    pub(crate) fn task_infos(&self) -> Vec<TaskInfo> {
        self.tasks
            .borrow()
            .iter()
            .map(|(_, e)| self.describe(e))
            .collect()
    }

    /// A description of one live task.
    pub(crate) fn task_infos_for(&self, key: TaskKey) -> Option<TaskInfo> {
        self.tasks
            .borrow_mut()
            .get_mut(key)
            .map(|e| self.describe(e))
    }

    /// Records the first failure of the run; later ones are ignored.
    pub(crate) fn fail(&self, kind: FailureKind) {
        let mut failure = self.failure.borrow_mut();
        if failure.is_none() {
            *failure = Some(kind);
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<World>>> = const { RefCell::new(None) };
}

/// Makes `world` this thread's current simulation until dropped.
pub(crate) struct EnterGuard {
    _private: (),
}

/// Enters `world`, or returns `None` if this thread already runs one.
pub(crate) fn enter(world: Rc<World>) -> Option<EnterGuard> {
    CURRENT.with(|cur| {
        let mut cur = cur.borrow_mut();
        if cur.is_some() {
            return None;
        }
        *cur = Some(world);
        Some(EnterGuard { _private: () })
    })
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let world = CURRENT.with(|cur| cur.borrow_mut().take());
        drop(world);
    }
}

/// Runs `f` on simulation `world_id` if it is this thread's current one.
pub(crate) fn try_with_world<R>(world_id: u64, f: impl FnOnce(&World) -> R) -> Option<R> {
    CURRENT
        .try_with(|cur| {
            let cur = cur.try_borrow().ok()?;
            match cur.as_ref() {
                Some(w) if w.id == world_id => Some(f(w)),
                _ => None,
            }
        })
        .ok()
        .flatten()
}

/// Runs `f` on this thread's current simulation, if there is one.
pub(crate) fn try_with_current<R>(f: impl FnOnce(&World) -> R) -> Option<R> {
    CURRENT
        .try_with(|cur| {
            let cur = cur.try_borrow().ok()?;
            cur.as_ref().map(|w| f(w))
        })
        .ok()
        .flatten()
}

/// Runs `f` on simulation `world_id`.
///
/// # Panics
///
/// When called outside that simulation (another thread, or after it ended):
/// a simulated provider or context was carried out of its simulation, which
/// is a bug in the calling code, not a condition it can handle.
pub(crate) fn with_world<R>(world_id: u64, f: impl FnOnce(&World) -> R) -> R {
    match try_with_world(world_id, f) {
        Some(r) => r,
        None => panic!(
            "moonpool: a simulated provider or SimContext was used outside its simulation \
             (on another thread, or after Simulation::run returned)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_reuses_slots_with_new_generation() {
        let world = Rc::new(World::new(1, SimConfig::default()));
        let _guard = enter(Rc::clone(&world));
        world.spawn(
            ProcessId::MAIN,
            "a".into(),
            Location::caller(),
            Box::pin(async {}),
        );
        let first = world.ready.borrow_mut().pop().unwrap();
        assert!(world.tasks.borrow_mut().remove(first).is_some());
        world.spawn(
            ProcessId::MAIN,
            "b".into(),
            Location::caller(),
            Box::pin(async {}),
        );
        let second = world.ready.borrow_mut().pop().unwrap();
        assert_eq!(first.index, second.index);
        assert_ne!(first.generation, second.generation);
        assert!(world.tasks.borrow_mut().get_mut(first).is_none());
        assert_eq!(world.tasks.borrow().live(), 1);
    }

    #[test]
    fn a_thread_runs_one_world_at_a_time() {
        let a = Rc::new(World::new(1, SimConfig::default()));
        let b = Rc::new(World::new(2, SimConfig::default()));
        let guard = enter(a).unwrap();
        assert!(enter(b).is_none());
        drop(guard);
    }
}
