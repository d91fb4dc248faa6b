//! What a handler knows about its activation: who it is, the providers, and
//! how to call other actors (propagating the call chain).

use std::sync::Weak;

use moonpool_sim::Providers;

use super::{Actor, ActorId, ActorRef};
use crate::node::{Node, NodeInner};

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
    pub(crate) chain: Vec<ActorId>,
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
    pub fn actor<B: Actor>(&self, key: impl Into<String>) -> ActorRef<B> {
        let node = self.node.upgrade().map(|inner| Node { inner });
        ActorRef::new(ActorId::of::<B>(key), node, self.chain.clone())
    }

    /// The node hosting this activation, while it runs.
    pub fn node(&self) -> Option<Node> {
        self.node.upgrade().map(|inner| Node { inner })
    }
}
