//! An activation's life: at rest it holds no task and no timer; the node's
//! idle collector keeps every idle deadline, whatever the order of
//! activation and however long a turn runs; a failed activation is a typed
//! error for every caller; a panicking deactivation hook still lets the
//! activation go.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod common;

use std::time::Duration;

use common::{Add, Counter, Fragile, Get, Nap, StartForeignTimer, Ticker, Ticks, nodes};
use moonpool_core::{ActorId, CallError};
use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::runner::RunnerConfig;
use moonpool_sim::{Instant, SimContext, Simulation};

fn calm(seed: u64) -> Simulation {
    Simulation::new(seed).faults(FaultConfig::calm())
}

/// Sleeps until `at` (simulated time).
async fn until(sim: &SimContext, at: Instant) {
    sim.sleep(at.saturating_duration_since(sim.now())).await;
}

#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn activations_at_rest_hold_no_task_and_no_timer(sim: SimContext) {
    let cluster = nodes(&sim, 1, Duration::from_secs(2)).await;
    let node = &cluster[0].1;
    node.actor::<Counter>("warm").call(Add(1)).await.unwrap();
    sim.sleep(Duration::from_millis(100)).await;
    let (tasks, timers) = (sim.live_tasks(), sim.pending_timers());
    for i in 0..200 {
        let c = node.actor::<Counter>(format!("c{i}"));
        c.call(Add(i + 1)).await.unwrap();
    }
    sim.sleep(Duration::from_millis(100)).await;
    assert_eq!(node.activation_count(), 201);
    // A task or a timer per activation would add 200 of each.
    assert!(
        sim.live_tasks() <= tasks + 2,
        "{} tasks at rest, {tasks} before the 200 activations",
        sim.live_tasks()
    );
    assert!(
        sim.pending_timers() <= timers + 2,
        "{} timers at rest, {timers} before the 200 activations",
        sim.pending_timers()
    );
    // At rest, each kept its state and still answers.
    for i in 0..200 {
        let c = node.actor::<Counter>(format!("c{i}"));
        assert_eq!(c.call(Get).await.unwrap(), i + 1);
    }
}

#[test]
fn every_idle_deadline_is_kept_whatever_the_order_of_activation() {
    calm(3)
        .run(|sim| async move {
            let cluster = nodes(&sim, 1, Duration::from_secs(2)).await;
            let node = &cluster[0].1;
            let margin = Duration::from_millis(100);
            let (long, short) = (
                ActorId::of::<Counter>("long"),
                ActorId::of::<Ticker>("short"),
            );
            // Counter idles out after 60 s; Ticker, activated 5 s later,
            // after 10 s: its deadline is sooner than every other.
            let t0 = sim.now();
            node.actor::<Counter>("long").call(Add(1)).await.unwrap();
            until(&sim, t0 + Duration::from_secs(5)).await;
            node.actor::<Ticker>("short").call(Ticks).await.unwrap();
            until(&sim, t0 + (Duration::from_secs(15) - margin)).await;
            assert!(node.hosts(&short), "deactivated before its 10 s");
            until(&sim, t0 + Duration::from_secs(15) + margin).await;
            assert!(!node.hosts(&short), "still active after 10 idle seconds");
            // A call at 30 s moves the long one's deadline to 90 s.
            until(&sim, t0 + Duration::from_secs(30)).await;
            assert_eq!(node.actor::<Counter>("long").call(Get).await.unwrap(), 1);
            until(&sim, t0 + (Duration::from_secs(90) - margin)).await;
            assert!(
                node.hosts(&long),
                "deactivated 60 s after activation despite a later call"
            );
            until(&sim, t0 + Duration::from_secs(90) + margin).await;
            assert!(!node.hosts(&long), "still active 60 s after its last call");
        })
        .unwrap();
}

