//! What a handler knows about its activation: who it is, the providers,
//! and the call chain its calls carry. Calling other actors from a turn is
//! in `call.rs`, timers in `timers.rs`, the hosting node in `node/`.

use std::sync::{Arc, Weak};

use moonpool_sim::Providers;

use super::chain::{CallChain, ChainLink, TurnKind};
use super::erased::{ActivationInfo, AnyActivation};
use super::runtime::Runtime;
use super::services::ServiceError;
use crate::id::ActorId;
use crate::state::StateOwner;

/// The context of one turn of an activation.
///
/// # Example
///
/// ```
/// use moonpool::prelude::*;
///
/// #[moonpool::actor]
/// #[derive(Default)]
/// pub struct Counter {
///     n: u64,
/// }
///
/// #[moonpool::actor_impl]
/// impl Counter {
///     pub async fn add(&mut self, by: u64) -> u64 {
///         self.n += by;
///         self.n
///     }
///
///     /// Adds to this counter and to the next one, named by key.
///     pub async fn add_both(&mut self, ctx: &ActorContext, by: u64) -> Result<u64, CallError> {
///         self.n += by;
///         let next = ctx.actor::<Counter>(format!("{}-next", ctx.id().key));
///         next.add(by).await // a call from this turn carries its call chain
///     }
/// }
///
/// # fn main() {
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let node = Node::builder("docs").host::<Counter>().build().await.unwrap();
/// assert_eq!(node.actor::<Counter>("c").add_both(3).await.unwrap(), Ok(3));
/// assert_eq!(node.actor::<Counter>("c-next").add(1).await.unwrap(), 4);
/// node.shutdown().await;
/// # });
/// # }
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

impl ActorContext {
    /// The service of type `T` given to the hosting node with
    /// [`NodeBuilder::service`](crate::node::NodeBuilder::service): a
    /// shared handle (an `Arc` clone).
    ///
    /// # Errors
    ///
    /// [`ServiceError::Missing`] naming `T` when the node has none;
    /// returned from `on_activate`, it fails the activation with those
    /// words (callers get [`CallError::ActivationFailed`](super::CallError::ActivationFailed)).
    ///
    /// # Example
    ///
    /// ```
    /// use moonpool::prelude::*;
    /// use moonpool::runtime::actor::ServiceError;
    ///
    /// /// Settings every greeter reads.
    /// pub struct Greeting(String);
    ///
    /// #[moonpool::actor]
    /// #[derive(Default)]
    /// pub struct Greeter {
    ///     greeting: String,
    /// }
    ///
    /// #[moonpool::actor_impl]
    /// impl Greeter {
    ///     /// Reads the settings once, when the actor activates.
    ///     async fn on_activate(&mut self, ctx: &ActorContext) -> Result<(), ServiceError> {
    ///         self.greeting = ctx.service::<Greeting>()?.0.clone();
    ///         Ok(())
    ///     }
    ///
    ///     pub async fn greet(&self, name: String) -> String {
    ///         format!("{}, {name}", self.greeting)
    ///     }
    /// }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let node = Node::builder("docs")
    ///     .service(Greeting("Hello".to_string()))
    ///     .build()
    ///     .await
    ///     .unwrap();
    /// let hi = node.actor::<Greeter>("g").greet("Ada".to_string()).await.unwrap();
    /// assert_eq!(hi, "Hello, Ada");
    /// node.shutdown().await;
    /// # });
    /// ```
    pub fn service<T: Send + Sync + 'static>(&self) -> Result<Arc<T>, ServiceError> {
        let runtime = self.runtime().ok_or(ServiceError::NodeStopped)?;
        runtime.services().get::<T>().ok_or(ServiceError::Missing {
            service: std::any::type_name::<T>(),
        })
    }
}
