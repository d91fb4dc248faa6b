//! Directory recovery after the ring changes.
//!
//! When a host dies, the directory partition it owned dies with it, yet the
//! activations it listed may still run elsewhere. So after every ring
//! change each host reports its activations to their owners in the new
//! ring, and an owner treats its directory as possibly incomplete until
//! every live host has reported for that same ring. Until then, before it
//! places a new activation it asks each host that has not reported whether
//! it already runs the actor — and a host that does not answer makes the
//! registration fail rather than risk a second activation. There is no
//! time limit on this: an owner cut off from a live host keeps refusing to
//! place actors in doubt until that host reports or is declared dead.

use std::collections::{BTreeMap, BTreeSet};

use crate::transport::NodeId;

/// What this node knows about the reports of the current ring.
#[derive(Default)]
pub(crate) struct Recovery {
    /// The live hosts of this node's current view, sorted: the ring.
    ring: Vec<NodeId>,
    /// Hosts that have not reported their activations for `ring`.
    waiting: BTreeSet<NodeId>,
    /// The ring each host last reported for (a host may see a ring change
    /// before this node does).
    reported: BTreeMap<NodeId, Vec<NodeId>>,
    /// Owners this node has not yet reported its activations to.
    owed: BTreeSet<NodeId>,
    /// Whether this node's own activations of its own partitions are in
    /// its entries for `ring` (filled once per ring: later activations
    /// register through the directory).
    filled: bool,
}

impl Recovery {
    /// The ring changed to `hosts` (sorted): every other host must report
    /// (unless it already did, for this very ring), and this node owes a
    /// report to every other host unless it is a client (`client`).
    pub(crate) fn begin(&mut self, hosts: Vec<NodeId>, me: NodeId, client: bool) {
        self.reported.retain(|h, _| hosts.contains(h));
        let waiting = hosts
            .iter()
            .filter(|h| **h != me && self.reported.get(*h) != Some(&hosts))
            .copied()
            .collect();
        self.waiting = waiting;
        self.owed = if client {
            BTreeSet::new()
        } else {
            hosts.iter().filter(|h| **h != me).copied().collect()
        };
        self.ring = hosts;
        self.filled = false;
    }

    /// Whether a round of reports has anything to do: owners still owed a
    /// report, or this node's own partitions not yet filled for the ring.
    pub(crate) fn pending(&self) -> bool {
        !self.owed.is_empty() || !self.filled
    }

    /// This node's own partitions were filled for `ring`.
    pub(crate) fn filled_for(&mut self, ring: &[NodeId]) {
        if self.ring == ring {
            self.filled = true;
        }
    }

    /// Hosts that have not reported for the current ring.
    pub(crate) fn unreported(&self) -> Vec<NodeId> {
        self.waiting.iter().copied().collect()
    }

    /// The current ring, and the owners this node still owes a report.
    pub(crate) fn owed(&self) -> (Vec<NodeId>, BTreeSet<NodeId>) {
        (self.ring.clone(), self.owed.clone())
    }

    /// This node's report for `ring` reached `owner`.
    pub(crate) fn reported_to(&mut self, owner: NodeId, ring: &[NodeId]) {
        if self.ring == ring {
            self.owed.remove(&owner);
        }
    }

    /// `host` finished its report for `ring`.
    pub(crate) fn host_reported(&mut self, host: NodeId, ring: Vec<NodeId>) {
        if ring == self.ring {
            self.waiting.remove(&host);
        }
        self.reported.insert(host, ring);
    }
}
