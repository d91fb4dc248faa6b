//! Placement: nodes report their activation counts to the membership
//! table and `LeastLoaded` places on the host with the fewest;
//! `PreferLocal` places on the caller if it hosts the type, on a host
//! otherwise; `ConsistentHash` follows the ring; `Random` spreads.

use std::time::Duration;

use moonpool_sim::SimContext;

use super::{Hashed, Light, Local, Probe, cluster, eventually, touch};
use crate::id::ActorId;
use crate::node::MembershipTable as _;

#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn least_loaded_placement_prefers_the_least_loaded_host(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let (n1, n2, n3) = (
        cluster.node("node-1").unwrap(),
        cluster.node("node-2").unwrap(),
        cluster.node("node-3").unwrap(),
    );
    // 12 activations on node-1, 6 on node-2, none on node-3.
    for k in 0..12 {
        touch::<Local>(&sim, &n1, &format!("a{k}")).await;
    }
    for k in 0..6 {
        touch::<Local>(&sim, &n2, &format!("b{k}")).await;
    }
    assert_eq!((n1.activation_count(), n2.activation_count()), (12, 6));

    // Each node's row comes to show its count.
    let table = cluster.membership().clone();
    let want = [(n1.id(), 12), (n2.id(), 6), (n3.id(), 0)];
    let mut rows = Vec::new();
    let deadline = sim.now() + Duration::from_secs(5);
    while sim.now() < deadline {
        rows = table.snapshot().await.unwrap();
        if want
            .iter()
            .all(|(id, load)| rows.iter().any(|m| m.id == *id && m.load == *load))
        {
            break;
        }
        sim.sleep(Duration::from_millis(100)).await;
    }
    for (id, load) in want {
        let row = rows.iter().find(|m| m.id == id).expect("a row");
        assert_eq!(row.load, load, "the load in {id}'s row");
    }
    // Every node reads the loads (a probe interval later at most).
    eventually(&sim, Duration::from_secs(2), "the loads are read", || {
        [&n1, &n2, &n3].iter().all(|n| {
            n.inner
                .cluster
                .with_view(|v| v.members.iter().map(|m| m.load).sum::<u64>() == 18)
        })
    })
    .await;

    // New least-loaded actors go to node-3, whoever calls.
    for (k, via) in [&n1, &n2, &n1, &n3].into_iter().enumerate() {
        touch::<Light>(&sim, via, &format!("l{k}")).await;
        let id = ActorId::of::<Light>(format!("l{k}"));
        assert_eq!(cluster.host_of(&id).as_deref(), Some("node-3"), "{id}");
    }
}

/// An unchanged load is reported again every 10 s (the heartbeat of
/// tables that keep an "I am alive" time), not on every probe round: each
/// report is a write every node then reads.
#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn an_unchanged_load_is_reported_every_ten_seconds(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let table = cluster.membership().clone();
    // Settle: every node has made its first report.
    sim.sleep(Duration::from_secs(2)).await;
    let before = table.version().expect("the in-memory table has versions");
    sim.sleep(Duration::from_secs(35)).await;
    let writes = table.version().unwrap() - before;
    // Three nodes, three or four heartbeats each in 35 s; nothing else
    // changes in an idle cluster.
    assert!(
        (9..=12).contains(&writes),
        "{writes} writes to the table in 35 s of an idle three-node cluster"
    );
}

#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn each_placement_puts_new_activations_where_it_says(sim: SimContext) {
    let cluster = cluster(&sim, 3).await;
    let client = cluster.add_client("client").await.unwrap();
    let n2 = cluster.node("node-2").unwrap();
    let hosts = ["node-1", "node-2", "node-3"];

    // PreferLocal: on the caller when it hosts the type; a client hosts
    // nothing, so its calls go to a host.
    for k in 0..4 {
        touch::<Local>(&sim, &n2, &format!("mine{k}")).await;
        let id = ActorId::of::<Local>(format!("mine{k}"));
        assert_eq!(cluster.host_of(&id).as_deref(), Some("node-2"), "{id}");
        touch::<Local>(&sim, &client, &format!("theirs{k}")).await;
        let id = ActorId::of::<Local>(format!("theirs{k}"));
        let home = cluster.host_of(&id);
        assert!(
            home.as_deref().is_some_and(|h| hosts.contains(&h)),
            "{id} on {home:?}"
        );
    }
    assert_eq!(client.activation_count(), 0);

    // ConsistentHash: every host hosts the type, so its ring is the
    // directory's: the actor runs where its entry is kept, whoever calls.
    for k in 0..8 {
        touch::<Hashed>(&sim, &client, &format!("h{k}")).await;
        let id = ActorId::of::<Hashed>(format!("h{k}"));
        let owner = n2.directory_owner(&id).expect("an owner");
        assert_eq!(
            cluster.host_of(&id).map(|h| cluster.node(&h).unwrap().id()),
            Some(owner),
            "{id}"
        );
    }

    // Random: sixty actors called from one node spread over the hosts.
    let mut used = std::collections::BTreeSet::new();
    for k in 0..60 {
        touch::<Probe>(&sim, &n2, &format!("r{k}")).await;
        used.insert(cluster.host_of(&ActorId::of::<Probe>(format!("r{k}"))));
    }
    assert_eq!(used.len(), 3, "{used:?}");
}
