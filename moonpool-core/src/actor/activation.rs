//! One activation: who it is, the phase it is in, and the messages waiting
//! for it — one allocation, and no task while it is at rest.
//!
//! ```text
//! Activating ──built──▶ Idle(actor) ◀──queue empty── Running
//!      │                   │  ▲                          ▲
//!      │                   │  └──────────────────────────┤
//!      │                   └──a message arrives: whoever─┘
//!      │                      brings it takes the actor
//!      │                   (idle too long, Stop, or a panic)
//!      └──failed──▶ Leaving ──node forgot it──▶ Closed
//! ```
//!
//! While the actor is at rest (`Idle`), no task exists for it: a message
//! that arrives takes the actor out and runs its turn — in the caller's own
//! task for a local exclusive call (`local_call.rs`), in a task spawned for
//! that burst of work otherwise (`turns.rs`). Whoever runs turns takes the
//! next queued message under the same lock that would put the actor back,
//! so a message is never left behind with nobody to run it, and turns run
//! in arrival order. Idle deactivation is the node's idle collector's job
//! (`node/idle.rs`), not a timer per activation.

use std::any::Any;
use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use moonpool_sim::{Instant, Providers};

use super::context::ActivationInfo;
use super::envelope::{Envelope, RemoteCall, RemoteReply};
use super::turns::is_shared;
use super::{Actor, ActorContext, ActorId, CallChain, CallError};
use crate::node::NodeInner;
use crate::state::StateOwner;
use crate::sync::lock;

/// An activation of `A`. The node's table holds it (type-erased as
/// [`AnyActivation`]); local callers, the turns' contexts and the idle
/// collector hold it too.
pub(crate) struct Activation<A: Actor> {
    pub(crate) info: ActivationInfo,
    slot: Mutex<Slot<A>>,
    /// Nanoseconds (on the providers' clock) at which the last turn that
    /// keeps the activation alive started.
    last_activity: AtomicU64,
}

struct Slot<A> {
    phase: Phase<A>,
    /// Messages waiting for the runner. Holds no buffer while at rest.
    queue: VecDeque<Envelope<A>>,
    /// The scheduler of an actor with shared methods, when it waits for a
    /// message while turns run (see [`Activation::poll_next`]).
    waiting: Option<Waker>,
    /// The idle collector found the activation busy past its idle
    /// deadline and stopped watching it: whoever brings it to rest hands
    /// it back.
    idle_check: bool,
}

enum Phase<A> {
    /// `A::activate` runs; messages queue.
    Activating,
    /// At rest, nothing queued: the next message takes the actor.
    Idle(A),
    /// Someone runs turns on the actor; messages queue for them.
    Running,
    /// Deactivating: messages still queue, to be dropped unrun (their
    /// callers re-route) once the node has forgotten this activation.
    Leaving,
    /// Gone: messages are refused. Holds why activation failed, if it did.
    Closed(Option<Arc<str>>),
}

/// What became of a message handed to an activation.
enum Offer<A> {
    /// Queued for whoever runs turns.
    Queued,
    /// The activation has closed; here is the message back.
    Refused(Envelope<A>),
    /// The actor was at rest: it is the caller's to run the message on
    /// (the activation is now `Running`).
    Start(A, Envelope<A>),
}

/// What a runner does after a turn.
pub(crate) enum Next<A> {
    /// Nothing: the actor is back at rest.
    Rested,
    /// Run this message next.
    Run(A, Envelope<A>),
    /// A handler panicked: the actor is gone, the activation leaves.
    Panicked,
    /// The actor holds a state it cannot vouch for: it runs no further
    /// turn, and the activation leaves.
    Unsure,
    /// The node was declared dead: the activation leaves at once.
    Halted,
}

/// How an activation leaves.
pub(crate) enum Exit<A> {
    /// Idle, stopped, or its node shuts down: the deactivation hook runs.
    Deactivate(A),
    /// A handler panicked: the actor's state may be half-updated, so the
    /// hook does not run.
    Panicked,
    /// The actor holds a state it cannot vouch for (see
    /// [`Persisted`](crate::state::Persisted)): the hook does not run,
    /// and the next call activates from storage.
    Unsure,
    /// The node was declared dead and another activation may already act
    /// for the actor: the hook does not run.
    Fenced,
}

