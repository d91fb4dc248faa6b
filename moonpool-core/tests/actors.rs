//! The actor runtime under simulation: activation on first call, turn-based
//! execution, single activation under concurrent first calls, idle
//! deactivation, call cycles, handler panics, node death and reactivation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Add, Counter, Explode, Get, Ping, Pinger, nodes, nodes_and_client};
use moonpool_core::{ActorId, CallError, Node};
use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{ProcessId, SimContext, Simulation};

#[moonpool::sim_test(seeds = 50, faults = "calm")]
async fn calls_activate_once_and_run_one_turn_at_a_time(sim: SimContext) {
    let cluster = nodes(&sim, 3, Duration::from_secs(10)).await;
    let p = sim.providers();
    // 3 nodes x 10 concurrent first calls to one id.
    let mut calls = Vec::new();
    for (_, node) in &cluster {
        for _ in 0..10 {
            let c = node.actor::<Counter>("shared");
            calls.push(p.spawn(async move { c.call(Add(1)).await }));
        }
    }
    let mut results = Vec::new();
    for c in calls {
        results.push(c.await.unwrap().unwrap());
    }
    results.sort();
    // Each turn saw the previous one's write: no lost update, so
    // exactly one activation handled all 30, one at a time.
    assert_eq!(
        results,
        (1..=30).collect::<Vec<u64>>(),
        "seed {}",
        sim.seed()
    );
    let id = ActorId::of::<Counter>("shared");
    let hosting = cluster.iter().filter(|(_, n)| n.hosts(&id)).count();
    assert_eq!(hosting, 1, "seed {}", sim.seed());
    assert_eq!(
        cluster[0]
            .1
            .actor::<Counter>("shared")
            .call(Get)
            .await
            .unwrap(),
        30
    );
}

#[moonpool::sim_test(seeds = 100, faults = ["connect_failures", "clogging", "clock_drift"])]
async fn concurrent_first_calls_under_network_chaos_still_activate_once(sim: SimContext) {
    let cluster = nodes(&sim, 3, Duration::from_secs(20)).await;
    let p = sim.providers();
    let mut calls = Vec::new();
    for (_, node) in &cluster {
        for k in 0..5 {
            let c = node.actor::<Counter>(format!("k{k}"));
            calls.push(p.spawn(async move { c.call(Add(1)).await }));
        }
    }
    let mut ok = 0u64;
    for c in calls {
        if c.await.unwrap().is_ok() {
            ok += 1;
        }
    }
    let mut total = 0;
    for k in 0..5 {
        let id = ActorId::of::<Counter>(format!("k{k}"));
        let hosting = cluster.iter().filter(|(_, n)| n.hosts(&id)).count();
        assert!(hosting <= 1, "{id} active on {hosting} nodes");
        // Reads are idempotent: retry through the faults.
        let reader = cluster[0].1.actor::<Counter>(format!("k{k}"));
        let mut value = None;
        for _ in 0..20 {
            if let Ok(v) = reader.call(Get).await {
                value = Some(v);
                break;
            }
        }
        total += value.expect("a read got through");
    }
    // Unless failure detection wrongly declared a node dead (its
    // activations, and their in-memory state, then went with it), every
    // acknowledged add is in the counters: no update went to a second
    // activation.
    if cluster[0].1.live_members().len() == 3 {
        assert!(total >= ok, "{ok} adds acknowledged, {total} counted");
    }
}

#[test]
fn idle_activations_deactivate_after_the_configured_time_not_before() {
    Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let cluster = nodes(&sim, 1, Duration::from_secs(10)).await;
            let node = &cluster[0].1;
            let id = ActorId::of::<Counter>("idle");
            node.actor::<Counter>("idle").call(Add(5)).await.unwrap();
            assert!(node.hosts(&id));
            sim.sleep(Duration::from_secs(59)).await;
            assert!(node.hosts(&id), "deactivated before its 60 s idle timeout");
            sim.sleep(Duration::from_secs(2)).await;
            assert!(!node.hosts(&id), "still active after 61 idle seconds");
            // The next call reactivates it, with fresh state.
            assert_eq!(node.actor::<Counter>("idle").call(Get).await.unwrap(), 0);
            assert!(node.hosts(&id));
        })
        .unwrap();
}

#[test]
fn a_call_cycle_fails_fast() {
    Simulation::new(2)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let cluster = nodes(&sim, 2, Duration::from_secs(30)).await;
            let start = sim.now();
            // a -> b -> a: b's call back into a would wait on a, which waits
            // on b.
            let reply = cluster[0]
                .1
                .actor::<Pinger>("a")
                .call(Ping("b".into()))
                .await
                .unwrap();
            let err = reply.unwrap_err();
            let CallError::CallCycle { actor, chain } = &err else {
                panic!("expected a call cycle, got {err}");
            };
            assert_eq!(actor.to_string(), "Pinger/a");
            let chain: Vec<String> = chain.iter().map(ToString::to_string).collect();
            assert_eq!(chain, ["Pinger/a", "Pinger/b"]);
            assert!(
                sim.now() - start < Duration::from_secs(1),
                "took {:?}",
                sim.now() - start
            );
        })
        .unwrap();
}

