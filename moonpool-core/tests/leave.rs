//! A graceful leave: a node that shuts down hands its actors over without
//! failing anybody's call. A call that reaches it while it leaves never
//! ran there, so it is routed again, transparently.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Add, Counter, nodes_and_client};
use moonpool_core::{ActorId, CallError};
use moonpool_sim::SimContext;

const KEYS: usize = 12;

#[moonpool::sim_test(seeds = 300, faults = "calm", coverage = "strict", coverage_of = ["leave"])]
async fn a_graceful_leave_fails_no_call(sim: SimContext) {
    let (cluster, client) = nodes_and_client(&sim, 3, Duration::from_secs(2)).await;
    let leaving = cluster[2].1.clone();
    for k in 0..KEYS {
        client
            .actor::<Counter>(format!("k{k}"))
            .call(Add(1))
            .await
            .unwrap();
    }
    let moved = (0..KEYS)
        .filter(|k| leaving.hosts(&ActorId::of::<Counter>(format!("k{k}"))))
        .count();

    // Callers on the client and on the nodes that stay keep calling every
    // actor, through their own caches and views.
    let p = sim.providers();
    let stop_at = sim.now() + Duration::from_secs(6);
    let mut callers = Vec::new();
    for node in [client.clone(), cluster[0].1.clone(), cluster[1].1.clone()] {
        let q = p.clone();
        callers.push(p.spawn(async move {
            let mut errors: Vec<CallError> = Vec::new();
            let mut calls = 0u32;
            while q.now() < stop_at {
                let k = q.random_below(KEYS as u64);
                match node.actor::<Counter>(format!("k{k}")).call(Add(1)).await {
                    Ok(_) => calls += 1,
                    Err(e) => errors.push(e),
                }
                q.sleep(q.random_duration(Duration::from_millis(1), Duration::from_millis(30)))
                    .await;
            }
            (calls, errors)
        }));
    }
    sim.sleep(p.random_duration(Duration::from_millis(10), Duration::from_secs(2)))
        .await;
    leaving.shutdown().await;
    let left_at = sim.now();
    for c in callers {
        let (calls, errors) = c.await.unwrap();
        assert!(calls > 0);
        assert!(
            errors.is_empty(),
            "{} calls failed around the leave (it returned at {left_at}), first: {}",
            errors.len(),
            errors[0]
        );
    }
    moonpool::sometimes!(moved > 0, "actors moved off the leaving node");
    // Every actor answers from a node that stayed.
    for k in 0..KEYS {
        let id = ActorId::of::<Counter>(format!("k{k}"));
        client
            .actor::<Counter>(&*id.key)
            .call(Add(1))
            .await
            .unwrap();
        assert!(!leaving.hosts(&id));
    }
}

#[moonpool::sim_test(seeds = 20, faults = "calm")]
async fn a_node_that_left_frees_its_port(sim: SimContext) {
    let p = sim.providers();
    let build = || {
        moonpool_core::Node::builder("free")
            .listen("10.0.0.1:7100".parse().unwrap())
            .providers(p.clone())
            .host::<Counter>()
            .build()
    };
    let node = build().await.unwrap();
    node.actor::<Counter>("a").call(Add(1)).await.unwrap();
    node.shutdown().await;
    // The same address again, in the same process: a restart in place.
    let again = build().await.unwrap();
    assert_eq!(again.actor::<Counter>("a").call(Add(1)).await.unwrap(), 1);
}
