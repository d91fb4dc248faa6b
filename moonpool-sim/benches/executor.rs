//! Simulator throughput against a plain-tokio floor measured in the same run.
//!
//! `cargo bench -p moonpool-sim --bench executor`
//!
//! Each figure is moonpool's simulator running a workload, next to tokio's
//! current-thread runtime (with its clock paused, so timers also jump)
//! running the same workload, and their ratio (lower is better for moonpool).
// A benchmark: wall clock and tokio's own timers and spawner on purpose.
#![allow(missing_docs, clippy::disallowed_methods, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use moonpool_sim::runner::{RunnerConfig, SeedBase, SimTestSpec, run_seeds};
use moonpool_sim::{Providers, Simulation};

const TASKS: u64 = 300;
const SEEDS: u64 = 500;
const ROUNDS: u64 = 200_000;

/// 300 tasks sleep a random time and report on a channel.
async fn workload_sim(p: Providers) -> u64 {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(32);
    for i in 0..TASKS {
        let tx = tx.clone();
        let q = p.clone();
        p.spawn(async move {
            q.sleep(Duration::from_millis(q.random_below(1_000))).await;
            let _ = tx.send(i).await;
        });
    }
    drop(tx);
    let mut sum = 0;
    while let Some(i) = rx.recv().await {
        sum += i;
    }
    sum
}

/// The same workload written against tokio directly.
async fn workload_tokio(seed: u64) -> u64 {
    let mut rng = moonpool_sim::DeterministicRng::new(seed, 0);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(32);
    for i in 0..TASKS {
        let tx = tx.clone();
        let delay = rng.below(1_000);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            let _ = tx.send(i).await;
        });
    }
    drop(tx);
    let mut sum = 0;
    while let Some(i) = rx.recv().await {
        sum += i;
    }
    sum
}

type Reply = tokio::sync::oneshot::Sender<()>;

/// Two tasks bounce a token through oneshot channels: pure task switches.
async fn ping_pong_sim(p: Providers, rounds: u64) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Reply>(1);
    p.spawn(async move {
        while let Some(reply) = rx.recv().await {
            let _ = reply.send(());
        }
    });
    for _ in 0..rounds {
        let (rtx, rrx) = tokio::sync::oneshot::channel();
        let _ = tx.send(rtx).await;
        let _ = rrx.await;
    }
}

async fn ping_pong_tokio(rounds: u64) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Reply>(1);
    tokio::spawn(async move {
        while let Some(reply) = rx.recv().await {
            let _ = reply.send(());
        }
    });
    for _ in 0..rounds {
        let (rtx, rrx) = tokio::sync::oneshot::channel();
        let _ = tx.send(rtx).await;
        let _ = rrx.await;
    }
}

fn tokio_paused() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("runtime")
}

fn best_of<F: FnMut() -> Duration>(reps: usize, mut f: F) -> Duration {
    (0..reps).map(|_| f()).min().unwrap_or_default()
}

fn row(name: &str, ours: Duration, baseline: Duration, unit: &str, per: f64) {
    let scale = if unit == "µs" { 1e6 } else { 1e9 };
    let ours_per = ours.as_secs_f64() / per;
    let base_per = baseline.as_secs_f64() / per;
    println!(
        "{name:<48} moonpool {:>8.2} {unit}   tokio {:>8.2} {unit}   ratio {:>5.2}x",
        ours_per * scale,
        base_per * scale,
        ours_per / base_per
    );
}

fn main() {
    println!("moonpool-sim executor benchmarks (best of 5, release)\n");

    // The 300-task workload, one seed after another on one thread; each seed
    // gets a fresh world (moonpool) or a fresh runtime (tokio).
    let ours = best_of(5, || {
        let t = Instant::now();
        for seed in 0..SEEDS {
            let r = Simulation::new(seed)
                .run(|sim| workload_sim(sim.providers()))
                .expect("workload passes");
            black_box(r.output);
        }
        t.elapsed()
    });
    let base = best_of(5, || {
        let t = Instant::now();
        for seed in 0..SEEDS {
            black_box(tokio_paused().block_on(workload_tokio(seed)));
        }
        t.elapsed()
    });
    row(
        "300-task timer+channel workload, per seed",
        ours,
        base,
        "µs",
        SEEDS as f64,
    );

    let ours = best_of(5, || {
        let t = Instant::now();
        Simulation::new(1)
            .run(|sim| ping_pong_sim(sim.providers(), ROUNDS))
            .expect("ping-pong passes");
        t.elapsed()
    });
    let base = best_of(5, || {
        let rt = tokio_paused();
        let t = Instant::now();
        rt.block_on(ping_pong_tokio(ROUNDS));
        t.elapsed()
    });
    row(
        "oneshot ping-pong between two tasks, per round",
        ours,
        base,
        "ns",
        ROUNDS as f64,
    );

    // The whole runner, as #[sim_test(seeds = 500)] runs it, on all cores.
    let spec = SimTestSpec {
        seeds: SEEDS,
        release: true,
        ..SimTestSpec::new("bench::workload", "moonpool-sim", "executor")
    };
    let config = RunnerConfig {
        seed: None,
        seeds: None,
        base: SeedBase::Fixed,
        threads: None,
        ..RunnerConfig::default()
    };
    let wall = best_of(5, || {
        let t = Instant::now();
        run_seeds(
            &spec,
            |sim| {
                Box::pin(async move {
                    workload_sim(sim.providers()).await;
                    Ok(())
                })
            },
            &config,
        )
        .expect("all seeds pass");
        t.elapsed()
    });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!(
        "\n#[sim_test(seeds = 500)] over the 300-task workload: {:.1} ms wall on {cores} cores",
        wall.as_secs_f64() * 1e3
    );
}
