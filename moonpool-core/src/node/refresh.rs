//! The directory's side of a membership change: re-read the table and,
//! when the ring changed, move entries to their new owners, drop those of
//! nodes gone, and begin a directory recovery (see `recovery.rs`).

use std::collections::BTreeMap;

use tracing::Instrument as _;

use super::cluster::Read;
use super::directory::{DIRECTORY_TIMEOUT, Directory};
use super::protocol::DirectoryRequest;
use super::view::View;
use crate::id::{ActorId, IdMap};
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
        let Sorted { gone, by_owner } = sort_entries(&mut lock(&self.entries), view, me);
        for (node, actors) in gone {
            tracing::info!(%node, actors, "the actors of a node gone will activate elsewhere on their next call (directory entries dropped)");
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

/// What a new view does to a node's directory entries.
#[derive(Debug, Default)]
struct Sorted {
    /// Entries dropped, by the node out of service they pointed at.
    gone: BTreeMap<NodeId, usize>,
    /// Entries to hand over, by their new owner (never this node).
    by_owner: BTreeMap<NodeId, Vec<(ActorId, NodeId)>>,
}

/// Sorts `entries` for `view`, as seen by `me`: drops those pointing at a
/// node out of service, takes out those another node now owns, and keeps
/// the rest.
fn sort_entries(entries: &mut IdMap<NodeId>, view: &View, me: NodeId) -> Sorted {
    let mut sorted = Sorted::default();
    entries.retain(|id, home| {
        if !view.is_serving(*home) {
            *sorted.gone.entry(*home).or_default() += 1;
            return false;
        }
        match view.owner(id) {
            Some(owner) if owner != me => {
                sorted
                    .by_owner
                    .entry(owner)
                    .or_default()
                    .push((id.clone(), *home));
                false
            }
            _ => true,
        }
    });
    sorted
}

#[cfg(test)]
mod tests {
    use crate::id::{ActorId, IdMap};
    use crate::node::membership::{Member, MemberStatus};
    use crate::node::refresh::sort_entries;
    use crate::node::view::View;
    use crate::transport::NodeId;

    fn probe(key: usize) -> ActorId {
        ActorId {
            type_name: "Probe".into(),
            key: format!("k{key}").into(),
        }
    }

    #[test]
    fn a_new_view_keeps_moves_and_drops_entries() {
        let (a, b, gone) = (NodeId::test(1), NodeId::test(2), NodeId::test(3));
        let view = View::new(vec![
            Member::test(1, MemberStatus::Alive, &["Probe"]),
            Member::test(2, MemberStatus::Alive, &["Probe"]),
            Member::test(3, MemberStatus::Dead, &["Probe"]),
        ]);
        let mut entries = IdMap::default();
        for k in 0..64 {
            let home = [a, b, gone][k % 3];
            entries.insert(probe(k), home);
        }
        let before = entries.clone();
        let sorted = sort_entries(&mut entries, &view, a);

        for (id, home) in &before {
            let kept = entries.get(id);
            let handed = sorted
                .by_owner
                .get(&b)
                .is_some_and(|moving| moving.contains(&(id.clone(), *home)));
            if *home == gone {
                assert!(kept.is_none() && !handed, "{id} points at a node gone");
            } else if view.owner(id) == Some(a) {
                assert_eq!(kept, Some(home), "{id} is a's own: it stays");
                assert!(!handed);
            } else {
                assert!(kept.is_none() && handed, "{id} is b's now: handed to it");
            }
        }
        assert_eq!(
            sorted.gone.get(&gone),
            Some(&before.values().filter(|h| **h == gone).count())
        );
        assert!(
            !sorted.by_owner.contains_key(&a),
            "nothing is handed to itself"
        );
        assert!(
            !entries.is_empty() && sorted.by_owner.contains_key(&b),
            "the keys cover both owners"
        );
    }
}
