//! What a handler knows about its activation: who it is, the providers,
//! and the call chain its calls carry. Calling other actors from a turn is
//! in `call.rs`, timers in `timers.rs`, the hosting node in `node/`.

use std::sync::{Arc, Weak};

use moonpool_sim::Providers;

use super::chain::{CallChain, ChainLink, TurnKind};
use super::erased::{ActivationInfo, AnyActivation};
use super::runtime::Runtime;
use crate::id::ActorId;
use crate::state::StateOwner;

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
    /// How this turn holds the activation.
    pub(crate) turn: TurnKind,
}

impl ActorContext {
    pub(crate) fn info(&self) -> &ActivationInfo {
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
            turn: self.turn,
        });
        chain
    }

    /// The activation, as the owner its persisted states report to.
    pub(crate) fn state_owner(&self) -> Weak<dyn StateOwner> {
        let owner: Arc<dyn StateOwner> = Arc::clone(&self.activation) as Arc<dyn StateOwner>;
        Arc::downgrade(&owner)
    }

    /// The node hosting this activation, while it runs.
    pub(crate) fn runtime(&self) -> Option<Arc<dyn Runtime>> {
        self.info().runtime.upgrade()
    }
}
