//! Directory recovery's reports: after a ring change each host tells the
//! owners of its activations' partitions that it runs them, and an owner
//! settles a host once its complete report for the current ring is in
//! (see `recovery.rs` for why).

use std::collections::BTreeMap;
use std::time::Duration;

use super::directory::Directory;
use super::protocol::DirectoryRequest;
use crate::id::ActorId;
use crate::sync::lock;
use crate::transport::{NodeId, TransportError};

/// Actors per report message (a report can span several).
const REPORT_CHUNK: usize = 1024;

impl Directory {
    /// Reports this node's activations to every owner it still owes a
    /// report for the current ring (its own partitions it fills in
    /// directly). Called on every watch round; a failed report is retried
    /// on the next. Once every report for the current ring is in, a round
    /// does nothing (it does not even look at the activations).
    pub(crate) async fn send_reports(&self, timeout: Duration) {
        let (ring, owed) = {
            let recovery = lock(&self.recovery);
            if !recovery.pending() {
                return;
            }
            recovery.owed()
        };
        let me = self.net.me();
        let mut by_owner: BTreeMap<NodeId, Vec<ActorId>> = BTreeMap::new();
        let hosted = self.host.ids();
        // Lock order: the view, then the entries.
        self.cluster.with_view(|view| {
            let mut dir = lock(&self.entries);
            for id in hosted {
                match view.owner(&id) {
                    Some(owner) if owner == me => {
                        dir.entry(id).or_insert(me);
                    }
                    Some(owner) if owed.contains(&owner) => {
                        by_owner.entry(owner).or_default().push(id);
                    }
                    _ => {}
                }
            }
        });
        lock(&self.recovery).filled_for(&ring);
        for owner in owed {
            let actors = by_owner.remove(&owner).unwrap_or_default();
            match self.report_to(owner, &ring, actors, timeout).await {
                Ok(()) => lock(&self.recovery).reported_to(owner, &ring),
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
            let req = DirectoryRequest::Report {
                host: self.net.me(),
                ring: ring.to_vec(),
                actors,
                complete: i == last,
            };
            self.net.request(owner, &req, timeout).await?;
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
            lock(&self.recovery).host_reported(host, ring);
        }
        losers
    }
}
