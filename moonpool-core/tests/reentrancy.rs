//! Opt-in reentrancy: shared turns run together and serve call chains that
//! come back into them; exclusive turns stay alone and cycles through them
//! fail fast.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{AskPeer, Browse, Library, Peek, Shelve, start_cluster};
use moonpool_sim::SimContext;
use moonpool_sim::Simulation;
use moonpool_sim::chaos::FaultConfig;

#[test]
fn shared_turns_run_together_and_exclusive_turns_alone() {
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (_, mut rx) = start_cluster(&sim, 2, Duration::from_secs(30));
            let (_, a) = rx.recv().await.unwrap();
            let (_, b) = rx.recv().await.unwrap();
            while a.live_members().len() < 2 || b.live_members().len() < 2 {
                sim.sleep(Duration::from_millis(50)).await;
            }
            let lib = a.actor::<Library>("main");
            lib.call_shared(Peek).await.unwrap();
            let p = sim.providers();
            // Ten one-second shared calls overlap: about one second in all.
            let start = sim.now();
            let mut calls = Vec::new();
            for _ in 0..10 {
                let l = lib.clone();
                calls.push(p.spawn(async move { l.call_shared(Browse).await }));
            }
            for c in calls {
                c.await.unwrap().unwrap();
            }
            let took = sim.now() - start;
            assert!(
                took < Duration::from_millis(1_500),
                "shared turns were serialised: {took:?}"
            );
            // Four half-second exclusive calls do not overlap.
            let start = sim.now();
            let mut calls = Vec::new();
            for _ in 0..4 {
                let l = lib.clone();
                calls.push(p.spawn(async move { l.call(Shelve).await }));
            }
            let mut counts: Vec<u64> = Vec::new();
            for c in calls {
                counts.push(c.await.unwrap().unwrap());
            }
            counts.sort();
            assert_eq!(counts, [1, 2, 3, 4]);
            assert!(sim.now() - start >= Duration::from_secs(2));
        })
        .unwrap();
}

#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn a_shared_call_chain_back_into_its_origin_is_served(sim: SimContext) {
    let (_, mut rx) = start_cluster(&sim, 3, Duration::from_secs(30));
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(rx.recv().await.unwrap().1);
    }
    while nodes.iter().any(|n| n.live_members().len() < 3) {
        sim.sleep(Duration::from_millis(50)).await;
    }
    let x = nodes[0].actor::<Library>("x");
    x.call(Shelve).await.unwrap();
    x.call(Shelve).await.unwrap();
    // x -> y -> x, all shared: no deadlock, no cycle error.
    let start = sim.now();
    let seen = x.call_shared(AskPeer("y".into())).await.unwrap().unwrap();
    assert_eq!(seen, 2);
    assert!(sim.now() - start < Duration::from_secs(1));
}
