//! What a handler knows about its activation: who it is, the providers, and
//! how to call other actors (propagating the call chain).

use std::any::Any;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use moonpool_sim::{JoinHandle, Providers};
use tokio::sync::mpsc;

use super::activation::{Envelope, Turn, make_turn};
use super::{Actor, ActorId, ActorRef, CallChain, CallError, Handler, Message};
use crate::node::{Node, NodeInner};
use crate::transport::lock;

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
    pub(crate) id: ActorId,
    pub(crate) node: Weak<NodeInner>,
    pub(crate) providers: Providers,
    /// Activations waiting in this call chain, outermost first, ending with
    /// this one.
    pub(crate) chain: CallChain,
    /// The activation's own mailbox (an `UnboundedSender<Envelope<A>>`).
    pub(crate) mailbox: Arc<dyn Any + Send + Sync>,
    /// Timers of this activation, stopped when it deactivates.
    pub(crate) timers: Arc<Mutex<Vec<Option<JoinHandle<()>>>>>,
}

impl ActorContext {
    /// This activation's id.
    pub fn id(&self) -> &ActorId {
        &self.id
    }

    /// The providers of the node hosting this activation.
    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// A reference to another actor; calls through it carry this call chain,
    /// so a cycle back into a waiting activation fails fast.
    pub fn actor<B: Actor>(&self, key: impl Into<String>) -> B::Ref {
        let node = self.node.upgrade().map(|inner| Node { inner });
        B::Ref::from(ActorRef::new(
            ActorId::of::<B>(key),
            node,
            self.chain.clone(),
        ))
    }

    /// Delivers `make()` to this activation every `period`, as a turn of its
    /// own, until [`stop_timer`](Self::stop_timer) or deactivation. Ticks
    /// do not keep an idle activation alive.
    ///
    /// # Errors
    ///
    /// [`CallError::UnknownActorType`] if `A` is not this activation's type.
    pub fn start_timer<A, M>(
        &self,
        period: Duration,
        make: impl Fn() -> M + Send + 'static,
    ) -> Result<TimerId, CallError>
    where
        A: Handler<M>,
        M: Message,
    {
        let Some(tx) = self
            .mailbox
            .downcast_ref::<mpsc::UnboundedSender<Envelope<A>>>()
            .cloned()
        else {
            return Err(CallError::UnknownActorType {
                actor_type: A::TYPE_NAME.to_string(),
            });
        };
        let p = self.providers.clone();
        let task = self
            .providers
            .spawn_named(format!("timer:{}", self.id), async move {
                loop {
                    p.sleep(period).await;
                    let msg = make();
                    let turn = make_turn(
                        move |actor: &mut A,
                              ctx: &ActorContext|
                              -> moonpool_sim::BoxFuture<'_, ()> {
                            Box::pin(async move {
                                let _ = actor.handle(msg, ctx).await;
                            })
                        },
                    );
                    let (done, _) = tokio::sync::oneshot::channel();
                    let tick = Envelope::Local {
                        turn: Turn::Exclusive(turn),
                        chain: Vec::new(),
                        done,
                        keep_alive: false,
                    };
                    if tx.send(tick).is_err() {
                        return;
                    }
                }
            });
        let mut timers = lock(&self.timers);
        timers.push(Some(task));
        Ok(TimerId(timers.len() - 1))
    }

    /// Stops a timer (no effect if it already stopped).
    pub fn stop_timer(&self, id: TimerId) {
        if let Some(task) = lock(&self.timers).get_mut(id.0).and_then(Option::take) {
            task.abort();
        }
    }

    pub(crate) fn stop_all_timers(&self) {
        for task in lock(&self.timers).iter_mut().filter_map(Option::take) {
            task.abort();
        }
    }

    /// The node hosting this activation, while it runs.
    pub fn node(&self) -> Option<Node> {
        self.node.upgrade().map(|inner| Node { inner })
    }
}
