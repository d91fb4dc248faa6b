//! The consistent-hash ring over live hosts: who owns which directory
//! partition (and where `ConsistentHash` placement puts an actor).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use moonpool_sim::{fnv1a, mix64};

use crate::actor::ActorId;
use crate::reminder::RingRange;
use crate::transport::NodeId;

/// Points per node on the ring: enough for an even spread.
const VIRTUAL_POINTS: u64 = 64;

/// A stable hash of a node's address (its incarnation left out, so a
/// restarted node takes back the same partitions).
fn hash_addr(addr: SocketAddr) -> u64 {
    let ip = match addr.ip() {
        IpAddr::V4(ip) => ip.to_ipv6_mapped().octets(),
        IpAddr::V6(ip) => ip.octets(),
    };
    let mut bytes = [0u8; 18];
    bytes[..16].copy_from_slice(&ip);
    bytes[16..].copy_from_slice(&addr.port().to_be_bytes());
    fnv1a(&bytes)
}

/// The ring.
#[derive(Clone, Debug, Default)]
pub(crate) struct Ring {
    points: BTreeMap<u64, NodeId>,
}

impl Ring {
    pub(crate) fn new(nodes: impl IntoIterator<Item = NodeId>) -> Self {
        let mut points = BTreeMap::new();
        for node in nodes {
            let base = hash_addr(node.addr);
            for p in 0..VIRTUAL_POINTS {
                points.insert(mix64(base ^ mix64(p)), node);
            }
        }
        Self { points }
    }

    /// The ranges of positions `node` owns (empty if it is not on the
    /// ring): each of its points owns the positions after the point
    /// before it, up to itself.
    pub(crate) fn ranges_of(&self, node: NodeId) -> Vec<RingRange> {
        let Some((&last, _)) = self.points.iter().next_back() else {
            return Vec::new();
        };
        let mut before = last;
        let mut ranges = Vec::new();
        for (&p, owner) in &self.points {
            if *owner == node {
                ranges.push(RingRange {
                    after: before,
                    through: p,
                });
            }
            before = p;
        }
        ranges
    }

    /// The node owning `id`, if the ring has any node.
    pub(crate) fn owner(&self, id: &ActorId) -> Option<NodeId> {
        let h = id.ring_position();
        self.points
            .range(h..)
            .next()
            .or_else(|| self.points.iter().next())
            .map(|(_, n)| *n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap as Map;

    fn id(k: u32) -> ActorId {
        ActorId {
            type_name: "T".into(),
            key: k.to_string().into(),
        }
    }

    #[test]
    fn spreads_evenly_and_moves_little_when_a_node_goes() {
        let three = Ring::new([NodeId::test(1), NodeId::test(2), NodeId::test(3)]);
        let mut counts: Map<NodeId, u32> = Map::new();
        for k in 0..3_000 {
            *counts.entry(three.owner(&id(k)).unwrap()).or_default() += 1;
        }
        assert!(
            counts.values().all(|&c| (600..1_400).contains(&c)),
            "{counts:?}"
        );
        let two = Ring::new([NodeId::test(1), NodeId::test(2)]);
        let moved = (0..3_000)
            .filter(|&k| {
                let before = three.owner(&id(k)).unwrap();
                before != NodeId::test(3) && two.owner(&id(k)).unwrap() != before
            })
            .count();
        assert_eq!(moved, 0, "keys of surviving nodes moved");
        // Each node's ranges hold exactly the keys it owns.
        for n in [NodeId::test(1), NodeId::test(2), NodeId::test(3)] {
            let ranges = three.ranges_of(n);
            assert_eq!(ranges.len() as u64, VIRTUAL_POINTS);
            for k in 0..3_000 {
                let p = id(k).ring_position();
                let inside = ranges.iter().any(|r| r.contains(p));
                assert_eq!(inside, three.owner(&id(k)) == Some(n), "key {k}");
            }
        }
        assert!(three.ranges_of(NodeId::test(9)).is_empty());
        let alone = Ring::new([NodeId::test(1)]);
        assert!((0..100).all(|k| {
            alone
                .ranges_of(NodeId::test(1))
                .iter()
                .any(|r| r.contains(id(k).ring_position()))
        }));
        assert_eq!(Ring::default().owner(&id(1)), None);
    }

    #[test]
    fn a_restarted_node_takes_back_the_same_partitions() {
        let restarted = NodeId {
            incarnation: 2,
            ..NodeId::test(2)
        };
        let before = Ring::new([NodeId::test(1), NodeId::test(2), NodeId::test(3)]);
        let after = Ring::new([NodeId::test(1), restarted, NodeId::test(3)]);
        for k in 0..1_000 {
            let (was, is) = (before.owner(&id(k)).unwrap(), after.owner(&id(k)).unwrap());
            assert_eq!(was.addr, is.addr, "key {k}");
        }
        // IPv6 hosts and ports spread too.
        let v6 = |port| NodeId {
            addr: SocketAddr::new("fd00::1".parse().unwrap(), port),
            incarnation: 1,
        };
        let ring = Ring::new([v6(1), v6(2)]);
        let on_first = (0..1_000)
            .filter(|&k| ring.owner(&id(k)) == Some(v6(1)))
            .count();
        assert!((300..700).contains(&on_first), "{on_first}");
    }
}
