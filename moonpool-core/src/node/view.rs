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

#[cfg(test)]
mod tests {
    use crate::node::membership::{Member, MemberStatus};
    use crate::node::view::View;
    use crate::transport::NodeId;

    /// node 1 alive, 2 leaving, 3 dead, 4 left, 5 an alive client; 6 is
    /// no member.
    fn view() -> View {
        View::new(vec![
            Member::test(3, MemberStatus::Dead, &["Probe"]),
            Member::test(1, MemberStatus::Alive, &["Probe"]),
            Member::test(5, MemberStatus::Alive, &[]),
            Member::test(2, MemberStatus::Leaving, &["Probe"]),
            Member::test(4, MemberStatus::Left, &["Probe"]),
        ])
    }

    #[test]
    fn only_alive_members_take_new_activations() {
        let v = view();
        let placeable: Vec<u16> = (1..=6)
            .filter(|p| v.is_placeable(NodeId::test(*p)))
            .collect();
        assert_eq!(
            placeable,
            vec![1, 5],
            "alive, whatever they host; not leaving, dead, left or unknown"
        );
    }

    #[test]
    fn leaving_members_still_serve() {
        let v = view();
        let serving: Vec<u16> = (1..=6).filter(|p| v.is_serving(NodeId::test(*p))).collect();
        assert_eq!(serving, vec![1, 2, 5]);
        assert_eq!(v.serving().count(), 3);
    }

    #[test]
    fn only_a_member_declared_dead_is_dead() {
        let v = view();
        let dead: Vec<u16> = (1..=6).filter(|p| v.is_dead(NodeId::test(*p))).collect();
        assert_eq!(dead, vec![3], "left is not dead; unknown is not dead");
    }

    #[test]
    fn the_ring_is_the_hosts_in_service_sorted() {
        let v = view();
        assert_eq!(
            v.ring_hosts(),
            vec![NodeId::test(1), NodeId::test(2)],
            "no client, nobody gone"
        );
        let owner = v.owner(&crate::id::ActorId {
            type_name: "Probe".into(),
            key: "k".into(),
        });
        assert!(
            owner == Some(NodeId::test(1)) || owner == Some(NodeId::test(2)),
            "{owner:?}"
        );
        assert_eq!(
            View::default().owner(&crate::id::ActorId {
                type_name: "Probe".into(),
                key: "k".into(),
            }),
            None,
            "an empty ring owns nothing"
        );
    }
}
