//! The provider conformance suite (time, tasks, randomness): each body runs
//! unchanged against the tokio providers and the simulated ones, so code
//! tested in the simulator behaves the same in production.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Duration;

use moonpool_sim::{Elapsed, JoinError, Providers, Simulation};

/// Generates `<name>_on_tokio` and `<name>_in_simulation` from one body.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_tokio {
            $(
                #[test]
                fn $name() {
                    let rt = tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(2)
                        .enable_time()
                        .build()
                        .unwrap();
                    rt.block_on(async {
                        let p = moonpool_sim::Providers::tokio().unwrap();
                        super::$name(p).await;
                    });
                }
            )*
        }
        mod in_simulation {
            $(
                #[test]
                fn $name() {
                    for seed in 0..20 {
                        moonpool_sim::Simulation::new(seed)
                            .run(|sim| super::$name(sim.providers()))
                            .unwrap();
                    }
                }
            )*
        }
    };
}

conformance!(
    sleep_waits_at_least_its_duration,
    timeout_fires_for_slow_futures_only,
    spawn_returns_the_value,
    abort_cancels_and_is_idempotent,
    dropped_handles_detach,
    many_tasks_share_a_channel,
    random_draws_stay_in_range,
);

async fn sleep_waits_at_least_its_duration(p: Providers) {
    let start = p.now();
    p.sleep(Duration::from_millis(20)).await;
    assert!(p.now() - start >= Duration::from_millis(20));
    let before = p.now();
    p.sleep_until(before).await; // already reached: immediate
    assert!(p.now() - before < Duration::from_millis(20));
}

async fn timeout_fires_for_slow_futures_only(p: Providers) {
    let slow = p
        .timeout(Duration::from_millis(10), p.sleep(Duration::from_secs(30)))
        .await;
    assert_eq!(
        slow,
        Err(Elapsed {
            after: Duration::from_millis(10)
        })
    );
    let fast = p.timeout(Duration::from_secs(30), async { "done" }).await;
    assert_eq!(fast, Ok("done"));
}

async fn spawn_returns_the_value(p: Providers) {
    let q = p.clone();
    let task = p.spawn_named("adder", async move {
        q.sleep(Duration::from_millis(1)).await;
        40 + 2
    });
    assert_eq!(task.name(), "adder");
    assert_eq!(task.await, Ok(42));
}

async fn abort_cancels_and_is_idempotent(p: Providers) {
    let q = p.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = p.spawn_named("sleeper", async move {
        let _guard = tx; // dropped when the task is dropped
        q.sleep(Duration::from_secs(3_600)).await;
    });
    p.sleep(Duration::from_millis(1)).await;
    task.abort();
    task.abort();
    // The task's future is dropped, so its channel closes.
    assert!(rx.await.is_err());
    assert_eq!(
        task.await,
        Err(JoinError::Cancelled {
            task: "sleeper".into()
        })
    );
}

async fn dropped_handles_detach(p: Providers) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let q = p.clone();
    drop(p.spawn(async move {
        q.sleep(Duration::from_millis(5)).await;
        let _ = tx.send("ran");
    }));
    assert_eq!(rx.await, Ok("ran"));
}

async fn many_tasks_share_a_channel(p: Providers) {
    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    for i in 0..100u64 {
        let tx = tx.clone();
        let q = p.clone();
        p.spawn(async move {
            q.sleep(Duration::from_millis(q.random_below(5))).await;
            tx.send(i).await.unwrap();
        });
    }
    drop(tx);
    let mut sum = 0;
    while let Some(i) = rx.recv().await {
        sum += i;
    }
    assert_eq!(sum, 4_950);
}

async fn random_draws_stay_in_range(p: Providers) {
    for _ in 0..1_000 {
        assert!(p.random_below(10) < 10);
        assert!((5..8).contains(&p.random_range(5..8)));
        let d = p.random_duration(Duration::from_millis(1), Duration::from_millis(2));
        assert!(d >= Duration::from_millis(1) && d <= Duration::from_millis(2));
    }
    assert!(!p.random_bool(0.0));
    assert!(p.random_bool(1.0));
    let (start, end) = (9, 3);
    assert_eq!(p.random_range(start..end), 9);
}

#[test]
fn a_tokio_task_panic_reaches_its_join_handle() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let p = Providers::tokio().unwrap();
        let bad = p.spawn_named("bad", async { panic!("expected in this test") });
        assert_eq!(bad.await, Err(JoinError::Panicked { task: "bad".into() }));
    });
}

#[test]
fn tokio_providers_need_a_runtime() {
    let err = Providers::tokio().unwrap_err();
    assert!(err.to_string().contains("inside a tokio runtime"), "{err}");
}

#[test]
fn simulated_providers_are_deterministic_per_seed() {
    let draw = |seed| {
        Simulation::new(seed)
            .run(|sim| async move {
                let p = sim.providers();
                (0..8).map(|_| p.random_u64()).collect::<Vec<_>>()
            })
            .unwrap()
            .output
    };
    assert_eq!(draw(1), draw(1));
    assert_ne!(draw(1), draw(2));
}
