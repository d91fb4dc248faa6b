//! A loop of local calls that never has to wait still lets the other tasks
//! of its thread run. A call to an actor at rest on the same node runs its
//! turn right in the caller's task, so nothing in it waits; on a
//! one-thread tokio runtime, a caller looping over such calls would keep
//! the thread to itself — the node's own tasks (its membership lease
//! renewed, probes answered) and the application's would stop until the
//! loop ends, and the node would refuse calls once its lease lapsed. Each
//! local call spends a unit of tokio's cooperative budget, as the channel
//! operations of a hand-written actor do, so the caller yields now and
//! then.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use moonpool::prelude::*;

/// Counts its calls.
#[moonpool::actor]
#[derive(Default)]
pub struct Tally {
    n: u64,
}

#[moonpool::actor_impl]
impl Tally {
    /// One more.
    pub async fn bump(&mut self) -> u64 {
        self.n += 1;
        self.n
    }
}

#[test]
fn a_loop_of_local_calls_lets_the_threads_other_tasks_run() {
    const CALLS: u64 = 10_000;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let node = Node::builder("cooperation").build().await.unwrap();
        let tally = node.actor::<Tally>("t");
        assert_eq!(tally.bump().await.unwrap(), 1);
        let ran = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&ran);
        let p = Providers::tokio().unwrap();
        let other = p.spawn(async move { flag.store(true, Ordering::SeqCst) });
        let mut seen_at = None;
        for i in 0..CALLS {
            tally.bump().await.unwrap();
            if seen_at.is_none() && ran.load(Ordering::SeqCst) {
                seen_at = Some(i);
            }
        }
        other.await.unwrap();
        assert!(
            seen_at.is_some(),
            "a task spawned before {CALLS} local calls in a row ran only after all of them"
        );
        assert_eq!(tally.bump().await.unwrap(), CALLS + 2);
        node.shutdown().await;
    });
}
