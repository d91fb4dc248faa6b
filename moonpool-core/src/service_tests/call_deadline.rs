//! The caller's route loop against a scripted node: a call routed again
//! after a miss never waits past its own deadline.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use moonpool_sim::{BoxFuture, Instant, Providers, SimContext};

use crate::actor::{
    ActorRef, CallAnswer, CallError, CallHeadRef, Idle, Located, Placement, Runtime, SendJob,
    Services,
};
use crate::id::ActorId;
use crate::reminder::ReminderTable;
use crate::service_tests::{Probe, Touch, probe};
use crate::state::StateStorage;
use crate::transport::{NodeId, Outgoing, TransportError};

/// A node whose location cache always names `home`, where the first
/// request answers "not here" after `first_answer`, and every later one
/// hears nothing until its timeout runs out.
struct Scripted {
    providers: Arc<Providers>,
    services: Services,
    span: tracing::Span,
    home: NodeId,
    timeout: Duration,
    first_answer: Duration,
    /// The timeout each request was given, in order.
    given: Mutex<Vec<Duration>>,
    calls: AtomicU64,
}

impl Runtime for Scripted {
    fn providers(&self) -> &Arc<Providers> {
        &self.providers
    }

    fn storage(&self) -> Option<Arc<dyn StateStorage>> {
        None
    }

    fn reminder_table(&self) -> Option<Arc<dyn ReminderTable>> {
        None
    }

    fn reminder_changed(self: Arc<Self>, _actor: ActorId) {}

    fn watch_idle(&self, _at: Instant, _generation: u64, _activation: Weak<dyn Idle>) {}

    fn forget_activation<'a>(&'a self, _id: &'a ActorId, _generation: u64) -> BoxFuture<'a, ()> {
        Box::pin(async {})
    }

    fn me(&self) -> NodeId {
        NodeId::test(1)
    }

    fn call_timeout(&self) -> Duration {
        self.timeout
    }

    fn services(&self) -> &Services {
        &self.services
    }

    fn span(&self) -> &tracing::Span {
        &self.span
    }

    fn next_call_id(&self) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed)
    }

    fn admit(&self, _from_turn: bool) -> Result<(), CallError> {
        Ok(())
    }

    fn check_lease(&self, _now: Instant) -> Result<(), CallError> {
        Ok(())
    }

    fn cached(&self, _id: &ActorId) -> Option<NodeId> {
        // Refilled at once after every miss (as another caller's lookup
        // would): each attempt takes the cache's fast path.
        Some(self.home)
    }

    fn hosted(&self, _id: &ActorId) -> Option<Arc<dyn Any + Send + Sync>> {
        None
    }

    fn locate<'a>(
        self: Arc<Self>,
        _id: &'a ActorId,
        _placement: Placement,
    ) -> BoxFuture<'a, Result<Located, CallError>> {
        let home = self.home;
        Box::pin(async move { Ok(Located::Remote(home)) })
    }

    fn invalidate(&self, _id: &ActorId) {}

    fn call_request(&self, _head: CallHeadRef<'_>) -> Result<Outgoing, TransportError> {
        Ok(Outgoing::new())
    }

    fn request_call(
        &self,
        to: NodeId,
        _request: Outgoing,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<CallAnswer, TransportError>> {
        let first = {
            let mut given = self.given.lock().unwrap();
            given.push(timeout);
            given.len() == 1
        };
        let p = Arc::clone(&self.providers);
        let first_answer = self.first_answer;
        Box::pin(async move {
            if first {
                p.sleep(first_answer).await;
                return Ok(CallAnswer::NotHere);
            }
            p.sleep(timeout).await;
            Err(TransportError::Timeout {
                peer: to.addr,
                after: timeout,
            })
        })
    }

    fn enqueue_send(self: Arc<Self>, _id: ActorId, _job: SendJob) {}

    fn is_stopping(&self) -> bool {
        false
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// The first attempt finds no activation where the cache said, after a
/// while; the second goes to the same node (the cache refilled) and hears
/// nothing. The second request gets only what is left of the call's
/// timeout, and the call fails at its deadline, not a timeout later.
#[moonpool::sim_test(seeds = 5, faults = "calm")]
async fn a_call_routed_again_waits_no_longer_than_its_deadline(sim: SimContext) {
    let timeout = Duration::from_secs(1);
    let first_answer = Duration::from_millis(100);
    let node = Arc::new(Scripted {
        providers: Arc::new(sim.providers()),
        services: Services::default(),
        span: tracing::Span::none(),
        home: NodeId::test(2),
        timeout,
        first_answer,
        given: Mutex::new(Vec::new()),
        calls: AtomicU64::new(0),
    });
    let actor = ActorRef::<Probe>::new(
        probe("k"),
        Some(Arc::clone(&node) as Arc<dyn Runtime>),
        Vec::new(),
    );
    let started = sim.now();
    let result = actor.call(Touch).await;
    let took = sim.now().saturating_duration_since(started);
    assert!(
        matches!(result, Err(CallError::Timeout { .. })),
        "{result:?}"
    );
    let given = node.given.lock().unwrap().clone();
    assert_eq!(given.len(), 2, "requests sent: {given:?}");
    assert_eq!(given[0], timeout);
    assert!(
        given[1] <= timeout - first_answer,
        "the second request was given {:?} of a call that had {:?} left",
        given[1],
        timeout - first_answer
    );
    assert!(
        took <= timeout,
        "the call took {took:?}, past its {timeout:?} timeout"
    );
}
