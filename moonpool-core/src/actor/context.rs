//! What a handler knows about its activation: who it is, the providers, and
//! how to call other actors (propagating the call chain).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use moonpool_sim::{JoinHandle, Providers};

use super::activation::{Activation, AnyActivation};
use super::envelope::Envelope;
use super::local_call::{PendingCall, exclusive_turn};
use super::{Actor, ActorId, ActorRef, CallChain, CallError, ChainLink, Handler, Message};
use crate::node::{Node, NodeInner};
use crate::state::StateOwner;
use crate::sync::lock;

/// Identifies a timer started with [`ActorContext::start_timer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerId(usize);

/// The context of one turn of an activation.
///
/// # Example
///
/// ```ignore
/// // inside a handler:
/// let other = ctx.actor::<Counter>("c-2");
/// let n = other.call(Get).await?;
/// ```
#[derive(Clone)]
pub struct ActorContext {
    /// The activation (one `Arc` clone per turn).
    pub(crate) activation: Arc<dyn AnyActivation>,
    /// Activations waiting in the call chain that led to this turn,
    /// outermost first (without this one; see [`Self::chain`]).
    pub(crate) callers: CallChain,
    /// Whether this turn is shared (reentrant).
    pub(crate) shared: bool,
}

/// What an activation is, whatever its actor type: the part of an
/// [`ActorContext`] that stays the same for every turn.
pub(crate) struct ActivationInfo {
    pub(crate) id: ActorId,
    pub(crate) node: Weak<NodeInner>,
    pub(crate) providers: Arc<Providers>,
    /// Tells this activation from earlier and later ones of the same actor
    /// on this node.
    pub(crate) generation: u64,
    /// Timers of this activation, stopped when it deactivates.
    pub(crate) timers: Mutex<Vec<Option<JoinHandle<()>>>>,
    /// How many of the actor's [`Persisted`](crate::state::Persisted)
    /// states are unsure: while any is, no further turn runs and the
    /// activation leaves.
    pub(crate) unsure_states: AtomicU32,
    /// The node was declared dead: nothing more runs here.
    pub(crate) halted: AtomicBool,
}

impl ActivationInfo {
    /// Whether the actor holds a state it cannot vouch for.
    pub(crate) fn holds_unsure_state(&self) -> bool {
        // Written and read by the turns of this activation, which run one
        // after the other (a happens-before edge between them already).
        self.unsure_states.load(Ordering::Relaxed) > 0
    }

    /// Whether the activation was halted (its node was declared dead).
    pub(crate) fn is_halted(&self) -> bool {
        // Acquire: pairs with the Release in `halt`, so a runner that sees
        // the flag also sees the queue it drained.
        self.halted.load(Ordering::Acquire)
    }

    /// Stops every timer of the activation.
    pub(crate) fn stop_all_timers(&self) {
        for task in lock(&self.timers).iter_mut().filter_map(Option::take) {
            task.abort();
        }
    }
}

impl ActorContext {
    fn info(&self) -> &ActivationInfo {
        self.activation.info()
    }

    /// This activation's id.
    pub fn id(&self) -> &ActorId {
        &self.info().id
    }

    /// The providers of the node hosting this activation.
    pub fn providers(&self) -> &Providers {
        &self.info().providers
    }

    /// Activations waiting in this call chain, outermost first, ending with
    /// this one: what calls made from this turn carry.
    pub(crate) fn chain(&self) -> CallChain {
        let mut chain = Vec::with_capacity(self.callers.len() + 1);
        chain.extend(self.callers.iter().cloned());
        chain.push(ChainLink {
            actor: self.info().id.clone(),
            shared: self.shared,
        });
        chain
    }

    /// A reference to another actor; calls through it carry this call chain,
    /// so a cycle back into a waiting activation fails fast.
    pub fn actor<B: Actor>(&self, key: impl Into<String>) -> B::Ref {
        B::Ref::from(ActorRef::new(
            ActorId::of::<B>(key),
            self.node(),
            self.chain(),
        ))
    }

    /// Delivers `make()` to this activation every `period`, as a turn of its
    /// own, until [`stop_timer`](Self::stop_timer) or deactivation. Ticks
    /// do not keep an idle activation alive.
    ///
    /// # Errors
    ///
    /// [`CallError::WrongActorType`] if `A` is not this activation's type.
    pub fn start_timer<A, M>(
        &self,
        period: Duration,
        make: impl Fn() -> M + Send + 'static,
    ) -> Result<TimerId, CallError>
    where
        A: Handler<M>,
        M: Message,
    {
        let Ok(activation) = Arc::clone(&self.activation)
            .into_any()
            .downcast::<Activation<A>>()
        else {
            return Err(CallError::WrongActorType {
                wanted: A::TYPE_NAME.to_string(),
                actual: self.id().type_name.to_string(),
            });
        };
        // Weak: a timer does not keep its activation's memory alive.
        let activation = Arc::downgrade(&activation);
        let p = self.providers().clone();
        let task = self
            .providers()
            .spawn_named(format!("timer:{}", self.id()), async move {
                loop {
                    p.sleep(period).await;
                    let Some(activation) = activation.upgrade() else {
                        return;
                    };
                    let tick = Envelope::Local {
                        turn: exclusive_turn::<A, M>(PendingCall::detached(make())),
                        chain: Vec::new(),
                        keep_alive: false,
                    };
                    if activation.deliver(tick).is_err() {
                        return;
                    }
                }
            });
        let mut timers = lock(&self.info().timers);
        timers.push(Some(task));
        Ok(TimerId(timers.len() - 1))
    }

    /// Stops a timer (no effect if it already stopped).
    pub fn stop_timer(&self, id: TimerId) {
        if let Some(task) = lock(&self.info().timers)
            .get_mut(id.0)
            .and_then(Option::take)
        {
            task.abort();
        }
    }

    /// The activation, as the owner its persisted states report to.
    pub(crate) fn state_owner(&self) -> Weak<dyn StateOwner> {
        let owner: Arc<dyn StateOwner> = Arc::clone(&self.activation) as Arc<dyn StateOwner>;
        Arc::downgrade(&owner)
    }

    /// The node hosting this activation, while it runs.
    pub fn node(&self) -> Option<Node> {
        self.info().node.upgrade().map(|inner| Node { inner })
    }
}
