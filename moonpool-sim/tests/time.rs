//! Logical time: it jumps instead of waiting, timers fire in order, and
//! dropped timers leave no trace.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use moonpool_sim::chaos::FaultConfig;
use moonpool_sim::{Elapsed, Instant, Simulation};

#[test]
fn a_simulated_hour_of_sleeps_takes_no_wall_time() {
    #[allow(clippy::disallowed_methods)] // measuring the harness, not the run
    let wall = std::time::Instant::now();
    let report = Simulation::new(1)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let p = sim.providers();
            let mut sleepers = Vec::new();
            for i in 0..60u64 {
                let p = p.clone();
                sleepers.push(p.clone().spawn(async move {
                    for _ in 0..60 {
                        p.sleep(Duration::from_secs(1)).await;
                    }
                    i
                }));
            }
            for _ in 0..3_600 {
                p.sleep(Duration::from_secs(1)).await;
            }
            let mut done = 0;
            for s in sleepers {
                done += u64::from(s.await.is_ok());
            }
            (done, sim.now())
        })
        .unwrap();
    assert_eq!(report.output.0, 60);
    assert_eq!(report.output.1.since_epoch(), Duration::from_secs(3_600));
    assert_eq!(report.sim_time, Instant::ZERO + Duration::from_secs(3_600));
    // Really sleeping would take an hour; the bound only rules that out.
    assert!(wall.elapsed() < Duration::from_secs(10));
}

#[test]
fn timers_fire_in_deadline_order() {
    let order = Simulation::new(9)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            for ms in [30u64, 10, 20, 10, 5] {
                let tx = tx.clone();
                let p = sim.providers();
                sim.spawn(async move {
                    p.sleep(Duration::from_millis(ms)).await;
                    tx.send((ms, p.now())).ok();
                });
            }
            drop(tx);
            let mut got = Vec::new();
            while let Some(x) = rx.recv().await {
                got.push(x);
            }
            got
        })
        .unwrap()
        .output;
    let ms: Vec<u64> = order.iter().map(|(ms, _)| *ms).collect();
    assert_eq!(ms, vec![5, 10, 10, 20, 30]);
    for (ms, at) in order {
        assert_eq!(at.since_epoch(), Duration::from_millis(ms));
    }
}

#[test]
fn timeout_elapses_at_the_deadline_and_ready_futures_win() {
    let report = Simulation::new(2)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let p = sim.providers();
            let slow = p
                .timeout(Duration::from_secs(5), p.sleep(Duration::from_secs(10)))
                .await;
            let at = sim.now();
            let fast = p.timeout(Duration::from_secs(5), async { 7 }).await;
            let exact = p
                .timeout(Duration::from_secs(1), p.sleep(Duration::from_secs(1)))
                .await;
            (slow, at, fast, exact)
        })
        .unwrap();
    let (slow, at, fast, exact) = report.output;
    assert_eq!(
        slow,
        Err(Elapsed {
            after: Duration::from_secs(5)
        })
    );
    assert_eq!(at.since_epoch(), Duration::from_secs(5));
    assert_eq!(fast, Ok(7));
    // The inner future is polled first, so it wins a tie with the deadline.
    assert_eq!(exact, Ok(()));
}

#[test]
fn dropped_timers_are_forgotten_and_do_not_move_time() {
    let report = Simulation::new(3)
        .faults(FaultConfig::calm())
        .run(|sim| async move {
            let p = sim.providers();
            for _ in 0..100 {
                let r = p.timeout(Duration::from_secs(3_600), async { 1 }).await;
                assert_eq!(r, Ok(1));
            }
            // Polled once (so armed), then dropped.
            let mut sleep = Box::pin(p.sleep(Duration::from_secs(50)));
            let waker = std::task::Waker::noop();
            assert!(
                sleep
                    .as_mut()
                    .poll(&mut std::task::Context::from_waker(waker))
                    .is_pending()
            );
            let armed = sim.pending_timers();
            drop(sleep);
            (armed, sim.pending_timers())
        })
        .unwrap();
    assert_eq!(report.output, (1, 0));
    assert_eq!(report.sim_time, Instant::ZERO);
}
