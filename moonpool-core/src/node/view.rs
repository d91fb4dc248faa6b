//! The cluster as this node last saw it: the membership rows and the ring
//! of hosts that owns the directory.

use super::membership::{Member, MemberStatus};
use super::ring::Ring;
use crate::id::ActorId;
use crate::transport::NodeId;

/// The cluster as this node last saw it.
#[derive(Default)]
pub(crate) struct View {
    pub(crate) members: Vec<Member>,
    pub(crate) ring: Ring,
}

impl View {
    /// A view of `members`, with the ring of the hosts in service.
    pub(crate) fn new(members: Vec<Member>) -> Self {
        let ring = Ring::new(Self::hosts_of(&members));
        Self { members, ring }
    }

    /// Members in service: alive, or leaving but not gone. They own
    /// directory partitions, may host activations, and are probed.
    pub(crate) fn serving(&self) -> impl Iterator<Item = &Member> {
        self.members.iter().filter(|m| m.status.in_service())
    }

    /// Whether `node` is in service: a directory entry or a cached
    /// location pointing at it is still good.
    pub(crate) fn is_serving(&self, node: NodeId) -> bool {
        self.serving().any(|m| m.id == node)
    }

    /// Whether a new activation may be placed on `node`: alive, not
    /// leaving.
    pub(crate) fn is_placeable(&self, node: NodeId) -> bool {
        self.members
            .iter()
            .any(|m| m.id == node && m.status == MemberStatus::Alive)
    }

    /// The node owning `id`'s directory entry.
    pub(crate) fn owner(&self, id: &ActorId) -> Option<NodeId> {
        self.ring.owner(id)
    }

    /// The hosts in service, sorted: the ring a directory recovery is for.
    pub(crate) fn ring_hosts(&self) -> Vec<NodeId> {
        Self::hosts_of(&self.members)
    }

    /// The hosts in service among `members`, sorted: the nodes of their
    /// ring.
    pub(crate) fn hosts_of(members: &[Member]) -> Vec<NodeId> {
        let mut hosts: Vec<NodeId> = members
            .iter()
            .filter(|m| m.status.in_service() && !m.hosts.is_empty())
            .map(|m| m.id)
            .collect();
        hosts.sort();
        hosts
    }

    /// Whether `node`'s row says it was declared dead.
    pub(crate) fn is_dead(&self, node: NodeId) -> bool {
        self.members
            .iter()
            .any(|m| m.id == node && m.status == MemberStatus::Dead)
    }
}
