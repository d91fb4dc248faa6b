//! The simulated providers: logical time, the simulated scheduler and the
//! seed's user RNG stream.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::disk::SimStorage;
use super::network::SimNetwork;
use super::timers::TimerId;
use super::world::{ProcessId, try_with_world, with_world};
use crate::providers::Providers;
use crate::random::RandomProvider;
use crate::task::{BoxFuture, SpawnSpec, TaskProvider};
use crate::time::{Instant, TimeProvider};

pub(crate) struct SimTime {
    pub(crate) world_id: u64,
}

impl TimeProvider for SimTime {
    fn now(&self) -> Instant {
        with_world(self.world_id, |w| Instant::from_nanos(w.now.get()))
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<'static, ()> {
        let deadline = with_world(self.world_id, |w| {
            let deadline = deadline.as_nanos();
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

/// A simulated timer; deregisters itself when dropped.
pub(crate) struct SimSleep {
    world_id: u64,
    deadline: u64,
    timer: Option<TimerId>,
}

impl SimSleep {
    /// A sleep of `nanos` from now, without clock drift (used for network
    /// latencies, which have their own model).
    pub(crate) fn after(world_id: u64, nanos: u64) -> Self {
        let now = with_world(world_id, |w| w.now.get());
        Self {
            world_id,
            deadline: now.saturating_add(nanos),
            timer: None,
        }
    }
}

impl Future for SimSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let (world_id, deadline, timer) = (self.world_id, self.deadline, self.timer);
        let (ready, timer) = with_world(world_id, |w| {
            let mut timers = w.timers.borrow_mut();
            match timer {
                Some(id) => match timers.fired(id) {
                    Some(false) => {
                        timers.set_waker(id, cx.waker());
                        (false, Some(id))
                    }
                    // Fired, or gone (the queue was cleared): done.
                    _ => {
                        timers.remove(id);
                        (true, None)
                    }
                },
                None if deadline <= w.now.get() => (true, None),
                None => (false, Some(timers.insert(deadline, cx.waker().clone()))),
            }
        });
        self.timer = timer;
        if ready {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl Drop for SimSleep {
    fn drop(&mut self) {
        if let Some(id) = self.timer.take() {
            try_with_world(self.world_id, |w| {
                if let Ok(mut timers) = w.timers.try_borrow_mut() {
                    timers.remove(id);
                }
            });
        }
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
        Arc::new(SimTime { world_id }),
        Arc::new(SimTasks { world_id, process }),
        Arc::new(SimRandom { world_id }),
        Arc::new(SimNetwork { world_id, process }),
        Arc::new(SimStorage { world_id, process }),
    )
}
