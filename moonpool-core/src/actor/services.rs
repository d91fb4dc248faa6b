//! Services for actors: values a node is given when it is built (a
//! database pool, an HTTP client, settings) that its actors reach by type
//! from any turn, the same on tokio and in a simulation, so actors never
//! need globals.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

use super::context::ActorContext;
use super::error::ActivationError;

/// A node's services, by type.
#[derive(Clone, Default)]
pub(crate) struct Services {
    by_type: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl Services {
    /// Adds `service` (replacing one of the same type).
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, service: Arc<T>) {
        self.by_type.insert(TypeId::of::<T>(), service);
    }

    /// The service of type `T`, if the node was given one.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let any = Arc::clone(self.by_type.get(&TypeId::of::<T>())?);
        any.downcast::<T>().ok()
    }
}

/// Why [`ActorContext::service`] found no service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The node was not given a service of this type.
    #[error(
        "no service of type `{service}` was given to this node: add it with `NodeBuilder::service`"
    )]
    Missing {
        /// The type asked for, as Rust names it.
        service: &'static str,
    },
    /// The node hosting the activation has stopped.
    #[error("the node hosting this activation has stopped: its services are gone")]
    NodeStopped,
}

impl From<ServiceError> for ActivationError {
    fn from(e: ServiceError) -> Self {
        Self::with_source("a service the actor needs is not available", e)
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

/// What an `on_activate` hook may return: nothing, or a `Result` whose
/// error fails the activation. For generated code (`#[actor_impl]`).
#[doc(hidden)]
pub trait ActivateOutcome {
    /// The hook's outcome as the activation sees it.
    fn into_activation(self) -> Result<(), ActivationError>;
}

impl ActivateOutcome for () {
    fn into_activation(self) -> Result<(), ActivationError> {
        Ok(())
    }
}

impl<E: Into<ActivationError>> ActivateOutcome for Result<(), E> {
    fn into_activation(self) -> Result<(), ActivationError> {
        self.map_err(Into::into)
    }
}
