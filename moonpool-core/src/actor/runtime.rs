//! What the node offers the actor layer, as one small trait: `actor/`
//! reaches its node only through [`Runtime`] (and, for calls that arrived
//! as bytes, a [`RemoteReply`](super::remote::RemoteReply)), so the actor
//! layer never names the node's types.
//!
//! Two groups of methods:
//! - what a host offers its activations: providers, storage, the idle
//!   collector, and forgetting an activation that ended;
//! - what a caller needs to route a call: admission, locating an actor,
//!   its local activation, a remote request, and the one-way lanes.
//!
//! The generic route loop over these is `call.rs`.

use std::any::Any;
use std::sync::{Arc, Weak};
use std::time::Duration;

use moonpool_sim::{BoxFuture, Instant, Providers};

use super::error::CallError;
use super::options::Placement;
use super::remote::{CallAnswer, CallHeadRef};
use super::services::Services;
use crate::id::ActorId;
use crate::reminder::ReminderTable;
use crate::state::StateStorage;
use crate::transport::{NodeId, Outgoing, TransportError};

/// One queued one-way message: delivers itself through the runtime it is
/// given.
pub(crate) type SendJob = Box<dyn FnOnce(Arc<dyn Runtime>) -> BoxFuture<'static, ()> + Send>;

/// Where a call goes (see [`Runtime::locate`]).
pub(crate) enum Located {
    /// To the node hosting the actor.
    Remote(NodeId),
    /// To this activation, here (type-erased `Arc<Activation<A>>`).
    Local(Arc<dyn Any + Send + Sync>),
    /// Nowhere yet: the directory placed the actor here but the activation
    /// is gone (or this node no longer takes new ones); route again.
    NotHere,
}

/// What the host's idle collector asks an activation.
pub(crate) trait Idle: Send + Sync {
    /// Called at or after the activation's idle deadline: deactivates it
    /// if it is at rest and due. Returns when to check again, or `None`
    /// when the collector need not watch it.
    fn check_idle(self: Arc<Self>, now: Instant) -> Option<Instant>;
}

/// What the node offers the actor layer (see the module docs).
pub(crate) trait Runtime: Send + Sync + 'static {
    // What a host offers its activations.

    /// The providers every activation of this node runs on.
    fn providers(&self) -> &Arc<Providers>;

    /// The node's state storage, if it was given one.
    fn storage(&self) -> Option<Arc<dyn StateStorage>>;

    /// The node's reminder table, if it was given one.
    fn reminder_table(&self) -> Option<Arc<dyn ReminderTable>>;

    /// A reminder of `actor` was registered, replaced or removed: tells
    /// the node owning it (best effort; owners also re-read their slice
    /// of the table regularly).
    fn reminder_changed(self: Arc<Self>, actor: ActorId);

    /// Has the idle collector check `activation` at `at`.
    fn watch_idle(&self, at: Instant, generation: u64, activation: Weak<dyn Idle>);

    /// An activation ended: it leaves the node's table, then the
    /// directory.
    fn forget_activation<'a>(&'a self, id: &'a ActorId, generation: u64) -> BoxFuture<'a, ()>;

    // What a caller needs.

    /// This node's id.
    fn me(&self) -> NodeId;

    /// How long a call may take.
    fn call_timeout(&self) -> Duration;

    /// Whether calls are recorded through the `metrics` facade.
    fn metrics_enabled(&self) -> bool {
        false
    }

    /// The services the node was given (see `services.rs`).
    fn services(&self) -> &Services;

    /// The node's span (`node{node, cluster}`): its tasks run in it.
    fn span(&self) -> &tracing::Span;

    /// A fresh number for a call made from this node (from 1).
    fn next_call_id(&self) -> u64;

    /// `Ok` if a call may start here now: the node serves, can read the
    /// membership, and (for a call made from a turn, `from_turn`) still
    /// holds its lease.
    fn admit(&self, from_turn: bool) -> Result<(), CallError>;

    /// `Ok` while this node may run turns (its lease is live at `now`, a
    /// clock reading the caller took without waiting since).
    fn check_lease(&self, now: Instant) -> Result<(), CallError>;

    /// Which other node `id` lives on, if the node's cache knows and that
    /// node is in service: the fast path of [`Runtime::locate`] (an actor
    /// active here is found by [`Runtime::hosted`]).
    fn cached(&self, id: &ActorId) -> Option<NodeId>;

    /// The activation of `id` on this node if one exists: the fast path of
    /// [`Runtime::locate`] when the cache says the actor is here.
    /// Type-erased (`Arc<Activation<A>>`).
    fn hosted(&self, id: &ActorId) -> Option<Arc<dyn Any + Send + Sync>>;

    /// Where a call to `id` goes: the cache, or the directory (registering
    /// a new home chosen by `placement`); when that is this node, its
    /// activation (created if the directory places the actor here). One
    /// future for the whole slow path: a first call allocates it once.
    fn locate<'a>(
        self: Arc<Self>,
        id: &'a ActorId,
        placement: Placement,
    ) -> BoxFuture<'a, Result<Located, CallError>>;

    /// Forgets the cached location of `id` (it was stale).
    fn invalidate(&self, id: &ActorId);

    /// The request of a call with header `head`, tagged for the called
    /// node's call service: the caller encodes its message after it, then
    /// sends it with [`Runtime::request_call`].
    ///
    /// # Errors
    ///
    /// [`TransportError::Encode`] if the header cannot be encoded.
    fn call_request(&self, head: CallHeadRef<'_>) -> Result<Outgoing, TransportError>;

    /// Sends `request` (from [`Runtime::call_request`], the message after
    /// it) to node `to` and waits for its answer.
    fn request_call(
        &self,
        to: NodeId,
        request: Outgoing,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<CallAnswer, TransportError>>;

    /// Queues a one-way message behind the earlier ones to the same actor.
    fn enqueue_send(self: Arc<Self>, id: ActorId, job: SendJob);

    /// Whether the node has stopped serving.
    fn is_stopping(&self) -> bool;

    /// The node itself, type-erased (what [`ActorContext::node`] returns
    /// is built from it).
    ///
    /// [`ActorContext::node`]: super::ActorContext::node
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
}
