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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex, Weak};
    use std::time::Duration;

    use moonpool_sim::chaos::FaultConfig;
    use moonpool_sim::{Instant, Simulation};

    use crate::actor::Idle;
    use crate::node::idle::{Due, IdleCollector, collect};

    /// Checks made, as (activation, when).
    type Checks = Arc<Mutex<Vec<(u64, Instant)>>>;

    /// An activation that records its checks and asks to be checked again
    /// at the deadlines in `again`, one per check, then no more.
    struct Fake {
        name: u64,
        checks: Checks,
        again: Mutex<Vec<Instant>>,
    }

    impl Fake {
        fn new(name: u64, checks: &Checks, again: Vec<Instant>) -> Arc<Self> {
            Arc::new(Self {
                name,
                checks: Arc::clone(checks),
                again: Mutex::new(again),
            })
        }
    }

    impl Idle for Fake {
        fn check_idle(self: Arc<Self>, now: Instant) -> Option<Instant> {
            self.checks.lock().unwrap().push((self.name, now));
            let mut again = self.again.lock().unwrap();
            (!again.is_empty()).then(|| again.remove(0))
        }
    }

    fn nobody() -> Weak<dyn Idle> {
        Weak::<Fake>::new()
    }

    fn at(ms: u64) -> Instant {
        Instant::from_nanos(ms * 1_000_000)
    }

    fn generations(taken: Vec<(u64, Weak<dyn Idle>)>) -> Vec<u64> {
        taken.into_iter().map(|(g, _)| g).collect()
    }

    /// Entries come due in deadline order, then generation order (one
    /// order on every run), and only once their deadline has come; `push`
    /// says whether the entry is now the soonest (a strictly sooner
    /// deadline: one the collector's task must be woken for).
    #[test]
    fn entries_come_due_by_deadline_then_generation() {
        let c = IdleCollector::default();
        assert_eq!(c.soonest(), None);
        assert!(
            c.push(at(30), 3, nobody()),
            "the first entry is the soonest"
        );
        assert!(c.push(at(10), 5, nobody()), "a sooner deadline");
        assert!(
            !c.push(at(10), 4, nobody()),
            "the same deadline is not sooner"
        );
        assert!(!c.push(at(20), 1, nobody()), "a later deadline");
        assert_eq!(c.soonest(), Some(at(10)));
        assert!(c.take_due(at(9)).is_empty(), "nothing is due yet");
        assert_eq!(generations(c.take_due(at(20))), vec![4, 5, 1]);
        assert_eq!(c.soonest(), Some(at(30)));
        assert_eq!(generations(c.take_due(at(100))), vec![3]);
        assert_eq!(c.soonest(), None);
    }

    /// Equality agrees with the order: same deadline and generation.
    #[test]
    fn entries_are_equal_when_their_keys_are() {
        let due = |ms, generation| Due {
            at: at(ms),
            generation,
            activation: nobody(),
        };
        assert!(due(10, 1) == due(10, 1));
        assert!(due(10, 1) != due(10, 2));
        assert!(due(10, 1) != due(11, 1));
        assert!(due(10, 2) < due(11, 1));
    }

    /// The collector's task checks each watched activation at its deadline
    /// (woken early for a sooner one added while it sleeps), checks again
    /// one that was called meanwhile, skips one that is gone, and ends when
    /// closed. (Calm: no clock drift, so a timer fires at its deadline.)
    #[test]
    fn the_task_checks_each_activation_at_its_deadline_until_closed() {
        Simulation::new(1)
            .faults(FaultConfig::calm())
            .run(|sim| async move {
                let p = Arc::new(sim.providers());
                let t0 = sim.now();
                let ms = |n| t0.saturating_add(Duration::from_millis(n));
                let checks = Checks::default();
                let c = Arc::new(IdleCollector::default());
                let task = p.spawn(collect(Arc::clone(&c), Arc::clone(&p)));

                let called = Fake::new(1, &checks, vec![ms(250)]);
                c.watch(ms(100), 1, Arc::downgrade(&called) as Weak<dyn Idle>);
                sim.sleep(Duration::from_millis(10)).await;
                let quiet = Fake::new(2, &checks, Vec::new());
                c.watch(ms(50), 2, Arc::downgrade(&quiet) as Weak<dyn Idle>);
                let gone = Fake::new(3, &checks, Vec::new());
                c.watch(ms(60), 3, Arc::downgrade(&gone) as Weak<dyn Idle>);
                drop(gone);
                sim.sleep(Duration::from_millis(400)).await;

                let seen = checks.lock().unwrap().clone();
                let names: Vec<u64> = seen.iter().map(|(n, _)| *n).collect();
                assert_eq!(names, vec![2, 1, 1], "{seen:?}");
                for ((_, when), deadline) in seen.iter().zip([ms(50), ms(100), ms(250)]) {
                    assert!(
                        *when >= deadline
                            && *when < deadline.saturating_add(Duration::from_millis(20)),
                        "checked at {when:?} for a deadline at {deadline:?}"
                    );
                }

                c.close();
                let ended = p.timeout_at(sim.now().saturating_add(Duration::from_secs(1)), task);
                assert!(ended.await.is_ok(), "the task went on after close");
            })
            .unwrap();
    }
}
