//! Services for actors: values a node is given when it is built (a
//! database pool, an HTTP client, settings) that its actors reach by type
//! from any turn, the same on tokio and in a simulation, so actors never
//! need globals.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

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

/// Why [`ActorContext::service`](super::ActorContext::service) found no
/// service.
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
