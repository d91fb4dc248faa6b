//! The directory: conflicting hand-offs and reports stop the duplicate,
//! deactivation removes exactly its entry, and after ring changes every
//! entry sits at its owner, none points at a dead node, and recovery
//! settles.

use std::time::Duration;

use moonpool_sim::SimContext;

use super::{
    Probe, activate_behind_the_directorys_back, cluster, eventually, node_with, probe, touch,
};
use crate::node::Node;
use crate::sim_cluster::SimCluster;
use crate::transport::NodeId;

/// `id`'s home, owner, and a third node hosting neither.
fn roles(cluster: &SimCluster, id: &crate::id::ActorId) -> (Node, Node, Node) {
    let home = cluster.node(&cluster.host_of(id).expect("a home")).unwrap();
    let owner = node_with(cluster, home.directory_owner(id).expect("an owner"));
    let other = cluster
        .running()
        .into_iter()
        .map(|(_, n)| n)
        .find(|n| n.id() != home.id())
        .expect("another node");
    (home, owner, other)
}

/// A `Probe` whose directory entry `owner` keeps.
fn key_owned_by(owner: &Node, prefix: &str) -> crate::id::ActorId {
    (0..)
        .map(|k| probe(format!("{prefix}{k}")))
        .find(|id| owner.directory_owner(id) == Some(owner.id()))
        .expect("some key")
}