#[test]
fn a_turn_running_past_its_idle_deadline_leaves_as_soon_as_it_ends() {
    calm(4)
        .run(|sim| async move {
            let cluster = nodes(&sim, 1, Duration::from_secs(10)).await;
            let node = cluster[0].1.clone();
            let id = ActorId::of::<Fragile>("sleepy");
            let napper = node.actor::<Fragile>("sleepy");
            // Idle timeout 1 s; the turn runs 3 s.
            let t0 = sim.now();
            let nap = sim.spawn(async move { napper.call(Nap(3_000)).await });
            until(&sim, t0 + Duration::from_millis(2_900)).await;
            assert!(node.hosts(&id), "deactivated in the middle of a turn");
            assert_eq!(nap.await.unwrap().unwrap(), 1);
            sim.sleep(Duration::from_millis(10)).await;
            assert!(
                !node.hosts(&id),
                "still active after a turn that outlived its idle deadline"
            );
        })
        .unwrap();
}

#[test]
fn a_call_queued_behind_a_long_turn_restarts_the_idle_clock() {
    calm(5)
        .run(|sim| async move {
            let cluster = nodes(&sim, 1, Duration::from_secs(10)).await;
            let node = cluster[0].1.clone();
            let id = ActorId::of::<Fragile>("busy");
            let t0 = sim.now();
            let first = node.actor::<Fragile>("busy");
            let long = sim.spawn(async move { first.call(Nap(3_000)).await });
            // Queued at 2 s behind the long turn; it starts at 3 s.
            until(&sim, t0 + Duration::from_secs(2)).await;
            let queued = node.actor::<Fragile>("busy").call(Nap(0)).await.unwrap();
            assert_eq!(long.await.unwrap().unwrap(), 1);
            assert_eq!(queued, 2);
            until(&sim, t0 + Duration::from_millis(3_900)).await;
            assert!(
                node.hosts(&id),
                "idle deadline not restarted by the queued call"
            );
            until(&sim, t0 + Duration::from_millis(4_100)).await;
            assert!(
                !node.hosts(&id),
                "still active 1 s after its last turn began"
            );
        })
        .unwrap();
}

#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn a_failed_activation_is_a_typed_error_for_local_and_remote_callers(sim: SimContext) {
    let cluster = nodes(&sim, 2, Duration::from_secs(2)).await;
    for key in ["broken-1", "broken-2", "broken-3"] {
        let id = ActorId::of::<Fragile>(key);
        // Consistent-hash placement: one caller is local to the
        // actor's home, the other remote.
        for (_, node) in &cluster {
            let start = sim.now();
            let err = node.actor::<Fragile>(key).call(Nap(0)).await.unwrap_err();
            let CallError::ActivationFailed { actor, reason } = &err else {
                panic!("expected ActivationFailed, got {err}");
            };
            assert_eq!(actor, &id);
            assert_eq!(reason, "its disk is gone");
            assert!(
                sim.now() - start < Duration::from_secs(1),
                "the failure took {:?} to report",
                sim.now() - start
            );
        }
        sim.sleep(Duration::from_millis(10)).await;
        assert!(cluster.iter().all(|(_, n)| !n.hosts(&id)));
    }
    // A healthy key of the same type still activates.
    assert_eq!(
        cluster[0]
            .1
            .actor::<Fragile>("fine")
            .call(Nap(0))
            .await
            .unwrap(),
        1
    );
}

#[test]
fn a_panicking_deactivation_hook_still_lets_the_activation_go() {
    calm(6)
        .run(|sim| async move {
            let cluster = nodes(&sim, 1, Duration::from_secs(2)).await;
            let node = &cluster[0].1;
            let id = ActorId::of::<Fragile>("grumpy-1");
            let grumpy = node.actor::<Fragile>("grumpy-1");
            assert_eq!(grumpy.call(Nap(0)).await.unwrap(), 1);
            assert_eq!(grumpy.call(Nap(0)).await.unwrap(), 2);
            sim.sleep(Duration::from_millis(1_500)).await;
            assert!(
                !node.hosts(&id),
                "a panicking on_deactivate kept the activation"
            );
            // The next call activates it afresh.
            assert_eq!(grumpy.call(Nap(0)).await.unwrap(), 1);
            assert!(node.hosts(&id));
        })
        .unwrap();
}