/// The type-erased view of an activation.
pub(crate) trait AnyActivation: StateOwner + Send + Sync + 'static {
    fn info(&self) -> &ActivationInfo;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    fn deliver_remote(
        self: Arc<Self>,
        method: u32,
        body: Vec<u8>,
        chain: CallChain,
        reply: RemoteReply,
    );
    /// Deactivates once the messages queued before this one have run.
    fn stop(self: Arc<Self>);
    /// Stops at once: drops what is queued unrun (its callers route
    /// again), refuses what arrives, and leaves without the deactivation
    /// hook once the running turn, if any, ends. For a node declared dead.
    fn halt(self: Arc<Self>);
    /// Called by the idle collector at or after the activation's idle
    /// deadline: deactivates it if it is at rest and due. Returns when to
    /// check again, or `None` when the collector need not watch it.
    fn check_idle(self: Arc<Self>, now: Instant) -> Option<Instant>;
}

impl<A: Actor> AnyActivation for Activation<A> {
    fn info(&self) -> &ActivationInfo {
        &self.info
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn deliver_remote(
        self: Arc<Self>,
        method: u32,
        body: Vec<u8>,
        chain: CallChain,
        reply: RemoteReply,
    ) {
        let refused = self.deliver(Envelope::Remote(Box::new(RemoteCall {
            method,
            body,
            chain,
            reply,
        })));
        // Refused, the envelope is dropped here and its reply tells the
        // caller to route again — unless activation failed, which the
        // caller is told.
        if let (Err(Envelope::Remote(call)), Some(reason)) = (refused, self.failure()) {
            call.reply.send(Err(CallError::ActivationFailed {
                actor: self.info.id.to_string(),
                reason: reason.to_string(),
            }));
        }
    }

    fn stop(self: Arc<Self>) {
        let _ = self.deliver(Envelope::Stop);
    }

    fn halt(self: Arc<Self>) {
        self.info.halted.store(true, Ordering::Release);
        let mut guard = lock(&self.slot);
        let slot = &mut *guard;
        let dropped = std::mem::take(&mut slot.queue);
        let at_rest = match std::mem::replace(&mut slot.phase, Phase::Leaving) {
            Phase::Idle(actor) => Some(actor),
            other => {
                // A runner, or the activation being built, sees the flag
                // when it next looks for work.
                slot.phase = other;
                None
            }
        };
        let waiting = slot.waiting.take();
        drop(guard);
        drop(dropped);
        if let Some(w) = waiting {
            w.wake();
        }
        if let Some(actor) = at_rest {
            drop(actor);
            let p = Arc::clone(&self.info.providers);
            p.spawn_detached(
                format!("halt:{}", self.info.id),
                super::lifecycle::leave(self, Exit::Fenced),
            );
        }
    }

    fn check_idle(self: Arc<Self>, now: Instant) -> Option<Instant> {
        let deadline = self.idle_deadline();
        let due = now >= deadline;
        let mut guard = lock(&self.slot);
        let slot = &mut *guard;
        match std::mem::replace(&mut slot.phase, Phase::Leaving) {
            Phase::Idle(actor) if due => {
                drop(guard);
                let p = Arc::clone(&self.info.providers);
                p.spawn_detached(
                    format!("deactivate:{}", self.info.id),
                    super::lifecycle::leave(self, Exit::Deactivate(actor)),
                );
                None
            }
            busy @ (Phase::Activating | Phase::Running) => {
                slot.phase = busy;
                // Its runner hands it back when it brings the actor to rest.
                slot.idle_check |= due;
                (!due).then_some(deadline)
            }
            other => {
                let watched = matches!(other, Phase::Idle(_));
                slot.phase = other;
                watched.then_some(deadline)
            }
        }
    }
}

impl<A: Actor> StateOwner for Activation<A> {
    fn state_unsure(&self, unsure: bool) {
        if unsure {
            self.info.unsure_states.fetch_add(1, Ordering::Relaxed);
        } else {
            self.info.unsure_states.fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn providers(&self) -> &Providers {
        &self.info.providers
    }
}

impl<A: Actor> Activation<A> {
    /// The context of a turn called through `callers`.
    pub(crate) fn context(self: &Arc<Self>, callers: CallChain, shared: bool) -> ActorContext {
        ActorContext {
            activation: Arc::clone(self) as Arc<dyn AnyActivation>,
            callers,
            shared,
        }
    }

    pub(crate) fn id(&self) -> &ActorId {
        &self.info.id
    }

    /// A turn that keeps the activation alive starts now.
    pub(crate) fn touch(&self) {
        let now = self.info.providers.now().as_nanos();
        self.last_activity.store(now, Ordering::Relaxed);
    }

    fn idle_deadline(&self) -> Instant {
        Instant::from_nanos(self.last_activity.load(Ordering::Relaxed))
            .saturating_add(A::options().idle_timeout)
    }

    /// Has the node's idle collector watch this activation.
    pub(crate) fn watch_idle(self: &Arc<Self>) {
        if let Some(node) = self.info.node.upgrade() {
            let weak: Weak<dyn AnyActivation> = Arc::downgrade(self) as Weak<dyn AnyActivation>;
            node.idle
                .watch(self.idle_deadline(), self.info.generation, weak);
        }
    }

    /// Hands `env` over (see [`Offer`]).
    fn offer(&self, env: Envelope<A>) -> Offer<A> {
        if self.info.is_halted() {
            return Offer::Refused(env);
        }
        let mut guard = lock(&self.slot);
        let slot = &mut *guard;
        match std::mem::replace(&mut slot.phase, Phase::Running) {
            Phase::Idle(actor) => Offer::Start(actor, env),
            closed @ Phase::Closed(_) => {
                slot.phase = closed;
                Offer::Refused(env)
            }
            other => {
                slot.phase = other;
                slot.queue.push_back(env);
                let waiting = slot.waiting.take();
                drop(guard);
                if let Some(w) = waiting {
                    w.wake();
                }
                Offer::Queued
            }
        }
    }

    /// Queues `env`; or, when the actor is at rest, runs it: an exclusive
    /// turn right here (see [`super::turns::run_here`]), anything else in a
    /// task of its own. Gives `env` back if the activation has closed.
    pub(crate) fn deliver(self: &Arc<Self>, env: Envelope<A>) -> Result<(), Envelope<A>> {
        match self.offer(env) {
            Offer::Queued => Ok(()),
            Offer::Refused(env) => Err(env),
            Offer::Start(actor, env) if !matches!(env, Envelope::Stop) && !is_shared(&env) => {
                super::turns::run_here(self, actor, env);
                Ok(())
            }
            Offer::Start(actor, env) => {
                let run = super::turns::run(Arc::clone(self), actor, env);
                self.info.providers.spawn_detached("actor-turns", run);
                Ok(())
            }
        }
    }

    /// After a turn: what the runner does next (see [`Next`]).
    pub(crate) fn after_turn(self: &Arc<Self>, actor: A, panic: Option<String>) -> Next<A> {
        if let Some(message) = panic {
            // Its state may be half-updated: drop it, skip the
            // deactivation hook.
            tracing::error!(actor = %self.info.id, %message, "handler panicked");
            drop(actor);
            return Next::Panicked;
        }
        self.next_or_rest(actor)
    }

    /// The next queued message, or rest: the actor goes back into the
    /// slot under the lock that a sender takes to queue, so nothing queued
    /// is left without a runner. An activation the idle collector found
    /// busy past its deadline is handed back to the collector, which
    /// deactivates it at once if no call came since. An actor that holds
    /// a state it cannot vouch for runs nothing more.
    pub(crate) fn next_or_rest(self: &Arc<Self>, actor: A) -> Next<A> {
        if self.info.is_halted() {
            drop(actor);
            return Next::Halted;
        }
        if self.info.holds_unsure_state() {
            tracing::warn!(
                actor = %self.info.id,
                "the actor holds a state it cannot vouch for; deactivating (the next call activates from storage)"
            );
            drop(actor);
            return Next::Unsure;
        }
        let mut guard = lock(&self.slot);
        let slot = &mut *guard;
        if let Some(env) = slot.queue.pop_front() {
            return Next::Run(actor, env);
        }
        if slot.queue.capacity() > 0 {
            // An activation at rest keeps no buffer.
            slot.queue = VecDeque::new();
        }
        slot.phase = Phase::Idle(actor);
        let rewatch = std::mem::take(&mut slot.idle_check);
        drop(guard);
        if rewatch {
            self.watch_idle();
        }
        Next::Rested
    }

    /// The next queued message, for a runner that waits for one while
    /// turns run; registers its waker when nothing is queued.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Envelope<A>> {
        let mut slot = lock(&self.slot);
        if let Some(env) = slot.queue.pop_front() {
            return Poll::Ready(env);
        }
        match &slot.waiting {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => slot.waiting = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// The next queued message, if any.
    pub(crate) fn try_next(&self) -> Option<Envelope<A>> {
        lock(&self.slot).queue.pop_front()
    }

    /// Deactivation has begun: messages still queue, unrun.
    pub(crate) fn begin_leaving(&self) {
        let mut slot = lock(&self.slot);
        if !matches!(slot.phase, Phase::Closed(_)) {
            slot.phase = Phase::Leaving;
        }
    }

    /// Refuses every further message (remembering why activation failed,
    /// if it did) and returns those that queued, for the caller to answer
    /// or drop outside the lock.
    pub(crate) fn close(&self, failure: Option<Arc<str>>) -> VecDeque<Envelope<A>> {
        let mut slot = lock(&self.slot);
        slot.phase = Phase::Closed(failure);
        slot.waiting = None;
        std::mem::take(&mut slot.queue)
    }

    /// Why this activation failed to activate, once it has closed for
    /// that reason.
    pub(crate) fn failure(&self) -> Option<Arc<str>> {
        match &lock(&self.slot).phase {
            Phase::Closed(failure) => failure.clone(),
            _ => None,
        }
    }
}

/// Creates an activation of `A` for `id` and starts building its actor.
pub(crate) fn spawn_activation<A: Actor>(
    node: &Arc<NodeInner>,
    id: ActorId,
    generation: u64,
) -> Arc<Activation<A>> {
    let activation = Arc::new(Activation {
        info: ActivationInfo {
            id,
            node: Arc::downgrade(node),
            providers: Arc::clone(&node.providers),
            generation,
            timers: Mutex::new(Vec::new()),
            unsure_states: AtomicU32::new(0),
            halted: std::sync::atomic::AtomicBool::new(false),
        },
        slot: Mutex::new(Slot {
            phase: Phase::Activating,
            queue: VecDeque::new(),
            waiting: None,
            idle_check: false,
        }),
        last_activity: AtomicU64::new(0),
    });
    node.providers.spawn_detached(
        format!("activate:{}", activation.info.id),
        super::lifecycle::activate(Arc::clone(&activation)),
    );
    activation
}

/// Runs a handler future, turning a panic into `Err(message)`.
///
/// # Example
///
/// ```
/// # moonpool_sim::Simulation::new(1).run(|_| async {
/// let r = moonpool_core::actor::catch_handler_panic(async { panic!("bad input") }).await;
/// assert_eq!(r, Err::<(), _>("bad input".to_string()));
/// # }).unwrap();
/// ```
pub async fn catch_handler_panic<F: Future>(future: F) -> Result<F::Output, String> {
    CatchUnwind { future }.await
}

pin_project_lite::pin_project! {
    /// Polls the inner future, catching a panic (no allocation).
    struct CatchUnwind<F> {
        #[pin]
        future: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(payload) => Poll::Ready(Err(panic_text(payload.as_ref()))),
        }
    }
}

fn panic_text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic>".to_string())
}
