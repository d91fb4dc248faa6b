//! The node's idle collector: deactivates activations that have had no call
//! for their type's idle timeout.
//!
//! One task per node instead of a timer per activation (Orleans' activation
//! collector works the same way). Each watched activation has one entry in
//! a min-heap, keyed by the deadline it had when the entry was made. Calls
//! never touch the heap: they only move the activation's last activity.
//! When an entry comes due, the collector asks the activation
//! ([`Idle::check_idle`]):
//! - at rest and past its current deadline: it deactivates;
//! - called since the entry was made: it goes back into the heap at its new
//!   deadline;
//! - busy past its deadline: the collector lets it go, and its runner hands
//!   it back when it brings the actor to rest; due by then, it deactivates
//!   at once.
//!
//! So the collector wakes at most once per idle period of each activation,
//! and an activation deactivates exactly at its deadline, or as soon as the
//! turn running then ends. An activation that leaves for another reason
//! (a stop, a panic) stays in the heap, as a `Weak` that no longer
//! upgrades, until its entry comes due.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, Weak};

use moonpool_sim::{Instant, Providers};

use crate::actor::Idle;
use crate::sync::lock;

/// The activations a node watches for idleness, by deadline.
#[derive(Default)]
pub(crate) struct IdleCollector {
    due: Mutex<BinaryHeap<Reverse<Due>>>,
    /// Rung when a deadline sooner than every other is added, or on close.
    wake: tokio::sync::Notify,
    closed: AtomicBool,
}

/// One watched activation.
struct Due {
    at: Instant,
    /// The activation's generation: unique on the node, so entries with
    /// the same deadline still have one order on every run.
    generation: u64,
    activation: Weak<dyn Idle>,
}

impl Due {
    fn key(&self) -> (Instant, u64) {
        (self.at, self.generation)
    }
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

impl IdleCollector {
    /// Watches `activation` from `at` on.
    pub(crate) fn watch(&self, at: Instant, generation: u64, activation: Weak<dyn Idle>) {
        if self.push(at, generation, activation) {
            self.wake.notify_one();
        }
    }

    /// Adds an entry; returns whether it is now the soonest.
    fn push(&self, at: Instant, generation: u64, activation: Weak<dyn Idle>) -> bool {
        let mut due = lock(&self.due);
        let soonest = due.peek().is_none_or(|Reverse(first)| at < first.at);
        due.push(Reverse(Due {
            at,
            generation,
            activation,
        }));
        soonest
    }

    /// Stops the collector's task (the node is stopping or gone).
    pub(crate) fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        self.wake.notify_one();
    }

    fn is_closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn soonest(&self) -> Option<Instant> {
        lock(&self.due).peek().map(|Reverse(d)| d.at)
    }

    /// Removes and returns the entries due at `now`, with their
    /// generations.
    fn take_due(&self, now: Instant) -> Vec<(u64, Weak<dyn Idle>)> {
        let mut due = lock(&self.due);
        let mut taken = Vec::new();
        while due.peek().is_some_and(|Reverse(d)| d.at <= now) {
            if let Some(Reverse(d)) = due.pop() {
                taken.push((d.generation, d.activation));
            }
        }
        taken
    }
}

/// The collector's task: sleeps until the soonest deadline (or until a
/// sooner one is added), then checks what is due.
pub(crate) async fn collect(collector: Arc<IdleCollector>, p: Arc<Providers>) {
    loop {
        // Registered before the heap is read, so a sooner deadline added in
        // between still wakes this task.
        let woken = collector.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        if collector.is_closed() {
            return;
        }
        match collector.soonest() {
            None => woken.await,
            Some(at) => {
                let _ = p.timeout_at(at, woken).await;
            }
        }
        if collector.is_closed() {
            return;
        }
        let now = p.now();
        for (generation, activation) in collector.take_due(now) {
            let Some(activation) = activation.upgrade() else {
                continue;
            };
            let weak = Arc::downgrade(&activation);
            if let Some(at) = activation.check_idle(now) {
                // Not sooner than `now`: no need to wake this task.
                collector.push(at, generation, weak);
            }
        }
    }
}
