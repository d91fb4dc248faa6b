//! What an actor type is: the traits it implements (by hand or through
//! `#[actor]`/`#[actor_impl]`), the stable method ids on the wire, and the
//! typed reference to an actor. How calls through a reference travel is
//! `call.rs`.

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;

use moonpool_sim::BoxFuture;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::chain::CallChain;
use super::context::ActorContext;
use super::current::current_runtime;
use super::error::{ActivationError, CallError};
use super::options::ActorOptions;
use super::remote::REPLY_HEAD;
use super::runtime::Runtime;
use super::spans::in_turn;
use super::wire_id::fnv1a_32;
use crate::id::ActorId;
use crate::reminder::ReminderTick;
use crate::transport::Outgoing;

impl ActorId {
    /// The id of `A` with `key`.
    pub fn of<A: Actor>(key: impl Into<String>) -> Self {
        Self {
            type_name: Cow::Borrowed(A::TYPE_NAME),
            key: Arc::from(key.into()),
        }
    }
}

/// A stable wire id for a method, derived from its name (FNV-1a, 32 bits),
/// so reordering methods never changes the protocol.
///
/// # Example
///
/// ```
/// use moonpool_core::actor::method_id;
/// assert_eq!(method_id("deposit"), method_id("deposit"));
/// assert_ne!(method_id("deposit"), method_id("withdraw"));
/// ```
pub const fn method_id(name: &str) -> u32 {
    fnv1a_32(name)
}

/// A message an actor accepts: a request and its reply type.
pub trait Message: Serialize + DeserializeOwned + Send + 'static {
    /// What the handler returns.
    type Reply: Serialize + DeserializeOwned + Send + 'static;
    /// The method's stable name; its [`method_id`] goes on the wire.
    const NAME: &'static str;
}

/// An actor type.
///
/// Activations are turn-based: one message at a time, each handled to
/// completion (including its awaits) before the next starts. A call that
/// would come back into an activation that is waiting on that very call
/// chain fails at once with [`CallError::CallCycle`].
pub trait Actor: Sized + Send + Sync + 'static {
    /// The type's stable name on the wire.
    const TYPE_NAME: &'static str;

    /// What [`Node::actor`](crate::Node::actor) returns: [`ActorRef<Self>`]
    /// for hand-written actors, a typed `{Name}Ref` for macro-made ones.
    type Ref: From<ActorRef<Self>>;

    /// The type's options (placement, idle timeout).
    fn options() -> ActorOptions {
        ActorOptions::default()
    }

    /// Builds an activation (load persisted state here).
    ///
    /// The build starts inside the task of whoever made the activation's
    /// first call (another actor's turn, a connection's reader) and runs
    /// there until its first await that has to wait; the rest runs in a
    /// task of its own. Await rather than block: a slow synchronous build
    /// delays that caller, as a slow synchronous handler would.
    fn activate(ctx: &ActorContext) -> impl Future<Output = Result<Self, ActivationError>> + Send;

    /// Runs before the activation is dropped (idle timeout or node
    /// shutdown).
    fn on_deactivate(&mut self, _ctx: &ActorContext) -> impl Future<Output = ()> + Send {
        async {}
    }

    /// Handles one due time of one of this actor's reminders (see
    /// [`crate::reminder`]), as an exclusive turn, activating the actor if
    /// it is not active. Delivery is at least once per due time: use
    /// [`ReminderTick::due`] to de-duplicate work that must not repeat. A
    /// panic here counts as delivered; the reminder stays registered.
    ///
    /// Default: logs a warning (a reminder was registered for an actor
    /// with no hook). `#[actor_impl]` calls `async fn on_reminder(&mut
    /// self, ctx: &ActorContext, tick: ReminderTick)` when the impl has
    /// one.
    fn on_reminder(
        &mut self,
        ctx: &ActorContext,
        tick: ReminderTick,
    ) -> impl Future<Output = ()> + Send {
        let id = ctx.id().clone();
        async move {
            tracing::warn!(actor = %id, reminder = %tick.name, due = %tick.due, "a reminder ticked for an actor type without an on_reminder hook; the tick is dropped");
        }
    }

    /// Handles a message that arrived as bytes: decode by method id, run
    /// the handler, encode the reply. Implement with [`dispatch`].
    fn dispatch<'a>(
        &'a mut self,
        method: u32,
        body: &'a [u8],
        ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>>;

    /// Whether any method may be shared (reentrant). When none can, turns
    /// run inline in the activation's task, and a local call to an idle
    /// activation runs its turn right in the caller's task (no hand-off
    /// between tasks or threads; a turn that has to wait continues in a
    /// task of its own). Default: true (correct for every actor;
    /// hand-written actors without [`SharedHandler`]s may set it to false;
    /// `#[actor_impl]` sets it).
    const HAS_SHARED_METHODS: bool = true;

    /// Whether `method` is a shared (reentrant) method, handled by
    /// [`Actor::dispatch_shared`]. Default: none is.
    fn is_shared(_method: u32) -> bool {
        false
    }

    /// Like [`Actor::dispatch`] for shared methods (implement with
    /// [`dispatch_shared`]). Default: no shared methods.
    fn dispatch_shared<'a>(
        &'a self,
        method: u32,
        _body: &'a [u8],
        _ctx: &'a ActorContext,
    ) -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
        Box::pin(async move { Err(unknown_method::<Self>(method)) })
    }
}

