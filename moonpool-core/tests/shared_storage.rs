//! The hosts of a cluster share one state storage: a node whose store is
//! not the cluster's is refused at start-up, with an error that says so,
//! instead of serving actors from a copy of their state that would fork.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Add, Counter};
use moonpool_core::Node;
use moonpool_core::node::{InMemoryMembership, NodeError};
use moonpool_core::state::InMemoryStorage;
use moonpool_sim::SimContext;

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_node_with_a_store_of_its_own_is_refused(sim: SimContext) {
    let table = InMemoryMembership::new();
    let shared = InMemoryStorage::new();
    let p = sim.providers();
    let node = |port: u16, store: InMemoryStorage| {
        Node::builder("bank")
            .listen(format!("10.0.0.1:{port}").parse().unwrap())
            .providers(p.clone())
            .membership(table.clone())
            .storage(store)
            .host::<Counter>()
            .failure_detection(Duration::from_millis(300), Duration::from_millis(300), 3)
            .build()
    };
    let first = node(7001, shared.clone()).await.unwrap();
    let second = node(7002, shared.clone()).await.unwrap();

    let own = node(7003, InMemoryStorage::new()).await;
    let err = own.unwrap_err();
    assert!(
        matches!(err, NodeError::ForeignStorage { node, .. } if node == first.id().addr || node == second.id().addr),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("this node's state storage is not the cluster's"),
        "{err}"
    );
    // The refused node never joined: the cluster is the two others.
    sim.sleep(Duration::from_secs(1)).await;
    assert_eq!(first.live_members().len(), 2);
    first.actor::<Counter>("c").call(Add(1)).await.unwrap();

    // A node that comes back on the cluster's store joins as before.
    let third = node(7004, shared.clone()).await.unwrap();
    while first.live_members().len() < 3 {
        sim.sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(third.actor::<Counter>("c").call(Add(1)).await.unwrap(), 2);
}
