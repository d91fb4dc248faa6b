//! The cost of chaos sites on the hot path, against a plain `assert!`-style
//! branch measured in the same run.
//!
//! `cargo bench -p moonpool-sim --bench chaos`
// A benchmark: wall clock on purpose.
#![allow(missing_docs, clippy::disallowed_methods, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use moonpool_sim::chaos::{FaultConfig, FaultPlan};
use moonpool_sim::{SimConfig, Simulation};

const N: u64 = 10_000_000;

fn best_of<F: FnMut() -> Duration>(reps: usize, mut f: F) -> Duration {
    (0..reps).map(|_| f()).min().unwrap_or_default()
}

/// The floor: the same loop with a plain branch where the site would be.
fn plain_loop() -> Duration {
    let t = Instant::now();
    let mut hits = 0u64;
    for i in 0..N {
        let v = black_box(i);
        if v == u64::MAX {
            panic!("unreachable in this loop");
        }
        hits += u64::from(v & 1 == 0);
    }
    black_box(hits);
    t.elapsed()
}

fn buggify_loop() -> Duration {
    let t = Instant::now();
    let mut hits = 0u64;
    for i in 0..N {
        let v = black_box(i);
        if moonpool_sim::buggify!() {
            hits += 1;
        }
        hits += u64::from(v & 1 == 0);
    }
    black_box(hits);
    t.elapsed()
}

fn always_loop() -> Duration {
    let t = Instant::now();
    let mut hits = 0u64;
    for i in 0..N {
        let v = black_box(i);
        moonpool_sim::always!(v != u64::MAX, "the loop never reaches the maximum");
        hits += u64::from(v & 1 == 0);
    }
    black_box(hits);
    t.elapsed()
}

fn in_sim(faults: FaultConfig, f: fn() -> Duration) -> Duration {
    Simulation::new(1)
        .config(SimConfig {
            faults: FaultPlan::Fixed(faults),
            ..SimConfig::default()
        })
        .run(move |_sim| async move { f() })
        .expect("benchmark run")
        .output
}

fn row(name: &str, ours: Duration, floor: Duration) {
    let per = |d: Duration| d.as_secs_f64() * 1e9 / N as f64;
    println!(
        "{name:<52} {:>6.2} ns/eval   plain branch {:>6.2} ns   site overhead {:>6.2} ns   ratio {:>5.2}x",
        per(ours),
        per(floor),
        per(ours) - per(floor),
        per(ours) / per(floor)
    );
}

fn main() {
    println!("moonpool chaos site costs (best of 5, release, {N} evaluations)\n");
    let floor = best_of(5, plain_loop);
    row(
        "buggify!() outside a simulation",
        best_of(5, buggify_loop),
        floor,
    );
    row(
        "buggify!() in a simulation, buggify family off",
        best_of(5, || in_sim(FaultConfig::calm(), buggify_loop)),
        floor,
    );
    row(
        "always!(true) outside a simulation",
        best_of(5, always_loop),
        floor,
    );
    row(
        "always!(true) in a simulation (counted)",
        best_of(5, || in_sim(FaultConfig::calm(), always_loop)),
        floor,
    );
}
