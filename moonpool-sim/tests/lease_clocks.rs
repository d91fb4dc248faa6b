//! A lease bug only clock disagreement can find.
//!
//! Two workers share a lease in a table (a database row, say): a worker
//! takes it when it is free or has expired, writing `expires = now + TTL`
//! in its own wall clock, and works in steps while it holds it. The buggy
//! worker checks the expiry against its own clock with no margin: correct
//! when every machine reads the same time, wrong when a peer's clock runs
//! ahead (the peer sees the lease expired while the holder still works).
//! The fixed worker stops early by a margin larger than two machines'
//! clocks can disagree ([`ClockConfig`]'s bounds) plus how late a timer may
//! fire.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moonpool_sim::chaos::{FaultConfig, FaultPlan};
use moonpool_sim::runner::{
    BodyFuture, RunnerConfig, SeedBase, SimTestError, SimTestSpec, run_seeds,
};
use moonpool_sim::{ClockConfig, NetConfig, Providers, SimContext, WallTime};

const TTL: Duration = Duration::from_secs(2);
const STEP: Duration = Duration::from_millis(20);

/// The shared table's one row: who holds the lease, until when (in the
/// holder's wall clock).
#[derive(Default)]
struct LeaseRow {
    holder: Option<(u32, WallTime)>,
}

/// One worker: takes the lease when it may, then works in steps while its
/// own clock says the lease (less `margin`) has time left for one more.
async fn worker(
    me: u32,
    p: Providers,
    row: Arc<Mutex<LeaseRow>>,
    inside: Arc<AtomicU32>,
    margin: Duration,
) {
    loop {
        p.sleep(Duration::from_millis(p.random_below(50))).await;
        let now = p.wall_now();
        let expires = {
            // Read, check and write in one go: the table's compare-and-set.
            let mut row = row.lock().unwrap();
            match row.holder {
                Some((_, until)) if now < until => continue,
                _ => {
                    let until = now + TTL;
                    row.holder = Some((me, until));
                    until
                }
            }
        };
        while p.wall_now() + STEP + margin < expires {
            inside.fetch_add(1, Ordering::SeqCst);
            p.sleep(STEP).await;
            inside.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn lease_test(sim: SimContext, margin: Duration) -> BodyFuture {
    Box::pin(async move {
        let row = Arc::new(Mutex::new(LeaseRow::default()));
        let inside = Arc::new(AtomicU32::new(0));
        let watched = Arc::clone(&inside);
        sim.invariant("at most one worker holds the lease", move || match watched
            .load(Ordering::SeqCst)
        {
            0 | 1 => Ok(()),
            n => Err(format!("{n} workers work under the lease at once")),
        });
        for me in 0..2 {
            let (row, inside) = (Arc::clone(&row), Arc::clone(&inside));
            sim.start_process(format!("worker-{me}"), move |p| {
                worker(me, p, Arc::clone(&row), Arc::clone(&inside), margin)
            });
        }
        sim.sleep(Duration::from_secs(60)).await;
        Ok(())
    })
}

/// The bug: no margin.
fn no_margin(sim: SimContext) -> BodyFuture {
    lease_test(sim, Duration::ZERO)
}

/// The fix: two machines' wall clocks disagree by at most twice the offset
/// bound; a step's timer may fire late by the drift bound; the rate error
/// over a lease is below a millisecond.
fn with_margin(sim: SimContext) -> BodyFuture {
    let margin = ClockConfig::default().max_wall_offset * 2
        + NetConfig::default().clock_drift_max
        + Duration::from_millis(5);
    lease_test(sim, margin)
}

fn spec(path: &'static str, seeds: u64) -> SimTestSpec {
    SimTestSpec {
        seeds,
        ..SimTestSpec::new(path, "moonpool-sim", "lease_clocks")
    }
}

fn runner(faults: FaultConfig) -> RunnerConfig {
    RunnerConfig {
        base: SeedBase::Fixed,
        faults: Some(FaultPlan::Fixed(faults)),
        ..RunnerConfig::default()
    }
}

#[test]
fn the_bug_is_found_with_per_process_clocks() {
    let skewed = FaultConfig {
        clock_skew: true,
        ..FaultConfig::calm()
    };
    let err = run_seeds(
        &spec("lease_clocks::no_margin", 100),
        no_margin,
        &runner(skewed),
    )
    .unwrap_err();
    let SimTestError::Failed(report) = err else {
        panic!("expected a failing seed, got {err}");
    };
    let text = report.to_string();
    assert!(
        text.contains("at most one worker holds the lease"),
        "{text}"
    );
    assert!(
        text.contains("2 workers work under the lease at once"),
        "{text}"
    );
    // The report says where each machine's clock stood.
    assert!(
        text.contains("clocks (off true time): worker-0 wall "),
        "{text}"
    );
    assert!(report.failure.clocks.len() == 2, "{text}");
}

#[test]
fn the_bug_is_not_found_when_every_machine_reads_true_time() {
    let summary = run_seeds(
        &spec("lease_clocks::no_margin_calm", 500),
        no_margin,
        &runner(FaultConfig::calm()),
    )
    .unwrap();
    assert_eq!(summary.seeds, 500);
}

#[test]
fn the_fixed_lease_passes_500_seeds_of_the_swarm() {
    let spec = SimTestSpec {
        faults: Some(FaultPlan::Swarm),
        ..spec("lease_clocks::with_margin", 500)
    };
    let config = RunnerConfig {
        base: SeedBase::Fixed,
        ..RunnerConfig::default()
    };
    let summary = run_seeds(&spec, with_margin, &config).unwrap();
    assert_eq!(summary.seeds, 500);
}

#[test]
fn the_fixed_lease_passes_with_every_clock_skewed() {
    let skewed = FaultConfig {
        clock_skew: true,
        clock_drift: true,
        ..FaultConfig::calm()
    };
    let summary = run_seeds(
        &spec("lease_clocks::with_margin_skewed", 500),
        with_margin,
        &runner(skewed),
    )
    .unwrap();
    assert_eq!(summary.seeds, 500);
}
