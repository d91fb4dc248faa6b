//! `SimCluster`: the testing guide's failover test, and what the helper
//! promises (names, kill, restart, partition, isolate, clients, per-node
//! configuration, errors in words).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::future::Future;
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::{SimCluster, SimClusterError};

/// A value that survives its node: saved before `put` answers.
#[moonpool::actor(state)]
pub struct Register {
    #[state]
    value: Persisted<u64>,
}

#[moonpool::actor_impl]
impl Register {
    /// Stores `v` (an error if the save failed: nothing was stored).
    pub async fn put(&mut self, v: u64) -> Result<(), String> {
        *self.value = v;
        self.value.save().await.map_err(|e| e.to_string())
    }

    /// The stored value.
    pub async fn get(&self) -> u64 {
        *self.value
    }
}

/// Another type, for a node that hosts only it.
#[moonpool::actor]
#[derive(Default)]
pub struct Other;

#[moonpool::actor_impl]
impl Other {
    /// Answers.
    pub async fn ping(&self) -> bool {
        true
    }
}

/// Calls until the call gets through the faults.
async fn retry<T, F: Future<Output = Result<T, CallError>>>(
    sim: &SimContext,
    call: impl Fn() -> F,
) -> T {
    loop {
        match call().await {
            Ok(reply) => return reply,
            Err(_) => sim.sleep(Duration::from_millis(200)).await,
        }
    }
}

