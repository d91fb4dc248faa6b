//! The greeter cluster under simulation: nodes crash and restart while
//! clients greet, and never do two live activations of one greeter exist
//! (checked after every step as an invariant).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use moonpool::SimCluster;
use moonpool::prelude::*;
use moonpool_examples::hello::Greeter;

const NAMES: [&str; 8] = ["ann", "ben", "cat", "dan", "eve", "fay", "gus", "hal"];

#[moonpool::sim_test(seeds = 500)]
async fn never_two_live_activations_of_one_greeter(sim: SimContext) {
    let cluster = SimCluster::builder(&sim, "hello")
        .configure(|_, node| {
            node.call_timeout(Duration::from_secs(2)).failure_detection(
                Duration::from_millis(500),
                Duration::from_millis(500),
                4,
            )
        })
        .start()
        .await
        .unwrap();
    let watched = cluster.clone();
    sim.invariant("at most one live activation per greeter", move || {
        for name in NAMES {
            let id = ActorId::of::<Greeter>(name);
            let live: Vec<String> = watched
                .running()
                .into_iter()
                .filter(|(_, n)| !n.is_stopped() && n.hosts(&id))
                .map(|(node, _)| node)
                .collect();
            if live.len() > 1 {
                return Err(format!("{name} is active on {live:?}"));
            }
        }
        Ok(())
    });
    // Clients greet from every node while a nemesis crashes and restarts
    // nodes.
    let p = sim.providers();
    let mut clients = Vec::new();
    for c in 0..3 {
        let (cluster, q) = (cluster.clone(), p.clone());
        clients.push(p.spawn(async move {
            let mut ok = 0u32;
            for round in 0..30usize {
                // The node's current incarnation, if it runs.
                if let Ok(node) = cluster.node(&format!("node-{}", c + 1))
                    && !node.is_stopped()
                {
                    let name = NAMES[(round * 3 + c) % NAMES.len()];
                    if node.actor::<Greeter>(name).greet().await.is_ok() {
                        ok += 1;
                    }
                }
                q.sleep(q.random_duration(Duration::from_millis(50), Duration::from_millis(400)))
                    .await;
            }
            ok
        }));
    }
    for _ in 0..2 {
        sim.sleep(p.random_duration(Duration::from_secs(1), Duration::from_secs(4)))
            .await;
        // Never node-1, whose client keeps greeting.
        let victim = format!("node-{}", 2 + p.random_below(2));
        if cluster.node(&victim).is_ok() {
            cluster.kill(&victim).unwrap();
            moonpool::sometimes!(true, "a greeter node crashed mid-run");
            sim.sleep(p.random_duration(Duration::from_millis(200), Duration::from_secs(3)))
                .await;
            cluster.restart(&victim).await.unwrap();
        }
    }
    let mut greeted = 0;
    for c in clients {
        greeted += c.await.unwrap_or(0);
    }
    moonpool::sometimes!(greeted > 0, "greetings got through");
    assert!(greeted > 0, "no greeting got through");
}