/// A node id no member has.
fn stranger() -> NodeId {
    NodeId {
        addr: ([10, 9, 9, 9], 1).into(),
        incarnation: 7,
    }
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_conflicting_handoff_or_report_stops_the_duplicate(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let via = cluster.node("node-1").unwrap();
    let id = probe("p");
    assert_eq!(touch::<Probe>(&sim, &via, "p").await, 1);
    let (home, owner, dup) = roles(&cluster, &id);
    let directory = &owner.inner.directory;

    // A hand-off claiming the actor lives on `dup`: the entry stays, and
    // the activation on `dup` is the one stopped.
    activate_behind_the_directorys_back(&dup, &id);
    let losers = directory.accept_handoff(vec![(id.clone(), dup.id())]);
    assert_eq!(losers, vec![(dup.id(), id.clone())]);
    assert_eq!(
        directory.lookup(&id),
        Some(home.id()),
        "the entry was overwritten"
    );
    directory.stop_duplicates(losers);
    eventually(&sim, Duration::from_secs(5), "the duplicate stops", || {
        !dup.hosts(&id)
    })
    .await;
    assert!(home.hosts(&id));
    assert_eq!(touch::<Probe>(&sim, &via, "p").await, 2, "the home answers");

    // The same through a host's report.
    activate_behind_the_directorys_back(&dup, &id);
    let ring = owner.live_members();
    let losers = directory.accept_report(dup.id(), ring, vec![id.clone()], false);
    assert_eq!(losers, vec![(dup.id(), id.clone())]);
    assert_eq!(directory.lookup(&id), Some(home.id()));
    directory.stop_duplicates(losers);
    eventually(&sim, Duration::from_secs(5), "the duplicate stops", || {
        !dup.hosts(&id)
    })
    .await;
    assert_eq!(touch::<Probe>(&sim, &via, "p").await, 3);

    // An entry pointing at a node out of service (a stale hand-off can
    // bring one) is no home: the actor is placed on a live host.
    let stale = key_owned_by(&owner, "stale");
    assert!(
        directory
            .accept_handoff(vec![(stale.clone(), stranger())])
            .is_empty()
    );
    assert_eq!(directory.lookup(&stale), Some(stranger()));
    touch::<Probe>(&sim, &via, &stale.key).await;
    let placed = cluster.host_of(&stale).expect("placed on a host");
    assert_eq!(
        directory.lookup(&stale),
        Some(cluster.node(&placed).unwrap().id())
    );

    // No conflict: an agreeing entry changes nothing, a new one is taken,
    // and one pointing at a node out of service is replaced.
    let (q, r) = (probe("q"), probe("r"));
    let losers = directory.accept_handoff(vec![
        (id.clone(), home.id()),
        (q.clone(), dup.id()),
        (r.clone(), stranger()),
    ]);
    assert!(losers.is_empty(), "{losers:?}");
    assert_eq!(directory.lookup(&q), Some(dup.id()));
    assert_eq!(directory.lookup(&r), Some(stranger()));
    let losers = directory.accept_handoff(vec![(r.clone(), dup.id())]);
    assert!(losers.is_empty(), "{losers:?}");
    assert_eq!(directory.lookup(&r), Some(dup.id()));
    assert!(home.hosts(&id));
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_deactivated_actor_leaves_the_directory_and_only_it(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let via = cluster.node("node-1").unwrap();
    let keys: Vec<String> = (0..6).map(|k| format!("k{k}")).collect();
    for k in &keys {
        touch::<Probe>(&sim, &via, k).await;
    }
    let gone = probe("k0");
    let (home, owner, other) = roles(&cluster, &gone);

    // Unregistering for a node that is not the home changes nothing,
    // asked at the owner or through another node.
    owner
        .inner
        .directory
        .unregister(&gone, other.id())
        .await
        .unwrap();
    via.inner
        .directory
        .unregister(&gone, other.id())
        .await
        .unwrap();
    assert_eq!(owner.inner.directory.lookup(&gone), Some(home.id()));

    home.inner.host.get(&gone).expect("hosted").stop();
    eventually(&sim, Duration::from_secs(5), "the entry goes", || {
        owner.inner.directory.lookup(&gone).is_none()
    })
    .await;
    for k in &keys[1..] {
        let id = probe(k.clone());
        let (home, owner, _) = roles(&cluster, &id);
        assert_eq!(owner.inner.directory.lookup(&id), Some(home.id()), "{id}");
    }
    assert_eq!(
        touch::<Probe>(&sim, &via, "k0").await,
        1,
        "a new activation"
    );
}

/// Every node's entries are exactly the actors it owns, each pointing at
/// where the actor runs (none for an actor running nowhere).
fn entries_are_at_their_owners(cluster: &SimCluster, keys: &[String]) {
    let nodes: Vec<Node> = cluster.running().into_iter().map(|(_, n)| n).collect();
    for k in keys {
        let id = probe(k.clone());
        let home = cluster
            .host_of(&id)
            .map(|name| cluster.node(&name).unwrap().id());
        let owner = nodes[0].directory_owner(&id);
        for n in &nodes {
            assert_eq!(n.directory_owner(&id), owner, "the views disagree");
            let want = if Some(n.id()) == owner { home } else { None };
            assert_eq!(n.inner.directory.lookup(&id), want, "{id} at {}", n.id());
        }
    }
}

/// Waits until no running node counts `node` among the members in service
/// any more (a killed node is declared dead).
async fn gone_from_every_view(sim: &SimContext, cluster: &SimCluster, node: NodeId) {
    eventually(
        sim,
        Duration::from_secs(30),
        "the node leaves every view",
        || {
            cluster
                .running()
                .iter()
                .all(|(_, n)| !n.live_members().contains(&node))
        },
    )
    .await;
}

/// Waits until every host's directory recovery is done for its ring (a
/// client owns no partition: nobody reports to it).
async fn settled(sim: &SimContext, cluster: &SimCluster) {
    eventually(
        sim,
        Duration::from_secs(10),
        "directory recovery settles",
        || {
            cluster
                .running()
                .iter()
                .all(|(_, n)| n.inner.host.is_client() || n.inner.directory.recovery_settled())
        },
    )
    .await;
}

#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn after_ring_changes_entries_sit_at_their_owners(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let via = cluster.node("node-1").unwrap();
    let keys: Vec<String> = (0..24).map(|k| format!("k{k}")).collect();
    for k in &keys {
        touch::<Probe>(&sim, &via, k).await;
    }
    settled(&sim, &cluster).await;
    entries_are_at_their_owners(&cluster, &keys);

    // A node joins: the entries of the partitions it takes move to it.
    cluster.add_host("node-4").await.unwrap();
    settled(&sim, &cluster).await;
    entries_are_at_their_owners(&cluster, &keys);

    // A node dies: no entry or cached location points at it any more, and
    // the other entries stay. (Every node has called every actor first.)
    for (_, n) in cluster.running() {
        for k in &keys {
            touch::<Probe>(&sim, &n, k).await;
        }
    }
    let dead = cluster.node("node-2").unwrap().id();
    cluster.kill("node-2").unwrap();
    gone_from_every_view(&sim, &cluster, dead).await;
    settled(&sim, &cluster).await;
    entries_are_at_their_owners(&cluster, &keys);
    for (_, n) in cluster.running() {
        let stale: Vec<_> = n
            .inner
            .directory
            .all_entries()
            .into_iter()
            .filter(|(_, home)| *home == dead)
            .collect();
        assert!(
            stale.is_empty(),
            "entries pointing at the dead node: {stale:?}"
        );
        assert!(
            !n.inner.router.cached_homes().contains(&dead),
            "a cached location on the dead node"
        );
    }
    // Its actors come back elsewhere, entered at their owners.
    for k in &keys {
        touch::<Probe>(&sim, &via, k).await;
    }
    entries_are_at_their_owners(&cluster, &keys);
}

/// While placements are held after a death (until the dead node's lease
/// has surely run out), an actor that lives on a surviving node is still
/// found at once: only new activations wait.
#[moonpool::sim_test(
    seeds = 10,
    faults = "calm",
    coverage = "strict",
    coverage_of = ["moonpool_core::service_tests::directory"]
)]
async fn a_live_actor_is_found_at_once_while_placements_are_held(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let via = cluster.node("node-1").unwrap();
    let client = cluster.add_client("client").await.unwrap();
    let keys: Vec<String> = (0..12).map(|k| format!("k{k}")).collect();
    for k in &keys {
        touch::<Probe>(&sim, &via, k).await;
    }
    let doomed = cluster.node("node-2").unwrap().id();
    // Actors living elsewhere whose entries stay where they are.
    let kept: Vec<&String> = keys
        .iter()
        .filter(|k| {
            let id = probe(k.as_str());
            cluster.host_of(&id).as_deref() != Some("node-2")
                && via.directory_owner(&id) != Some(doomed)
        })
        .collect();
    moonpool_sim::sometimes!(!kept.is_empty(), "an actor outlives node-2 where it is");
    settled(&sim, &cluster).await;
    cluster.kill("node-2").unwrap();
    gone_from_every_view(&sim, &cluster, doomed).await;
    let mut checked = 0;
    for k in kept {
        let id = probe(k.as_str());
        let owner = node_with(&cluster, via.directory_owner(&id).unwrap());
        let held = owner.inner.cluster.lease.placements_held_until();
        let start = sim.now();
        if start + Duration::from_millis(500) >= held {
            break;
        }
        touch::<Probe>(&sim, &client, k).await;
        let took = sim.now() - start;
        assert!(
            took < Duration::from_millis(500),
            "{id} took {took:?} (held until {held})"
        );
        checked += 1;
    }
    moonpool_sim::sometimes!(
        checked > 0,
        "a live actor was called during a placement hold"
    );
}
