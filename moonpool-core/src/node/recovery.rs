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

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ports: &[u16]) -> Vec<NodeId> {
        ports.iter().map(|p| NodeId::test(*p)).collect()
    }

    #[test]
    fn a_new_ring_waits_for_every_other_host_and_owes_each_a_report() {
        let mut r = Recovery::default();
        r.begin(ring(&[1, 2, 3]), NodeId::test(1), false);
        assert_eq!(r.unreported(), ring(&[2, 3]));
        let (now, owed) = r.owed();
        assert_eq!(now, ring(&[1, 2, 3]));
        assert_eq!(owed.into_iter().collect::<Vec<_>>(), ring(&[2, 3]));
        assert!(r.pending());
    }

    #[test]
    fn a_client_owes_no_reports_but_still_waits_for_the_hosts() {
        let mut r = Recovery::default();
        r.begin(ring(&[1, 2]), NodeId::test(9), true);
        assert_eq!(r.unreported(), ring(&[1, 2]));
        assert!(r.owed().1.is_empty());
        // Nothing owed, but its own partitions are not filled yet.
        assert!(r.pending());
        r.filled_for(&ring(&[1, 2]));
        assert!(!r.pending());
    }

    #[test]
    fn a_round_is_done_once_every_report_is_sent_and_the_partitions_filled() {
        let mut r = Recovery::default();
        let now = ring(&[1, 2, 3]);
        r.begin(now.clone(), NodeId::test(1), false);
        r.reported_to(NodeId::test(2), &now);
        r.filled_for(&now);
        assert!(r.pending(), "node 3 is still owed a report");
        r.reported_to(NodeId::test(3), &now);
        assert!(!r.pending());
        assert!(r.owed().1.is_empty());
    }

    #[test]
    fn reports_and_fills_for_an_older_ring_count_for_nothing() {
        let mut r = Recovery::default();
        let old = ring(&[1, 2, 3]);
        let now = ring(&[1, 2]);
        r.begin(old.clone(), NodeId::test(1), false);
        r.begin(now.clone(), NodeId::test(1), false);
        r.reported_to(NodeId::test(2), &old);
        r.filled_for(&old);
        r.host_reported(NodeId::test(2), old);
        assert_eq!(r.owed().1.into_iter().collect::<Vec<_>>(), ring(&[2]));
        assert!(r.pending());
        assert_eq!(r.unreported(), ring(&[2]));
    }

    #[test]
    fn a_complete_report_settles_its_host() {
        let mut r = Recovery::default();
        let now = ring(&[1, 2, 3]);
        r.begin(now.clone(), NodeId::test(1), false);
        r.host_reported(NodeId::test(3), now.clone());
        assert_eq!(r.unreported(), ring(&[2]));
        r.host_reported(NodeId::test(2), now);
        assert!(r.unreported().is_empty());
    }

    #[test]
    fn a_report_for_a_ring_this_node_has_not_seen_yet_is_kept_for_it() {
        // Host 2 saw the ring change first and reported for it; when this
        // node catches up it must not wait for a second report.
        let mut r = Recovery::default();
        let old = ring(&[1, 2, 3]);
        let now = ring(&[1, 2]);
        r.begin(old, NodeId::test(1), false);
        r.host_reported(NodeId::test(2), now.clone());
        assert_eq!(r.unreported(), ring(&[2, 3]), "not for the current ring");
        r.begin(now, NodeId::test(1), false);
        assert!(r.unreported().is_empty());
    }

    #[test]
    fn a_host_that_left_the_ring_forgets_its_report() {
        // Host 2 reported for a ring, left it, and came back: its old
        // report says nothing about what it runs now.
        let mut r = Recovery::default();
        let with = ring(&[1, 2]);
        r.begin(with.clone(), NodeId::test(1), false);
        r.host_reported(NodeId::test(2), with.clone());
        r.begin(ring(&[1]), NodeId::test(1), false);
        r.begin(with, NodeId::test(1), false);
        assert_eq!(r.unreported(), ring(&[2]));
    }
}