#[test]
fn a_panicking_handler_is_a_typed_error_and_the_actor_recovers() {
    Simulation::new(3)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let cluster = nodes(&sim, 2, Duration::from_secs(10)).await;
            for (_, node) in &cluster {
                let c = node.actor::<Counter>("fragile");
                c.call(Add(1)).await.unwrap();
                let err = c.call(Explode).await.unwrap_err();
                assert!(
                    matches!(&err, CallError::HandlerPanicked { message, .. } if message == "exploded on purpose"),
                    "{err}"
                );
                // A fresh activation takes the next call.
                assert_eq!(c.call(Get).await.unwrap(), 0);
            }
        })
        .unwrap();
}

#[test]
fn an_unknown_actor_type_is_a_typed_error() {
    Simulation::new(4)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let node = moonpool_core::Node::builder("lonely")
                .listen("10.0.0.1:7100".parse().unwrap())
                .providers(sim.providers())
                .build()
                .await
                .unwrap();
            let err = node.actor::<Counter>("x").call(Get).await.unwrap_err();
            assert_eq!(
                err,
                CallError::UnknownActorType {
                    actor_type: "Counter".into()
                }
            );
        })
        .unwrap();
}

#[moonpool::sim_test(seeds = 50, faults = "calm")]
async fn a_killed_node_s_actors_fail_typed_then_reactivate_elsewhere(sim: SimContext) {
    let cluster = nodes(&sim, 3, Duration::from_secs(2)).await;
    let caller = cluster[0].1.clone();
    // Find an actor hosted on node 2.
    let (victim_pid, victim) = cluster[2].clone();
    let mut key = None;
    for k in 0..50 {
        let c = caller.actor::<Counter>(format!("a{k}"));
        c.call(Add(1)).await.unwrap();
        if victim.hosts(&ActorId::of::<Counter>(format!("a{k}"))) {
            key = Some(format!("a{k}"));
            break;
        }
    }
    let key = key.expect("some actor landed on node 2");
    sim.kill_process(victim_pid).unwrap();
    let start = sim.now();
    let r = caller.actor::<Counter>(key.clone()).call(Get).await;
    if let Err(e) = &r {
        assert!(
            matches!(
                e,
                CallError::NodeUnreachable { .. } | CallError::Timeout { .. }
            ),
            "{e}"
        );
    }
    assert!(
        sim.now() - start <= Duration::from_millis(2_100),
        "took {:?}",
        sim.now() - start
    );
    // Once the survivors have declared the node dead (within a
    // few probe rounds), the actor reactivates on one of them — after the
    // placement hold that lets a dead node stop first (a lease and a probe
    // interval: 2 s here, as long as a call's time limit).
    let killed = sim.now();
    while cluster[..2].iter().any(|(_, n)| n.live_members().len() > 2) {
        assert!(
            sim.now() - killed < Duration::from_secs(10),
            "the killed node is still alive in a survivor's view"
        );
        sim.sleep(Duration::from_millis(50)).await;
    }
    let declared = sim.now();
    let c = caller.actor::<Counter>(key.clone());
    assert_eq!(
        retrying(&sim, || c.call(Get)).await,
        0,
        "a fresh activation"
    );
    assert!(
        sim.now() - declared <= Duration::from_secs(5),
        "reactivated only {:?} after the death was known",
        sim.now() - declared
    );
    assert_eq!(c.call(Add(7)).await.unwrap(), 7);
    let id = ActorId::of::<Counter>(key);
    let hosting = cluster[..2].iter().filter(|(_, n)| n.hosts(&id)).count();
    assert_eq!(hosting, 1);
    assert_eq!(caller.live_members().len(), 2);
}

