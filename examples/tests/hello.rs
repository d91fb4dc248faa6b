//! The greeter cluster under simulation: nodes crash and restart while
//! clients greet, and never do two live activations of one greeter exist
//! (checked after every step as an invariant).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool::prelude::*;
use moonpool::runtime::node::InMemoryMembership;
use moonpool_examples::hello::Greeter;

const NAMES: [&str; 8] = ["ann", "ben", "cat", "dan", "eve", "fay", "gus", "hal"];

#[moonpool::sim_test(seeds = 500)]
async fn never_two_live_activations_of_one_greeter(sim: SimContext) {
    let table = InMemoryMembership::new();
    // The current node of each process (replaced on restart).
    let nodes: Arc<Mutex<BTreeMap<ProcessId, Node>>> = Arc::default();
    let mut pids = Vec::new();
    for i in 0..3 {
        let (table, nodes) = (table.clone(), Arc::clone(&nodes));
        let cell = Arc::new(std::sync::OnceLock::new());
        let mine = Arc::clone(&cell);
        pids.push(sim.start_process(format!("node-{i}"), move |p: Providers| {
            let (table, nodes, mine) = (table.clone(), Arc::clone(&nodes), Arc::clone(&mine));
            async move {
                let node = Node::builder("hello")
                    .listen("0.0.0.0:7000".parse().unwrap())
                    .providers(p)
                    .membership(table)
                    .call_timeout(Duration::from_secs(2))
                    .failure_detection(Duration::from_millis(500), Duration::from_millis(500), 4)
                    .build()
                    .await
                    .expect("node starts");
                nodes
                    .lock()
                    .unwrap()
                    .insert(*mine.get().unwrap(), node.clone());
                std::future::pending::<()>().await;
                drop(node);
            }
        }));
        let _ = cell.set(*pids.last().unwrap());
    }
    let watched = Arc::clone(&nodes);
    let alive_pids = pids.clone();
    let sim2 = sim.clone();
    sim.invariant("at most one live activation per greeter", move || {
        let nodes = watched.lock().unwrap();
        for name in NAMES {
            let id = ActorId::of::<Greeter>(name);
            let live: Vec<String> = alive_pids
                .iter()
                .filter(|pid| sim2.is_alive(**pid))
                .filter_map(|pid| nodes.get(pid))
                .filter(|n| !n.is_stopped() && n.hosts(&id))
                .map(|n| n.id().to_string())
                .collect();
            if live.len() > 1 {
                return Err(format!("{name} is active on {live:?}"));
            }
        }
        Ok(())
    });
    while nodes.lock().unwrap().len() < 3 {
        sim.sleep(Duration::from_millis(20)).await;
    }
    // Clients greet from every node while a nemesis crashes and restarts
    // nodes.
    let p = sim.providers();
    let mut clients = Vec::new();
    for c in 0..3 {
        let (nodes, pid) = (Arc::clone(&nodes), pids[c]);
        let q = p.clone();
        clients.push(p.spawn(async move {
            let mut ok = 0u32;
            for round in 0..30usize {
                let node = nodes.lock().unwrap().get(&pid).cloned();
                if let Some(node) = node.filter(|n| !n.is_stopped()) {
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
        // Never the process of client 0, so someone keeps greeting.
        let victim = pids[1 + p.random_below(2) as usize];
        if sim.is_alive(victim) {
            sim.kill_process(victim).unwrap();
            // The dead incarnation's handle is gone with it.
            nodes.lock().unwrap().remove(&victim);
            moonpool::sometimes!(true, "a greeter node crashed mid-run");
            sim.sleep(p.random_duration(Duration::from_millis(200), Duration::from_secs(3)))
                .await;
            sim.restart_process(victim).unwrap();
        }
    }
    let mut greeted = 0;
    for c in clients {
        greeted += c.await.unwrap_or(0);
    }
    moonpool::sometimes!(greeted > 0, "greetings got through");
    assert!(greeted > 0, "no greeting got through");
}
