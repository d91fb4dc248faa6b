//! The consistent-hash ring over live hosts: who owns which directory
//! partition (and where `ConsistentHash` placement puts an actor).

use std::collections::BTreeMap;

use moonpool_sim::{fnv1a, mix64};

use crate::actor::ActorId;
use crate::transport::NodeId;

/// Points per node on the ring: enough for an even spread.
const VIRTUAL_POINTS: u64 = 64;

/// A stable hash of an actor id.
pub(crate) fn hash_id(id: &ActorId) -> u64 {
    mix64(fnv1a(id.type_name.as_bytes()) ^ fnv1a(id.key.as_bytes()).rotate_left(17))
}

fn hash_node(node: &NodeId, point: u64) -> u64 {
    mix64(fnv1a(node.addr.to_string().as_bytes()) ^ mix64(point))
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
            for p in 0..VIRTUAL_POINTS {
                points.insert(hash_node(&node, p), node);
            }
        }
        Self { points }
    }

    /// The node owning `id`, if the ring has any node.
    pub(crate) fn owner(&self, id: &ActorId) -> Option<NodeId> {
        let h = hash_id(id);
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

    fn node(port: u16) -> NodeId {
        NodeId {
            addr: ([10, 0, 0, 1], port).into(),
            incarnation: 1,
        }
    }

    fn id(k: u32) -> ActorId {
        ActorId {
            type_name: "T".into(),
            key: k.to_string(),
        }
    }

    #[test]
    fn spreads_evenly_and_moves_little_when_a_node_goes() {
        let three = Ring::new([node(1), node(2), node(3)]);
        let mut counts: Map<NodeId, u32> = Map::new();
        for k in 0..3_000 {
            *counts.entry(three.owner(&id(k)).unwrap()).or_default() += 1;
        }
        assert!(
            counts.values().all(|&c| (600..1_400).contains(&c)),
            "{counts:?}"
        );
        let two = Ring::new([node(1), node(2)]);
        let moved = (0..3_000)
            .filter(|&k| {
                let before = three.owner(&id(k)).unwrap();
                before != node(3) && two.owner(&id(k)).unwrap() != before
            })
            .count();
        assert_eq!(moved, 0, "keys of surviving nodes moved");
        assert_eq!(Ring::default().owner(&id(1)), None);
    }
}
