//! A failing `#[sim_test]` fails its test with the report and nothing
//! else: it unwinds without calling the panic hook, so `RUST_BACKTRACE=1`
//! prints no backtrace of the runner's own frames (the report names the
//! user's panic and where it was raised).
//!
//! One test in its own binary: it replaces the process's panic hook.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use moonpool_sim::SimContext;
use moonpool_sim::runner::{BodyFuture, SimTestSpec, run_sim_test};

fn fails(_sim: SimContext) -> BodyFuture {
    Box::pin(async move {
        let balance: i64 = -5;
        assert!(balance >= 0, "balance went negative: {balance}");
        Ok(())
    })
}

#[test]
fn a_failing_seed_fails_the_test_without_the_panic_hook() {
    // Installed before any simulation runs, so the simulator's own hook
    // (which keeps panics inside a seed for the report) chains to it.
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hook_calls);
    std::panic::set_hook(Box::new(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
    }));
    let spec = SimTestSpec {
        seeds: 3,
        ..SimTestSpec::new("failure_unwind::fails", "moonpool-sim", "failure_unwind")
    };
    let outcome = std::panic::catch_unwind(|| run_sim_test(&spec, fails));
    let _ = std::panic::take_hook();
    let payload = outcome.expect_err("the failing seed failed the test");
    let report = payload
        .downcast_ref::<String>()
        .expect("the report is the payload");
    assert!(report.contains("balance went negative: -5"), "{report}");
    assert!(report.contains("failure_unwind.rs:"), "{report}");
    assert!(report.contains("replay this seed:"), "{report}");
    assert_eq!(hook_calls.load(Ordering::SeqCst), 0, "the panic hook ran");
}