/// What `#[actor]` declares about a struct; `#[actor_impl]` builds the
/// [`Actor`] impl on it. Not meant to be implemented by hand.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an actor: add `#[moonpool::actor]` to its struct",
    label = "`#[actor_impl]` needs `#[actor]` on this type's struct"
)]
pub trait ActorDecl: Sized + Send + Sync + 'static {
    /// The wire name.
    const TYPE_NAME: &'static str;
    /// Whether `&self` handlers are shared (reentrant) by default.
    const REENTRANT: bool;
    /// Placement and idle timeout.
    fn options() -> ActorOptions;
    /// Builds the activation (default value, or loaded state).
    fn create(ctx: &ActorContext) -> impl Future<Output = Result<Self, ActivationError>> + Send;
}

/// Handles one message type.
pub trait Handler<M: Message>: Actor {
    /// Handles `msg`; the activation is this handler's alone until it
    /// returns.
    fn handle(&mut self, msg: M, ctx: &ActorContext) -> impl Future<Output = M::Reply> + Send;
}

/// Handles one message type with shared access: the opt-in to
/// reentrancy. Shared turns run alongside each other (never alongside an
/// exclusive turn), and a call chain that comes back into an activation
/// waiting in a shared turn is served instead of deadlocking.
pub trait SharedHandler<M: Message>: Actor {
    /// Handles `msg` with `&self`: keep mutable state behind locks or atomics.
    fn handle_shared(&self, msg: M, ctx: &ActorContext) -> impl Future<Output = M::Reply> + Send;
}

/// [`dispatch`] for a [`SharedHandler`].
///
/// # Errors
///
/// As [`dispatch`].
pub async fn dispatch_shared<A: SharedHandler<M>, M: Message>(
    actor: &A,
    body: &[u8],
    ctx: &ActorContext,
) -> Result<Vec<u8>, CallError> {
    let msg = decode_message::<A, M>(body)?;
    encode_reply::<A, M>(&in_turn(ctx.id(), M::NAME, actor.handle_shared(msg, ctx)).await)
}

/// Decodes `body` as a message `M` to actor `A`: how a call that arrived
/// as bytes becomes a message again.
///
/// # Errors
///
/// [`CallError::Decode`] for bytes that are not an `M`.
///
/// # Example
///
/// ```
/// use moonpool_core::actor::{
///     ActivationError, Actor, ActorContext, ActorRef, CallError, Message, decode_message,
/// };
/// # use moonpool_core::actor::BoxFuture;
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct Add(u64);
/// impl Message for Add {
///     type Reply = u64;
///     const NAME: &'static str = "add";
/// }
/// struct Counter;
/// impl Actor for Counter {
///     const TYPE_NAME: &'static str = "Counter";
///     type Ref = ActorRef<Self>;
///     async fn activate(_: &ActorContext) -> Result<Self, ActivationError> { Ok(Counter) }
///     fn dispatch<'a>(&'a mut self, _: u32, _: &'a [u8], _: &'a ActorContext)
///         -> BoxFuture<'a, Result<Vec<u8>, CallError>> {
///         Box::pin(async { Ok(Vec::new()) })
///     }
/// }
/// let bytes = postcard::to_allocvec(&Add(5)).unwrap();
/// let Add(n) = decode_message::<Counter, Add>(&bytes).unwrap();
/// assert_eq!(n, 5);
/// assert!(matches!(
///     decode_message::<Counter, Add>(&[0xff; 11]),
///     Err(CallError::Decode { .. })
/// ));
/// ```
pub fn decode_message<A: Actor, M: Message>(body: &[u8]) -> Result<M, CallError> {
    postcard::from_bytes(body).map_err(|e| CallError::Decode {
        what: format!("{}::{} request", A::TYPE_NAME, M::NAME),
        reason: e.to_string(),
    })
}

