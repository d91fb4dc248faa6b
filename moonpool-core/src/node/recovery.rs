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
use std::time::Duration;

use super::protocol::NodeRequest;
use super::{NodeInner, View};
use crate::actor::ActorId;
use crate::sync::lock;
use crate::transport::{NodeId, TransportError};

/// Actors per report message (a report can span several).
const REPORT_CHUNK: usize = 1024;

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
}

/// The live hosts (members hosting actor types) of `view`, sorted.
pub(crate) fn ring_hosts(view: &View) -> Vec<NodeId> {
    let mut hosts: Vec<NodeId> = view
        .serving()
        .filter(|m| !m.hosts.is_empty())
        .map(|m| m.id)
        .collect();
    hosts.sort();
    hosts
}

impl NodeInner {
    /// The ring changed to `hosts`: wait for every other host's report,
    /// and owe one to each.
    pub(crate) fn begin_recovery(&self, hosts: Vec<NodeId>) {
        let me = self.node_id();
        let mut r = lock(&self.recovery);
        r.reported.retain(|h, _| hosts.contains(h));
        let waiting = hosts
            .iter()
            .filter(|h| **h != me && r.reported.get(*h) != Some(&hosts))
            .copied()
            .collect();
        r.waiting = waiting;
        r.owed = if self.hosts_no_types() {
            BTreeSet::new()
        } else {
            hosts.iter().filter(|h| **h != me).copied().collect()
        };
        r.ring = hosts;
    }

    /// Hosts whose activations this node's directory may still miss.
    pub(crate) fn unreported_hosts(&self) -> Vec<NodeId> {
        lock(&self.recovery).waiting.iter().copied().collect()
    }

    /// Reports this node's activations to every owner it still owes a
    /// report for the current ring (its own partitions it fills in
    /// directly). Called on every watch round; a failed report is retried
    /// on the next.
    pub(crate) async fn send_reports(&self, timeout: Duration) {
        let (ring, owed) = {
            let r = lock(&self.recovery);
            (r.ring.clone(), r.owed.clone())
        };
        let me = self.node_id();
        let mut by_owner: BTreeMap<NodeId, Vec<ActorId>> = BTreeMap::new();
        {
            let view = lock(&self.view);
            let hosted: Vec<ActorId> = lock(&self.activations).keys().cloned().collect();
            let mut dir = lock(&self.directory);
            for id in hosted {
                match view.ring.owner(&id) {
                    Some(owner) if owner == me => {
                        dir.entry(id).or_insert(me);
                    }
                    Some(owner) if owed.contains(&owner) => {
                        by_owner.entry(owner).or_default().push(id);
                    }
                    _ => {}
                }
            }
        }
        for owner in owed {
            let actors = by_owner.remove(&owner).unwrap_or_default();
            match self.report_to(owner, &ring, actors, timeout).await {
                Ok(()) => {
                    let mut r = lock(&self.recovery);
                    if r.ring == ring {
                        r.owed.remove(&owner);
                    }
                }
                Err(e) => {
                    tracing::debug!(node = %me, %owner, error = %e, "directory report failed; retrying next round");
                }
            }
        }
    }

    async fn report_to(
        &self,
        owner: NodeId,
        ring: &[NodeId],
        actors: Vec<ActorId>,
        timeout: Duration,
    ) -> Result<(), TransportError> {
        let mut chunks: Vec<Vec<ActorId>> = actors
            .chunks(REPORT_CHUNK)
            .map(<[ActorId]>::to_vec)
            .collect();
        if chunks.is_empty() {
            chunks.push(Vec::new());
        }
        let last = chunks.len() - 1;
        for (i, actors) in chunks.into_iter().enumerate() {
            let req = NodeRequest::Report {
                host: self.node_id(),
                ring: ring.to_vec(),
                actors,
                complete: i == last,
            };
            self.request(owner, &req, timeout).await?;
        }
        Ok(())
    }

    /// A host's report: its activations join the directory (a conflict
    /// with a live entry here is a duplicate, returned for stopping), and
    /// a complete report for this node's ring settles that host.
    pub(crate) fn accept_report(
        &self,
        host: NodeId,
        ring: Vec<NodeId>,
        actors: Vec<ActorId>,
        complete: bool,
    ) -> Vec<(NodeId, ActorId)> {
        let losers = self.accept_handoff(actors.into_iter().map(|a| (a, host)).collect());
        if complete {
            let mut r = lock(&self.recovery);
            if ring == r.ring {
                r.waiting.remove(&host);
            }
            r.reported.insert(host, ring);
        }
        losers
    }
}
