//! The directory's side of a membership change: re-read the table and,
//! when the ring changed, move entries to their new owners, drop those of
//! nodes gone, and begin a directory recovery (see `recovery.rs`).

use std::collections::BTreeMap;

use tracing::Instrument as _;

use super::cluster::Read;
use super::directory::{DIRECTORY_TIMEOUT, Directory};
use super::protocol::DirectoryRequest;
use super::view::View;
use crate::id::ActorId;
use crate::sync::lock;
use crate::transport::NodeId;

impl Directory {
    /// Re-reads the membership table (see [`Cluster::read`]); whether the
    /// ring changed. A node the table declares dead is fenced.
    ///
    /// [`Cluster::read`]: super::cluster::Cluster::read
    pub(crate) async fn refresh(&self) -> bool {
        let (read, declared_dead) = self.cluster.read().await;
        let changed = match read {
            Read::Same => return false,
            Read::Rows => false,
            Read::Ring { view, version } => {
                let span = tracing::info_span!("ring_change", version = ?version);
                self.rebalance(&view).instrument(span).await;
                let ring = view.ring_hosts();
                self.cluster.install(view, version);
                // Partitions may have moved or died with their node: until
                // every host has reported its activations, registrations
                // ask the hosts that have not (see `recovery.rs`).
                lock(&self.recovery).begin(ring, self.net.me(), self.host.is_client());
                true
            }
        };
        if declared_dead {
            self.host.fence();
        }
        changed
    }

    /// For the new `view`: drops entries that point at nodes gone, and
    /// hands entries this node no longer owns to their new owners.
    async fn rebalance(&self, view: &View) {
        let me = self.net.me();
        let mut moving: Vec<(NodeId, ActorId, NodeId)> = Vec::new();
        let mut gone: BTreeMap<NodeId, usize> = BTreeMap::new();
        {
            let mut dir = lock(&self.entries);
            dir.retain(|_, n| {
                let serving = view.is_serving(*n);
                if !serving {
                    *gone.entry(*n).or_default() += 1;
                }
                serving
            });
            dir.retain(|id, home| match view.owner(id) {
                Some(owner) if owner != me => {
                    moving.push((owner, id.clone(), *home));
                    false
                }
                _ => true,
            });
        }
        for (node, actors) in gone {
            tracing::info!(%node, actors, "the actors of a node gone will activate elsewhere on their next call (directory entries dropped)");
        }
        let mut by_owner: BTreeMap<NodeId, Vec<(ActorId, NodeId)>> = BTreeMap::new();
        for (owner, id, home) in moving {
            by_owner.entry(owner).or_default().push((id, home));
        }
        for (owner, entries) in by_owner {
            let count = entries.len();
            let req = DirectoryRequest::Handoff { entries };
            let span = tracing::info_span!("handoff", to = %owner, entries = count);
            let sent = self.net.request(owner, &req, DIRECTORY_TIMEOUT);
            match sent.instrument(span).await {
                Ok(_) => {
                    tracing::info!(%me, %owner, entries = count, "directory entries handed over")
                }
                Err(e) => {
                    tracing::warn!(%me, %owner, entries = count, error = %e, "directory handoff failed")
                }
            }
        }
    }
}