/// The whole runtime — placement, the directory, the transport, turns run
/// where messages arrive, the idle collector, a node dying — replays
/// exactly from its seed: two runs of a seed leave the same trace and the
/// same results.
#[test]
fn the_runtime_replays_exactly_from_its_seed() {
    let run = |seed: u64| {
        Simulation::new(seed)
            .faults(FaultConfig::swarm(seed))
            .run(|sim| async move {
                let cluster = nodes(&sim, 3, Duration::from_secs(2)).await;
                let p = sim.providers();
                let mut calls = Vec::new();
                for i in 0..40u64 {
                    let node = cluster[(i % 3) as usize].1.clone();
                    let pause = p.clone();
                    calls.push(p.spawn(async move {
                        pause.sleep(Duration::from_millis(i * 7)).await;
                        let counter = node.actor::<Counter>(format!("k{}", i % 5));
                        let fragile = node.actor::<Fragile>(format!("f{}", i % 3));
                        (
                            counter.call(Add(1)).await.ok(),
                            fragile.call(Nap(i % 4)).await.ok(),
                        )
                    }));
                }
                let mut results = Vec::new();
                for c in calls {
                    results.push(c.await.unwrap());
                }
                // Fragile idles out after 1 s; then a node dies.
                sim.sleep(Duration::from_secs(2)).await;
                let rested = cluster[0].1.activation_count();
                sim.kill_process(cluster[2].0).unwrap();
                let after = cluster[0].1.actor::<Counter>("k0").call(Get).await.ok();
                (results, rested, after)
            })
            .unwrap()
    };
    // The runner's seeds (`MOONPOOL_SEEDS`, `MOONPOOL_SEED_BASE` and
    // `MOONPOOL_SEED` apply), each run twice.
    const PATH: &str = concat!(
        module_path!(),
        "::the_runtime_replays_exactly_from_its_seed"
    );
    let plan = RunnerConfig::from_env()
        .expect("valid MOONPOOL_* variables")
        .seed_plan(PATH, 20);
    let count = plan.seeds.len();
    let mut exercised = 0;
    for (_, seed) in plan.seeds {
        let (x, y) = (run(seed), run(seed));
        assert_eq!(
            x.trace_hash, y.trace_hash,
            "MOONPOOL_SEED={seed:#x} replays it (seed base {:?})",
            plan.base
        );
        assert_eq!(
            x.output, y.output,
            "MOONPOOL_SEED={seed:#x} replays it (seed base {:?})",
            plan.base
        );
        // Not vacuous: calls get through on most seeds (a seed whose
        // faults reset every shared connection mid-call may see none).
        if x.output.0.iter().any(|(c, f)| c.is_some() && f.is_some()) {
            exercised += 1;
        }
    }
    assert!(
        exercised * 10 >= count * 9,
        "calls got through on only {exercised} of {count} seeds"
    );
    // The runner's summary line, so `scripts/soak` counts these seeds too.
    println!("moonpool: `{PATH}`: {count} seeds passed (each run twice: same trace, same result)");
}

#[moonpool::sim_test(seeds = 10, faults = "calm")]
async fn a_timer_for_another_actor_type_is_refused_by_name(sim: SimContext) {
    let cluster = nodes(&sim, 1, Duration::from_secs(5)).await;
    let err = cluster[0]
        .1
        .actor::<Ticker>("t")
        .call(StartForeignTimer)
        .await
        .unwrap()
        .expect("refused");
    assert!(
        matches!(&err, CallError::WrongActorType { wanted, actual } if wanted == "Counter" && actual == "Ticker"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "an activation of `Ticker` cannot start a timer for actor type `Counter`"
    );
}
