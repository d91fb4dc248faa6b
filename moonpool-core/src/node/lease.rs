//! Fencing: when the cluster declares a node dead, its actors are placed
//! anew elsewhere — so the dead node must have stopped serving first, even
//! when it cannot hear that it was declared dead.
//!
//! ```text
//!  the node:      reads the table, sees itself Alive at C ──▶ serves until C + lease
//!  the cluster:   declares it dead at T ≥ C
//!  a survivor:    learns of it at L ≥ T ──▶ places nothing new until L + lease + margin
//! ```
//!
//! A node serves (runs turns for calls, sends calls from its turns) only
//! within `lease` of the start of its last membership read that showed it
//! alive; a read that shows it dead fences it at once, for good. A node
//! that learns of a death places no new activation until `lease + margin`
//! later: by then the dead node has stopped, whether or not it heard.
//! Calls and directory traffic from a node this node's view has as dead
//! are refused, so a message the dead node sent before it stopped cannot
//! land after its actors moved. (The guarantee assumes that the nodes'
//! clocks run at about the same rate; the margin covers timers that fire
//! late and messages in flight.)

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use moonpool_sim::Instant;

use crate::actor::CallError;
use crate::sync::lock;
use crate::transport::NodeId;

/// This node's lease on serving, and the placement hold after deaths.
pub(crate) struct Lease {
    length: Duration,
    margin: Duration,
    /// When the last read that showed this node alive started (provider
    /// clock, nanoseconds plus one, so that 0 means never).
    confirmed: AtomicU64,
    /// No new activation is placed before this (nanoseconds).
    hold_until: AtomicU64,
    /// Members this node's view has as dead: their requests are refused.
    dead: Mutex<BTreeSet<NodeId>>,
    /// Whether `dead` holds anyone: every request asks [`Lease::is_dead`],
    /// and while no one is dead it need not take the lock.
    any_dead: AtomicBool,
}

impl Lease {
    /// A lease of `length`; placements wait `length + margin` after a death.
    pub(crate) fn new(length: Duration, margin: Duration) -> Self {
        Self {
            length,
            margin,
            confirmed: AtomicU64::new(0),
            hold_until: AtomicU64::new(0),
            dead: Mutex::default(),
            any_dead: AtomicBool::new(false),
        }
    }

    /// A membership read that started at `read_started` showed this node
    /// alive.
    pub(crate) fn confirm(&self, read_started: Instant) {
        // Relaxed: a timestamp read on its own; nothing is published with it.
        self.confirmed
            .fetch_max(read_started.as_nanos().saturating_add(1), Ordering::Relaxed);
    }

    /// Whether this node may serve at `now`.
    pub(crate) fn serving(&self, now: Instant) -> bool {
        match self.confirmed.load(Ordering::Relaxed) {
            0 => false,
            plus_one => now < Instant::from_nanos(plus_one - 1).saturating_add(self.length),
        }
    }

    /// The error for a call this node cannot serve because its lease ran
    /// out.
    pub(crate) fn lapsed(&self) -> CallError {
        CallError::MembershipUnconfirmed { lease: self.length }
    }

    /// A death was learned at `now`: hold placements.
    pub(crate) fn hold_placements(&self, now: Instant) {
        let until = now.saturating_add(self.length + self.margin);
        self.hold_until
            .fetch_max(until.as_nanos(), Ordering::Relaxed);
    }

    /// Until when new placements wait.
    pub(crate) fn placements_held_until(&self) -> Instant {
        Instant::from_nanos(self.hold_until.load(Ordering::Relaxed))
    }

    /// The members the view has as dead.
    pub(crate) fn set_dead(&self, dead: BTreeSet<NodeId>) {
        let mut held = lock(&self.dead);
        *held = dead;
        // Under the lock: stores follow the sets they describe.
        self.any_dead.store(!held.is_empty(), Ordering::Release);
    }

    /// Whether `node` was declared dead, as far as this node knows.
    pub(crate) fn is_dead(&self, node: &NodeId) -> bool {
        self.any_dead.load(Ordering::Acquire) && lock(&self.dead).contains(node)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serving_lasts_a_lease_from_the_last_confirmation() {
        let lease = Lease::new(Duration::from_secs(2), Duration::from_millis(500));
        let at = |ms: u64| Instant::from_nanos(ms * 1_000_000);
        assert!(!lease.serving(at(1)), "never confirmed");
        lease.confirm(at(0));
        assert!(lease.serving(at(1_999)), "a read at time zero counts");
        assert!(!lease.serving(at(2_000)));
        lease.confirm(at(1_000));
        assert!(lease.serving(at(2_999)));
        assert!(!lease.serving(at(3_000)));
        lease.confirm(at(500)); // an older read confirms nothing newer
        assert!(!lease.serving(at(3_000)));
        lease.confirm(at(2_500));
        assert!(lease.serving(at(4_000)));
    }

    #[test]
    fn placements_wait_a_lease_and_a_margin_after_the_latest_death() {
        let lease = Lease::new(Duration::from_secs(2), Duration::from_millis(500));
        let at = |ms: u64| Instant::from_nanos(ms * 1_000_000);
        assert_eq!(lease.placements_held_until(), Instant::from_nanos(0));
        lease.hold_placements(at(10_000));
        assert_eq!(lease.placements_held_until(), at(12_500));
        lease.hold_placements(at(9_000));
        assert_eq!(lease.placements_held_until(), at(12_500));
        let n = NodeId {
            addr: "10.0.0.2:7000".parse().unwrap(),
            incarnation: 3,
        };
        assert!(!lease.is_dead(&n));
        lease.set_dead([n].into());
        assert!(lease.is_dead(&n));
        let other = NodeId {
            incarnation: 4,
            ..n
        };
        assert!(!lease.is_dead(&other));
        // A view with no one dead again refuses no one.
        lease.set_dead(BTreeSet::new());
        assert!(!lease.is_dead(&n));
    }
}