/// Replies of up to this many bytes need no second allocation on their
/// way out (see [`encode_reply`]).
const SMALL_REPLY: usize = 48;

/// Encodes the reply of `A`'s handler of `M`: the bytes a remote caller
/// decodes.
///
/// # Errors
///
/// [`CallError::Encode`] if the reply cannot be encoded.
pub fn encode_reply<A: Actor, M: Message>(reply: &M::Reply) -> Result<Vec<u8>, CallError> {
    // With room for the frame's header in front, so that a reply for a
    // remote caller goes out in this very buffer.
    let room = Outgoing::room_in_front(REPLY_HEAD.len());
    let bytes = Vec::with_capacity(room + SMALL_REPLY);
    postcard::to_extend(reply, bytes).map_err(|e| CallError::Encode {
        what: format!("{}::{} reply", A::TYPE_NAME, M::NAME),
        reason: e.to_string(),
    })
}

/// Decodes `body` as `M`, runs `A`'s handler, encodes the reply: the body
/// of one arm of [`Actor::dispatch`].
///
/// # Errors
///
/// [`CallError::Decode`] for bytes that are not an `M`;
/// [`CallError::Encode`] if the reply cannot be encoded.
pub async fn dispatch<A: Handler<M>, M: Message>(
    actor: &mut A,
    body: &[u8],
    ctx: &ActorContext,
) -> Result<Vec<u8>, CallError> {
    let msg = decode_message::<A, M>(body)?;
    encode_reply::<A, M>(&in_turn(ctx.id(), M::NAME, actor.handle(msg, ctx)).await)
}

/// The error of an unknown method id, for the fallback arm of
/// [`Actor::dispatch`].
pub fn unknown_method<A: Actor>(method: u32) -> CallError {
    CallError::UnknownMethod {
        actor_type: A::TYPE_NAME.to_string(),
        method,
    }
}

/// A typed, location-transparent reference to actor `A`. Cheap to clone;
/// serializable (only the id travels; it rebinds to the node that decodes
/// it).
///
/// # Example
///
/// `#[actor]` generates a typed reference around it (`CounterRef`, with
/// one method per handler); [`call`](Self::call) and [`send`](Self::send)
/// take the message types `#[actor_impl]` generates.
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
/// }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let node = Node::builder("docs").host::<Counter>().build().await.unwrap();
/// let counter = node.actor::<Counter>("c-7");
/// assert_eq!(counter.add(5).await.unwrap(), 5);
/// // References serialize as the actor's id and rebind where decoded.
/// let bytes = postcard::to_allocvec(&counter).unwrap();
/// assert!(!bytes.is_empty());
/// node.shutdown().await;
/// # });
/// ```
pub struct ActorRef<A: Actor> {
    /// Shared, so that a clone (each generated call's future owns one) is
    /// a reference count, not a copy of the key.
    parts: Arc<RefParts>,
    _type: PhantomData<fn() -> A>,
}

/// What a reference names and goes through.
struct RefParts {
    id: ActorId,
    runtime: Option<Arc<dyn Runtime>>,
    chain: CallChain,
}

impl<A: Actor> ActorRef<A> {
    pub(crate) fn new(id: ActorId, runtime: Option<Arc<dyn Runtime>>, chain: CallChain) -> Self {
        Self {
            parts: Arc::new(RefParts { id, runtime, chain }),
            _type: PhantomData,
        }
    }

    /// The actor's id.
    pub fn id(&self) -> &ActorId {
        &self.parts.id
    }

    /// The runtime calls through this reference go to, the call chain they
    /// carry, and the id.
    pub(crate) fn parts(&self) -> (Option<&Arc<dyn Runtime>>, &CallChain) {
        (self.parts.runtime.as_ref(), &self.parts.chain)
    }
}

impl<A: Actor> Clone for ActorRef<A> {
    fn clone(&self) -> Self {
        Self {
            parts: Arc::clone(&self.parts),
            _type: PhantomData,
        }
    }
}

impl<A: Actor> fmt::Debug for ActorRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ActorRef({})", self.id())
    }
}

impl<A: Actor> PartialEq for ActorRef<A> {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id()
    }
}

impl<A: Actor> Eq for ActorRef<A> {}

impl<A: Actor> Serialize for ActorRef<A> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.id().serialize(s)
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
        Ok(Self::new(id, current_runtime(), Vec::new()))
    }
}
