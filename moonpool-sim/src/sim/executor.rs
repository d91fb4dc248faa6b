//! The run loop: pick a ready task at random, poll it; when none is ready,
//! jump simulated time to the next timer; when there is none, report a
//! deadlock.

use std::cell::RefCell;
use std::future::Future;
use std::panic::{AssertUnwindSafe, Location, catch_unwind};
use std::rc::Rc;
use std::task::{Context, Poll};

use super::config::ProcessId;
use super::failure::{FailureKind, Livelock, TaskInfo};
use super::network;
use super::panic_capture::{CaptureGuard, payload_message};
use super::timers::Due;
use super::trace::TraceEvent;
use super::world::{LocalBoxFuture, TaskKey, World};
use crate::providers::time::Instant;

/// Runs `main` to completion on `world` (which must be entered on this
/// thread), then drops every remaining task.
pub(crate) fn run_main<T: 'static>(
    world: &World,
    location: &'static Location<'static>,
    main: impl Future<Output = T> + 'static,
) -> Result<T, FailureKind> {
    let capture = CaptureGuard::start();
    let output: Rc<RefCell<Option<T>>> = Rc::new(RefCell::new(None));
    let slot = Rc::clone(&output);
    let main: LocalBoxFuture = Box::pin(async move {
        let value = main.await;
        *slot.borrow_mut() = Some(value);
    });
    world.spawn(ProcessId::MAIN, "main".into(), location, main);

    let result = loop {
        if let Some(value) = output.borrow_mut().take() {
            break Ok(value);
        }
        if let Some(kind) = world.failure.borrow_mut().take() {
            break Err(kind);
        }
        if let Some(key) = pick_ready(world) {
            poll_task(world, key, &capture);
            let steps = world.steps.get() + 1;
            world.steps.set(steps);
            if steps.is_multiple_of(world.config.invariant_every.max(1)) {
                check_invariants(world, &capture);
            }
            if world.steps_at_instant() > world.config.max_polls_per_instant {
                break Err(FailureKind::Livelock {
                    reason: Livelock::BusyInstant {
                        polls: world.config.max_polls_per_instant,
                    },
                    live: world.task_infos(),
                });
            }
        } else if let Err(kind) = advance_time(world) {
            break Err(kind);
        }
    };
    teardown(world);
    result
}

fn pick_ready(world: &World) -> Option<TaskKey> {
    let mut ready = world.ready.borrow_mut();
    match ready.len() {
        0 => None,
        1 => ready.pop(),
        n => {
            let i = world.rng_schedule.borrow_mut().below(n as u64) as usize;
            Some(ready.swap_remove(i))
        }
    }
}

fn poll_task(world: &World, key: TaskKey, capture: &CaptureGuard) {
    let taken = {
        let mut tasks = world.tasks.borrow_mut();
        tasks.get_mut(key).and_then(|entry| {
            entry.header.clear_queued();
            entry.polls += 1;
            Some((entry.future.take()?, entry.waker.take()?))
        })
    };
    // A stale key (the task finished or was killed after being woken).
    let Some((mut future, waker)) = taken else {
        return;
    };
    world.trace.record(
        TraceEvent::Poll,
        u64::from(key.index),
        u64::from(key.generation),
    );
    world.current_task.set(Some(key));
    let polled = catch_unwind(AssertUnwindSafe(|| {
        future.as_mut().poll(&mut Context::from_waker(&waker))
    }));
    world.current_task.set(None);

    match polled {
        Ok(Poll::Pending) => {
            let mut tasks = world.tasks.borrow_mut();
            if let Some(entry) = tasks.get_mut(key) {
                entry.future = Some(future);
                entry.waker = Some(waker);
                return;
            }
            // The task's process was killed while it ran: drop it below,
            // outside the borrow.
        }
        Ok(Poll::Ready(())) => {
            let entry = world.tasks.borrow_mut().remove(key);
            drop(entry);
        }
        Err(payload) => {
            let info = world
                .task_infos_for(key)
                .unwrap_or_else(|| unknown_task(key));
            let captured = capture.take();
            let message = captured
                .as_ref()
                .map(|c| c.message.clone())
                .unwrap_or_else(|| payload_message(payload.as_ref()));
            let entry = world.tasks.borrow_mut().remove(key);
            world.fail(FailureKind::TaskPanicked {
                task: Box::new(info),
                message,
                panic_location: captured.and_then(|c| c.location),
            });
            drop(entry);
        }
    }
    drop(future);
}

/// Runs every registered invariant; the first violation (an `Err`, or a
/// panic inside the check) fails the run.
fn check_invariants(world: &World, capture: &CaptureGuard) {
    if world.invariants.borrow().is_empty() || world.failure.borrow().is_some() {
        return;
    }
    // Taken out while they run, so a check may register more.
    let invariants = std::mem::take(&mut *world.invariants.borrow_mut());
    for inv in &invariants {
        let outcome = catch_unwind(AssertUnwindSafe(|| (inv.check)()));
        let message = match outcome {
            Ok(Ok(())) => continue,
            Ok(Err(message)) => message,
            Err(payload) => match capture.take() {
                Some(c) => format!("the check panicked: {}", c.message),
                None => format!("the check panicked: {}", payload_message(payload.as_ref())),
            },
        };
        world.fail(FailureKind::InvariantViolated {
            name: inv.name.clone(),
            message,
        });
        break;
    }
    let mut slot = world.invariants.borrow_mut();
    let added = std::mem::replace(&mut *slot, invariants);
    slot.extend(added);
}

fn unknown_task(key: TaskKey) -> TaskInfo {
    TaskInfo {
        name: format!("task #{}", key.index),
        process: String::new(),
        spawned_at: String::new(),
        polls: 0,
        woken_from_outside: false,
    }
}

/// Fires the next timer, moving time forward; or reports why nothing can
/// ever run again.
fn advance_time(world: &World) -> Result<(), FailureKind> {
    let fired = world.timers.borrow_mut().pop_next();
    let Some(fired) = fired else {
        return Err(FailureKind::Deadlock {
            blocked: world.task_infos(),
        });
    };
    let budget = u64::try_from(world.config.max_sim_time.as_nanos()).unwrap_or(u64::MAX);
    if fired.at > budget {
        return Err(FailureKind::Livelock {
            reason: Livelock::SimTimeBudget {
                budget: world.config.max_sim_time,
                next_event_at: Instant::from_nanos(fired.at),
            },
            live: world.task_infos(),
        });
    }
    if fired.at > world.now.get() {
        world.now.set(fired.at);
        world.mark_time_advanced();
    }
    world.trace.record(TraceEvent::Timer, fired.at, fired.seq);
    match fired.due {
        Due::Timer(Some(waker)) => waker.wake(),
        Due::Timer(None) => {}
        Due::Event(event) => network::handle_event(world, event),
    }
    Ok(())
}

/// Drops every remaining task and timer while the world is still entered,
/// so their destructors can reach it. A destructor that panics is logged and
/// otherwise ignored: the run's result is already decided.
fn teardown(world: &World) {
    // A destructor may spawn; a few rounds drain those too.
    for _ in 0..8 {
        let entries = world.tasks.borrow_mut().drain();
        if entries.is_empty() {
            break;
        }
        for entry in entries {
            let name = entry.name.clone();
            if catch_unwind(AssertUnwindSafe(move || drop(entry))).is_err() {
                tracing::warn!(task = %name, "a task panicked while being dropped at the end of the simulation");
            }
        }
    }
    world.timers.borrow_mut().clear();
    world.ready.borrow_mut().clear();
}