/// Retries an idempotent call through transient faults.
async fn retrying<T, F, Fut>(sim: &SimContext, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, CallError>>,
{
    for _ in 0..50 {
        if let Ok(v) = f().await {
            return v;
        }
        sim.sleep(Duration::from_millis(200)).await;
    }
    panic!("a call never got through");
}

#[moonpool::sim_test(seeds = 40, faults = ["connect_failures", "random_close", "clogging", "clock_drift"])]
async fn under_network_chaos_a_killed_node_s_actors_come_back_elsewhere(sim: SimContext) {
    // The caller hosts nothing: under these faults a survivor can be voted
    // dead by mistake (one vote suffices once only two hosts are left), and
    // a host declared dead stops for good, while a client rejoins.
    let (cluster, caller) = nodes_and_client(&sim, 3, Duration::from_secs(2)).await;
    let (victim_pid, victim) = cluster[2].clone();
    let mut key = None;
    for k in 0..50 {
        let c = caller.actor::<Counter>(format!("a{k}"));
        retrying(&sim, || c.call(Get)).await;
        if victim.hosts(&ActorId::of::<Counter>(format!("a{k}"))) {
            key = Some(format!("a{k}"));
            break;
        }
    }
    let Some(key) = key else { return };
    sim.kill_process(victim_pid).unwrap();
    let start = sim.now();
    if let Err(e) = caller.actor::<Counter>(key.clone()).call(Get).await {
        assert!(
            matches!(
                e,
                CallError::NodeUnreachable { .. }
                    | CallError::Timeout { .. }
                    | CallError::RoutingFailed { .. }
            ),
            "{e}"
        );
    }
    assert!(sim.now() - start <= Duration::from_millis(2_100));
    let c = caller.actor::<Counter>(key.clone());
    // A fresh activation on a survivor (the state was in memory).
    assert_eq!(retrying(&sim, || c.call(Get)).await, 0);
    let id = ActorId::of::<Counter>(key);
    let hosting = cluster[..2].iter().filter(|(_, n)| n.hosts(&id)).count();
    assert_eq!(hosting, 1);
    // The caller's own view catches up within a refresh or two.
    sim.sleep(Duration::from_secs(1)).await;
    assert!(!caller.live_members().contains(&victim.id()));
}

/// A directory partition that died with its owner must not make the next
/// owner place a second activation while a host that might run the actor
/// cannot be asked — however long that lasts — and once the host can be
/// reached, calls find the original activation. (In a module of its own:
/// its coverage claim is about its own sites only.)
mod directory {
    use super::*;

    #[moonpool::sim_test(seeds = 20, faults = "calm", coverage = "strict", coverage_of = ["actors::directory"])]
    async fn a_lost_directory_partition_never_yields_a_second_activation(sim: SimContext) {
        let cluster = nodes(&sim, 4, Duration::from_secs(2)).await;
        let [(pa, a), (pb, b), (_, c), (pd, d)] =
            <[(ProcessId, Node); 4]>::try_from(cluster).unwrap();
        // Actors running on B whose directory entries D holds.
        let mut keys = Vec::new();
        for k in 0..120 {
            let key = format!("p{k}");
            a.actor_ref::<Counter>(key.clone())
                .call(Add(1))
                .await
                .unwrap();
            let id = ActorId::of::<Counter>(key.clone());
            if b.hosts(&id) && a.directory_owner(&id) == Some(d.id()) {
                keys.push(key);
            }
        }
        // A cannot reach B (nor B A); C reaches both, so neither is
        // declared dead. D dies with its directory partition.
        sim.partition(pa, pb);
        sim.kill_process(pd).unwrap();
        while a.live_members().len() != 3 || c.live_members().len() != 3 {
            sim.sleep(Duration::from_millis(100)).await;
        }
        let moved: Vec<String> = keys
            .into_iter()
            .filter(|k| a.directory_owner(&ActorId::of::<Counter>(k.clone())) == Some(a.id()))
            .collect();
        moonpool::sometimes!(!moved.is_empty(), "directory entries moved to a new owner");
        if moved.is_empty() {
            return;
        }
        // Well past any settling time, A must not place them anywhere
        // (it cannot ask B whether B runs them).
        let p = sim.providers();
        for _ in 0..2 {
            let calls: Vec<_> = moved
                .iter()
                .map(|k| {
                    let r = c.actor_ref::<Counter>(k.clone());
                    p.spawn(async move { r.call(Get).await })
                })
                .collect();
            for call in calls {
                if let Ok(v) = call.await.unwrap() {
                    assert_eq!(v, 1, "a call reached a fresh activation");
                }
            }
            for k in &moved {
                let id = ActorId::of::<Counter>(k.clone());
                assert!(
                    !a.hosts(&id) && !c.hosts(&id),
                    "{k} was activated a second time"
                );
            }
            sim.sleep(Duration::from_secs(6)).await;
        }
        // Once B can report, calls reach its original activation.
        sim.heal(pa, pb);
        for k in &moved {
            let r = c.actor_ref::<Counter>(k.clone());
            let v = retrying(&sim, || r.call(Add(1))).await;
            assert_eq!(v, 2, "{k} lost its activation");
            let id = ActorId::of::<Counter>(k.clone());
            assert!(b.hosts(&id) && !a.hosts(&id) && !c.hosts(&id));
        }
    }
}

/// A local call to an idle activation runs its turn in the caller's task;
/// a caller that gives up mid-turn must not cut the turn short (it goes on
/// in a task of its own), and turns stay one at a time meanwhile.
#[moonpool::sim_test(seeds = 30, faults = "calm")]
async fn a_caller_giving_up_never_cuts_a_local_turn_short(sim: SimContext) {
    let cluster = nodes(&sim, 1, Duration::from_secs(5)).await;
    let node = cluster[0].1.clone();
    let c = node.actor_ref::<Counter>("patient");
    assert_eq!(c.call(Get).await.unwrap(), 0);
    let p = sim.providers();
    // `Add` reads, waits 1 ms, then writes: abandon it midway.
    let caller = {
        let c = c.clone();
        p.spawn(async move { c.call(Add(5)).await })
    };
    sim.sleep(Duration::from_micros(500)).await;
    caller.abort();
    let racing = {
        let c = c.clone();
        p.spawn(async move { c.call(Add(1)).await })
    };
    assert_eq!(racing.await.unwrap().unwrap(), 6);
    assert_eq!(c.call(Get).await.unwrap(), 6);
}
