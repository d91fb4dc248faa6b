//! Simulated sleeps: a timer in the world's queue, deregistered when the
//! sleep is dropped.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::timers::TimerId;
use super::world::{try_with_world, with_world};

/// A simulated timer; deregisters itself when dropped.
pub(crate) struct SimSleep {
    pub(super) world_id: u64,
    pub(super) deadline: u64,
    pub(super) timer: Option<TimerId>,
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
