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

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, Waker};

use moonpool_sim::{Instant, Providers};

use super::chain::{CallChain, TurnKind};
use super::context::ActorContext;
use super::definition::Actor;
use super::envelope::Envelope;
use super::erased::{ActivationInfo, AnyActivation};
use super::runtime::Idle;
use crate::id::ActorId;
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
pub(crate) enum Offer<A> {
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
    pub(crate) fn context(self: &Arc<Self>, callers: CallChain, turn: TurnKind) -> ActorContext {
        ActorContext {
            activation: Arc::clone(self) as Arc<dyn AnyActivation>,
            callers,
            turn,
        }
    }

    pub(crate) fn id(&self) -> &ActorId {
        &self.info.id
    }

    /// A turn that keeps the activation alive starts now.
    pub(crate) fn touch(&self) {
        self.touch_at(self.info.providers.now());
    }

    /// [`Activation::touch`] with a clock reading the caller took (never
    /// moving the idle clock back, should a turn that read later have
    /// stored first).
    pub(crate) fn touch_at(&self, now: Instant) {
        self.last_activity
            .fetch_max(now.as_nanos(), Ordering::Relaxed);
    }

    pub(crate) fn idle_deadline(&self) -> Instant {
        Instant::from_nanos(self.last_activity.load(Ordering::Relaxed))
            .saturating_add(A::options().idle_timeout)
    }

    /// Has the node's idle collector watch this activation.
    pub(crate) fn watch_idle(self: &Arc<Self>) {
        if let Some(node) = self.info.runtime.upgrade() {
            let weak: Weak<dyn Idle> = Arc::downgrade(self) as Weak<dyn Idle>;
            node.watch_idle(self.idle_deadline(), self.info.generation, weak);
        }
    }

    /// Hands `env` over (see [`Offer`]).
    pub(crate) fn offer(&self, env: Envelope<A>) -> Offer<A> {
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
                // Behind a running turn (not behind the activation itself,
                // which every first call waits for): what the queue-length
                // metric samples.
                let behind_turn = matches!(other, Phase::Running);
                slot.phase = other;
                slot.queue.push_back(env);
                let queued = slot.queue.len();
                let waiting = slot.waiting.take();
                drop(guard);
                if behind_turn {
                    crate::metrics::queued(queued);
                }
                if let Some(w) = waiting {
                    w.wake();
                }
                Offer::Queued
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

    /// A new activation of `A`, being built.
    pub(crate) fn new(info: ActivationInfo) -> Self {
        Self {
            info,
            slot: Mutex::new(Slot {
                phase: Phase::Activating,
                queue: VecDeque::new(),
                waiting: None,
                idle_check: false,
            }),
            last_activity: AtomicU64::new(0),
        }
    }

    /// Halts (see [`AnyActivation::halt`](super::erased::AnyActivation::halt)):
    /// drops what is queued unrun, refuses what arrives, and returns the
    /// actor if it was at rest (then it is the caller's to drop, and the
    /// activation's to leave); a runner, or the activation being built,
    /// sees the flag when it next looks for work.
    pub(crate) fn halt_now(&self) -> Option<A> {
        self.info.halted.store(true, Ordering::Release);
        let mut guard = lock(&self.slot);
        let slot = &mut *guard;
        let dropped = std::mem::take(&mut slot.queue);
        let at_rest = match std::mem::replace(&mut slot.phase, Phase::Leaving) {
            Phase::Idle(actor) => Some(actor),
            other => {
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
        at_rest
    }

    /// The idle collector's check at `now`: `Ok(actor)` when the activation
    /// is at rest past its idle deadline (it is now leaving, and the actor
    /// is the caller's to deactivate); otherwise when to check again, if
    /// the collector should keep watching.
    pub(crate) fn take_if_idle(&self, now: Instant) -> Result<A, Option<Instant>> {
        let deadline = self.idle_deadline();
        let due = now >= deadline;
        let mut guard = lock(&self.slot);
        let slot = &mut *guard;
        match std::mem::replace(&mut slot.phase, Phase::Leaving) {
            Phase::Idle(actor) if due => Ok(actor),
            busy @ (Phase::Activating | Phase::Running) => {
                slot.phase = busy;
                // Its runner hands it back when it brings the actor to rest.
                slot.idle_check |= due;
                Err((!due).then_some(deadline))
            }
            other => {
                let watched = matches!(other, Phase::Idle(_));
                slot.phase = other;
                Err(watched.then_some(deadline))
            }
        }
    }
}
