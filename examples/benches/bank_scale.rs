//! How the cost of one seed of the bank simulation grows with the cluster:
//! the bank test's whole run (open the accounts, 24 transfers from three
//! clients under a nemesis that crashes and cuts off nodes and the storage
//! service, recovery, the exactly-once audit, money conserved after every
//! step) at 3, 10 and 30 bank nodes and 10 and 1 000 accounts, each seed
//! with the faults its seed draws. Every shape runs the same seeds; the
//! baseline is the smallest shape, measured in the same run.
//!
//! `cargo bench -p moonpool-examples --bench bank_scale` (all shapes), or
//! name shapes: `cargo bench -p moonpool-examples --bench bank_scale -- 3x10 30x1000`.
//! `MOONPOOL_BENCH_SEEDS` sets the seeds per shape (default 5).
// A benchmark: wall clock and prints on purpose.
#![allow(
    missing_docs,
    clippy::disallowed_methods,
    clippy::expect_used,
    clippy::unwrap_used
)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::{Backend, Shape, run_bank};
use moonpool::Simulation;
use moonpool::runtime::state::InMemoryStorage;

/// The shapes measured, the baseline first.
const SHAPES: [Shape; 6] = [
    Shape {
        nodes: 3,
        accounts: 10,
    },
    Shape {
        nodes: 10,
        accounts: 10,
    },
    Shape {
        nodes: 30,
        accounts: 10,
    },
    Shape {
        nodes: 3,
        accounts: 1000,
    },
    Shape {
        nodes: 10,
        accounts: 1000,
    },
    Shape {
        nodes: 30,
        accounts: 1000,
    },
];

/// The first seed; shape rows use the same seeds so they compare.
const SEED_BASE: u64 = 0x5ca1_e000;

/// One shape's seeds: wall time, task polls and simulated time of each.
struct Measured {
    wall: Vec<Duration>,
    steps: Vec<u64>,
    sim_time: Vec<Duration>,
    failed: Vec<String>,
}

fn name(shape: Shape) -> String {
    format!("{}x{}", shape.nodes, shape.accounts)
}

fn measure(shape: Shape, seeds: u64) -> Measured {
    let mut m = Measured {
        wall: Vec::new(),
        steps: Vec::new(),
        sim_time: Vec::new(),
        failed: Vec::new(),
    };
    for seed in SEED_BASE..SEED_BASE + seeds {
        let started = Instant::now();
        let run = Simulation::new(seed)
            .run(move |sim| run_bank(sim, Backend::Audited(InMemoryStorage::new()), shape));
        let wall = started.elapsed();
        match run {
            Ok(report) => {
                m.wall.push(wall);
                m.steps.push(report.steps);
                m.sim_time.push(report.sim_time.since_epoch());
            }
            Err(failure) => m.failed.push(format!("seed {seed:#x}: {failure}")),
        }
    }
    m
}

fn median<T: Copy + Ord>(v: &[T]) -> Option<T> {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied()
}

fn main() {
    let seeds: u64 = match std::env::var("MOONPOOL_BENCH_SEEDS") {
        Ok(v) => match v.parse() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("MOONPOOL_BENCH_SEEDS: '{v}' is not a whole number of seeds above 0");
                std::process::exit(2);
            }
        },
        Err(_) => 5,
    };
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let chosen: Vec<Shape> = SHAPES
        .iter()
        .copied()
        .filter(|s| filters.is_empty() || filters.contains(&name(*s)))
        .collect();
    if chosen.is_empty() {
        let known: Vec<String> = SHAPES.iter().map(|s| name(*s)).collect();
        eprintln!(
            "no shape named {}; the shapes are {} (nodes x accounts)",
            filters.join(", "),
            known.join(", ")
        );
        std::process::exit(2);
    }
    println!(
        "one seed of the bank simulation (release, 1 thread, seeds {SEED_BASE:#x}..{:#x}, median of {seeds}; baseline {})\n",
        SEED_BASE + seeds,
        name(SHAPES[0])
    );
    println!(
        "{:<14} {:>22} {:>9} {:>12} {:>9} {:>12}",
        "nodes x accts", "wall per seed (min-max)", "x base", "task polls", "x base", "sim time"
    );
    // The baseline is measured in this run even when not asked for.
    let base = measure(SHAPES[0], seeds);
    let base_wall = median(&base.wall);
    let base_steps = median(&base.steps);
    let mut failed = 0;
    for shape in chosen {
        let other;
        let m = if shape == SHAPES[0] {
            &base
        } else {
            other = measure(shape, seeds);
            &other
        };
        for f in &m.failed {
            println!("  {} FAILED {f}", name(shape));
        }
        failed += m.failed.len();
        let (Some(wall), Some(steps), Some(sim)) =
            (median(&m.wall), median(&m.steps), median(&m.sim_time))
        else {
            continue;
        };
        let (lo, hi) = (m.wall.iter().min().unwrap(), m.wall.iter().max().unwrap());
        let wall_ratio = base_wall.map_or(f64::NAN, |b| wall.as_secs_f64() / b.as_secs_f64());
        let steps_ratio = base_steps.map_or(f64::NAN, |b| steps as f64 / b as f64);
        println!(
            "{:<14} {:>8.1} ms ({:>5.0}-{:<5.0}) {:>8.1}x {:>12} {:>8.1}x {:>10.1} s",
            name(shape),
            wall.as_secs_f64() * 1e3,
            lo.as_secs_f64() * 1e3,
            hi.as_secs_f64() * 1e3,
            wall_ratio,
            steps,
            steps_ratio,
            sim.as_secs_f64()
        );
    }
    if failed > 0 {
        eprintln!("{failed} seed(s) failed: replay each with its seed");
        std::process::exit(1);
    }
}