// The failover test of the README's testing guide, as written there.
#[moonpool::sim_test(seeds = 200)]
async fn an_actor_moves_when_its_node_dies(sim: SimContext) {
    let cluster = SimCluster::builder(&sim, "failover")
        .hosts(2)
        .start()
        .await
        .unwrap();
    let client = cluster.add_client("client").await.unwrap();
    let register = client.actor::<Register>("r");
    while retry(&sim, || register.put(7)).await.is_err() {}
    let first = cluster.host_of(register.id()).unwrap();
    cluster.kill(&first).unwrap();
    // Faults may have had the other host declared dead too (of two hosts,
    // one vote is enough): bring it back, as its supervisor would.
    cluster.restart_declared_dead().await.unwrap();
    assert_eq!(retry(&sim, || register.get()).await, 7);
    let second = cluster.host_of(register.id()).unwrap();
    assert_ne!(first, second);
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn nodes_are_reached_by_name_and_listen_on_their_process_address(sim: SimContext) {
    let cluster = SimCluster::builder(&sim, "names")
        .port(7100)
        .start()
        .await
        .unwrap();
    assert_eq!(cluster.names(), ["node-1", "node-2", "node-3"]);
    for name in cluster.names() {
        let node = cluster.node(&name).unwrap();
        let process = cluster.process(&name).unwrap();
        assert_eq!(node.id().addr.ip(), sim.ip_of(process));
        assert_eq!(node.id().addr.port(), 7100);
        // Formed: every node sees the three hosts.
        assert_eq!(node.live_members().len(), 3);
    }
    let err = cluster.node("node-9").unwrap_err();
    assert!(matches!(err, SimClusterError::UnknownNode { .. }));
    assert_eq!(
        err.to_string(),
        "no node named `node-9` in the cluster; its nodes are [\"node-1\", \"node-2\", \"node-3\"]"
    );
    let dup = cluster.add_client("node-2").await.unwrap_err();
    assert_eq!(
        dup.to_string(),
        "the cluster already has a node named `node-2`"
    );
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_killed_node_is_down_until_restarted_with_a_new_identity(sim: SimContext) {
    let cluster = SimCluster::builder(&sim, "restart")
        .hosts(2)
        .start()
        .await
        .unwrap();
    let before = cluster.node("node-2").unwrap().id();
    cluster.kill("node-2").unwrap();
    cluster.kill("node-2").unwrap(); // already down: nothing to do
    assert!(matches!(
        cluster.node("node-2"),
        Err(SimClusterError::NotRunning(name)) if name == "node-2"
    ));
    assert_eq!(cluster.running().len(), 1);
    let after = cluster.restart("node-2").await.unwrap();
    assert_eq!(after.id().addr, before.addr);
    assert_ne!(
        after.id(),
        before,
        "a restarted node joins as a new incarnation"
    );
    cluster.wait_formed().await.unwrap();
    assert!(
        cluster
            .node("node-1")
            .unwrap()
            .live_members()
            .contains(&after.id())
    );
    // State written before the crash is read after it.
    let r = after.actor::<Register>("kept");
    while retry(&sim, || r.put(3)).await.is_err() {}
    cluster.restart("node-1").await.unwrap();
    cluster.restart("node-2").await.unwrap();
    let client = cluster.add_client("reader").await.unwrap();
    assert_eq!(
        retry(&sim, || client.actor::<Register>("kept").get()).await,
        3
    );
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn an_isolated_node_is_declared_dead_and_a_partition_heals(sim: SimContext) {
    let cluster = SimCluster::builder(&sim, "cut")
        .configure(|_, node| {
            node.failure_detection(Duration::from_millis(300), Duration::from_millis(300), 3)
        })
        .start()
        .await
        .unwrap();
    let victim = cluster.node("node-3").unwrap().id();
    cluster.isolate("node-3").unwrap();
    let n1 = cluster.node("node-1").unwrap();
    while n1.live_members().contains(&victim) {
        sim.sleep(Duration::from_millis(100)).await;
    }
    // A partition between two nodes, healed: calls go through again.
    cluster.partition("node-1", "node-2").unwrap();
    sim.sleep(Duration::from_millis(200)).await;
    cluster.heal("node-1", "node-2").unwrap();
    let r = n1.actor::<Register>("after-heal");
    while retry(&sim, || r.put(1)).await.is_err() {}
    assert!(matches!(
        cluster.partition("node-1", "nobody"),
        Err(SimClusterError::UnknownNode { .. })
    ));
}

/// A host declared dead stays fenced until something restarts it;
/// `restart_declared_dead` does, as a supervisor would, and only it.
#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_host_declared_dead_is_restarted_like_a_supervisor_would(sim: SimContext) {
    let cluster = SimCluster::builder(&sim, "supervised")
        .configure(|_, node| {
            node.failure_detection(Duration::from_millis(300), Duration::from_millis(300), 3)
        })
        .start()
        .await
        .unwrap();
    assert!(cluster.restart_declared_dead().await.unwrap().is_empty());
    let fenced = cluster.node("node-3").unwrap();
    cluster.isolate("node-3").unwrap();
    while !fenced.is_stopped() {
        sim.sleep(Duration::from_millis(100)).await;
    }
    cluster.heal_all();
    sim.sleep(Duration::from_secs(2)).await;
    assert!(
        fenced.is_stopped(),
        "a fenced host does not come back by itself"
    );
    assert_eq!(cluster.restart_declared_dead().await.unwrap(), ["node-3"]);
    let back = cluster.node("node-3").unwrap();
    assert_ne!(back.id(), fenced.id());
    assert!(!back.is_stopped());
    cluster.wait_formed().await.unwrap();
    assert!(cluster.restart_declared_dead().await.unwrap().is_empty());
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn each_node_can_be_configured_by_name(sim: SimContext) {
    let cluster = SimCluster::builder(&sim, "configured")
        .hosts(2)
        // node-2 hosts only `Other`: every Register lives on node-1.
        .configure(|name, node| {
            if name == "node-2" {
                node.host::<Other>()
            } else {
                node
            }
        })
        .start()
        .await
        .unwrap();
    let client = cluster.add_client("client").await.unwrap();
    for key in ["a", "b", "c", "d"] {
        let r = client.actor::<Register>(key);
        while retry(&sim, || r.put(1)).await.is_err() {}
        assert_eq!(cluster.host_of(r.id()).as_deref(), Some("node-1"));
        assert!(cluster.hosts::<Register>("node-1", key).unwrap());
    }
    // A client hosts nothing.
    assert_eq!(client.activation_count(), 0);
}

#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn a_node_that_cannot_start_is_an_error_naming_it(sim: SimContext) {
    let err = SimCluster::builder(&sim, "broken")
        .hosts(2)
        .configure(|name, node| {
            if name == "node-2" {
                // Not this machine's address.
                node.listen("10.9.9.9:7000".parse().unwrap())
            } else {
                node
            }
        })
        .start()
        .await
        .err()
        .expect("node-2 cannot start");
    let text = err.to_string();
    assert!(
        text.starts_with("node `node-2` could not start: "),
        "{text}"
    );
    assert!(text.contains("10.9.9.9"), "{text}");
}

#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn a_node_built_by_hand_without_an_address_listens_on_its_process_s(sim: SimContext) {
    // What the helper relies on, and what a hand-built client gets: no
    // `listen`, and the node binds its own process's address.
    let node = Node::builder("by-hand")
        .providers(sim.providers())
        .client_only()
        .build()
        .await
        .unwrap();
    assert_eq!(node.id().addr.ip(), sim.ip_of(ProcessId::MAIN));
}
