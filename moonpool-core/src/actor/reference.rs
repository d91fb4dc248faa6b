//! Typed references to actors.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{Actor, ActorId, CallChain, CallError, Handler, Message, SharedHandler};
use crate::node::{Node, current_node};

/// A typed, location-transparent reference to actor `A`. Cheap to clone;
/// serializable (only the id travels; it rebinds to the node that decodes
/// it).
///
/// # Example
///
/// ```ignore
/// let counter: ActorRef<Counter> = node.actor("c-7");
/// let value = counter.call(Add(5)).await?;
/// counter.send(Add(1)).await?; // no reply
/// ```
pub struct ActorRef<A: Actor> {
    id: ActorId,
    node: Option<Node>,
    chain: CallChain,
    _type: PhantomData<fn() -> A>,
}

impl<A: Actor> ActorRef<A> {
    pub(crate) fn new(id: ActorId, node: Option<Node>, chain: CallChain) -> Self {
        Self {
            id,
            node,
            chain,
            _type: PhantomData,
        }
    }

    /// The actor's id.
    pub fn id(&self) -> &ActorId {
        &self.id
    }

    fn node(&self) -> Result<&Node, CallError> {
        self.node.as_ref().ok_or(CallError::ShuttingDown)
    }

    /// Sends `msg` and waits for the reply (within the node's call
    /// timeout). Activates the actor on first use.
    ///
    /// # Errors
    ///
    /// A [`CallError`] saying why no reply came.
    pub async fn call<M: Message>(&self, msg: M) -> Result<M::Reply, CallError>
    where
        A: Handler<M>,
    {
        self.node()?.call::<A, M>(&self.id, msg, &self.chain).await
    }

    /// Calls a shared (reentrant) method: it may run alongside other shared
    /// turns of the activation.
    ///
    /// # Errors
    ///
    /// A [`CallError`] saying why no reply came.
    pub async fn call_shared<M: Message>(&self, msg: M) -> Result<M::Reply, CallError>
    where
        A: SharedHandler<M>,
    {
        self.node()?
            .call_shared::<A, M>(&self.id, msg, &self.chain)
            .await
    }

    /// Sends `msg` without waiting for the handler. Sends from one node to
    /// one actor are delivered in the order they were made, each (as a
    /// call) before the next; a send that fails is logged and dropped.
    ///
    /// # Errors
    ///
    /// When the message cannot be handed to the target's node.
    pub async fn send<M: Message>(&self, msg: M) -> Result<(), CallError>
    where
        A: Handler<M>,
    {
        self.node()?.send::<A, M>(&self.id, msg, &self.chain).await
    }
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        Self::new(self.id.clone(), self.node.clone(), self.chain.clone())
    }
}

impl<A: Actor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef({})", self.id)
    }
}

impl<A: Actor> PartialEq for ActorRef<A> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<A: Actor> Eq for ActorRef<A> {}

impl<A: Actor> Serialize for ActorRef<A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.id.serialize(s)
    }
}

impl<'de, A: Actor> Deserialize<'de> for ActorRef<A> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = ActorId::deserialize(d)?;
        if id.type_name != A::TYPE_NAME {
            return Err(serde::de::Error::custom(format!(
                "expected a reference to `{}`, got one to `{}`",
                A::TYPE_NAME,
                id.type_name
            )));
        }
        Ok(Self::new(id, current_node(), Vec::new()))
    }
}
