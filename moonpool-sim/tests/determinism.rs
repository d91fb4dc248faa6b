//! A run is a function of its seed: same seed, same events; different seeds,
//! different interleavings.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::collections::BTreeSet;
use std::time::Duration;

use moonpool_sim::{SimContext, SimReport, Simulation};
use tokio::sync::{mpsc, oneshot};

/// 1 000 worker tasks with random timers, an mpsc collector and oneshot
/// ping-pongs through 10 relay tasks. Returns the order in which workers
/// reported.
async fn workload(sim: SimContext) -> Vec<u32> {
    let p = sim.providers();
    let (report_tx, mut report_rx) = mpsc::channel::<u32>(64);
    let mut relays = Vec::new();
    for r in 0..10u32 {
        let (tx, mut rx) = mpsc::channel::<(u32, oneshot::Sender<u32>)>(16);
        relays.push(tx);
        let p = p.clone();
        p.clone().spawn_named(format!("relay-{r}"), async move {
            while let Some((v, reply)) = rx.recv().await {
                p.sleep(Duration::from_micros(p.random_below(500))).await;
                let _ = reply.send(v * 2);
            }
        });
    }
    for w in 0..1_000u32 {
        let p = p.clone();
        let report = report_tx.clone();
        let relay = relays[(w % 10) as usize].clone();
        p.clone().spawn_named(format!("worker-{w}"), async move {
            p.sleep(Duration::from_millis(p.random_below(1_000))).await;
            let (tx, rx) = oneshot::channel();
            relay.send((w, tx)).await.expect("relay alive");
            let doubled = rx.await.expect("relay replied");
            assert_eq!(doubled, w * 2);
            moonpool_sim::yield_now().await;
            report.send(w).await.expect("collector alive");
        });
    }
    drop(report_tx);
    drop(relays);
    let mut order = Vec::with_capacity(1_000);
    while let Some(w) = report_rx.recv().await {
        order.push(w);
    }
    order
}

fn run(seed: u64) -> SimReport<Vec<u32>> {
    Simulation::new(seed)
        .run(workload)
        .expect("workload passes")
}

#[test]
fn same_seed_gives_same_trace_and_same_order() {
    for seed in [0, 1, 0xDEAD_BEEF] {
        let a = run(seed);
        let b = run(seed);
        assert_eq!(a.output.len(), 1_000);
        assert!(a.tasks_spawned > 1_000);
        assert_eq!(a.trace_hash, b.trace_hash, "seed {seed}");
        assert_eq!(a.output, b.output, "seed {seed}");
        assert_eq!(a.sim_time, b.sim_time, "seed {seed}");
        assert_eq!(a.steps, b.steps, "seed {seed}");
    }
}

#[test]
fn different_seeds_give_different_interleavings() {
    let runs: Vec<SimReport<Vec<u32>>> = (0..6).map(run).collect();
    let hashes: BTreeSet<u64> = runs.iter().map(|r| r.trace_hash).collect();
    let orders: BTreeSet<&Vec<u32>> = runs.iter().map(|r| &r.output).collect();
    assert_eq!(hashes.len(), runs.len());
    assert_eq!(orders.len(), runs.len());
}

/// With no timers and no user randomness, only the scheduler's choices
/// differ between seeds: they alone must change the interleaving.
#[test]
fn the_scheduler_alone_varies_interleavings() {
    let order_for = |seed| {
        Simulation::new(seed)
            .run(|sim| async move {
                let (tx, mut rx) = mpsc::unbounded_channel();
                for i in 0..20u32 {
                    let tx = tx.clone();
                    sim.spawn(async move {
                        moonpool_sim::yield_now().await;
                        tx.send(i).ok();
                    });
                }
                drop(tx);
                let mut order = Vec::new();
                while let Some(i) = rx.recv().await {
                    order.push(i);
                }
                order
            })
            .expect("passes")
            .output
    };
    let orders: BTreeSet<Vec<u32>> = (0..8).map(order_for).collect();
    assert!(
        orders.len() >= 7,
        "only {} distinct orders of 8",
        orders.len()
    );
    assert_eq!(order_for(3), order_for(3));
}
