//! Per-process clocks (the `clock_skew` fault family): each process's
//! clock runs at its own rate and its wall clock is off by its own amount,
//! so bugs that need two machines to disagree about the time can be found.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_sim::chaos::{FaultConfig, FaultPlan};
use moonpool_sim::{ClockConfig, Instant, Providers, SimContext, Simulation, WallTime};

fn skewed() -> FaultConfig {
    FaultConfig {
        clock_skew: true,
        ..FaultConfig::calm()
    }
}

/// What each process reads at one true instant: (monotonic, wall).
type Readings = Arc<Mutex<Vec<(Instant, WallTime)>>>;

/// Three processes read their clocks at the same true instants, 10 s
/// apart; returns each reading with the true time it was taken at.
async fn read_clocks(sim: SimContext) -> Vec<(Instant, Vec<(Instant, WallTime)>)> {
    let mut per_process: Vec<Readings> = Vec::new();
    for i in 0..3 {
        let readings: Readings = Arc::default();
        per_process.push(Arc::clone(&readings));
        let truth = sim.clone();
        sim.start_process(format!("node-{i}"), move |p: Providers| {
            let readings = Arc::clone(&readings);
            let truth = truth.clone();
            async move {
                for _ in 0..6 {
                    readings.lock().unwrap().push((p.now(), p.wall_now()));
                    // Wake at the next true 10 s mark, whatever this clock says.
                    let next = truth.now().since_epoch().as_secs() / 10 * 10 + 10;
                    truth
                        .sleep(Duration::from_secs(next) - truth.now().since_epoch())
                        .await;
                }
            }
        });
    }
    sim.sleep(Duration::from_secs(55)).await;
    (0..6)
        .map(|k| {
            let at = Instant::from_nanos(k * 10_000_000_000);
            let row = per_process
                .iter()
                .map(|r| r.lock().unwrap()[k as usize])
                .collect();
            (at, row)
        })
        .collect()
}

#[test]
fn with_clock_skew_off_every_process_reads_true_time() {
    let rows = Arc::new(Mutex::new(Vec::new()));
    let out = Arc::clone(&rows);
    Simulation::new(5)
        .faults(FaultConfig::calm())
        .run(|sim| async move { *out.lock().unwrap() = read_clocks(sim).await })
        .unwrap();
    for (at, row) in rows.lock().unwrap().iter() {
        for (now, wall) in row {
            assert_eq!(now, at);
            assert_eq!(*wall, WallTime::SIMULATION_EPOCH + at.since_epoch());
        }
    }
}

#[test]
fn with_clock_skew_on_processes_disagree_within_the_bounds() {
    let bounds = ClockConfig::default();
    let mut disagreed = 0;
    for seed in 1..20 {
        let rows = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&rows);
        let report = Simulation::new(seed)
            .faults(skewed())
            .run(|sim| async move { *out.lock().unwrap() = read_clocks(sim).await })
            .unwrap();
        assert_eq!(report.faults, skewed());
        let rows = rows.lock().unwrap();
        for (at, row) in rows.iter() {
            let true_wall = WallTime::SIMULATION_EPOCH + at.since_epoch();
            for (_, wall) in row {
                let off = (*wall - true_wall).max(true_wall - *wall);
                // Within the bound (a wall time counts whole milliseconds).
                assert!(
                    off <= bounds.max_wall_offset + Duration::from_millis(1),
                    "seed {seed}: {wall} vs {true_wall}"
                );
            }
            if row.windows(2).any(|w| w[0].1 != w[1].1) {
                disagreed += 1;
            }
        }
        // Each process's monotonic clock moves forward, at its own rate
        // within the bound.
        for p in 0..3 {
            let first = rows[0].1[p].0;
            let last = rows[5].1[p].0;
            let ran = (last - first).as_nanos() as i128;
            let truth = 50_000_000_000i128;
            let ppm = (ran - truth) * 1_000_000 / truth;
            assert!(ppm.abs() <= i128::from(bounds.max_drift_ppm), "{ppm}");
        }
    }
    assert!(
        disagreed > 50,
        "wall clocks disagreed at only {disagreed} readings"
    );
}

#[test]
fn a_process_s_sleep_is_measured_on_its_own_clock() {
    for seed in 1..10 {
        let measured = Arc::new(Mutex::new(Vec::new()));
        let out = Arc::clone(&measured);
        Simulation::new(seed)
            .faults(skewed())
            .run(|sim| async move {
                let truth = sim.clone();
                let out = Arc::clone(&out);
                sim.start_process("node", move |p: Providers| {
                    let (truth, out) = (truth.clone(), Arc::clone(&out));
                    async move {
                        let (local, real) = (p.now(), truth.now());
                        p.sleep(Duration::from_secs(1000)).await;
                        out.lock()
                            .unwrap()
                            .push((p.now() - local, truth.now() - real));
                        // A timeout is measured on the same clock.
                        let started = p.now();
                        let never = std::future::pending::<()>();
                        assert!(p.timeout(Duration::from_secs(10), never).await.is_err());
                        assert!(p.now() - started >= Duration::from_secs(10));
                    }
                });
                sim.sleep(Duration::from_secs(1100)).await;
            })
            .unwrap();
        let (local, real) = measured.lock().unwrap()[0];
        // Never early on its own clock, and not late by more than a tick.
        assert!(local >= Duration::from_secs(1000), "{local:?}");
        assert!(local < Duration::from_secs(1000) + Duration::from_micros(1));
        // True time differs by the rate: up to 100 ppm of 1000 s = 100 ms.
        let diff = real.abs_diff(Duration::from_secs(1000));
        assert!(diff <= Duration::from_millis(101), "{real:?}");
    }
}

#[test]
fn the_clocks_are_part_of_the_seed_and_of_its_trace() {
    let run = |seed, faults| {
        let seen = Arc::new(AtomicU64::new(0));
        let out = Arc::clone(&seen);
        let report = Simulation::new(seed)
            .faults(faults)
            .run(|sim| async move {
                let out = Arc::clone(&out);
                sim.start_process("node", move |p: Providers| {
                    let out = Arc::clone(&out);
                    async move {
                        p.sleep(Duration::from_secs(3)).await;
                        out.store(p.wall_now().unix_millis(), Ordering::Relaxed);
                    }
                });
                sim.sleep(Duration::from_secs(5)).await;
            })
            .unwrap();
        (report.trace_hash, seen.load(Ordering::Relaxed))
    };
    assert_eq!(run(9, skewed()), run(9, skewed()));
    assert_ne!(run(9, skewed()).0, run(9, FaultConfig::calm()).0);
    assert_ne!(run(9, skewed()).1, run(10, skewed()).1);
}

#[test]
fn the_swarm_draws_clock_skew_for_about_half_the_seeds() {
    let on = (0..1_000)
        .filter(|&s| FaultPlan::Swarm.for_seed(s).clock_skew)
        .count();
    assert!((400..600).contains(&on), "{on}");
    assert!(FaultConfig::brutal().clock_skew);
    assert!(!FaultConfig::calm().clock_skew);
}
